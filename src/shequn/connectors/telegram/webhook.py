"""The endpoint Telegram POSTs updates to, guarded by the secret token given to setWebhook."""

# Telegram sends the secret_token chosen at setWebhook in X-Telegram-Bot-Api-Secret-Token on
# every delivery (https://core.telegram.org/bots/api#setwebhook). It retries a delivery that gets
# no 2xx, so an update whose handling raises is answered 500 and comes back later; `handle`
# must therefore be safe to run twice for one update, which stable event ids make it.

import hmac
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, no secret
# setWebhook's own rule for the token: 1-256 characters of A-Z, a-z, 0-9, _ and -.
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def telegram_router(secret_token: str, handle: Callable[[dict[str, Any]], None]) -> APIRouter:
    """POST /telegram/webhook: check the secret, then hand each update to `handle`."""
    if not _SECRET.fullmatch(secret_token):
        raise ValueError("secret_token: 1-256 characters of A-Z, a-z, 0-9, _ and -")
    expected = secret_token.encode("ascii")
    router = APIRouter()

    @router.post("/telegram/webhook")
    async def receive_update(request: Request) -> dict[str, bool]:
        # Bytes, not text: compare_digest refuses non-ASCII text, and a header is any bytes.
        given = request.headers.get(SECRET_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, expected):
            raise HTTPException(status_code=401, detail="wrong or missing secret token")
        try:
            update = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(status_code=400, detail="body is not JSON") from None
        if not isinstance(update, dict):
            raise HTTPException(status_code=400, detail="body is not a JSON object")
        # `handle` is synchronous (it writes to the database): off the event loop.
        await run_in_threadpool(handle, update)
        return {"ok": True}

    return router
