"""Telegram join requests: ignored, approved, or screened by the audit, as the org's setting says.

The org setting `telegram_join_requests` is `ignore` (the default: the request waits for an
admin in Telegram), `approve` (every request is approved), or `screen`: the requester's profile
(their names and bio, and whatever the org already knows of them) is scored as the audit scores
a member; a `pass` verdict is approved, a `kick` declined, and a `review` left for a person as
an operator task (`shequn tasks list`), answered with `shequn telegram answer`. Approvals and
declines are Bot API calls made where the update is taken in, not outbox actions; each request
and what was decided is kept in `telegram_join_request`.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.audit.models import AuditCase
from shequn.audit.rules import Assessment, Verdict
from shequn.audit.service import assess
from shequn.connectors.models import JoinDecision, TelegramJoinRequest
from shequn.connectors.telegram.bot import TelegramBot, TelegramError
from shequn.connectors.telegram.mapping import JoinRequest
from shequn.engine.action import Action, ActionKind
from shequn.engine.context import Context
from shequn.engine.models import ActionRecord, ActionStatus
from shequn.kit.ids import stable_id
from shequn.member.models import Member

if TYPE_CHECKING:
    from shequn.wiring import Shequn

SETTING = "telegram_join_requests"
Mode = Literal["ignore", "approve", "screen"]
MODES: tuple[Mode, ...] = ("ignore", "approve", "screen")
DEFAULT_MODE: Mode = "ignore"
# Who decided, as kept on the record: the org's setting, or the operator who answered.
BY_SETTING = "shequn"
MAX_BIO = 300
REVIEW_DEADLINE = timedelta(days=3)


def join_request_mode(settings: Mapping[str, Any]) -> Mode:
    """The org's mode; a malformed value stored by hand falls back to ignoring requests."""
    value = settings.get(SETTING, DEFAULT_MODE)
    for mode in MODES:
        if value == mode:
            return mode
    return DEFAULT_MODE


def parse_mode(word: str) -> Mode:
    for mode in MODES:
        if word == mode:
            return mode
    raise ValueError(f"{SETTING}: {word!r} is not one of {', '.join(MODES)}")


def decision_for(mode: Mode, verdict: Verdict | None) -> JoinDecision | None:
    """What shequn does with a request: nothing when ignoring, else by the audit's verdict."""
    if mode == "ignore":
        return None
    if mode == "approve":
        return JoinDecision.APPROVED
    if verdict is Verdict.KICK:
        return JoinDecision.DECLINED
    if verdict is Verdict.REVIEW:
        return JoinDecision.REVIEW
    return JoinDecision.APPROVED


@dataclass(frozen=True)
class Answered:
    """What one batch of join requests came to, by decision, and calls Telegram refused."""

    approved: int = 0
    declined: int = 0
    review: int = 0
    ignored: int = 0
    failed: tuple[str, ...] = ()


def review_task_id(org: str, request: TelegramJoinRequest | JoinRequest) -> str:
    group = request.group_id if isinstance(request, TelegramJoinRequest) else request.group
    member = request.member_id if isinstance(request, TelegramJoinRequest) else request.member
    at = request.requested_at if isinstance(request, TelegramJoinRequest) else request.at
    return stable_id("telegram-join-review", org, group, member, at.isoformat())


def screen(context: Context, org: str, request: JoinRequest) -> Assessment:
    """Score the requester as the audit scores a member, from the names and bio they asked with."""
    stored = context.rows.get(Member, (org, request.member))
    # Unsaved: a requester is not a member until Telegram reports the join.
    profile = Member(
        org=org,
        id=request.member,
        nickname=request.nickname,
        signature=request.bio,
        gender=stored.gender if stored is not None else "unknown",
        avatar_url=stored.avatar_url if stored is not None else None,
        avatar_flags=list(stored.avatar_flags) if stored is not None else [],
        album_flags=list(stored.album_flags) if stored is not None else [],
    )
    return assess(context, org, profile, context.rows.get(AuditCase, (org, request.member)))


def answer_join_requests(
    shequn: "Shequn",
    bot: TelegramBot,
    requests: Iterable[JoinRequest],
    *,
    default_org: str,
    now: datetime,
) -> Answered:
    """Decide each request once and answer it through the Bot API; safe to run again.

    A request already decided is not decided again; one whose answer did not reach Telegram is
    answered again. A call that may succeed later is raised once the batch is through, so the
    delivery comes back (webhook) or the poll is repeated.
    """
    counts = {decision: 0 for decision in JoinDecision}
    ignored = 0
    failed: list[str] = []
    retry: TelegramError | None = None
    for request in requests:
        org = request.org or default_org
        with shequn.sessions.begin() as session:
            record = _decided(shequn, session, org, request, now=now)
            if record is None:
                ignored += 1
                continue
            decision = JoinDecision(record.decision)
            counts[decision] += 1
            due = decision != JoinDecision.REVIEW and record.answered_at is None
        if not due:
            continue
        try:
            _answer(bot, request.group, request.member, decision)
        except TelegramError as error:
            failed.append(f"{request.group}/{request.member}: {error}")
            _note_answer(shequn, org, request, error=str(error), now=now)
            if error.retryable and retry is None:
                retry = error
            continue
        _note_answer(shequn, org, request, error=None, now=now)
    if retry is not None:
        raise retry
    return Answered(
        approved=counts[JoinDecision.APPROVED],
        declined=counts[JoinDecision.DECLINED],
        review=counts[JoinDecision.REVIEW],
        ignored=ignored,
        failed=tuple(failed),
    )


def _decided(
    shequn: "Shequn", session: Session, org: str, request: JoinRequest, *, now: datetime
) -> TelegramJoinRequest | None:
    key = (org, request.group, request.member, request.at)
    record = session.get(TelegramJoinRequest, key)
    if record is not None:
        return record
    context = shequn.context(session, org, now=now)
    mode = join_request_mode(context.tenant(org).settings)
    assessment = screen(context, org, request) if mode == "screen" else None
    decision = decision_for(mode, assessment.verdict if assessment else None)
    if decision is None:
        return None
    record = TelegramJoinRequest(
        org=org, group_id=request.group, member_id=request.member, requested_at=request.at,
        nickname=request.nickname, bio=request.bio[:MAX_BIO] if request.bio else None,
        mode=mode, score=assessment.score if assessment else None,
        verdict=str(assessment.verdict) if assessment else None, decision=decision,
        decided_at=now, decided_by=BY_SETTING, answered_at=None, error=None,
    )  # fmt: skip
    session.add(record)
    if decision == JoinDecision.REVIEW and assessment is not None:
        context.emit(_review_task(org, request, assessment))
        context.flush()
    session.flush()
    return record


def _review_task(org: str, request: JoinRequest, assessment: Assessment) -> Action:
    who = f"{request.nickname} ({request.member})"
    reasons = "、".join(signal.code for signal in assessment.signals)
    return Action(
        id=review_task_id(org, request),
        org=org,
        kind=ActionKind.CREATE_TASK,
        cause=f"telegram:join-request:{request.id}",
        platform="telegram",
        group=request.group,
        member=request.member,
        payload={
            "title": {
                "zh": f"审核 {who} 的入群申请(得分 {assessment.score}):"
                f"shequn telegram answer --group {request.group} --member {request.member} "
                "approve|decline",
                "en": f"Review the join request of {who} (score {assessment.score}): "
                f"shequn telegram answer --group {request.group} --member {request.member} "
                "approve|decline",
            },
            "reason": reasons,
            "bio": request.bio,
        },
    )


def _answer(bot: TelegramBot, group: str, member: str, decision: JoinDecision) -> None:
    if decision == JoinDecision.APPROVED:
        bot.approve_chat_join_request(int(group), int(member))
    else:
        bot.decline_chat_join_request(int(group), int(member))


def _note_answer(
    shequn: "Shequn", org: str, request: JoinRequest, *, error: str | None, now: datetime
) -> None:
    with shequn.sessions.begin() as session:
        record = session.get(TelegramJoinRequest, (org, request.group, request.member, request.at))
        if record is None:
            return
        record.error = error[:1000] if error else None
        if error is None:
            record.answered_at = now


def waiting_requests(session: Session, org: str) -> list[TelegramJoinRequest]:
    """Requests left for a person, oldest first."""
    query = select(TelegramJoinRequest).where(
        TelegramJoinRequest.org == org,
        TelegramJoinRequest.decision == JoinDecision.REVIEW,
        TelegramJoinRequest.answered_at.is_(None),
    )
    return list(session.scalars(query.order_by(TelegramJoinRequest.requested_at)))


def join_request_json(record: TelegramJoinRequest) -> dict[str, Any]:
    return {
        "group": record.group_id,
        "member": record.member_id,
        "nickname": record.nickname,
        "bio": record.bio,
        "requested_at": record.requested_at.isoformat(),
        "mode": record.mode,
        "score": record.score,
        "verdict": record.verdict,
        "decision": str(record.decision),
        "decided_by": record.decided_by,
        "answered_at": record.answered_at.isoformat() if record.answered_at else None,
        "error": record.error,
    }


class NoWaitingRequest(LookupError):
    def __init__(self, group: str, member: str) -> None:
        super().__init__(f"no join request of member {member} to group {group} waits for review")


def answer_by_hand(
    session: Session,
    bot: TelegramBot,
    org: str,
    *,
    group: str,
    member: str,
    decision: JoinDecision,
    by: str,
    now: datetime,
) -> TelegramJoinRequest:
    """An operator's answer to a request left for review: sent to Telegram, then recorded."""
    waiting = [
        request
        for request in waiting_requests(session, org)
        if (request.group_id, request.member_id) == (group, member)
    ]
    if not waiting:
        raise NoWaitingRequest(group, member)
    record = waiting[-1]
    _answer(bot, group, member, decision)
    record.decision, record.decided_by, record.decided_at = decision, by, now
    record.answered_at, record.error = now, None
    task = session.get(ActionRecord, review_task_id(org, record))
    if task is not None and task.status in (ActionStatus.PENDING, ActionStatus.AWAITING):
        task.status, task.done_at, task.next_attempt_at = ActionStatus.SENT, now, now
    session.flush()
    return record
