"""Actions handlers decide (the outbox's rows) and the rule for what happens after each attempt."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shequn.engine.models import ActionStatus


class ActionKind(StrEnum):
    SEND_MESSAGE = "send_message"
    SEND_DIRECT_MESSAGE = "send_direct_message"
    KICK_MEMBER = "kick_member"
    WARN_MEMBER = "warn_member"
    RENAME_GROUP = "rename_group"
    SET_NOTICE = "set_notice"
    CREATE_TASK = "create_task"
    # Re-admit a kicked member (Telegram: unban); elsewhere the connector makes it a task.
    RESTORE_MEMBER = "restore_member"
    DELETE_MESSAGE = "delete_message"
    RESTRICT_MEMBER = "restrict_member"
    PIN_MESSAGE = "pin_message"


@dataclass(frozen=True)
class Action:
    """What a handler wants done; `id` is deterministic so deciding twice records it once."""

    id: str
    org: str
    kind: ActionKind
    cause: str
    platform: str | None = None
    group: str | None = None
    member: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


class ActionFailed(Exception):
    """A connector could not carry an action out; `retryable` says whether trying later may help.

    `is_wait` marks a platform's "not now" (a flood limit, Telegram's 429, WeCom's 45009): the
    action was not attempted at all, so it burns no attempt and comes back after `retry_after`.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: timedelta | None = None,
        is_wait: bool = False,
    ):
        super().__init__(message)
        self.retryable = retryable or is_wait
        self.retry_after = retry_after
        self.is_wait = is_wait

    @classmethod
    def wait(cls, message: str, retry_after: timedelta | None) -> "ActionFailed":
        return cls(message, retryable=True, retry_after=retry_after, is_wait=True)


class ActionAwaiting(Exception):
    """The platform needs a person to finish the action (WeCom: an employee confirms a group send
    or removes a customer by hand); `task` says what, and the connector is asked again after
    `check_after` to tell whether it was done."""

    def __init__(self, task: Mapping[str, Any], *, check_after: timedelta) -> None:
        super().__init__(str(task.get("en") or task.get("kind") or "operator task"))
        self.task = dict(task)
        self.check_after = check_after


MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=10)
# A wait the platform did not put a number on.
DEFAULT_WAIT = timedelta(seconds=5)


@dataclass(frozen=True)
class Outcome:
    status: ActionStatus
    next_attempt_at: datetime
    done_at: datetime | None
    counts_attempt: bool = True


def after_attempt(
    *, attempts: int, now: datetime, failure: ActionFailed | None, max_attempts: int = MAX_ATTEMPTS
) -> Outcome:
    """pending → sent on success; → pending (backed off) on a retryable failure; → failed otherwise.

    `attempts` counts the attempts made before this one plus this one; a wait does not count.
    """
    if failure is None:
        return Outcome(ActionStatus.SENT, now, now)
    if failure.is_wait:
        # Nothing reached the platform: neither an attempt spent nor a backoff that grows.
        return Outcome(
            ActionStatus.PENDING, now + (failure.retry_after or DEFAULT_WAIT), None, False
        )
    if not failure.retryable or attempts >= max_attempts:
        return Outcome(ActionStatus.FAILED, now, now)
    backoff = min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)
    if failure.retry_after is not None:
        # The platform said when (Telegram's 429 retry_after): never come back sooner.
        backoff = max(backoff, failure.retry_after)
    return Outcome(ActionStatus.PENDING, now + backoff, None)
