"""Figures read from the daily table: the same numbers as from the log, without reading it.

Members at the end of a day are a group's members now less the net joins of the days after.
Distinct counts over more than one day (active members, buyers of a week) do not add up from
days, so they are still counted from the log, for the groups that are shown.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from shequn.analytics.lifecycle import (
    RECENT_DAYS,
    Activity,
    GroupStage,
    GroupTrend,
    Stage,
    stage_of,
    window_of,
)
from shequn.analytics.models import NO_GROUP, GroupDayFigures
from shequn.analytics.rules import (
    ACTIVE_TYPES,
    KICKED,
    DailyTallies,
    DayKey,
    GroupDay,
    GroupKey,
    Sales,
    Traffic,
    day_bounds,
    days_of,
    group_days,
)
from shequn.analytics.service import (
    _sales,
    _spans,
    _traffic,
    check_group,
    org_timezone,
)
from shequn.commerce.models import Order
from shequn.engine.event import order_key
from shequn.engine.models import EventRecord
from shequn.group.models import Group
from shequn.kit.time import local_day
from shequn.member.models import MemberActivity

F = GroupDayFigures
NET = F.joins - F.leaves - F.kicked


def _group_key(group_id: str) -> GroupKey:
    return None if group_id == NO_GROUP else group_id


def table_group_days(
    session: Session,
    org: str,
    *,
    first: date,
    last: date,
    group: str | None = None,
    groups: Collection[str] | None = None,
) -> list[GroupDay]:
    """report_group_days, from the daily table."""
    timezone = org_timezone(session, org)
    check_group(session, org, group)
    only = None if group is None and groups is None else sorted({group} if group else groups or ())
    days = days_of(first, last)
    bounds = day_bounds(days, timezone)
    index = {day: number for number, day in enumerate(days)}
    joins: dict[DayKey, int] = {}
    exits: dict[tuple[GroupKey, int, str], int] = {}
    traffic: dict[DayKey, Traffic] = {}
    sales: dict[DayKey, Sales] = {}
    refunds: dict[DayKey, int] = {}
    query = select(F).where(F.org == org, F.day >= first, F.day <= last)
    if only is not None:
        query = query.where(F.group_id.in_(only))
    for row in session.scalars(query):
        key = (_group_key(row.group_id), index[row.day])
        for found, value in ((joins, row.joins), (refunds, row.refunds)):
            if value:
                found[key] = value
        if row.leaves:
            exits[(*key, "quit")] = row.leaves
        if row.kicked:
            exits[(*key, KICKED)] = row.kicked
        if row.messages or row.active:
            traffic[key] = Traffic(row.messages, row.speakers, row.active)
        if row.orders:
            sales[key] = Sales(row.orders, row.buyers, row.items, row.gmv)
    tallies = DailyTallies(
        opening=members_at_start(session, org, first, only=only),
        joins=joins,
        exits=exits,
        traffic=traffic,
        sales=sales,
        refunds=refunds,
    )
    return group_days(days, bounds, _spans(session, org, bounds, only=only), tallies)


def members_at_start(
    session: Session, org: str, day: date, *, only: Sequence[str] | None = None
) -> dict[GroupKey, int]:
    """Members of each group at the local 00:00 that starts `day`."""
    later = select(F.group_id, func.sum(NET).label("net")).where(F.org == org, F.day >= day)
    query = select(Group.id, Group.member_count).where(Group.org == org)
    if only is not None:
        later = later.where(F.group_id.in_(only))
        query = query.where(Group.id.in_(only))
    nets = later.group_by(F.group_id).subquery()
    query = query.outerjoin(nets, nets.c.group_id == Group.id).with_only_columns(
        Group.id, Group.member_count - func.coalesce(nets.c.net, 0)
    )
    return {group_id: int(count) for group_id, count in session.execute(query) if count}


@dataclass(frozen=True)
class GroupLine:
    """A group's line in the group list: sums over a range, members at its end; gmv in fen.
    `active` and `buyers` are distinct over the range, filled in for the lines shown."""

    id: str
    name: str
    store: str | None
    owner: str | None
    members: int
    joins: int
    leaves: int
    kicked: int
    messages: int
    orders: int
    gmv: int
    active: int = 0
    buyers: int = 0


# What the list sorts by (largest first, then by id); text columns sort A to Z.
LINE_SORTS = ("gmv", "members", "joins", "leaves", "kicked", "messages", "orders", "active",
              "buyers", "id", "name", "store", "owner")  # fmt: skip
SUMMED = ("joins", "leaves", "kicked", "messages", "orders", "gmv")


def _lines_query(
    session: Session, org: str, *, first: date, last: date, sort: str, only: list[str] | None
) -> Select[Any]:
    summed = select(F.group_id, *[func.sum(getattr(F, name)).label(name) for name in SUMMED]).where(
        F.org == org, F.day >= first, F.day <= last
    )
    after = select(F.group_id, func.sum(NET).label("net")).where(F.org == org, F.day > last)
    if only is not None:
        # A few groups asked for: sum only theirs.
        summed = summed.where(F.group_id.in_(only))
        after = after.where(F.group_id.in_(only))
    sums = summed.group_by(F.group_id).subquery()
    later = after.group_by(F.group_id).subquery()
    members = (Group.member_count - func.coalesce(later.c.net, 0)).label("members")
    columns: list[Any] = [
        Group.id, Group.name, Group.store, Group.owner, members,
        *[func.coalesce(sums.c[name], 0).label(name) for name in SUMMED],
    ]  # fmt: skip
    query = (
        select(*columns)
        .outerjoin(sums, sums.c.group_id == Group.id)
        .outerjoin(later, later.c.group_id == Group.id)
        .where(Group.org == org)
    )
    if sort in ("active", "buyers"):
        distinct = _distinct_query(session, org, first=first, last=last, which=sort)
        query = query.outerjoin(distinct, distinct.c.group_id == Group.id).add_columns(
            func.coalesce(distinct.c.count, 0).label(sort)
        )
    return query


def _distinct_query(session: Session, org: str, *, first: date, last: date, which: str) -> Any:
    """Distinct active members or buyers per group over the range, from the log."""
    bounds = day_bounds(days_of(first, last), org_timezone(session, org))
    if which == "active":
        keys = [order_key(bounds[0], 0, 0), order_key(bounds[-1], 0, 0)]
        return (
            select(
                EventRecord.group_id.label("group_id"),
                func.count(func.distinct(EventRecord.member_id)).label("count"),
            )
            .where(
                EventRecord.org == org,
                EventRecord.type.in_(ACTIVE_TYPES),
                EventRecord.key >= keys[0],
                EventRecord.key < keys[1],
            )
            .group_by(EventRecord.group_id)
            .subquery()
        )
    return (
        select(
            Order.group_id.label("group_id"),
            func.count(func.distinct(Order.member_id)).label("count"),
        )
        .where(Order.org == org, Order.paid_at >= bounds[0], Order.paid_at < bounds[-1])
        .group_by(Order.group_id)
        .subquery()
    )


def group_lines(
    session: Session,
    org: str,
    *,
    first: date,
    last: date,
    scope: Collection[str] | None = None,
    needle: str = "",
    store: str = "",
    sort: str = "gmv",
    ids: Sequence[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
    distinct: bool = True,
) -> tuple[int, list[GroupLine]]:
    """The groups in `scope` (None: all) matching the needle and store, sorted, one page of
    them (`limit` None: all); `ids` asks for those groups in that order instead. Returns how
    many match and the lines, with active members and buyers unless `distinct` is false."""
    if sort not in LINE_SORTS:
        raise ValueError(f"sort: {sort!r} is none of {', '.join(LINE_SORTS)}")
    only = None if ids is None else list(ids)
    query = _lines_query(session, org, first=first, last=last, sort=sort, only=only)
    conditions = _matching(scope, needle, store)
    if ids is not None:
        conditions.append(Group.id.in_(list(ids)))
    query = query.where(*conditions)
    total = int(
        session.scalar(select(func.count()).select_from(Group).where(Group.org == org, *conditions))
        or 0
    )
    if ids is None:
        if sort in ("id", "name", "store", "owner"):
            column = getattr(Group, sort)
            query = query.order_by(func.coalesce(column, literal("")), Group.id)
        else:
            query = query.order_by(query.selected_columns[sort].desc(), Group.id)
        query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
    lines = [_line(row) for row in session.execute(query).mappings()]
    if ids is not None:
        order = {group_id: position for position, group_id in enumerate(ids)}
        lines.sort(key=lambda line: order[line.id])
    if not distinct:
        return total, lines
    return total, fill_distinct(session, org, lines, first=first, last=last)


def matching_groups(
    session: Session, org: str, *, scope: Collection[str] | None, needle: str, store: str
) -> list[str]:
    """The ids of the groups group_lines would list, by id."""
    query = select(Group.id).where(Group.org == org, *_matching(scope, needle, store))
    return list(session.scalars(query.order_by(Group.id)))


def _matching(scope: Collection[str] | None, needle: str, store: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if scope is not None:
        conditions.append(Group.id.in_(sorted(scope)))
    if needle.strip():
        # The search finds the needle in the id or the name, whatever their case.
        pattern = f"%{_escape(needle.strip().lower())}%"
        conditions.append(
            or_(
                func.lower(Group.id).like(pattern, escape="\\"),
                func.lower(Group.name).like(pattern, escape="\\"),
            )
        )
    if store:
        conditions.append(Group.store == store)
    return conditions


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _line(row: Any) -> GroupLine:
    return GroupLine(
        id=row["id"], name=row["name"], store=row["store"], owner=row["owner"],
        members=int(row["members"]), joins=int(row["joins"]), leaves=int(row["leaves"]),
        kicked=int(row["kicked"]), messages=int(row["messages"]), orders=int(row["orders"]),
        gmv=int(row["gmv"]),
    )  # fmt: skip


def fill_distinct(
    session: Session, org: str, lines: list[GroupLine], *, first: date, last: date
) -> list[GroupLine]:
    """The lines with their distinct active members and buyers over the range."""
    if not lines:
        return lines
    timezone = org_timezone(session, org)
    days = days_of(first, last)
    bounds = day_bounds(days, timezone)
    edges = [bounds[0], bounds[-1]]
    only = sorted(line.id for line in lines)
    traffic = _traffic(session, org, edges, only=only)
    sales = _sales(session, org, edges, only=only)
    filled = []
    for line in lines:
        active = traffic.get((line.id, 0), Traffic()).active
        buyers = sales.get((line.id, 0), Sales()).buyers
        filled.append(GroupLine(**{**line.__dict__, "active": active, "buyers": buyers}))
    return filled


def table_stages(
    session: Session,
    org: str,
    *,
    on: date,
    groups: Collection[str] | None = None,
    every_last_active: bool = True,
) -> dict[str, GroupStage]:
    """report_lifecycle, from the daily table: every undismissed group's stage on `on`; without
    `every_last_active`, only dead groups (the revive list) get their last activity.

    Over the window's days 0..27 from its first, with E the members at the end of day 27 and
    net(d) a day's joins less exits, members at the end of day d are E - Σ net(d') for d' > d.
    So the members summed over days s..e are (e - s + 1)·E - Σ net(d')·max(0, min(d', e+1) - s),
    which needs only a few weighted sums per group. A group has no stints before it was
    first seen, so no day before its first has a net.
    """
    timezone = org_timezone(session, org)
    first, last = window_of(on)
    count = (last - first).days + 1
    recent = count - RECENT_DAYS
    only = None if groups is None else sorted(groups)
    at = _days_after(session, first)
    recent_at = literal(recent, Integer)
    is_recent = at >= recent_at
    rows = select(
        F.group_id,
        func.sum(NET),
        func.sum(NET * at),
        func.sum(NET * case((is_recent, recent_at), else_=at)),
        func.sum(NET * case((is_recent, at - recent_at), else_=literal(0, Integer))),
        func.sum(case((is_recent, F.active), else_=0)),
        func.sum(case((is_recent, F.messages), else_=0)),
        func.sum(case((is_recent, 0), else_=F.active)),
        func.sum(case((is_recent, 0), else_=F.messages)),
    ).where(F.org == org, F.day >= first, F.day <= last)
    later = select(F.group_id, func.sum(NET)).where(F.org == org, F.day > last)
    listed = select(Group.id, Group.name, Group.store, Group.owner, Group.first_seen_at,
                    Group.member_count).where(Group.org == org, Group.dismissed_at.is_(None))  # fmt: skip
    if only is not None:
        rows = rows.where(F.group_id.in_(only))
        later = later.where(F.group_id.in_(only))
        listed = listed.where(Group.id.in_(only))
    sums = {
        group_id: [int(value) for value in values]
        for group_id, *values in session.execute(rows.group_by(F.group_id))
    }
    after = {group_id: int(net) for group_id, net in session.execute(later.group_by(F.group_id))}
    found_groups = []
    for group_id, name, store, owner, first_seen_at, member_count in session.execute(listed):
        seen = local_day(first_seen_at, timezone)
        members = member_count - after.get(group_id, 0)
        trend = _trend(group_id, seen, (seen - first).days, count, recent, members,
                       dict(zip(SUMS, sums.get(group_id, [0] * len(SUMS)), strict=True)))  # fmt: skip
        found_groups.append((GroupName(group_id, name, store, owner), trend))
    found_groups.sort(key=lambda pair: pair[0].id)
    decided = [(group, trend, stage_of(trend, on=on)) for group, trend in found_groups]
    asked = [group.id for group, _, stage in decided if every_last_active or stage is Stage.DEAD]
    last_active = _last_active(session, org, asked)
    stages = {}
    for group, trend, stage in decided:
        stages[group.id] = GroupStage(
            trend=trend, stage=stage, on=on, name=group.name, store=group.store,
            owner=group.owner, last_active_at=last_active.get(group.id),
        )  # fmt: skip
    return stages


# Per group over the window: net joins, and net joins weighted by the day's place in it (see
# table_stages), then active members and messages of the recent days and of those before.
SUMS = ("net", "weight", "prior_weight", "recent_weight", "recent_active", "recent_messages",
        "prior_active", "prior_messages")  # fmt: skip


@dataclass(frozen=True)
class GroupName:
    id: str
    name: str
    store: str | None
    owner: str | None


def _days_after(session: Session, first: date) -> ColumnElement[int]:
    """A row's day as days after `first`, counted by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(F.day - literal(first, Date), Integer)
    return cast(func.julianday(F.day) - func.julianday(first.isoformat()), Integer)


def _trend(
    group: str, seen: date, start: int, count: int, recent: int, members: int, row: dict[str, int]
) -> GroupTrend:
    def number(name: str) -> int:
        return row[name]

    net = number("net")
    start = max(0, start)
    if start >= count:
        # First seen after the window: it has no rows in it.
        return GroupTrend(group, seen, 0, 0, Activity(), Activity())
    # Members summed over days s..e (see table_stages), with the weights the query summed.
    if start <= recent:
        recent_days = (count - recent) * members - number("recent_weight")
        prior_days = (recent - start) * members - (number("prior_weight") - start * net)
    else:
        recent_days = (count - start) * members - (number("weight") - start * net)
        prior_days = 0
    return GroupTrend(
        group=group, first_seen=seen, members_before=members - net, members=members,
        recent=Activity(number("recent_active"), recent_days, number("recent_messages")),
        prior=Activity(number("prior_active"), prior_days, number("prior_messages")),
    )  # fmt: skip


def _last_active(session: Session, org: str, groups: Sequence[str]) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for start in range(0, len(groups), 1000):
        chunk = list(groups[start : start + 1000])
        query = (
            select(MemberActivity.group_id, func.max(MemberActivity.last_active_at))
            .where(MemberActivity.org == org, MemberActivity.group_id.in_(chunk))
            .group_by(MemberActivity.group_id)
        )
        found.update({group: at for group, at in session.execute(query) if at is not None})
    return found


def day_totals(
    session: Session, org: str, days: Sequence[date], *, scope: Collection[str] | None = None
) -> dict[date, dict[str, int]]:
    """Per day, the sums of the daily rows of the groups in `scope` (None: all), members at
    each day's end included: what summing report_group_days' rows per day gives."""
    names = ("joins", "leaves", "kicked", "messages", "active", "orders", "buyers", "gmv")
    timezone = org_timezone(session, org)
    chosen = None if scope is None else sorted(scope)
    totals = {}
    for day in days:
        start, end = day_bounds([day], timezone)
        sums = select(*[func.coalesce(func.sum(getattr(F, name)), 0) for name in names]).where(
            F.org == org, F.day == day, F.group_id != NO_GROUP
        )
        later = (
            select(F.group_id, func.sum(NET).label("net"))
            .where(F.org == org, F.day > day)
            .group_by(F.group_id)
            .subquery()
        )
        counted = select(F.group_id).where(F.org == org, F.day == day)
        # A group has a row on the days it existed and on those with something counted.
        exists = and_(
            Group.first_seen_at < end,
            or_(Group.dismissed_at.is_(None), Group.dismissed_at >= start),
        )
        members = (
            select(func.coalesce(func.sum(Group.member_count - func.coalesce(later.c.net, 0)), 0))
            .outerjoin(later, later.c.group_id == Group.id)
            .where(Group.org == org, or_(exists, Group.id.in_(counted)))
        )
        if chosen is not None:
            sums = sums.where(F.group_id.in_(chosen))
            members = members.where(Group.id.in_(chosen))
        values = session.execute(sums).one()
        figures = {name: int(value) for name, value in zip(names, values, strict=True)}
        figures["members"] = int(session.scalar(members) or 0)
        totals[day] = figures
    return totals
