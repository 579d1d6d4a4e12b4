"""A thin synchronous Telegram Bot API client and the connector that carries out outbox actions."""

# Methods and their parameters as the Bot API reference documents them,
# https://core.telegram.org/bots/api: sendMessage (HTML style), banChatMember, unbanChatMember,
# restrictChatMember, deleteMessage, setChatTitle, pinChatMessage, createChatInviteLink,
# approveChatJoinRequest and declineChatJoinRequest. Flood limits as its FAQ states them,
# https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this: about 20
# messages a minute into one group and about 30 a second in all.

import html
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeGuard

import httpx2

from shequn.engine.action import ActionAwaiting, ActionFailed, ActionKind
from shequn.engine.models import ActionRecord
from shequn.kit.time import utc_now

DEFAULT_BASE_URL = "https://api.telegram.org"
DEFAULT_TIMEOUT = 10.0
# A 429 always names its wait in practice; this only covers one that does not.
DEFAULT_RETRY_AFTER = timedelta(seconds=5)
MAX_TITLE = 128
MAX_LINK_NAME = 32
MESSAGES_PER_GROUP = 20
GROUP_PERIOD = timedelta(minutes=1)
MESSAGES_OVERALL = 30
OVERALL_PERIOD = timedelta(seconds=1)
# The updates shequn maps (mapping.py); chat_member ones come only when asked for by name.
ALLOWED_UPDATES = (
    "message", "chat_member", "my_chat_member", "message_reaction", "chat_join_request",
)  # fmt: skip
# Past this many groups, buckets that refilled are forgotten: a full bucket and none are alike.
TRACKED_GROUPS = 10_000
# How long an operator's task waits before it fails, unless its payload names a deadline.
TASK_DEADLINE = timedelta(days=3)

# What restrict_member leaves a member by default: reading only (ChatPermissions all false).
MUTED = {
    "can_send_messages": False, "can_send_audios": False, "can_send_documents": False,
    "can_send_photos": False, "can_send_videos": False, "can_send_video_notes": False,
    "can_send_voice_notes": False, "can_send_polls": False, "can_send_other_messages": False,
    "can_add_web_page_previews": False,
}  # fmt: skip

ChatId = int | str
Clock = Callable[[], datetime]

_TELEGRAM_ID = re.compile(r"-?[0-9]{1,20}")


class TelegramError(Exception):
    """A Bot API call that did not succeed; `retryable` says whether the same call may later."""

    retryable = False

    def __init__(self, method: str, description: str) -> None:
        super().__init__(f"{method}: {description}")
        self.method = method
        self.description = description


class TelegramRefused(TelegramError):
    """Telegram answered ok=false (chat or user not found, no rights): retrying won't help."""

    # `migrate_to_chat_id` is set when the group became a supergroup under a new id.

    def __init__(
        self,
        method: str,
        description: str,
        *,
        error_code: int,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(method, description)
        self.error_code = error_code
        self.migrate_to_chat_id = migrate_to_chat_id


class RateLimited(TelegramError):
    """Telegram refused a call for flooding (429); it may go through after `retry_after`."""

    retryable = True

    def __init__(self, method: str, description: str, *, retry_after: timedelta) -> None:
        super().__init__(method, description)
        self.retry_after = retry_after


class TelegramUnavailable(TelegramError):
    """No answer to act on: a timeout, a network failure, a 5xx or a body not from the Bot API."""

    retryable = True


@dataclass(frozen=True)
class Mention:
    """A user to @-mention in a message, by id, shown as `name`."""

    user_id: int
    name: str


@dataclass(frozen=True)
class InviteLink:
    """A link the bot made; joins through it arrive with its `name`, the shequn invite code."""

    url: str
    name: str | None
    creates_join_request: bool


def render_html(text: str, mentions: Sequence[Mention] = ()) -> str:
    """The text escaped for parse_mode HTML, followed by one link per mentioned user."""
    # Only <, > and & are markup to Telegram; quotes are left as they are, outside attributes.
    body = html.escape(text, quote=False)
    links = " ".join(
        f'<a href="tg://user?id={mention.user_id}">{html.escape(mention.name, quote=False)}</a>'
        for mention in mentions
    )
    if not links:
        return body
    return f"{body}\n{links}" if body else links


class TelegramBot:
    """Calls the Bot API as one bot. The token is part of every URL, so errors never show URLs."""

    def __init__(
        self,
        *,
        token: str,
        http: httpx2.Client | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._token = token
        self._owns_http = http is None
        self._http = http if http is not None else httpx2.Client(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    @property
    def bot_id(self) -> int | None:
        """The bot's own user id, the token's first part; it tells our invite links apart."""
        head, _, _ = self._token.partition(":")
        return int(head) if head.isascii() and head.isdigit() else None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client if this bot opened it; a client passed in stays open."""
        if self._owns_http:
            self._http.close()

    def send_message(
        self,
        chat_id: ChatId,
        text: str,
        *,
        mentions: Sequence[Mention] = (),
        disable_notification: bool = False,
    ) -> dict[str, Any]:
        """Send plain text (escaped here) with mentions appended; returns the sent Message."""
        payload: dict[str, Any] = {
            "chat_id": chat_id,
            "text": render_html(text, mentions),
            "parse_mode": "HTML",
        }
        if disable_notification:
            payload["disable_notification"] = True
        message = self.call("sendMessage", payload)
        if not isinstance(message, dict) or not _is_int(message.get("message_id")):
            raise TelegramUnavailable("sendMessage", "answer is not a Message")
        return message

    def ban_chat_member(
        self,
        chat_id: ChatId,
        user_id: int,
        *,
        until_date: datetime | None = None,
        revoke_messages: bool | None = None,
    ) -> None:
        """Remove a user and keep them out (until `until_date`, else for good)."""
        payload: dict[str, Any] = {"chat_id": chat_id, "user_id": user_id}
        if until_date is not None:
            payload["until_date"] = int(until_date.timestamp())
        if revoke_messages is not None:
            payload["revoke_messages"] = revoke_messages
        self.call("banChatMember", payload)

    def unban_chat_member(
        self, chat_id: ChatId, user_id: int, *, only_if_banned: bool = True
    ) -> None:
        """Lift a ban so the user may join again; with only_if_banned a member is never removed."""
        self.call(
            "unbanChatMember",
            {"chat_id": chat_id, "user_id": user_id, "only_if_banned": only_if_banned},
        )

    def restrict_chat_member(
        self,
        chat_id: ChatId,
        user_id: int,
        *,
        permissions: Mapping[str, bool],
        until_date: datetime | None = None,
    ) -> None:
        """Set what a member may do (a ChatPermissions object), until `until_date` or for good."""
        payload: dict[str, Any] = {
            "chat_id": chat_id,
            "user_id": user_id,
            "permissions": dict(permissions),
        }
        if until_date is not None:
            payload["until_date"] = int(until_date.timestamp())
        self.call("restrictChatMember", payload)

    def delete_message(self, chat_id: ChatId, message_id: int) -> None:
        self.call("deleteMessage", {"chat_id": chat_id, "message_id": message_id})

    def set_chat_title(self, chat_id: ChatId, title: str) -> None:
        if not 1 <= len(title) <= MAX_TITLE:
            raise ValueError(f"title: 1 to {MAX_TITLE} characters, not {len(title)}")
        self.call("setChatTitle", {"chat_id": chat_id, "title": title})

    def pin_chat_message(
        self, chat_id: ChatId, message_id: int, *, disable_notification: bool = False
    ) -> None:
        """Pin a message; unless told otherwise Telegram tells every member, as a notice should."""
        payload: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id}
        if disable_notification:
            payload["disable_notification"] = True
        self.call("pinChatMessage", payload)

    def create_chat_invite_link(
        self,
        chat_id: ChatId,
        *,
        name: str,
        creates_join_request: bool = False,
        expire_date: datetime | None = None,
        member_limit: int | None = None,
    ) -> InviteLink:
        """Make a link named by a shequn invite code (at most 32 characters, Telegram's limit)."""
        if len(name) > MAX_LINK_NAME:
            raise ValueError(f"name: at most {MAX_LINK_NAME} characters, not {len(name)}")
        if creates_join_request and member_limit is not None:
            raise ValueError("a link that creates join requests cannot have a member limit")
        payload: dict[str, Any] = {"chat_id": chat_id, "name": name}
        if creates_join_request:
            payload["creates_join_request"] = True
        if expire_date is not None:
            payload["expire_date"] = int(expire_date.timestamp())
        if member_limit is not None:
            payload["member_limit"] = member_limit
        link = self.call("createChatInviteLink", payload)
        if not isinstance(link, dict) or not isinstance(link.get("invite_link"), str):
            raise TelegramUnavailable("createChatInviteLink", "answer is not a ChatInviteLink")
        link_name = link.get("name")
        return InviteLink(
            url=link["invite_link"],
            name=link_name if isinstance(link_name, str) else None,
            creates_join_request=link.get("creates_join_request") is True,
        )

    def approve_chat_join_request(self, chat_id: ChatId, user_id: int) -> None:
        self.call("approveChatJoinRequest", {"chat_id": chat_id, "user_id": user_id})

    def decline_chat_join_request(self, chat_id: ChatId, user_id: int) -> None:
        self.call("declineChatJoinRequest", {"chat_id": chat_id, "user_id": user_id})

    def get_updates(
        self,
        *,
        offset: int | None = None,
        timeout: int = 0,
        limit: int | None = None,
        allowed_updates: Sequence[str] = ALLOWED_UPDATES,
    ) -> list[Any]:
        """Long-poll for updates after `offset` (which confirms all before it) for `timeout` s."""
        payload: dict[str, Any] = {"timeout": timeout, "allowed_updates": list(allowed_updates)}
        if offset is not None:
            payload["offset"] = offset
        if limit is not None:
            payload["limit"] = limit
        # The HTTP wait outlasts Telegram's own, or every quiet poll would end as a timeout.
        updates = self.call("getUpdates", payload, timeout=timeout + DEFAULT_TIMEOUT)
        if not isinstance(updates, list):
            raise TelegramUnavailable("getUpdates", "answer is not a list of updates")
        return updates

    def set_webhook(
        self, url: str, *, secret_token: str, allowed_updates: Sequence[str] = ALLOWED_UPDATES
    ) -> None:
        self.call(
            "setWebhook",
            {"url": url, "secret_token": secret_token, "allowed_updates": list(allowed_updates)},
        )

    def delete_webhook(self) -> None:
        """Stop webhook deliveries, which getUpdates refuses to run alongside."""
        self.call("deleteWebhook", {})

    def call(self, method: str, payload: Mapping[str, Any], *, timeout: float | None = None) -> Any:
        """POST one method and return its `result`, or raise what its failure means."""
        try:
            url = f"{self.base_url}/bot{self._token}/{method}"
            response = (
                self._http.post(url, json=dict(payload))
                if timeout is None
                else self._http.post(url, json=dict(payload), timeout=timeout)
            )
        except httpx2.TimeoutException:
            raise TelegramUnavailable(method, "timed out") from None
        except httpx2.TransportError as error:
            # The error's text may hold the URL, and with it the token: only its kind is kept.
            raise TelegramUnavailable(method, type(error).__name__) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            # A proxy's error page or a cut-off body: not an answer from the Bot API itself.
            raise TelegramUnavailable(method, f"HTTP {response.status_code}, no Bot API answer")
        if answer.get("ok") is True:
            return answer.get("result")
        code = answer.get("error_code")
        code = code if _is_int(code) else response.status_code
        description = str(answer.get("description") or f"HTTP {response.status_code}")
        parameters = answer.get("parameters")
        parameters = parameters if isinstance(parameters, dict) else {}
        if code == httpx2.codes.TOO_MANY_REQUESTS:
            seconds = parameters.get("retry_after")
            retry_after = (
                timedelta(seconds=seconds)
                if _is_int(seconds) and seconds > 0
                else DEFAULT_RETRY_AFTER
            )
            raise RateLimited(method, description, retry_after=retry_after)
        if code >= httpx2.codes.INTERNAL_SERVER_ERROR:
            raise TelegramUnavailable(method, description)
        migrate_to = parameters.get("migrate_to_chat_id")
        raise TelegramRefused(
            method,
            description,
            error_code=code,
            migrate_to_chat_id=migrate_to if _is_int(migrate_to) else None,
        )


class TokenBucket:
    """Holds up to `capacity` tokens, refilled evenly over `period`: a burst, then a steady rate."""

    def __init__(self, capacity: int, period: timedelta, *, now: datetime) -> None:
        if capacity < 1 or period <= timedelta(0):
            raise ValueError("a bucket needs a capacity of at least 1 and a positive period")
        self.capacity = capacity
        self.period = period
        self._tokens = float(capacity)
        self._at = now

    def wait(self, now: datetime) -> timedelta:
        """How long until a token is free; zero when one is free now."""
        self._refill(now)
        missing = 1.0 - self._tokens
        # A hair of tolerance either way: tokens are sums of floats, and 0.999999 of one is one.
        if missing <= 1e-9:
            return timedelta(0)
        milliseconds = missing * self.period.total_seconds() * 1000 / self.capacity
        return timedelta(milliseconds=math.ceil(milliseconds - 1e-6))

    def take(self, now: datetime) -> None:
        self._refill(now)
        self._tokens -= 1.0

    def is_full(self, now: datetime) -> bool:
        self._refill(now)
        return self._tokens >= self.capacity

    def _refill(self, now: datetime) -> None:
        # A clock stepping back refills nothing rather than draining the bucket.
        elapsed = max(0.0, (now - self._at).total_seconds())
        refilled = elapsed * self.capacity / self.period.total_seconds()
        self._tokens = min(float(self.capacity), self._tokens + refilled)
        self._at = max(self._at, now)


# A refusal takes no token and names the wait, so the outbox retries later and no worker sleeps.
# In memory and per process: several processes sending through one bot need a shared store.
# A bucket allows a full burst and then its steady rate, so a group may briefly see up to twice
# its budget in one sliding minute; Telegram's own 429 covers what slips through.
class FloodLimiter:
    """Telegram's flood limits for one bot: a minute's budget per group and a second's overall."""

    def __init__(
        self,
        *,
        per_group: int = MESSAGES_PER_GROUP,
        group_period: timedelta = GROUP_PERIOD,
        overall: int = MESSAGES_OVERALL,
        overall_period: timedelta = OVERALL_PERIOD,
        clock: Clock = utc_now,
    ) -> None:
        self.per_group = per_group
        self.group_period = group_period
        self._clock = clock
        self._overall = TokenBucket(overall, overall_period, now=clock())
        self._groups: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def reserve(self, group: str | None) -> timedelta | None:
        """Take one message's place (`group` None for a direct message), or return the wait."""
        with self._lock:
            now = self._clock()
            buckets = [self._overall]
            if group is not None:
                bucket = self._groups.get(group)
                if bucket is None:
                    self._forget_refilled(now)
                    bucket = TokenBucket(self.per_group, self.group_period, now=now)
                    self._groups[group] = bucket
                buckets.append(bucket)
            wait = max(bucket.wait(now) for bucket in buckets)
            if wait > timedelta(0):
                return wait
            for bucket in buckets:
                bucket.take(now)
            return None

    def _forget_refilled(self, now: datetime) -> None:
        if len(self._groups) < TRACKED_GROUPS:
            return
        for group in [group for group, bucket in self._groups.items() if bucket.is_full(now)]:
            del self._groups[group]


# Actions and their payloads:
# - send_message: {"text", "mentions": [member ids], "names"?: {member id: shown name}};
# - send_direct_message: the same, to `member` (Telegram lets a bot write only to users who
#   started it, or, for 5 minutes, to one who asked to join a group it administers);
# - warn_member: a message to the group @-mentioning `member` first, same payload;
# - kick_member: ban then unban, so the member is out but may come back later through a link
#   (operators' removals are reversible); {"ban": true} keeps them banned;
# - rename_group: {"name"}, 1-128 characters;
# - set_notice: Telegram groups have no notice board, so the notice is sent as a message and
#   pinned, which shows it atop the chat and notifies every member, as a WeChat notice does;
# - restore_member: lift a ban so a removed member may come back (unban, only if banned);
# - delete_message: {"message"}, the message id as its message.posted event named it;
# - restrict_member: {"until"?: ISO instant, "permissions"?: {name: bool}}; by default the member
#   may read but not send anything (mute), until `until` or for good;
# - pin_message: {"message"}, pinned with a notice to every member unless {"silent": true};
# - create_task: an operator's to-do, never a Telegram call: it waits as `awaiting` with its
#   task in `payload.task` until `shequn tasks done ID`, failing past `payload.deadline`
#   (3 days by default).
# Mentions show `names`, else the `nickname` lookup, else the member id. Telegram has no
# idempotency key: a timeout after Telegram took a message means the retry posts it twice.
class TelegramConnector:
    """Carries out outbox actions through one bot; a group's id is its Telegram chat id as text."""

    name = "telegram"

    def __init__(
        self,
        bot: TelegramBot,
        *,
        limiter: FloodLimiter | None = None,
        nickname: Callable[[str, str], str | None] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.bot = bot
        self._clock = clock
        self.limiter = limiter if limiter is not None else FloodLimiter()
        self._nickname = nickname
        # A notice sent but not yet pinned: a retry pins it instead of sending it again.
        self._unpinned: dict[str, int] = {}
        self._lock = threading.Lock()
        self._performers: dict[str, Callable[[ActionRecord], None]] = {
            ActionKind.SEND_MESSAGE: self._send_message,
            ActionKind.SEND_DIRECT_MESSAGE: self._send_direct_message,
            ActionKind.WARN_MEMBER: self._warn_member,
            ActionKind.KICK_MEMBER: self._kick_member,
            ActionKind.RENAME_GROUP: self._rename_group,
            ActionKind.SET_NOTICE: self._set_notice,
            ActionKind.CREATE_TASK: self._hand_task,
            ActionKind.RESTORE_MEMBER: self._restore_member,
            ActionKind.DELETE_MESSAGE: self._delete_message,
            ActionKind.RESTRICT_MEMBER: self._restrict_member,
            ActionKind.PIN_MESSAGE: self._pin_message,
        }

    def perform(self, action: ActionRecord) -> None:
        performer = self._performers.get(action.kind)
        if performer is None:
            raise ActionFailed(
                f"{action.kind} is not an action Telegram can carry out", retryable=False
            )
        try:
            performer(action)
        except RateLimited as error:
            # Telegram did not carry the call out: a wait, not a failed attempt.
            raise ActionFailed.wait(str(error), error.retry_after) from error
        except TelegramError as error:
            raise ActionFailed(str(error), retryable=error.retryable) from error

    def _send_message(self, action: ActionRecord) -> None:
        chat = _chat_id(action, action.group_id, "group")
        text = _text(action)
        mentions = self._mentions(action, _member_ids(action, action.payload.get("mentions")))
        self._reserve(action.group_id)
        self.bot.send_message(chat, text, mentions=mentions)

    def _send_direct_message(self, action: ActionRecord) -> None:
        chat = _chat_id(action, action.member_id, "member")
        text = _text(action)
        mentions = self._mentions(action, _member_ids(action, action.payload.get("mentions")))
        self._reserve(None)
        self.bot.send_message(chat, text, mentions=mentions)

    def _warn_member(self, action: ActionRecord) -> None:
        chat = _chat_id(action, action.group_id, "group")
        member = _chat_id(action, action.member_id, "member")
        text = _text(action)
        others = _member_ids(action, action.payload.get("mentions"))
        mentioned = [member, *(other for other in others if other != member)]
        mentions = self._mentions(action, mentioned)
        self._reserve(action.group_id)
        self.bot.send_message(chat, text, mentions=mentions)

    def _kick_member(self, action: ActionRecord) -> None:
        chat = _chat_id(action, action.group_id, "group")
        member = _chat_id(action, action.member_id, "member")
        # Telegram has no plain "remove": a ban removes, and lifting it at once leaves the door
        # open, as the operators' rule of reversible removals asks.
        self.bot.ban_chat_member(chat, member)
        if action.payload.get("ban") is not True:
            self.bot.unban_chat_member(chat, member, only_if_banned=True)

    def _rename_group(self, action: ActionRecord) -> None:
        chat = _chat_id(action, action.group_id, "group")
        name = action.payload.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_TITLE:
            raise ActionFailed(
                f"rename_group needs a name of 1 to {MAX_TITLE} characters", retryable=False
            )
        self.bot.set_chat_title(chat, name.strip())

    def _set_notice(self, action: ActionRecord) -> None:
        chat = _chat_id(action, action.group_id, "group")
        text = _text(action)
        with self._lock:
            message_id = self._unpinned.get(action.id)
        if message_id is None:
            mentions = self._mentions(action, _member_ids(action, action.payload.get("mentions")))
            self._reserve(action.group_id)
            message_id = self.bot.send_message(chat, text, mentions=mentions)["message_id"]
            with self._lock:
                self._unpinned[action.id] = message_id
        self.bot.pin_chat_message(chat, message_id)
        with self._lock:
            self._unpinned.pop(action.id, None)

    def _restore_member(self, action: ActionRecord) -> None:
        chat = _chat_id(action, action.group_id, "group")
        member = _chat_id(action, action.member_id, "member")
        self.bot.unban_chat_member(chat, member, only_if_banned=True)

    def _delete_message(self, action: ActionRecord) -> None:
        chat = _chat_id(action, action.group_id, "group")
        self.bot.delete_message(chat, _message_id(action))

    def _restrict_member(self, action: ActionRecord) -> None:
        chat = _chat_id(action, action.group_id, "group")
        member = _chat_id(action, action.member_id, "member")
        permissions = action.payload.get("permissions", MUTED)
        if not isinstance(permissions, Mapping) or not all(
            isinstance(name, str) and isinstance(allowed, bool)
            for name, allowed in permissions.items()
        ):
            raise ActionFailed("permissions: an object of names and true/false", retryable=False)
        self.bot.restrict_chat_member(
            chat, member, permissions=permissions, until_date=_until(action)
        )

    def _pin_message(self, action: ActionRecord) -> None:
        chat = _chat_id(action, action.group_id, "group")
        silent = action.payload.get("silent") is True
        self.bot.pin_chat_message(chat, _message_id(action), disable_notification=silent)

    def _hand_task(self, action: ActionRecord) -> None:
        # Nothing in Telegram shows whether it was done: it waits for `shequn tasks done` (or
        # the answer a join-request review asks for) and fails at its deadline.
        now = self._clock()
        task = action.payload.get("task")
        if not isinstance(task, Mapping):
            task = _hand_task_of(action, now)
        deadline = _instant(task.get("deadline")) or now
        if now >= deadline:
            raise ActionFailed(
                f"not done by its deadline {deadline.isoformat()}: {task.get('en')}",
                retryable=False,
            )
        raise ActionAwaiting(task, check_after=deadline - now)

    def _reserve(self, group: str | None) -> None:
        wait = self.limiter.reserve(group)
        if wait is not None:
            where = f"group {group}" if group is not None else "all chats"
            raise ActionFailed.wait(
                f"flood limit for {where}: try again in {wait.total_seconds():g}s", wait
            )

    def _mentions(self, action: ActionRecord, members: Sequence[int]) -> list[Mention]:
        names = action.payload.get("names")
        names = names if isinstance(names, Mapping) else {}
        mentions = []
        for member in members:
            name = names.get(str(member))
            if not isinstance(name, str) or not name.strip():
                found = self._nickname if self._nickname is not None else None
                name = None if found is None else found(action.org, str(member))
            mentions.append(Mention(member, name or str(member)))
        return mentions


def _hand_task_of(action: ActionRecord, now: datetime) -> dict[str, Any]:
    title = action.payload.get("title")
    text = action.payload.get("text")
    fallback = text if isinstance(text, str) and text.strip() else action.cause
    zh = en = fallback
    if isinstance(title, Mapping):
        zh = str(title.get("zh") or title.get("en") or fallback)
        en = str(title.get("en") or title.get("zh") or fallback)
    given = action.payload.get("deadline")
    deadline = _instant(given) if given is not None else now + TASK_DEADLINE
    if deadline is None:
        raise ActionFailed("deadline: an ISO instant with its UTC offset", retryable=False)
    task: dict[str, Any] = {"kind": "by_hand", "zh": zh, "en": en, "deadline": deadline.isoformat()}
    reason = action.payload.get("reason")
    if isinstance(reason, str) and reason:
        task["reason"] = reason
    return task


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None


def _chat_id(action: ActionRecord, value: str | None, what: str) -> int:
    if value is None:
        raise ActionFailed(f"{action.kind} needs a {what}", retryable=False)
    if not _TELEGRAM_ID.fullmatch(value):
        raise ActionFailed(f"{what} {value!r} is not a Telegram id", retryable=False)
    return int(value)


def _member_ids(action: ActionRecord, value: object) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ActionFailed("mentions: must be a list of member ids", retryable=False)
    members: list[int] = []
    for member in value:
        member_id = _chat_id(action, str(member), "mentioned member")
        if member_id not in members:
            members.append(member_id)
    return members


def _message_id(action: ActionRecord) -> int:
    value = action.payload.get("message")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ActionFailed(f"{action.kind} needs the message id as payload.message", retryable=False)


def _until(action: ActionRecord) -> datetime | None:
    value = action.payload.get("until")
    if value is None:
        return None
    try:
        until = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        until = None
    if until is None or until.tzinfo is None:
        raise ActionFailed("until: an ISO instant with its UTC offset", retryable=False)
    return until


def _text(action: ActionRecord) -> str:
    text = action.payload.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ActionFailed(f"{action.kind} needs a text", retryable=False)
    return text


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
