"""A thin async client for the WeCom server API calls the customer-group connector needs."""

# Endpoints, as WeCom documents them for an app of one's own corp:
#   gettoken                              https://developer.work.weixin.qq.com/document/path/91039
#   externalcontact/groupchat/get         https://developer.work.weixin.qq.com/document/path/92122
#   externalcontact/groupchat/add_join_way, get_join_way
#                                         https://developer.work.weixin.qq.com/document/path/92229
#   externalcontact/add_msg_template      https://developer.work.weixin.qq.com/document/path/92135
#   externalcontact/get_groupmsg_send_result
#                                         https://developer.work.weixin.qq.com/document/path/93338

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import httpx2

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin"
# Refresh a little before WeCom's stated expiry so a token never dies in flight.
TOKEN_MARGIN = timedelta(minutes=5)
# WeCom names no retry time for 45009; its frequency limits count per minute.
RATE_LIMIT_BACKOFF = timedelta(seconds=60)
DEFAULT_TIMEOUT = 10.0

ACCESS_TOKEN_EXPIRED = 42001
ACCESS_TOKEN_INVALID = 40014
API_FREQUENCY_LIMITED = 45009
_TOKEN_REJECTED = frozenset({ACCESS_TOKEN_EXPIRED, ACCESS_TOKEN_INVALID})

# add_join_way's limits (92229): at most 5 groups per config, state and remark short.
MAX_JOIN_WAY_CHATS = 5
MAX_STATE_LENGTH = 30
MAX_ROOM_BASE_NAME_LENGTH = 40
# add_msg_template's limits (92135).
MAX_TEMPLATE_CHATS = 2000
MAX_TEMPLATE_ATTACHMENTS = 9
# The join-way scene for a QR code; scene 1, the mini-program plugin, needs a mini program.
QR_CODE_SCENE = 2

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class WeComError(Exception):
    """WeCom answered a call with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str, path: str) -> None:
        super().__init__(f"{path}: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path


class RateLimited(WeComError):
    """WeCom refused a call for frequency (45009); try again after `retry_after`."""

    def __init__(self, errcode: int, errmsg: str, path: str, *, retry_after: timedelta) -> None:
        super().__init__(errcode, errmsg, path)
        self.retry_after = retry_after


class WeComUnavailable(Exception):
    """No usable answer: a network failure, a status other than 200, or JSON not as agreed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class MsgTemplateResult:
    """A created group-send task: its id, and the recipients WeCom could not send to."""

    msgid: str
    fail_list: tuple[str, ...]


class WeComClient:
    """Calls WeCom as one app (corp id + that app's secret), caching its access token."""

    def __init__(
        self,
        *,
        corp_id: str,
        corp_secret: str,
        http: httpx2.AsyncClient | None = None,
        base_url: str = DEFAULT_BASE_URL,
        clock: Clock = utc_now,
        token_margin: timedelta = TOKEN_MARGIN,
        rate_limit_backoff: timedelta = RATE_LIMIT_BACKOFF,
    ) -> None:
        self.corp_id = corp_id
        self._corp_secret = corp_secret
        self._owns_http = http is None
        self._http = http if http is not None else httpx2.AsyncClient(timeout=DEFAULT_TIMEOUT)
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self.token_margin = token_margin
        self.rate_limit_backoff = rate_limit_backoff
        self._token: str | None = None
        self._token_expires_at = datetime.min.replace(tzinfo=UTC)
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this client opened it; a client passed in stays open."""
        if self._owns_http:
            await self._http.aclose()

    async def groupchat_get(self, chat_id: str) -> dict[str, Any]:
        """A customer group's details with member names: the answer's `group_chat` object."""
        answer = await self._call(
            "externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1}
        )
        return _object(answer, "group_chat", "externalcontact/groupchat/get")

    async def add_join_way(
        self,
        *,
        chat_ids: Sequence[str],
        state: str | None = None,
        remark: str | None = None,
        auto_create_room: bool = True,
        room_base_name: str | None = None,
        room_base_id: int | None = None,
    ) -> str:
        """Create a QR join config for 1-5 groups (`state` names the referrer) and return its id."""
        if not 1 <= len(chat_ids) <= MAX_JOIN_WAY_CHATS:
            raise ValueError(f"chat_ids: 1 to {MAX_JOIN_WAY_CHATS} groups, not {len(chat_ids)}")
        if state is not None and len(state) > MAX_STATE_LENGTH:
            raise ValueError(f"state: at most {MAX_STATE_LENGTH} characters, not {len(state)}")
        if room_base_name is not None and len(room_base_name) > MAX_ROOM_BASE_NAME_LENGTH:
            raise ValueError(f"room_base_name: at most {MAX_ROOM_BASE_NAME_LENGTH} characters")
        payload: dict[str, Any] = {
            "scene": QR_CODE_SCENE,
            "chat_id_list": list(chat_ids),
            "auto_create_room": 1 if auto_create_room else 0,
        }
        if state is not None:
            payload["state"] = state
        if remark is not None:
            payload["remark"] = remark
        if room_base_name is not None:
            payload["room_base_name"] = room_base_name
        if room_base_id is not None:
            payload["room_base_id"] = room_base_id
        path = "externalcontact/groupchat/add_join_way"
        answer = await self._call(path, payload)
        return _string(answer, "config_id", path)

    async def get_join_way(self, config_id: str) -> dict[str, Any]:
        """A join-group config, with its qr_code URL: the answer's `join_way` object."""
        path = "externalcontact/groupchat/get_join_way"
        answer = await self._call(path, {"config_id": config_id})
        return _object(answer, "join_way", path)

    async def add_msg_template(
        self,
        *,
        sender: str,
        text: str | None = None,
        chat_ids: Sequence[str] = (),
        attachments: Sequence[Mapping[str, Any]] = (),
        allow_select: bool | None = None,
    ) -> MsgTemplateResult:
        """Create a group-send task for `sender`'s customer groups, to be confirmed in WeCom."""
        if text is None and not attachments:
            raise ValueError("a group send needs text or at least one attachment")
        if len(chat_ids) > MAX_TEMPLATE_CHATS:
            raise ValueError(f"chat_ids: at most {MAX_TEMPLATE_CHATS} groups, not {len(chat_ids)}")
        if len(attachments) > MAX_TEMPLATE_ATTACHMENTS:
            raise ValueError(f"attachments: at most {MAX_TEMPLATE_ATTACHMENTS}")
        payload: dict[str, Any] = {"chat_type": "group", "sender": sender}
        if chat_ids:
            payload["chat_id_list"] = list(chat_ids)
        if text is not None:
            payload["text"] = {"content": text}
        if attachments:
            payload["attachments"] = [dict(attachment) for attachment in attachments]
        if allow_select is not None:
            payload["allow_select"] = allow_select
        path = "externalcontact/add_msg_template"
        answer = await self._call(path, payload)
        fail_list = answer.get("fail_list") or []
        if not isinstance(fail_list, list) or not all(isinstance(x, str) for x in fail_list):
            raise WeComUnavailable(path, "fail_list is not a list of ids")
        return MsgTemplateResult(msgid=_string(answer, "msgid", path), fail_list=tuple(fail_list))

    async def groupmsg_send_result(self, msgid: str, sender: str) -> list[dict[str, Any]]:
        """Where `sender`'s part of a group-send task stands: one entry per group (status 0 not
        sent yet, 1 sent, 2-3 not sendable), every page of it."""
        path = "externalcontact/get_groupmsg_send_result"
        entries: list[dict[str, Any]] = []
        cursor = ""
        while True:
            payload: dict[str, Any] = {"msgid": msgid, "userid": sender, "limit": 1000}
            if cursor:
                payload["cursor"] = cursor
            answer = await self._call(path, payload)
            page = answer.get("send_list") or []
            if not isinstance(page, list) or not all(isinstance(x, dict) for x in page):
                raise WeComUnavailable(path, "send_list is not a list of objects")
            entries.extend(page)
            cursor = str(answer.get("next_cursor") or "")
            if not cursor or not page:
                return entries

    async def _call(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        token = await self._access_token()
        answer = await self._post(path, token, payload)
        if _errcode(answer, path) in _TOKEN_REJECTED:
            # WeCom may end a token before its stated expiry: fetch a new one and retry once.
            # A second rejection is raised, never looped on.
            self._forget_token(token)
            token = await self._access_token()
            answer = await self._post(path, token, payload)
        return self._checked(answer, path)

    async def _post(self, path: str, token: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return await self._request("POST", path, params={"access_token": token}, json=dict(payload))

    async def _access_token(self) -> str:
        async with self._token_lock:
            # Concurrent callers wait here, so an expired token is fetched once, not per call.
            if self._token is not None and self._clock() < self._token_expires_at:
                return self._token
            fetched_at = self._clock()
            answer = self._checked(
                await self._request(
                    "GET",
                    "gettoken",
                    params={"corpid": self.corp_id, "corpsecret": self._corp_secret},
                ),
                "gettoken",
            )
            token = _string(answer, "access_token", "gettoken")
            expires_in = answer.get("expires_in")
            if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
                raise WeComUnavailable("gettoken", "expires_in is not a positive integer")
            lifetime = timedelta(seconds=expires_in)
            # Never let the margin eat more than half a short-lived token's life.
            margin = min(self.token_margin, lifetime / 2)
            self._token = token
            self._token_expires_at = fetched_at + lifetime - margin
            return token

    def _forget_token(self, token: str) -> None:
        # Only the token that was rejected: another caller may already hold a fresh one.
        if self._token == token:
            self._token = None

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        json: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        # Errors name the path, never the URL: its query carries the secret or the token.
        try:
            response = await self._http.request(
                method, f"{self.base_url}/{path}", params=dict(params), json=json
            )
        except httpx2.TransportError as error:
            raise WeComUnavailable(path, type(error).__name__) from None
        if response.status_code != httpx2.codes.OK:
            raise WeComUnavailable(path, f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise WeComUnavailable(path, "answer is not JSON") from None
        if not isinstance(answer, dict):
            raise WeComUnavailable(path, "answer is not a JSON object")
        return answer

    def _checked(self, answer: dict[str, Any], path: str) -> dict[str, Any]:
        errcode = _errcode(answer, path)
        if errcode == 0:
            return answer
        errmsg = str(answer.get("errmsg", ""))
        if errcode == API_FREQUENCY_LIMITED:
            raise RateLimited(errcode, errmsg, path, retry_after=self.rate_limit_backoff)
        raise WeComError(errcode, errmsg, path)


def _errcode(answer: Mapping[str, Any], path: str) -> int:
    errcode = answer.get("errcode", 0)
    if isinstance(errcode, bool) or not isinstance(errcode, int):
        raise WeComUnavailable(path, "errcode is not an integer")
    return errcode


def _string(answer: Mapping[str, Any], name: str, path: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise WeComUnavailable(path, f"answer has no {name}")
    return value


def _object(answer: Mapping[str, Any], name: str, path: str) -> dict[str, Any]:
    value = answer.get(name)
    if not isinstance(value, dict):
        raise WeComUnavailable(path, f"answer has no {name} object")
    return value
