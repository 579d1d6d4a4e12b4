"""GET/POST /wecom/callback: WeCom's URL check and its encrypted customer-group callbacks."""

# WeCom signs every request (msg_signature over the Token, timestamp, nonce and ciphertext) and
# retries a POST that is not answered in time; the answer it wants is the text "success". A
# request whose signature, timestamp or nonce fails is refused 401 and a body that cannot be
# read 400, before anything is fetched or written. A (timestamp, nonce) is claimed in the store
# that every worker shares; a callback that fails to be handled is answered 500 (or 400) and its
# claim released, so WeCom's retry of it is let in.

from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from shequn.connectors.replay import CLOCK_SKEW, ReplayGuard, delivery_key
from shequn.connectors.wecom.crypto import (
    WINDOW,
    BadSignature,
    CallbackError,
    CallbackKeys,
    ReplayedNonce,
    StaleTimestamp,
    WrongCorpId,
    check_timestamp,
    decrypt_message,
    parse_xml,
    verify_url,
)
from shequn.connectors.wecom.events import CHANGE_EXTERNAL_CHAT, ChatChange, parse_chat_change
from shequn.kit.time import utc_now

CALLBACK_PATH = "/wecom/callback"
MAX_BODY = 256 * 1024
# The replay guard's source for WeCom callbacks.
SOURCE = "wecom"
# Refused as not from WeCom (401) rather than unreadable (400).
UNAUTHENTIC = (BadSignature, StaleTimestamp, ReplayedNonce, WrongCorpId)

OnChange = Callable[[ChatChange], Awaitable[None]]


def wecom_router(
    keys: CallbackKeys,
    on_change: OnChange,
    *,
    guard: ReplayGuard,
    clock: Callable[[], datetime] = utc_now,
) -> APIRouter:
    router = APIRouter()

    def refuse(error: CallbackError) -> HTTPException:
        code = 401 if isinstance(error, UNAUTHENTIC) else 400
        return HTTPException(status_code=code, detail=f"{type(error).__name__}: {error}")

    async def claim(timestamp: str, nonce: str, *, now: datetime) -> str:
        """Claim a request whose signature and timestamp hold; raise ReplayedNonce if taken."""
        key = delivery_key(keys.corp_id, timestamp, nonce)
        # Past the window the timestamp check refuses the request: the claim need not outlive it.
        expires_at = check_timestamp(timestamp, now=now) + WINDOW + CLOCK_SKEW
        if not await run_in_threadpool(guard.claim, SOURCE, key, expires_at=expires_at, now=now):
            raise ReplayedNonce(f"nonce {nonce!r} at timestamp {timestamp} was already taken in")
        return key

    async def take_in(inner: str) -> None:
        try:
            root = parse_xml(inner)
        except CallbackError as error:
            raise refuse(error) from None
        event = (root.findtext("Event") or root.findtext("InfoType") or "").strip()
        if event != CHANGE_EXTERNAL_CHAT:
            # Other callbacks of the app (contacts, approvals …) are not shequn's: acknowledged.
            return
        try:
            change = parse_chat_change(inner)
        except ValueError as error:
            raise HTTPException(status_code=400, detail=str(error)) from None
        await on_change(change)

    @router.get(CALLBACK_PATH, response_class=PlainTextResponse)
    async def verify_callback_url(
        msg_signature: str = Query(...),
        timestamp: str = Query(...),
        nonce: str = Query(...),
        echostr: str = Query(...),
    ) -> str:
        now = clock()
        try:
            echo = verify_url(
                keys,
                msg_signature=msg_signature,
                timestamp=timestamp,
                nonce=nonce,
                echostr=echostr,
                now=now,
            )
            await claim(timestamp, nonce, now=now)
        except CallbackError as error:
            raise refuse(error) from None
        return echo

    @router.post(CALLBACK_PATH, response_class=PlainTextResponse)
    async def receive_callback(
        request: Request,
        msg_signature: str = Query(...),
        timestamp: str = Query(...),
        nonce: str = Query(...),
    ) -> str:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(status_code=413, detail=f"body over {MAX_BODY} bytes")
        now = clock()
        try:
            inner = decrypt_message(
                keys,
                body,
                msg_signature=msg_signature,
                timestamp=timestamp,
                nonce=nonce,
                now=now,
            )
            key = await claim(timestamp, nonce, now=now)
        except CallbackError as error:
            raise refuse(error) from None
        try:
            await take_in(inner)
        except BaseException:
            # Failed or cancelled (a shutdown mid-request): WeCom's retry must get in.
            await run_in_threadpool(guard.release, SOURCE, key)
            raise
        return "success"

    return router
