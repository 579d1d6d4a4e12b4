"""What points react to: sign-ins, chatter, likes, quiz answers, "show your order" images and
paid orders earn; kicks, audit flags and refunds take back; chat commands are answered once per
group and window. And the jobs: the expiry, the daily crediting of invites, the replies and the
quizzes' question and answer posts.

The reaction decides event by event, in the batch's order, and writes once per org and batch,
at the org's last event that concerns points (as the audit does).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select

from shequn.audit.models import AuditCase
from shequn.audit.rules import is_flagged
from shequn.commerce.models import Order, Refund
from shequn.contract import (
    MemberJoined,
    MemberLeft,
    MessagePosted,
    OrderPaid,
    OrderRefunded,
    ReactionAdded,
)
from shequn.db import insert_ignoring_conflicts
from shequn.engine.context import Context, Job
from shequn.engine.event import Event
from shequn.engine.models import JobRecord
from shequn.engine.registry import JobKind, Reaction
from shequn.group.rules import welcome_slot
from shequn.kit.ids import stable_id
from shequn.kit.time import local_day
from shequn.member.models import Member
from shequn.points.models import (
    PointsLot,
    PointsPendingInvite,
    PointsQuiz,
    PointsQuizAnswer,
    PointsReply,
    PointsSignIn,
    ReplyKind,
)
from shequn.points.quiz import (
    QUIZ_CLOSE_JOB,
    QUIZ_OPEN_JOB,
    answered_already,
    quiz_rule,
    quizzes_in_window,
    run_quiz_close,
    run_quiz_open,
)
from shequn.points.replies import post_replies
from shequn.points.rules import (
    EarningRule,
    EarnKind,
    PaidOrder,
    earned,
    is_correct,
    order_to_show,
    plain_keywords,
    sign_in,
    spoken,
)
from shequn.points.service import (
    EXPIRE_JOB,
    REPLY_JOB,
    SIGN_IN_KIND,
    Earning,
    PointsPolicy,
    Revocation,
    barred_among,
    book_earnings,
    due_invites,
    expire_points,
    invite_due_at,
    invite_earnings,
    lock_members,
    pending_due,
    policy_of,
    revoke_points,
    settle_pending,
    tallies_of,
)
from shequn.points.sign_in import is_sign_in_open, prefetch_sign_in_switches

BALANCE_WORDS = ("积分", "/points")
RANK_WORDS = ("排行", "/rank")
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
    # Per group, the quizzes open during the batch; (quiz, member) pairs answered right so far,
    # and the answers this batch stores.
    quizzes: dict[str, list[PointsQuiz]] = field(default_factory=dict)
    answered: set[tuple[str, str]] = field(default_factory=set)
    answers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Paid orders of members who post images, and orders shown (晒单) or refunded already.
    orders: dict[str, list[PaidOrder]] = field(default_factory=lambda: defaultdict(list))
    shown: set[str] = field(default_factory=set)


def _batch(context: Context, org: str) -> _Batch:
    return context.memo(("points-batch", org), _Batch)


def _command(text: str | None, policy: PointsPolicy) -> str | None:
    said = spoken(text)
    if said is None:
        return None
    if said in plain_keywords(policy.sign_in_keywords):
        return ReplyKind.SIGN_IN
    if said in plain_keywords(BALANCE_WORDS):
        return ReplyKind.BALANCE
    if said in plain_keywords(RANK_WORDS):
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
    posted = [e for e in events if isinstance(e.data, MessagePosted)]
    _prefetch_quizzes(context, org, batch, posted)
    _prefetch_orders(context, org, batch, [e for e in posted if _kind(e) == "image"])
    prefetch_sign_in_switches(context, org, {_group(e) for e in posted})
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
                if event.data.group in batch.quizzes:
                    tallies.add((event.member, day, EarnKind.QUIZ.value))
                if event.data.kind == "image":
                    tallies.add((event.member, day, EarnKind.SHOW_ORDER.value))
        elif event.type == "reaction.added":
            tallies.add((event.member, day, EarnKind.REACTION.value))
        elif event.type == "order.paid":
            tallies.add((event.member, day, EarnKind.ORDER.value))
    batch.tallies = tallies_of(context.session, org, tallies)
    context.rows.prefetch(PointsSignIn, days)
    for key in days:
        if (signed := context.rows.get(PointsSignIn, key)) is not None:
            batch.signed[signed.member][signed.day] = signed.streak


def _kind(event: Event) -> str:
    return cast(MessagePosted, event.data).kind


def _group(event: Event) -> str:
    return cast(MessagePosted, event.data).group


def _prefetch_quizzes(context: Context, org: str, batch: _Batch, posted: Sequence[Event]) -> None:
    if not posted:
        return
    groups = {_group(event) for event in posted}
    since, until = min(e.at for e in posted), max(e.at for e in posted)
    batch.quizzes = quizzes_in_window(context.session, org, groups, since=since, until=until)
    ids = {quiz.id for quizzes in batch.quizzes.values() for quiz in quizzes}
    members = {cast(str, e.member) for e in posted if _group(e) in batch.quizzes}
    batch.answered = answered_already(context.session, org, ids, members)


def _prefetch_orders(context: Context, org: str, batch: _Batch, images: Sequence[Event]) -> None:
    """The recent paid orders of members posting images, less those refunded in full or
    shown before."""
    if not images:
        return
    days = timedelta(days=policy_of(context, org).show_order_days)
    members = sorted({cast(str, event.member) for event in images})
    since, until = min(e.at for e in images) - days, max(e.at for e in images)
    orders = context.session.execute(
        select(Order.id, Order.member_id, Order.paid_at, Order.amount).where(
            Order.org == org, Order.member_id.in_(members), Order.paid_at >= since,
            Order.paid_at <= until,
        )
    ).all()  # fmt: skip
    ids = [order.id for order in orders]
    refunded: dict[str, int | None] = {}
    for order_id, amount in context.session.execute(
        select(Refund.order_id, Refund.amount).where(Refund.org == org, Refund.order_id.in_(ids))
    ):
        so_far = refunded.get(order_id, 0)
        refunded[order_id] = None if amount is None or so_far is None else so_far + amount
    context.rows.prefetch(PointsLot, [(org, f"show_order:{order_id}") for order_id in ids])
    for order in orders:
        back = refunded.get(order.id, 0)
        if back is None or back >= order.amount:
            continue
        if context.rows.get(PointsLot, (org, f"show_order:{order.id}")) is not None:
            batch.shown.add(order.id)
        batch.orders[order.member_id].append(PaidOrder(order.id, order.paid_at))


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
    rule: EarningRule | None = None,
) -> int:
    """Points for one action, within the member's daily cap for the kind; returns them."""
    member = cast(str, event.member)
    batch = _batch(context, event.org)
    if key in batch.keys or not _may_earn(context, event.org, member):
        return 0
    rule = policy_of(context, event.org).rules[kind] if rule is None else rule
    day = local_day(event.at, context.tenant(event.org).timezone)
    tally = (member, day, kind.value)
    points = earned(rule, earned_today_by_kind=_tally(context, batch, event.org, tally),
                    amount_fen=amount)  # fmt: skip
    if points <= 0:
        # Not kept as earned: an order capped today may still be shown tomorrow.
        return 0
    batch.keys.add(key)
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
    return points


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


def _answer_quizzes(context: Context, event: Event, data: MessagePosted) -> None:
    """A right answer to a quiz open in the group earns once per quiz and member."""
    batch = _batch(context, event.org)
    cap = policy_of(context, event.org).rules[EarnKind.QUIZ].daily_cap
    for quiz in batch.quizzes.get(data.group, []):
        pair = (quiz.id, data.member)
        if pair in batch.answered or not is_correct(quiz_rule(quiz), data.text, at=event.at):
            continue
        batch.answered.add(pair)
        rule = EarningRule(EarnKind.QUIZ, points=quiz.points, daily_cap=cap)
        points = _earn(context, event, EarnKind.QUIZ, key=f"quiz:{quiz.id}:{data.member}",
                       group=data.group, rule=rule)  # fmt: skip
        batch.answers[pair] = {"org": event.org, "quiz": quiz.id, "member": data.member,
                               "at": event.at, "points": points}  # fmt: skip


def _show_order(context: Context, event: Event, data: MessagePosted) -> None:
    """An image after a paid order (晒单) earns once per order, within its own daily cap."""
    batch = _batch(context, event.org)
    days = policy_of(context, event.org).show_order_days
    order = order_to_show(batch.orders.get(data.member, []), at=event.at, days=days,
                          shown=batch.shown)  # fmt: skip
    if order is not None and _earn(context, event, EarnKind.SHOW_ORDER,
                                   key=f"show_order:{order}", group=data.group):  # fmt: skip
        batch.shown.add(order)


def on_message(context: Context, event: Event) -> None:
    data = event.payload(MessagePosted)
    command = _command(data.text, policy_of(context, event.org))
    if _may_earn(context, event.org, data.member):
        if command == ReplyKind.SIGN_IN:
            # Where sign-in is closed (a campaign's choice) the keyword earns and answers nothing.
            if is_sign_in_open(context, event.org, data.group):
                _sign_in(context, event, data)
        elif command is not None:
            _ask(context, event, data.group, command, {})
        else:
            _earn(context, event, EarnKind.MESSAGE, key=f"message:{event.source}:{event.id}",
                  group=data.group)  # fmt: skip
            _answer_quizzes(context, event, data)
            if data.kind == "image":
                _show_order(context, event, data)
    _write_if_last(context, event)


def on_reaction(context: Context, event: Event) -> None:
    data = event.payload(ReactionAdded)
    _earn(context, event, EarnKind.REACTION, key=f"reaction:{event.source}:{event.id}",
          group=data.group)  # fmt: skip
    _write_if_last(context, event)


def on_order_paid(context: Context, event: Event) -> None:
    data = event.payload(OrderPaid)
    _batch(context, event.org).orders[data.member].append(PaidOrder(data.order, event.at))
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
        # Showing an order that was given back proves nothing.
        _batch(context, event.org).shown.add(data.order)
        _batch(context, event.org).revocations.append(
            Revocation(order.member_id, event.at, f"order {data.order} refunded",
                       lot=f"show_order:{data.order}")
        )  # fmt: skip
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
    if batch.answers:
        # Likewise a quiz answer: only the first stored for a member and quiz earns.
        table = cast(Table, PointsQuizAnswer.__table__)
        stored = session.execute(
            insert_ignoring_conflicts(dialect, table).returning(table.c.quiz, table.c.member),
            list(batch.answers.values()),
        )
        right = {f"quiz:{quiz}:{member}" for quiz, member in stored}
        earnings = [e for e in earnings if e.kind != EarnKind.QUIZ.value or e.key in right]
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


# Expiry is owed however late the engine gets to it.
EXPIRE = JobKind(name=EXPIRE_JOB, run=run_expire, max_lateness=None)
# A reply ten minutes late still answers; an hour late it is noise.
REPLY = JobKind(name=REPLY_JOB, run=post_replies, max_lateness=timedelta(minutes=10))
# A question posted long after its quiz opened leaves members no time; the answer is owed.
QUIZ_OPEN = JobKind(name=QUIZ_OPEN_JOB, run=run_quiz_open, max_lateness=timedelta(minutes=30))
QUIZ_CLOSE = JobKind(name=QUIZ_CLOSE_JOB, run=run_quiz_close, max_lateness=None)
