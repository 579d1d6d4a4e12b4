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
    """A connector could not carry an action out; `retryable` says whether trying later may help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: timedelta | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=10)


@dataclass(frozen=True)
class Outcome:
    status: ActionStatus
    next_attempt_at: datetime
    done_at: datetime | None


def after_attempt(
    *, attempts: int, now: datetime, failure: ActionFailed | None, max_attempts: int = MAX_ATTEMPTS
) -> Outcome:
    """pending → sent on success; → pending (backed off) on a retryable failure; → failed otherwise.

    `attempts` counts the attempt just made.
    """
    if failure is None:
        return Outcome(ActionStatus.SENT, now, now)
    if not failure.retryable or attempts >= max_attempts:
        return Outcome(ActionStatus.FAILED, now, now)
    backoff = min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)
    if failure.retry_after is not None:
        # The platform said when (Telegram's 429 retry_after): never come back sooner.
        backoff = max(backoff, failure.retry_after)
    return Outcome(ActionStatus.PENDING, now + backoff, None)
