"""What points react to: sign-ins, chatter, likes and paid orders earn; kicks, audit flags and
refunds take back; chat commands are answered once per group and window. And the jobs: the
expiry, the daily crediting of invites, and the replies.

The reaction decides event by event, in the batch's order, and writes once per org and batch,
at the org's last event that concerns points (as the audit does).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select

from shequn.audit.models import AuditCase
from shequn.audit.rules import is_flagged
from shequn.commerce.models import Order
from shequn.contract import (
    MemberJoined,
    MemberLeft,
    MessagePosted,
    OrderPaid,
    OrderRefunded,
    ReactionAdded,
)
from shequn.db import insert_ignoring_conflicts
from shequn.engine.action import Action, ActionKind
from shequn.engine.context import Context, Job
from shequn.engine.event import Event
from shequn.engine.models import JobRecord
from shequn.engine.registry import JobKind, Reaction
from shequn.group.models import Group
from shequn.group.rules import welcome_slot
from shequn.kit.ids import stable_id
from shequn.kit.time import local_day
from shequn.member.models import Member
from shequn.member.service import nicknames
from shequn.points.models import (
    PointsLot,
    PointsPendingInvite,
    PointsReply,
    PointsSignIn,
    ReplyKind,
)
from shequn.points.rules import EarnKind, Period, earned, is_sign_in, sign_in
from shequn.points.service import (
    EXPIRE_JOB,
    REPLY_JOB,
    SIGN_IN_KIND,
    Earning,
    PointsPolicy,
    Revocation,
    balances_of,
    barred_among,
    book_earnings,
    due_invites,
    expire_points,
    invite_due_at,
    invite_earnings,
    lock_members,
    pending_due,
    points_board,
    policy_of,
    revoke_points,
    settle_pending,
    tallies_of,
)

BALANCE_WORDS = ("积分", "/points")
RANK_WORDS = ("排行", "/rank")
# One reply per group and window names at most this many members; the rest are counted.
MAX_MENTIONS = 20
# The events on which the audit rescores a member.
RESCORED = frozenset({"member.joined", "member.upserted"})
CONCERNS = frozenset(
    {"message.posted", "reaction.added", "order.paid", "order.refunded", "member.left",
     "member.joined", "member.upserted"}
)  # fmt: skip


@dataclass
class _Batch:
    """What the reaction decided for one org in this batch, written at its last event."""

    last: tuple[str, str] | None = None
    barred: frozenset[str] = frozenset()
    # Members the audit rescores in this batch: whether they are flagged is asked as it goes.
    watched: frozenset[str] = frozenset()
    # Per member, local day → the streak that day's sign-in made.
    signed: dict[str, dict[date, int]] = field(default_factory=lambda: defaultdict(dict))
    tallies: dict[tuple[str, date, str], int] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    earnings: list[Earning] = field(default_factory=list)
    sign_ins: list[dict[str, Any]] = field(default_factory=list)
    replies: dict[tuple[str, datetime, str, str], dict[str, Any]] = field(default_factory=dict)
    revocations: list[Revocation] = field(default_factory=list)
    # Members the audit rescored in this batch, with the time of their latest such event.
    rescored: dict[str, datetime] = field(default_factory=dict)
    # Newcomers whose inviter may be credited after their first day, and those due now.
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    until: datetime | None = None


def _batch(context: Context, org: str) -> _Batch:
    return context.memo(("points-batch", org), _Batch)


def _command(text: str | None, policy: PointsPolicy) -> str | None:
    if is_sign_in(text, policy.sign_in_keywords):
        return ReplyKind.SIGN_IN
    if is_sign_in(text, BALANCE_WORDS):
        return ReplyKind.BALANCE
    if is_sign_in(text, RANK_WORDS):
        return ReplyKind.RANK
    return None


def _prefetch_org(context: Context, org: str, events: Sequence[Event]) -> None:
    batch = _batch(context, org)
    batch.last = (events[-1].source, events[-1].id)
    policy = policy_of(context, org)
    timezone, settings = context.tenant(org).timezone, context.tenant(org).settings
    members = {event.member for event in events if event.member is not None}
    refunded = [(org, e.data.order) for e in events if isinstance(e.data, OrderRefunded)]
    context.rows.prefetch(Order, refunded)
    members |= {order.member_id for key in refunded if (order := context.rows.get(Order, key))}
    # Whoever was credited for inviting a member loses it when the member is kicked or flagged.
    moved = ("member.left", "member.joined", "member.upserted")
    invites = [(org, f"invite:{e.member}") for e in events if e.type in moved and e.member]
    context.rows.prefetch(PointsLot, invites)
    members |= {lot.member for key in invites if (lot := context.rows.get(PointsLot, key))}
    # Newcomers whose first day ended since are settled up to where this batch brings the log
    # (an import of last month settles each day's newcomers once their first day is in).
    batch.until = min(context.now, max(event.at for event in events))
    batch.watched = frozenset(e.member for e in events if e.type in RESCORED and e.member)
    batch.barred = barred_among(
        context.session, org, members - batch.watched, settings=settings
    ) | barred_among(context.session, org, batch.watched, settings=settings, with_flagged=False)
    tallies: set[tuple[str, date, str]] = set()
    days: set[tuple[str, str, date]] = set()
    for event in events:
        if event.member is None:
            continue
        day = local_day(event.at, timezone)
        if isinstance(event.data, MessagePosted):
            command = _command(event.data.text, policy)
            if command == ReplyKind.SIGN_IN:
                days |= {(org, event.member, day), (org, event.member, day - timedelta(days=1))}
            elif command is None:
                tallies.add((event.member, day, EarnKind.MESSAGE.value))
        elif event.type == "reaction.added":
            tallies.add((event.member, day, EarnKind.REACTION.value))
        elif event.type == "order.paid":
            tallies.add((event.member, day, EarnKind.ORDER.value))
    batch.tallies = tallies_of(context.session, org, tallies)
    context.rows.prefetch(PointsSignIn, days)
    for key in days:
        if (signed := context.rows.get(PointsSignIn, key)) is not None:
            batch.signed[signed.member][signed.day] = signed.streak


def prefetch_points(context: Context, events: Sequence[Event]) -> None:
    by_org: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.type in CONCERNS:
            by_org[event.org].append(event)
    for org in sorted(by_org):
        _prefetch_org(context, org, by_org[org])


def _may_earn(context: Context, org: str, member: str) -> bool:
    batch = _batch(context, org)
    if member in batch.barred:
        return False
    if member not in batch.watched:
        return True
    # The audit's case as this batch left it so far (the audit reacts before points do).
    case = context.rows.get(AuditCase, (org, member))
    return case is None or not is_flagged(case.verdict, case.decision)


def _tally(context: Context, batch: _Batch, org: str, key: tuple[str, date, str]) -> int:
    if key not in batch.tallies:
        batch.tallies.update(tallies_of(context.session, org, [key]))
    return batch.tallies[key]


def _earn(
    context: Context,
    event: Event,
    kind: EarnKind,
    *,
    key: str,
    group: str | None,
    amount: int | None = None,
) -> None:
    """Points for one action, within the member's daily cap for the kind."""
    member = cast(str, event.member)
    batch = _batch(context, event.org)
    if key in batch.keys or not _may_earn(context, event.org, member):
        return
    batch.keys.add(key)
    rule = policy_of(context, event.org).rules[kind]
    day = local_day(event.at, context.tenant(event.org).timezone)
    tally = (member, day, kind.value)
    points = earned(rule, earned_today_by_kind=_tally(context, batch, event.org, tally),
                    amount_fen=amount)  # fmt: skip
    if points <= 0:
        return
    batch.tallies[tally] += points
    batch.earnings.append(
        Earning(
            member=member,
            points=points,
            key=key,
            at=event.at,
            reason=kind.value,
            kind=kind.value,
            group=group,
        )
    )


def _ask(context: Context, event: Event, group: str, kind: str, detail: dict[str, Any]) -> None:
    """Queue a reply in the group's window; one message answers the whole window."""
    policy = policy_of(context, event.org)
    member = cast(str, event.member)
    if not policy.replies:
        return
    window, until = welcome_slot(event.at, policy.reply_window)
    _batch(context, event.org).replies.setdefault(
        (group, window, member, kind),
        {"org": event.org, "group_id": group, "window": window, "member": member, "kind": kind,
         "at": event.at, "detail": detail},
    )  # fmt: skip
    context.schedule(
        Job(
            id=stable_id("points-reply", event.org, group, window.isoformat()),
            org=event.org,
            kind=REPLY_JOB,
            due_at=until,
            payload={"group": group, "window": window.isoformat()},
        )
    )


def _sign_in(context: Context, event: Event, data: MessagePosted) -> None:
    org, member = event.org, data.member
    batch = _batch(context, org)
    policy = policy_of(context, org)
    timezone = context.tenant(org).timezone
    days = batch.signed[member]
    today = local_day(event.at, timezone)
    detail: dict[str, Any] = {"counted": False, "points": 0, "streak": days.get(today, 1)}
    if today not in days:
        # A stored streak of n on yesterday means the n days up to yesterday were all signed.
        run = days.get(today - timedelta(days=1), 0)
        history = [today - timedelta(days=back) for back in range(1, run + 1)]
        result = sign_in(history, at=event.at, timezone=timezone, rule=policy.sign_in)
        days[today] = result.streak
        detail = {"counted": True, "points": result.points, "streak": result.streak}
        batch.sign_ins.append(
            {"org": org, "member": member, "day": today, "streak": result.streak,
             "points": result.points, "at": event.at, "group_id": data.group}
        )  # fmt: skip
        if result.points > 0:
            batch.earnings.append(Earning(
                member=member, points=result.points, key=f"signin:{member}:{today.isoformat()}",
                at=event.at, reason=f"sign-in, day {result.streak}", kind=SIGN_IN_KIND,
                group=data.group,
            ))  # fmt: skip
    _ask(context, event, data.group, ReplyKind.SIGN_IN, detail)


def on_message(context: Context, event: Event) -> None:
    data = event.payload(MessagePosted)
    command = _command(data.text, policy_of(context, event.org))
    if _may_earn(context, event.org, data.member):
        if command == ReplyKind.SIGN_IN:
            _sign_in(context, event, data)
        elif command is not None:
            _ask(context, event, data.group, command, {})
        else:
            _earn(context, event, EarnKind.MESSAGE, key=f"message:{event.source}:{event.id}",
                  group=data.group)  # fmt: skip
    _write_if_last(context, event)


def on_reaction(context: Context, event: Event) -> None:
    data = event.payload(ReactionAdded)
    _earn(context, event, EarnKind.REACTION, key=f"reaction:{event.source}:{event.id}",
          group=data.group)  # fmt: skip
    _write_if_last(context, event)


def on_order_paid(context: Context, event: Event) -> None:
    data = event.payload(OrderPaid)
    # Keyed by the order, not the event: a corrected order sent again earns nothing more.
    _earn(context, event, EarnKind.ORDER, key=f"order:{data.order}", group=data.group,
          amount=data.amount)  # fmt: skip
    _write_if_last(context, event)


def on_order_refunded(context: Context, event: Event) -> None:
    data = event.payload(OrderRefunded)
    order = context.rows.get(Order, (event.org, data.order))
    # A whole refund takes back the order's points; a partial one leaves them.
    if order is not None and (data.amount is None or data.amount >= order.amount):
        _batch(context, event.org).revocations.append(
            Revocation(
                order.member_id, event.at, f"order {data.order} refunded", lot=f"order:{data.order}"
            )
        )
    _write_if_last(context, event)


def _revoke_for(context: Context, event: Event, member: str, at: datetime, why: str) -> None:
    """Take back the member's open lots and the invite points someone earned by them."""
    batch = _batch(context, event.org)
    batch.revocations.append(Revocation(member, at, why))
    invite = context.rows.get(PointsLot, (event.org, f"invite:{member}"))
    if invite is not None:
        batch.revocations.append(Revocation(invite.member, at, f"invitee {why}", lot=invite.id))


def on_member_left(context: Context, event: Event) -> None:
    data = event.payload(MemberLeft)
    if data.reason == "kicked" and policy_of(context, event.org).revoke_on_kick:
        _revoke_for(context, event, data.member, event.at, f"kicked from {data.group}")
    _write_if_last(context, event)


def on_member_joined(context: Context, event: Event) -> None:
    data = event.payload(MemberJoined)
    member = context.rows.get(Member, (event.org, data.member))
    # Only a first join into the org can credit an inviter (the invite rules); it is settled
    # once the newcomer's first local day is over, so a join-and-leave earns nothing.
    first = member is not None and member.first_join_key == event.key
    if first and (data.inviter is not None or (data.via is not None and data.via.code)):
        timezone = context.tenant(event.org).timezone
        _batch(context, event.org).pending.setdefault(
            data.member,
            {"org": event.org, "invitee": data.member,
             "due_at": invite_due_at(event.at, timezone=timezone)},
        )  # fmt: skip
    _note_rescored(context, event, data.member)


def on_profile(context: Context, event: Event) -> None:
    _note_rescored(context, event, cast(str, event.member))


def _note_rescored(context: Context, event: Event, member: str) -> None:
    rescored = _batch(context, event.org).rescored
    rescored[member] = max(event.at, rescored.get(member, event.at))
    _write_if_last(context, event)


def _write_if_last(context: Context, event: Event) -> None:
    batch = _batch(context, event.org)
    if batch.last == (event.source, event.id):
        _write(context, event.org, batch)


def _revocations(
    context: Context, org: str, batch: _Batch, policy: PointsPolicy
) -> list[Revocation]:
    """The batch's kicks and refunds, and the members the audit flagged in it."""
    revocations = list(batch.revocations)
    if policy.revoke_flagged:
        for member, at in sorted(batch.rescored.items()):
            case = context.rows.get(AuditCase, (org, member))
            if case is not None and is_flagged(case.verdict, case.decision):
                invite = context.rows.get(PointsLot, (org, f"invite:{member}"))
                revocations.append(Revocation(member, at, "flagged by the audit"))
                if invite is not None:
                    revocations.append(
                        Revocation(invite.member, at, "invitee flagged", lot=invite.id)
                    )
    return revocations


def _write(context: Context, org: str, batch: _Batch) -> None:
    session = context.session
    dialect = session.get_bind().dialect
    policy = policy_of(context, org)
    timezone = context.tenant(org).timezone
    # Judged after the batch's joins, leaves and audit verdicts are applied.
    pending = pending_due(session, org, until=batch.until) if batch.until else {}
    due = due_invites(session, org, pending, settings=context.tenant(org).settings)
    revocations = _revocations(context, org, batch, policy)
    if revocations:
        # Earnings need no lock, revocations do: take every lock of this unit of work at once,
        # in member order, so two writers never wait on each other in a circle.
        members = {e.member for e in batch.earnings} | due.inviters
        lock_members(session, org, members | {revocation.member for revocation in revocations})
    invites = {(c.inviter, local_day(at, timezone), EarnKind.INVITE.value) for c, at in due.credits}
    batch.tallies.update(tallies_of(session, org, invites - batch.tallies.keys()))
    earned_before = {
        (member, day): batch.tallies[(member, day, kind)] for member, day, kind in invites
    }
    earnings = batch.earnings + invite_earnings(
        due, rule=policy.rules[EarnKind.INVITE], timezone=timezone,
        earned_before=earned_before,
    )  # fmt: skip
    if batch.sign_ins:
        # The day's row decides, also against another writer: only a stored one earns.
        table = cast(Table, PointsSignIn.__table__)
        stored = session.execute(
            insert_ignoring_conflicts(dialect, table).returning(table.c.member, table.c.day),
            batch.sign_ins,
        )
        won = {f"signin:{member}:{day.isoformat()}" for member, day in stored}
        earnings = [e for e in earnings if e.kind != SIGN_IN_KIND or e.key in won]
    book_earnings(context, org, earnings, policy=policy)
    # After the earnings: a kick takes what the member had then, this batch's points included.
    revoke_points(context, org, revocations, policy=policy)
    settle_pending(session, org, due.invitees)
    if batch.pending:
        session.execute(
            insert_ignoring_conflicts(dialect, cast(Table, PointsPendingInvite.__table__)),
            list(batch.pending.values()),
        )
    if batch.replies:
        session.execute(
            insert_ignoring_conflicts(dialect, cast(Table, PointsReply.__table__)),
            list(batch.replies.values()),
        )


POINTS = Reaction(
    name="points",
    on={
        "message.posted": on_message,
        "reaction.added": on_reaction,
        "order.paid": on_order_paid,
        "order.refunded": on_order_refunded,
        "member.left": on_member_left,
        "member.joined": on_member_joined,
        "member.upserted": on_profile,
    },
    prefetch=prefetch_points,
)


def run_expire(context: Context, job: JobRecord) -> None:
    expire_points(context, job.org)


PERIOD_WORDS = {
    "zh": {Period.DAY: "今日", Period.WEEK: "本周", Period.ALL: "总"},
    "en": {Period.DAY: "today", Period.WEEK: "this week", Period.ALL: "all time"},
}


def _reply_line(
    lang: str,
    name: str,
    request: PointsReply,
    *,
    balance: int,
    rank: tuple[int, int] | None,
    period: str,
) -> str:
    detail = request.detail
    if request.kind == ReplyKind.SIGN_IN:
        streak, points = int(detail.get("streak", 1)), int(detail.get("points", 0))
        if not detail.get("counted"):
            return (f"{name} already signed in today ({streak}-day streak)" if lang == "en"
                    else f"{name} 今天已签到,连续 {streak} 天")  # fmt: skip
        return (f"{name} signed in: +{points} points, {streak}-day streak" if lang == "en"
                else f"{name} 签到成功 +{points} 积分,连续 {streak} 天")  # fmt: skip
    if request.kind == ReplyKind.BALANCE:
        return f"{name}: {balance} points" if lang == "en" else f"{name} 当前积分 {balance}"
    if rank is None:
        return (f"{name}: not on the board {period} yet" if lang == "en"
                else f"{name} {period}暂未上榜")  # fmt: skip
    return (f"{name}: #{rank[0]} {period} ({rank[1]} points)" if lang == "en"
            else f"{name} {period}排名第 {rank[0]}({rank[1]} 积分)")  # fmt: skip


def post_replies(context: Context, job: JobRecord) -> None:
    """Answer every sign-in, balance and board request of one group's window in one message."""
    org, group_id = job.org, str(job.payload["group"])
    window = datetime.fromisoformat(str(job.payload["window"]))
    session = context.session
    where = (PointsReply.org == org, PointsReply.group_id == group_id,
             PointsReply.window == window)  # fmt: skip
    requests = session.scalars(
        select(PointsReply).where(*where).order_by(PointsReply.at, PointsReply.member)
    ).all()
    group = context.rows.get(Group, (org, group_id))
    if not requests or group is None or group.dismissed_at is not None:
        session.execute(delete(PointsReply).where(*where))
        return
    policy = policy_of(context, org)
    lang = policy.lang
    asking = list(dict.fromkeys(request.member for request in requests))
    named = asking[:MAX_MENTIONS]
    names = nicknames(session, org, named)
    balances = balances_of(session, org, named)
    period = PERIOD_WORDS[lang][policy.board_period]
    wants_board = any(request.kind == ReplyKind.RANK for request in requests)
    board = points_board(
        session, org, period=policy.board_period, at=job.due_at, group=group_id,
        timezone=context.tenant(org).timezone,
    ) if wants_board else []  # fmt: skip
    ranks = {row.member: (row.rank, row.points) for row in board}
    lines = [
        _reply_line(lang, names.get(request.member, request.member), request,
                    balance=balances[request.member], rank=ranks.get(request.member),
                    period=period)
        for request in requests
        if request.member in named
    ]  # fmt: skip
    if len(asking) > len(named):
        more = len(asking) - len(named)
        lines.append(f"… and {more} more" if lang == "en" else f"… 另有 {more} 人")
    if wants_board:
        top = board[: policy.board_top]
        top_names = nicknames(session, org, [row.member for row in top])
        shown = " · ".join(f"{r.rank}. {top_names.get(r.member, r.member)} {r.points}" for r in top)
        title = f"Points board ({period})" if lang == "en" else f"{period}积分榜"
        lines.append(f"{title}: {shown or '—'}" if lang == "en" else f"{title}:{shown or '—'}")
    context.emit(
        Action(
            id=stable_id("points-reply", job.id),
            org=org,
            kind=ActionKind.SEND_MESSAGE,
            cause=f"job:{job.id}",
            platform=group.platform,
            group=group_id,
            payload={"text": "\n".join(lines), "mentions": named},
        )
    )
    session.execute(delete(PointsReply).where(*where))


# Expiry is owed however late the engine gets to it.
EXPIRE = JobKind(name=EXPIRE_JOB, run=run_expire, max_lateness=None)
# A reply ten minutes late still answers; an hour late it is noise.
REPLY = JobKind(name=REPLY_JOB, run=post_replies, max_lateness=timedelta(minutes=10))
