"""Figures from the log and the projections: set-based counts per day, arithmetic in the rules.

Every query filters by org, time range (and group, when asked) and counts in the database
grouped by day; no query loads a day's events into memory. Events are bucketed on their key,
whose text starts with the UTC time, so the range filter can use the key's index.
"""

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    and_,
    case,
    distinct,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

from shequn.analytics.rules import (
    ACTIVE_TYPES,
    POSTED,
    ChannelCohort,
    DailyTallies,
    DayKey,
    Funnel,
    GroupDay,
    GroupKey,
    GroupSpan,
    Newcomer,
    Sales,
    Stay,
    Traffic,
    channel_cohorts,
    cohort_bounds,
    day_bounds,
    day_index,
    days_of,
    group_days,
)
from shequn.commerce.models import Order, Refund
from shequn.engine.event import order_key
from shequn.engine.models import EventRecord
from shequn.group.models import Group
from shequn.invite.models import TreeNodeRecord
from shequn.kit.time import local_day, utc_now
from shequn.member.models import Member, Membership
from shequn.org.models import Org
from shequn.org.service import UnknownOrg


class UnknownGroup(LookupError):
    def __init__(self, org: str, group: str) -> None:
        super().__init__(f"--group: no group {group!r} in org {org!r}")


def org_timezone(session: Session, org: str) -> str:
    """The zone the org's days follow; an org nobody created or sent events for is refused."""
    row = session.get(Org, org)
    if row is None:
        raise UnknownOrg(org)
    return row.timezone


def log_days(session: Session, org: str) -> tuple[date, date]:
    """The first and last local day the org's event log covers (today twice when it is empty)."""
    timezone = org_timezone(session, org)
    first, last = session.execute(
        select(func.min(EventRecord.at), func.max(EventRecord.at)).where(EventRecord.org == org)
    ).one()
    if first is None or last is None:
        today = local_day(utc_now(), timezone)
        return today, today
    return local_day(first, timezone), local_day(last, timezone)


def check_group(session: Session, org: str, group: str | None) -> None:
    if group is not None and session.get(Group, (org, group)) is None:
        raise UnknownGroup(org, group)


def day_of(column: SQLColumnExpression[Any], bounds: Sequence[object]) -> ColumnElement[int]:
    """The day index of `column` among increasing `bounds`, for rows already inside them."""
    # A balanced CASE: about log2(days) comparisons per row, the same SQL on every database.

    def split(low: int, high: int) -> ColumnElement[int]:
        if high - low == 1:
            return literal_column(str(low), Integer)
        middle = (low + high) // 2
        return case((column < bounds[middle], split(low, middle)), else_=split(middle, high))

    return split(0, len(bounds) - 1)


def _event_keys(bounds: Sequence[datetime]) -> list[str]:
    # The smallest key at each instant: key >= it exactly when the event's time is >= it.
    return [order_key(bound, 0, 0) for bound in bounds]


def report_group_days(
    session: Session,
    org: str,
    *,
    first: date,
    last: date,
    group: str | None = None,
    groups: Collection[str] | None = None,
) -> list[GroupDay]:
    """Per group and local day from `first` to `last`: members, traffic and sales; `group`
    or `groups` keep only those (orders without a group then drop out)."""
    timezone = org_timezone(session, org)
    check_group(session, org, group)
    only = None if group is None and groups is None else sorted({group} if group else groups or ())
    days = days_of(first, last)
    bounds = day_bounds(days, timezone)
    tallies = daily_tallies(session, org, bounds, only=only)
    return group_days(days, bounds, _spans(session, org, bounds, only=only), tallies)


def daily_tallies(
    session: Session,
    org: str,
    bounds: Sequence[datetime],
    *,
    only: Sequence[str] | None = None,
    opening: bool = True,
) -> DailyTallies:
    """What was counted per group (`only`: of those) and day between consecutive `bounds`,
    from the log, the stints and the orders; without `opening`, no members at the start."""
    return DailyTallies(
        opening=_members_at(session, org, bounds[0], only=only) if opening else {},
        joins=_joins(session, org, bounds, only=only),
        exits=_exits(session, org, bounds, only=only),
        traffic=_traffic(session, org, bounds, only=only),
        sales=_sales(session, org, bounds, only=only),
        refunds=_refunds(session, org, bounds, only=only),
    )


def _spans(
    session: Session, org: str, bounds: Sequence[datetime], *, only: Sequence[str] | None
) -> list[GroupSpan]:
    query = select(Group.id, Group.first_seen_at, Group.dismissed_at).where(
        Group.org == org,
        Group.first_seen_at < bounds[-1],
        or_(Group.dismissed_at.is_(None), Group.dismissed_at >= bounds[0]),
    )
    if only is not None:
        query = query.where(Group.id.in_(only))
    return [GroupSpan(*row) for row in session.execute(query)]


def _members_at(
    session: Session, org: str, at: datetime, *, only: Sequence[str] | None
) -> dict[GroupKey, int]:
    query = (
        select(Membership.group_id, func.count())
        .where(
            Membership.org == org,
            Membership.joined_at < at,
            or_(Membership.left_at.is_(None), Membership.left_at >= at),
        )
        .group_by(Membership.group_id)
    )
    if only is not None:
        query = query.where(Membership.group_id.in_(only))
    return {group_id: int(count) for group_id, count in session.execute(query)}


def _joins(
    session: Session, org: str, bounds: Sequence[datetime], *, only: Sequence[str] | None
) -> dict[DayKey, int]:
    inner = select(
        Membership.group_id.label("group_id"), day_of(Membership.joined_at, bounds).label("day")
    ).where(
        Membership.org == org, Membership.joined_at >= bounds[0], Membership.joined_at < bounds[-1]
    )
    if only is not None:
        inner = inner.where(Membership.group_id.in_(only))
    days = inner.subquery()
    query = select(days.c.group_id, days.c.day, func.count()).group_by(days.c.group_id, days.c.day)
    return {(group_id, int(day)): int(count) for group_id, day, count in session.execute(query)}


def _exits(
    session: Session, org: str, bounds: Sequence[datetime], *, only: Sequence[str] | None
) -> dict[tuple[GroupKey, int, str], int]:
    inner = select(
        Membership.group_id.label("group_id"),
        Membership.left_reason.label("reason"),
        day_of(Membership.left_at, bounds).label("day"),
    ).where(Membership.org == org, Membership.left_at >= bounds[0], Membership.left_at < bounds[-1])
    if only is not None:
        inner = inner.where(Membership.group_id.in_(only))
    days = inner.subquery()
    query = select(days.c.group_id, days.c.day, days.c.reason, func.count()).group_by(
        days.c.group_id, days.c.day, days.c.reason
    )
    return {
        (group_id, int(day), reason or "unknown"): int(count)
        for group_id, day, reason, count in session.execute(query)
    }


def _traffic(
    session: Session, org: str, bounds: Sequence[datetime], *, only: Sequence[str] | None
) -> dict[DayKey, Traffic]:
    keys = _event_keys(bounds)
    inner = select(
        EventRecord.group_id.label("group_id"),
        EventRecord.member_id.label("member_id"),
        EventRecord.type.label("type"),
        day_of(EventRecord.key, keys).label("day"),
    ).where(
        EventRecord.org == org,
        EventRecord.type.in_(ACTIVE_TYPES),
        EventRecord.key >= keys[0],
        EventRecord.key < keys[-1],
    )
    if only is not None:
        inner = inner.where(EventRecord.group_id.in_(only))
    days = inner.subquery()
    posted = days.c.type == POSTED
    query = select(
        days.c.group_id,
        days.c.day,
        func.count(case((posted, 1))),
        func.count(distinct(case((posted, days.c.member_id)))),
        func.count(distinct(days.c.member_id)),
    ).group_by(days.c.group_id, days.c.day)
    return {
        (group_id, int(day)): Traffic(int(messages), int(speakers), int(active))
        for group_id, day, messages, speakers, active in session.execute(query)
    }


def _sales(
    session: Session, org: str, bounds: Sequence[datetime], *, only: Sequence[str] | None
) -> dict[DayKey, Sales]:
    inner = select(
        Order.group_id.label("group_id"),
        Order.member_id.label("member_id"),
        Order.item_count.label("item_count"),
        Order.amount.label("amount"),
        day_of(Order.paid_at, bounds).label("day"),
    ).where(Order.org == org, Order.paid_at >= bounds[0], Order.paid_at < bounds[-1])
    if only is not None:
        inner = inner.where(Order.group_id.in_(only))
    days = inner.subquery()
    query = select(
        days.c.group_id,
        days.c.day,
        func.count(),
        func.count(distinct(days.c.member_id)),
        func.sum(days.c.item_count),
        func.sum(days.c.amount),
    ).group_by(days.c.group_id, days.c.day)
    # PostgreSQL sums bigints as numeric: int() brings back the exact fen.
    return {
        (group_id, int(day)): Sales(int(orders), int(buyers), int(items), int(gmv))
        for group_id, day, orders, buyers, items, gmv in session.execute(query)
    }


def _refunds(
    session: Session, org: str, bounds: Sequence[datetime], *, only: Sequence[str] | None
) -> dict[DayKey, int]:
    # A refund without an amount gives back the whole order; one whose order has not arrived
    # yet counts under no group, and for nothing when it names no amount either.
    inner = (
        select(
            Order.group_id.label("group_id"),
            func.coalesce(Refund.amount, Order.amount, 0).label("amount"),
            day_of(Refund.refunded_at, bounds).label("day"),
        )
        .select_from(Refund)
        .outerjoin(Order, and_(Order.org == Refund.org, Order.id == Refund.order_id))
        .where(Refund.org == org, Refund.refunded_at >= bounds[0], Refund.refunded_at < bounds[-1])
    )
    if only is not None:
        inner = inner.where(Order.group_id.in_(only))
    days = inner.subquery()
    query = select(days.c.group_id, days.c.day, func.sum(days.c.amount)).group_by(
        days.c.group_id, days.c.day
    )
    return {(group_id, int(day)): int(amount) for group_id, day, amount in session.execute(query)}


def report_funnel(
    session: Session, org: str, *, first: date, last: date, group: str | None = None
) -> Funnel:
    """Members at the end of the range → active in it → buyers in it, distinct members each."""
    timezone = org_timezone(session, org)
    check_group(session, org, group)
    bounds = day_bounds(days_of(first, last), timezone)
    start, end = bounds[0], bounds[-1]
    keys = _event_keys([start, end])
    # A dismissal closes no stints; its members are gone all the same.
    members = (
        select(func.count(distinct(Membership.member_id)))
        .join(Group, and_(Group.org == Membership.org, Group.id == Membership.group_id))
        .where(
            Membership.org == org,
            Membership.joined_at < end,
            or_(Membership.left_at.is_(None), Membership.left_at >= end),
            or_(Group.dismissed_at.is_(None), Group.dismissed_at >= end),
        )
    )
    active = select(func.count(distinct(EventRecord.member_id))).where(
        EventRecord.org == org,
        EventRecord.type.in_(ACTIVE_TYPES),
        EventRecord.key >= keys[0],
        EventRecord.key < keys[1],
    )
    buyers = select(func.count(distinct(Order.member_id))).where(
        Order.org == org, Order.paid_at >= start, Order.paid_at < end
    )
    if group is not None:
        members = members.where(Membership.group_id == group)
        active = active.where(EventRecord.group_id == group)
        buyers = buyers.where(Order.group_id == group)
    return Funnel(
        group=group,
        first=first,
        last=last,
        members=_count(session, members),
        active=_count(session, active),
        buyers=_count(session, buyers),
    )


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.execute(query).scalar_one())


def report_channels(
    session: Session, org: str, *, first: date, last: date, now: datetime
) -> list[ChannelCohort]:
    """Newcomers whose first join falls in the range, per acquisition channel, as of `now`."""
    timezone = org_timezone(session, org)
    days = days_of(first, last)
    bounds = cohort_bounds(first, last, timezone)
    start, end = bounds[0], bounds[len(days)]
    # The channel is the fission report's, kept at join: the first join's invite code's, else
    # unknown.
    cohort = session.execute(
        select(TreeNodeRecord.member, TreeNodeRecord.joined_at, TreeNodeRecord.channel)
        .where(TreeNodeRecord.org == org, TreeNodeRecord.joined_at >= start,
               TreeNodeRecord.joined_at < end)
        .order_by(TreeNodeRecord.join_key)
    ).all()  # fmt: skip
    in_cohort = and_(
        Member.org == org, Member.first_joined_at >= start, Member.first_joined_at < end
    )
    stays: dict[str, list[Stay]] = defaultdict(list)
    for member_id, joined_at, left_at, dismissed_at in session.execute(
        select(Membership.member_id, Membership.joined_at, Membership.left_at, Group.dismissed_at)
        .join(
            Member,
            and_(
                Member.org == Membership.org,
                Member.id == Membership.member_id,
                Member.first_group == Membership.group_id,
            ),
        )
        .join(Group, and_(Group.org == Membership.org, Group.id == Membership.group_id))
        .where(Membership.org == org, in_cohort)
    ):
        # Nobody stays in a dismissed group, whatever its stints say.
        ended = min((at for at in (left_at, dismissed_at) if at is not None), default=None)
        stays[member_id].append(Stay(joined_at=joined_at, left_at=ended))
    active = _active_days_in_first_group(session, org, bounds, in_cohort)
    bought: dict[str, tuple[int, int]] = {
        member_id: (int(orders), int(gmv))
        for member_id, orders, gmv in session.execute(
            select(Order.member_id, func.count(), func.sum(Order.amount))
            .join(Member, and_(Member.org == Order.org, Member.id == Order.member_id))
            .where(Order.org == org, in_cohort, Order.paid_at >= Member.first_joined_at)
            .group_by(Order.member_id)
        )
    }
    newcomers = []
    for member, joined_at, channel in cohort:
        join_day = day_index(joined_at, bounds)
        assert join_day is not None
        orders, gmv = bought.get(member, (0, 0))
        newcomer = Newcomer(
            member=member, channel=channel, join_day=join_day,
            stays=tuple(stays[member]), active_days=frozenset(active[member]),
            orders=orders, gmv=gmv,
        )  # fmt: skip
        newcomers.append(newcomer)
    return channel_cohorts(newcomers, range_days=len(days), bounds=bounds, now=now)


def _active_days_in_first_group(
    session: Session, org: str, bounds: Sequence[datetime], in_cohort: ColumnElement[bool]
) -> dict[str, set[int]]:
    """The days each newcomer posted or reacted in their first group, one row per such day."""
    keys = _event_keys(bounds)
    query = (
        select(EventRecord.member_id, day_of(EventRecord.key, keys))
        .join(
            Member,
            and_(
                Member.org == EventRecord.org,
                Member.id == EventRecord.member_id,
                Member.first_group == EventRecord.group_id,
            ),
        )
        .where(
            EventRecord.org == org,
            EventRecord.type.in_(ACTIVE_TYPES),
            EventRecord.key >= keys[0],
            EventRecord.key < keys[-1],
            in_cohort,
        )
        .distinct()
    )
    found: dict[str, set[int]] = defaultdict(set)
    for member_id, day in session.execute(query):
        if member_id is not None:
            found[member_id].add(int(day))
    return found


def report_group_range(
    session: Session,
    org: str,
    *,
    first: date,
    last: date,
    groups: Collection[str] | None = None,
) -> list[GroupDay]:
    """One row per group for the whole range, dated `first`: members at its start and end,
    sums of joins, exits, messages and sales, distinct speakers, active members and buyers."""
    timezone = org_timezone(session, org)
    bounds = day_bounds(days_of(first, last), timezone)
    # The same tallies as the daily rows, over one bucket from the first 00:00 to the last 24:00.
    edges = [bounds[0], bounds[-1]]
    only = None if groups is None else sorted(groups)
    tallies = DailyTallies(
        opening=_members_at(session, org, edges[0], only=only),
        joins=_joins(session, org, edges, only=only),
        exits=_exits(session, org, edges, only=only),
        traffic=_traffic(session, org, edges, only=only),
        sales=_sales(session, org, edges, only=only),
        refunds=_refunds(session, org, edges, only=only),
    )
    return group_days([first], edges, _spans(session, org, edges, only=only), tallies)
