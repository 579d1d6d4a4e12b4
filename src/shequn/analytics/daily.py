"""Figures read from the daily table: the same numbers as from the log, without reading it.

Members at the end of a day are a group's members now less the net joins of the days after.
Distinct counts over more than one day (active members, buyers of a week) do not add up from
days, so they are still counted from the log, for the groups that are shown.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    Subquery,
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
    DEAD_DAU,
    DECLINE_SHARE,
    GROWTH,
    NEW_DAYS,
    RECENT_DAYS,
    SHRINK,
    Activity,
    GroupStage,
    GroupTrend,
    Stage,
    to_revive,
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
    day_of,
    org_timezone,
)
from shequn.commerce.models import Order
from shequn.db import unicode_lower
from shequn.engine.event import order_key
from shequn.engine.models import EventRecord
from shequn.group.models import Group
from shequn.kit.time import local_day, local_time_to_utc
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
    `active` and `buyers` are distinct over the range and `stage` is the group's stage on the
    range's last day, filled in for the lines shown."""

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
    stage: str = ""


# What the list sorts by (largest first, then by id); text columns sort A to Z, stages new to
# dead, dismissed groups last.
LINE_SORTS = ("gmv", "members", "joins", "leaves", "kicked", "messages", "orders", "active",
              "buyers", "id", "name", "store", "owner", "stage")  # fmt: skip
SUMMED = ("joins", "leaves", "kicked", "messages", "orders", "gmv")
# A dismissed group has no lifecycle stage; the list still shows it, as this.
DISMISSED = "dismissed"
STAGE_RANKS = {**{str(stage): rank for rank, stage in enumerate(Stage)}, DISMISSED: len(Stage)}
# Beyond this many lines, figures for them are read for the whole org rather than by id.
MANY_LINES = 500


def _lines_query(
    session: Session,
    org: str,
    *,
    first: date,
    last: date,
    sort: str,
    only: Sequence[str] | None = None,
) -> Select[Any]:
    summed = select(F.group_id, *[func.sum(getattr(F, name)).label(name) for name in SUMMED]).where(
        F.org == org, F.day >= first, F.day <= last
    )
    after = select(F.group_id, func.sum(NET).label("net")).where(F.org == org, F.day > last)
    if only is not None:
        # A page of groups asked for: sum only theirs.
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
    stage: str = "",
    sort: str = "gmv",
    limit: int | None = None,
    offset: int = 0,
    distinct: bool = True,
) -> tuple[int, list[GroupLine]]:
    """The groups in `scope` (None: all) matching the needle, store and stage on `last`,
    sorted, one page of them (`limit` None: all). Returns how many match and the lines, with
    their stages, and active members and buyers unless `distinct` is false."""
    _check_sort(sort)
    conditions = _matching(scope, needle, store)
    staging = None
    if stage or sort == "stage":
        staging = _staging(session, org, on=last)
        if stage:
            conditions.append(staging.stage == stage)
    rows: Sequence[Mapping[Any, Any]]
    if staging is not None and sort == "stage" and limit is not None and limit <= MANY_LINES:
        rows = _page_by_stage(session, org, staging, first=first, last=last,
                              conditions=conditions, limit=limit, offset=offset)  # fmt: skip
    else:
        query = _lines_query(session, org, first=first, last=last, sort=sort)
        if staging is not None:
            query = staging.onto(query).add_columns(staging.stage.label("stage"))
        if stage:
            # Counted along with the page: the stages are decided once, not twice.
            query = query.add_columns(func.count().over().label("total"))
        query = query.where(*conditions).order_by(*_line_order(query, sort, staging)).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        rows = session.execute(query).mappings().all()
    lines = [_line(row) for row in rows]
    if not stage:
        counted = select(func.count()).select_from(Group).where(Group.org == org, *conditions)
        total = int(session.scalar(counted) or 0)
    elif rows:
        total = int(rows[0]["total"])
    else:
        # Past the last page: counted on the first.
        total = 0 if offset == 0 else group_lines(
            session, org, first=first, last=last, scope=scope, needle=needle, store=store,
            stage=stage, limit=1, distinct=False,
        )[0]  # fmt: skip
    if staging is None:
        lines = fill_stages(session, org, lines, on=last)
    if not distinct:
        return total, lines
    return total, fill_distinct(session, org, lines, first=first, last=last)


def _check_sort(sort: str) -> None:
    if sort not in LINE_SORTS:
        raise ValueError(f"sort: {sort!r} is none of {', '.join(LINE_SORTS)}")


def _line_order(query: Select[Any], sort: str, staging: "Staging | None") -> list[Any]:
    if sort in ("id", "name", "store", "owner"):
        return [func.coalesce(getattr(Group, sort), literal("")), Group.id]
    if sort == "stage" and staging is not None:
        return [staging.rank, Group.id]
    return [query.selected_columns[sort].desc(), Group.id]


def _page_by_stage(
    session: Session,
    org: str,
    staging: "Staging",
    *,
    first: date,
    last: date,
    conditions: list[ColumnElement[bool]],
    limit: int,
    offset: int,
) -> list[Mapping[Any, Any]]:
    """A page sorted by stage: the stages alone order it, so its groups are found first and
    only theirs are summed."""
    ranked = (
        staging.onto(
            select(Group.id, staging.stage.label("stage"), func.count().over().label("total"))
        )
        .where(Group.org == org, *conditions)
        .order_by(staging.rank, Group.id)
        .offset(offset)
        .limit(limit)
    )
    page = {row["id"]: row for row in session.execute(ranked).mappings()}
    if not page:
        return []
    only = list(page)
    query = _lines_query(session, org, first=first, last=last, sort="stage", only=only)
    found = {row["id"]: row for row in session.execute(query.where(Group.id.in_(only))).mappings()}
    return [{**found[group_id], "stage": row["stage"], "total": row["total"]}
            for group_id, row in page.items()]  # fmt: skip


def _matching(scope: Collection[str] | None, needle: str, store: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if scope is not None:
        conditions.append(Group.id.in_(sorted(scope)))
    if needle.strip():
        # The search finds the needle in the id or the name, whatever their case, in any script.
        wanted = needle.strip().lower()
        conditions.append(
            or_(
                unicode_lower(Group.id).contains(wanted, autoescape=True),
                unicode_lower(Group.name).contains(wanted, autoescape=True),
            )
        )
    if store:
        conditions.append(Group.store == store)
    return conditions


def _line(row: Any) -> GroupLine:
    return GroupLine(
        id=row["id"], name=row["name"], store=row["store"], owner=row["owner"],
        members=int(row["members"]), joins=int(row["joins"]), leaves=int(row["leaves"]),
        kicked=int(row["kicked"]), messages=int(row["messages"]), orders=int(row["orders"]),
        gmv=int(row["gmv"]), stage=row.get("stage") or "",
    )  # fmt: skip


def fill_stages(session: Session, org: str, lines: list[GroupLine], *, on: date) -> list[GroupLine]:
    """The lines with their groups' stages on `on`."""
    if not lines:
        return lines
    only = None if len(lines) > MANY_LINES else sorted(line.id for line in lines)
    staged = group_stages(session, org, on=on, only=only)
    stages: dict[str, str] = {
        group_id: stage for group_id, stage in session.execute(select(staged.c.id, staged.c.stage))
    }
    return [GroupLine(**{**line.__dict__, "stage": stages[line.id]}) for line in lines]


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
    only = None if len(lines) > MANY_LINES else sorted(line.id for line in lines)
    traffic = _traffic(session, org, edges, only=only)
    sales = _sales(session, org, edges, only=only)
    filled = []
    for line in lines:
        active = traffic.get((line.id, 0), Traffic()).active
        buyers = sales.get((line.id, 0), Sales()).buyers
        filled.append(GroupLine(**{**line.__dict__, "active": active, "buyers": buyers}))
    return filled


# Per group over the window: net joins, and net joins weighted by the day's place in it (see
# _staging), then active members and messages of the recent days and of those before.
SUMS = ("net", "weight", "prior_weight", "recent_weight", "recent_active", "recent_messages",
        "prior_active", "prior_messages")  # fmt: skip


QueryT = TypeVar("QueryT", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class Staging:
    """What a query over groups joins to decide their stages in the database, and the columns
    it then has: members at the window's end, the window's SUMS, and the stage."""

    joined: tuple[Subquery, ...]
    members: ColumnElement[int]
    sums: dict[str, ColumnElement[int]]
    stage: ColumnElement[str]

    def onto(self, query: QueryT) -> QueryT:
        for rows in self.joined:
            query = query.outerjoin(rows, rows.c.group_id == Group.id)
        return query

    @property
    def decided(self) -> list[ColumnElement[Any]]:
        """The SUMS and the stage, labelled by name: what _group_stages reads beside a row's
        group columns and members."""
        return [*[self.sums[name].label(name) for name in SUMS], self.stage.label("stage")]

    @property
    def rank(self) -> ColumnElement[int]:
        return case(STAGE_RANKS, value=self.stage)


def _staging(session: Session, org: str, *, on: date, only: Sequence[str] | None = None) -> Staging:
    """The stage of each group (`only`: of those) on `on`, decided as stage_of decides it (the
    tests hold the two equal); DISMISSED for a dismissed group.

    Over the window's days 0..27 from its first, with E the members at the end of day 27 and
    net(d) a day's joins less exits, members at the end of day d are E - Σ net(d') for d' > d.
    So the members summed over days s..e are (e - s + 1)·E - Σ net(d')·max(0, min(d', e+1) - s),
    which needs only a few weighted sums per group. A group has no stints before it was
    first seen, so no day before its first has a net. Rates are compared by multiplying out
    in integers: no division, so no rounding, on either database.
    """
    timezone = org_timezone(session, org)
    first, last = window_of(on)
    days = days_of(first, last)
    bounds = day_bounds(days, timezone)
    recent = len(days) - RECENT_DAYS
    at = _days_after(session, first)

    def summed(*conditions: ColumnElement[bool]) -> Subquery:
        # Plain sums over a range of days: a CASE per row costs SQLite more than the scan.
        query = select(
            F.group_id,
            func.sum(NET).label("net"),
            func.sum(NET * at).label("weight"),
            func.sum(F.active).label("active"),
            func.sum(F.messages).label("messages"),
        ).where(F.org == org, *conditions)
        if only is not None:
            query = query.where(F.group_id.in_(only))
        return query.group_by(F.group_id).subquery()

    prior = summed(F.day >= first, F.day < days[recent])
    latest = summed(F.day >= days[recent], F.day <= last)
    after = summed(F.day > last)

    def sum_of(rows: Subquery, name: str) -> ColumnElement[int]:
        return func.coalesce(rows.c[name], 0)

    recent_net = sum_of(latest, "net")
    sums = {
        "net": sum_of(prior, "net") + recent_net,
        "weight": sum_of(prior, "weight") + sum_of(latest, "weight"),
        "prior_weight": sum_of(prior, "weight") + recent * recent_net,
        "recent_weight": sum_of(latest, "weight") - recent * recent_net,
        "recent_active": sum_of(latest, "active"),
        "recent_messages": sum_of(latest, "messages"),
        "prior_active": sum_of(prior, "active"),
        "prior_messages": sum_of(prior, "messages"),
    }
    seen = Group.first_seen_at
    # The window's day the group was first seen on: 0 when before the window.
    begun = case((seen < bounds[0], 0), (seen >= bounds[-1], len(days)),
                 else_=day_of(seen, bounds))  # fmt: skip
    members, net = Group.member_count - sum_of(after, "net"), sums["net"]
    before = members - net
    # stage_of's inputs, as _trend builds them for a group older than NEW_DAYS.
    recent_days = RECENT_DAYS * members - sums["recent_weight"]
    prior_days = (recent - begun) * members - (sums["prior_weight"] - begun * net)
    recent_active, prior_active = sums["recent_active"], sums["prior_active"]
    new_from = local_time_to_utc(on - timedelta(days=NEW_DAYS - 1), 0, 0, timezone)
    # Member-days are never negative, so multiplying a comparison out keeps its sense.
    is_dead = or_(
        members == 0,
        recent_days == 0,
        recent_active * DEAD_DAU.denominator < DEAD_DAU.numerator * recent_days,
    )
    is_waning = and_(
        prior_days > 0,
        prior_active > 0,
        recent_active * prior_days * DECLINE_SHARE.denominator
        < prior_active * recent_days * DECLINE_SHARE.numerator,
    )
    is_shrinking = members * SHRINK.denominator < before * SHRINK.numerator
    is_growing = and_(members * GROWTH.denominator >= before * GROWTH.numerator, members > before)
    stage = case(
        (Group.dismissed_at.is_not(None), DISMISSED),
        (seen >= new_from, str(Stage.NEW)),
        (is_dead, str(Stage.DEAD)),
        (or_(is_waning, is_shrinking), str(Stage.DECLINING)),
        (is_growing, str(Stage.GROWING)),
        else_=str(Stage.MATURE),
    )
    return Staging(joined=(prior, latest, after), members=members, sums=sums, stage=stage)


def group_stages(
    session: Session, org: str, *, on: date, only: Sequence[str] | None = None
) -> Subquery:
    """Per group of the org (`only`: of those), its stage on `on` and what it rests on:
    columns id, first_seen_at, members, SUMS and stage."""
    staging = _staging(session, org, on=on, only=only)
    query = select(
        Group.id,
        Group.first_seen_at,
        staging.members.label("members"),
        *staging.decided,
    ).where(Group.org == org)
    if only is not None:
        query = query.where(Group.id.in_(only))
    return staging.onto(query).subquery("group_stage")


def table_stages(
    session: Session,
    org: str,
    *,
    on: date,
    groups: Collection[str] | None = None,
    every_last_active: bool = True,
) -> dict[str, GroupStage]:
    """report_lifecycle, from the daily table: every undismissed group's stage on `on`; without
    `every_last_active`, only dead groups (the revive list) get their last activity."""
    only = None if groups is None else sorted(groups)
    staging = _staging(session, org, on=on, only=only)
    query = select(
        Group.id, Group.name, Group.store, Group.owner, Group.first_seen_at,
        staging.members.label("members"), *staging.decided,
    ).where(Group.org == org, Group.dismissed_at.is_(None))  # fmt: skip
    if only is not None:
        query = query.where(Group.id.in_(only))
    rows = session.execute(staging.onto(query).order_by(Group.id)).mappings().all()
    return _group_stages(session, org, rows, on=on, every_last_active=every_last_active)


def dead_lines(
    session: Session,
    org: str,
    *,
    first: date,
    last: date,
    scope: Collection[str] | None = None,
    needle: str = "",
    store: str = "",
    sort: str = "gmv",
    limit: int | None = None,
    offset: int = 0,
) -> tuple[int, list[GroupLine], list[GroupStage]]:
    """group_lines filtered to the groups dead on `last`, with their revive list (to_revive of
    them): one query decides the stages for both, as deciding them is most of the list's cost.
    Every dead group's row comes back (the revive list needs them all); the page is a slice."""
    _check_sort(sort)
    staging = _staging(session, org, on=last)
    query = staging.onto(_lines_query(session, org, first=first, last=last, sort=sort))
    query = query.add_columns(Group.first_seen_at, *staging.decided)
    query = query.where(*_matching(scope, needle, store), staging.stage == str(Stage.DEAD))
    rows = session.execute(query.order_by(*_line_order(query, sort, staging))).mappings().all()
    shown = rows[offset:] if limit is None else rows[offset : offset + limit]
    lines = fill_distinct(session, org, [_line(row) for row in shown], first=first, last=last)
    peopled = [row for row in rows if int(row["members"]) > 0]
    revive = to_revive(_group_stages(session, org, peopled, on=last, every_last_active=True).values())  # fmt: skip
    return len(rows), lines, revive


def _group_stages(
    session: Session,
    org: str,
    rows: Sequence[Mapping[Any, Any]],
    *,
    on: date,
    every_last_active: bool,
) -> dict[str, GroupStage]:
    """GroupStage of each row staged by _staging (id, name, store, owner, first_seen_at,
    members, SUMS and stage); without `every_last_active`, only dead groups get their last
    activity."""
    timezone = org_timezone(session, org)
    first, last = window_of(on)
    count = (last - first).days + 1
    recent = count - RECENT_DAYS
    decided = []
    for row in rows:
        seen = local_day(row["first_seen_at"], timezone)
        sums = {name: int(row[name]) for name in SUMS}
        trend = _trend(row["id"], seen, (seen - first).days, count, recent, int(row["members"]),
                       sums)  # fmt: skip
        decided.append((row, trend, Stage(row["stage"])))
    asked = [row["id"] for row, _, found in decided if every_last_active or found is Stage.DEAD]
    last_active = _last_active(session, org, asked)
    stages = {}
    for row, trend, found in decided:
        stages[row["id"]] = GroupStage(
            trend=trend, stage=found, on=on, name=row["name"], store=row["store"],
            owner=row["owner"], last_active_at=last_active.get(row["id"]),
        )  # fmt: skip
    return stages


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
