"""The daily figures table, kept exact by every batch and by a rebuild.

Counters that only follow events (messages, distinct speakers and active members) are added
per batch. Joins and exits follow the stints the member projection folds: each (group, member)
pair a batch moves is compared before and after, so a late leave that re-folds a pair moves its
counts to the right days. Sales and refunds are counted again, from the orders, for every
(group, day) a batch touches: an order can be corrected and a refund may come before its order.
Projections run in registration order, so this one is registered after groups, members and
orders, and it writes once the batch's last event has gone through every projection.

Messages and reactions are also counted per local clock hour, per group and for the whole org,
so the heatmap reads a few rows per day instead of the day's events.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shequn.analytics.models import (
    NO_GROUP,
    GroupDayFigures,
    GroupHourlyActivity,
    OrgHourlyActivity,
)
from shequn.analytics.rules import (
    ACTIVE_TYPES,
    KICKED,
    POSTED,
    Sales,
    Traffic,
    day_bounds,
    days_of,
)
from shequn.analytics.service import daily_tallies
from shequn.commerce.models import Order, Refund
from shequn.contract import PAYLOADS, OrderPaid, OrderRefunded
from shequn.db import upsert_adding
from shequn.engine.context import Context
from shequn.engine.event import Event, order_key
from shequn.engine.models import EventRecord
from shequn.engine.registry import Projection
from shequn.kit.time import DEFAULT_TIMEZONE, local_day, local_time_to_utc, zone
from shequn.member.models import GroupMember, Membership
from shequn.org.models import Org

FIGURES = cast(Table, GroupDayFigures.__table__)
HOURLY = cast(Table, GroupHourlyActivity.__table__)
ORG_HOURLY = cast(Table, OrgHourlyActivity.__table__)
HOUR = timedelta(hours=1)
MOVES = frozenset({"member.joined", "member.left"})
ACTIVE = frozenset(ACTIVE_TYPES)
# Counters a batch adds to; the sales columns are counted again instead.
ADDED = ("joins", "leaves", "kicked", "messages", "speakers", "active")
SALES = ("orders", "buyers", "items", "gmv", "refunds")
MEMO = ("analytics.group_days",)
PAIRS_PER_QUERY = 2000
# Days counted per pass when an org's days are cut again: bounds the memory a pass holds.
RECUT_DAYS = 31
REACTED = "reaction.added"

Key = tuple[str, str, date]
# (org, group, local day, local hour)
HourKey = tuple[str, str, date, int]
Pair = tuple[str, str, str]
# What one stint counts: joined at, left at, and why.
Contribution = tuple[datetime, datetime | None, str | None]


@dataclass
class Pending:
    """What one batch changes, gathered while its events go through the projections."""

    last_key: str
    zones: dict[str, str] = field(default_factory=dict)
    last_day: dict[str, tuple[datetime, datetime, date]] = field(default_factory=dict)
    last_hour: dict[str, tuple[datetime, datetime, date, int]] = field(default_factory=dict)
    # Per group and local hour: messages posted, reactions added.
    hours: dict[HourKey, list[int]] = field(default_factory=dict)
    added: dict[Key, dict[str, int]] = field(default_factory=dict)
    # (org, group, day, member, "speaker" | "active") already counted.
    seen: set[tuple[str, str, date, str, str]] = field(default_factory=set)
    # Per pair: the lowest stint number followed, and those stints before the batch.
    pairs: dict[Pair, tuple[int, dict[int, Contribution]]] = field(default_factory=dict)
    recount: set[Key] = field(default_factory=set)
    refunded: list[Event] = field(default_factory=list)
    paid: set[tuple[str, str]] = field(default_factory=set)
    refund_days: dict[tuple[str, str], set[date]] = field(default_factory=lambda: defaultdict(set))

    def day(self, context: Context, org: str, moment: datetime) -> date:
        # Most of a batch falls on one day: its bounds answer without converting each time.
        known = self.last_day.get(org)
        if known is not None and known[0] <= moment < known[1]:
            return known[2]
        if org not in self.zones:
            self.zones[org] = context.tenant(org).timezone
        day = local_day(moment, self.zones[org])
        start, end = _day_bounds(self.zones[org], day)
        self.last_day[org] = (start, end, day)
        return day

    def hour(self, context: Context, org: str, moment: datetime) -> tuple[date, int]:
        """The local day and clock hour of `moment`; a batch's events share a few hours."""
        known = self.last_hour.get(org)
        if known is not None and known[0] <= moment < known[1]:
            return known[2], known[3]
        self.day(context, org, moment)
        where = zone(self.zones[org])
        local = moment.astimezone(where)
        start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        end = start + HOUR
        last = (end - timedelta(microseconds=1)).astimezone(where)
        # An hour a zone's change cuts short (a half-hour shift) is not remembered.
        if start <= moment and (last.date(), last.hour) == (local.date(), local.hour):
            self.last_hour[org] = (start, end, local.date(), local.hour)
        return local.date(), local.hour

    def add(self, key: Key, name: str, delta: int) -> None:
        row = self.added.get(key)
        if row is None:
            row = self.added[key] = dict.fromkeys(ADDED, 0)
        row[name] += delta


def prefetch(context: Context, events: Sequence[Event]) -> None:
    handled = [event for event in events if event.type in PAYLOADS]
    if not handled:
        return
    # The last event this projection is called on is where the batch's figures are written.
    pending = Pending(last_key=handled[-1].key)
    context.memo(MEMO, lambda: pending)
    _follow_pairs(context, pending, events)
    _seen_before(context, pending, events)
    _orders_before(context, pending, events)


def _follow_pairs(context: Context, pending: Pending, events: Sequence[Event]) -> None:
    # The members projection's prefetch has loaded each pair's standing and latest stint.
    late: set[Pair] = set()
    pairs: set[Pair] = set()
    for event in events:
        if event.type in MOVES:
            pair = (event.org, cast(str, event.group), cast(str, event.member))
            pairs.add(pair)
            standing = context.rows.get(GroupMember, pair)
            if standing is not None and event.key < standing.last_key:
                late.add(pair)
    for pair in pairs:
        standing = context.rows.get(GroupMember, pair)
        if standing is None or standing.stints == 0:
            pending.pairs[pair] = (1, {})
            continue
        # In order, a move touches only the latest stint or opens one; a late one re-folds all.
        low = 1 if pair in late else standing.stints
        pending.pairs[pair] = (low, _stints(context, pair, range(low, standing.stints + 1)))


def _stints(context: Context, pair: Pair, numbers: Iterable[int]) -> dict[int, Contribution]:
    found = {}
    for number in numbers:
        row = context.rows.get(Membership, (*pair, number))
        if row is not None:
            found[number] = (row.joined_at, row.left_at, row.left_reason)
    return found


def _seen_before(context: Context, pending: Pending, events: Sequence[Event]) -> None:
    """Members already counted as speakers or active on the batch's days, by earlier batches
    (or, in a rebuild, by the events replayed before these)."""
    asked: dict[tuple[str, date], set[tuple[str, str]]] = defaultdict(set)
    for event in events:
        if event.type in ACTIVE and event.group is not None and event.member is not None:
            day = pending.day(context, event.org, event.at)
            asked[(event.org, day)].add((event.group, event.member))
    binds: dict[str, Any] = {}
    if context.replaying:
        earlier = "e.key < :first_key"
        binds["first_key"] = events[0].key
    else:
        batches = sorted({event.batch for event in events})
        binds.update({f"b{n}": batch for n, batch in enumerate(batches)})
        earlier = f"e.batch NOT IN ({', '.join(f':b{n}' for n in range(len(batches)))})"
    for (org, day), pairs in asked.items():
        start, end = _day_keys(pending.zones[org], day)
        ordered = sorted(pairs)
        for first in range(0, len(ordered), PAIRS_PER_QUERY):
            chunk = ordered[first : first + PAIRS_PER_QUERY]
            # Padded to a power of two with its last pair (DISTINCT drops the repeats), so a
            # few statements are compiled once and reused instead of one per chunk size.
            chunk += chunk[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))
            # The pairs as a table the event index is probed with, once per pair: IN lists of
            # groups and of members would probe every mix of the two.
            rows = ", ".join(f"(:g{n}, :m{n})" for n in range(len(chunk)))
            query = text(
                f"WITH wanted(group_id, member_id) AS (VALUES {rows}) "  # noqa: S608 - binds only
                "SELECT DISTINCT e.group_id, e.member_id, e.type FROM wanted CROSS JOIN event e "
                "WHERE e.org = :org AND e.group_id = wanted.group_id "
                "AND e.member_id = wanted.member_id AND e.key >= :start AND e.key < :end "
                f"AND e.type IN (:posted, :reacted) AND {earlier}"
            )
            values = {**binds, "org": org, "start": start, "end": end, "posted": POSTED,
                      "reacted": REACTED}  # fmt: skip
            for n, (group, member) in enumerate(chunk):
                values[f"g{n}"], values[f"m{n}"] = group, member
            found = context.session.execute(query, values)
            for group_id, member_id, kind in found:
                pending.seen.add((org, group_id, day, member_id, "active"))
                if kind == POSTED:
                    pending.seen.add((org, group_id, day, member_id, "speaker"))


def _day_bounds(timezone: str, day: date) -> tuple[datetime, datetime]:
    """The UTC instants of the day's local 00:00 and of the next day's."""
    following = date.fromordinal(day.toordinal() + 1)
    return local_time_to_utc(day, 0, 0, timezone), local_time_to_utc(following, 0, 0, timezone)


def _day_keys(timezone: str, day: date) -> tuple[str, str]:
    start, end = _day_bounds(timezone, day)
    return order_key(start, 0, 0), order_key(end, 0, 0)


def _orders_before(context: Context, pending: Pending, events: Sequence[Event]) -> None:
    """Where a corrected order, and the refunds already stored for it, were counted so far."""
    paid = {(event.org, event.data.order) for event in events if isinstance(event.data, OrderPaid)}
    pending.paid = paid
    by_org: dict[str, list[str]] = defaultdict(list)
    for org, order_id in paid:
        by_org[org].append(order_id)
        order = context.rows.get(Order, (org, order_id))
        if order is not None:
            day = pending.day(context, org, order.paid_at)
            pending.recount.add((org, order.group_id or NO_GROUP, day))
    for org, order_ids in by_org.items():
        for order_id, refunded_at in context.session.execute(
            select(Refund.order_id, Refund.refunded_at).where(
                Refund.org == org, Refund.order_id.in_(sorted(order_ids))
            )
        ):
            day = pending.day(context, org, refunded_at)
            pending.refund_days[(org, order_id)].add(day)
            # Counted under no group, or under the order's group as it was: both are recounted.
            order = context.rows.get(Order, (org, order_id))
            pending.recount.add((org, NO_GROUP if order is None else order.group_id or NO_GROUP,
                                 day))  # fmt: skip


def on_event(context: Context, event: Event) -> None:
    pending: Pending | None = context.memo(MEMO, lambda: None)
    if pending is None:
        return
    if event.type in ACTIVE and event.group is not None:
        day, hour = pending.hour(context, event.org, event.at)
        counts = pending.hours.setdefault((event.org, event.group, day, hour), [0, 0])
        counts[0 if event.type == POSTED else 1] += 1
        if event.member is not None:
            _count_traffic(context, pending, event, event.group, event.member)
    elif isinstance(event.data, OrderRefunded):
        pending.refunded.append(event)
    if event.key == pending.last_key:
        write(context, pending)


def _count_traffic(
    context: Context, pending: Pending, event: Event, group: str, member: str
) -> None:
    day = pending.day(context, event.org, event.at)
    key = (event.org, group, day)
    if event.type == POSTED:
        pending.add(key, "messages", 1)
        if (*key, member, "speaker") not in pending.seen:
            pending.seen.add((*key, member, "speaker"))
            pending.add(key, "speakers", 1)
    if (*key, member, "active") not in pending.seen:
        pending.seen.add((*key, member, "active"))
        pending.add(key, "active", 1)


def _count_moves(context: Context, pending: Pending) -> set[Key]:
    """Joins and exits of the pairs the batch moved, as stints after less stints before."""
    lowered: set[Key] = set()
    for pair, (low, before) in pending.pairs.items():
        standing = context.rows.get(GroupMember, pair)
        count = standing.stints if standing is not None else 0
        after = _stints(context, pair, range(low, count + 1))
        for number in before.keys() | after.keys():
            old, new = before.get(number), after.get(number)
            if old == new:
                continue
            for stint, sign in ((old, -1), (new, 1)):
                if stint is None:
                    continue
                lowered.update(_count_stint(context, pending, pair, stint, sign))
    return lowered


def _count_stint(
    context: Context, pending: Pending, pair: Pair, stint: Contribution, sign: int
) -> list[Key]:
    org, group, _ = pair
    joined_at, left_at, reason = stint
    keys = [(org, group, pending.day(context, org, joined_at))]
    pending.add(keys[0], "joins", sign)
    if left_at is not None:
        keys.append((org, group, pending.day(context, org, left_at)))
        pending.add(keys[1], "kicked" if reason == KICKED else "leaves", sign)
    return keys if sign < 0 else []


def write(context: Context, pending: Pending) -> None:
    """Add the batch's counters, count sales again where they may have changed, and drop
    the rows left with nothing counted."""
    lowered = _count_moves(context, pending)
    for org, order_id in pending.paid:
        order = context.rows.get(Order, (org, order_id))
        if order is None:
            continue
        group = order.group_id or NO_GROUP
        pending.recount.add((org, group, pending.day(context, org, order.paid_at)))
        pending.recount.update((org, group, day) for day in pending.refund_days[(org, order_id)])
    for event in pending.refunded:
        order = context.rows.get(Order, (event.org, event.payload(OrderRefunded).order))
        group = NO_GROUP if order is None or order.group_id is None else order.group_id
        pending.recount.add((event.org, group, pending.day(context, event.org, event.at)))
    session = context.session
    dialect = session.get_bind().dialect
    rows = [
        {"org": org, "group_id": group, "day": day, **counts, **dict.fromkeys(SALES, 0)}
        for (org, group, day), counts in pending.added.items()
        if any(counts.values())
    ]
    if rows:
        statement = upsert_adding(dialect, FIGURES, keys=("org", "group_id", "day"), add=ADDED)
        session.execute(statement, rows)
    if pending.recount:
        # The orders and refunds the projections changed must be in the database to be counted.
        session.flush()
        counted = _sales(context, pending, pending.recount)
        insert = (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(FIGURES)
        statement = insert.on_conflict_do_update(
            index_elements=["org", "group_id", "day"],
            set_={name: insert.excluded[name] for name in SALES},
        )
        session.execute(statement, counted)
    gone = lowered | pending.recount
    if gone:
        _drop_empty(context, gone)
    if pending.hours:
        _add_hours(context.session, pending.hours)


def _add_hours(session: Session, hours: dict[HourKey, list[int]]) -> None:
    dialect = session.get_bind().dialect
    totals: dict[tuple[str, date, int], list[int]] = {}
    rows = []
    for (org, group, day, hour), (messages, reactions) in hours.items():
        rows.append({"org": org, "group_id": group, "day": day, "hour": hour,
                     "messages": messages, "reactions": reactions})  # fmt: skip
        total = totals.setdefault((org, day, hour), [0, 0])
        total[0] += messages
        total[1] += reactions
    counters = ("messages", "reactions")
    session.execute(
        upsert_adding(dialect, HOURLY, keys=("org", "group_id", "day", "hour"), add=counters), rows
    )
    session.execute(
        upsert_adding(dialect, ORG_HOURLY, keys=("org", "day", "hour"), add=counters),
        [{"org": org, "day": day, "hour": hour, "messages": messages, "reactions": reactions}
         for (org, day, hour), (messages, reactions) in totals.items()],
    )  # fmt: skip


def _sales(context: Context, pending: Pending, keys: set[Key]) -> list[dict[str, Any]]:
    """The sales and refunds of these (group, day)s, counted from the orders: one query each
    per org and day."""
    days: dict[tuple[str, date], set[str]] = defaultdict(set)
    for org, group, day in keys:
        days[(org, day)].add(group)
    zeros = dict.fromkeys(ADDED, 0)
    rows = []
    for (org, day), groups in sorted(days.items()):
        start, end = _day_bounds(pending.zones[org], day)
        group_key = func.coalesce(Order.group_id, NO_GROUP)
        sales = {
            group: (int(orders), int(buyers), int(items), int(gmv))
            for group, orders, buyers, items, gmv in context.session.execute(
                select(group_key, func.count(), func.count(func.distinct(Order.member_id)),
                       func.sum(Order.item_count), func.sum(Order.amount))
                .where(Order.org == org, Order.paid_at >= start, Order.paid_at < end,
                       group_key.in_(sorted(groups)))
                .group_by(group_key)
            )
        }  # fmt: skip
        refunds = {
            group: int(amount or 0)
            for group, amount in context.session.execute(
                select(group_key, func.sum(func.coalesce(Refund.amount, Order.amount, 0)))
                .select_from(Refund)
                .outerjoin(Order, and_(Order.org == Refund.org, Order.id == Refund.order_id))
                .where(Refund.org == org, Refund.refunded_at >= start, Refund.refunded_at < end,
                       group_key.in_(sorted(groups)))
                .group_by(group_key)
            )
        }  # fmt: skip
        for group in sorted(groups):
            # PostgreSQL sums bigints as numeric: int() above brings back the exact fen.
            orders, buyers, items, gmv = sales.get(group, (0, 0, 0, 0))
            rows.append({"org": org, "group_id": group, "day": day, **zeros, "orders": orders,
                         "buyers": buyers, "items": items, "gmv": gmv,
                         "refunds": refunds.get(group, 0)})  # fmt: skip
    return rows


def _drop_empty(context: Context, keys: set[Key]) -> None:
    empty = [FIGURES.c[name] == 0 for name in (*ADDED, *SALES)]
    by_org: dict[str, list[tuple[str, date]]] = defaultdict(list)
    for org, group, day in keys:
        by_org[org].append((group, day))
    for org, pairs in by_org.items():
        for start in range(0, len(pairs), 500):
            chunk = sorted(pairs)[start : start + 500]
            context.session.execute(
                delete(FIGURES).where(
                    FIGURES.c.org == org,
                    FIGURES.c.group_id.in_(sorted({group for group, _ in chunk})),
                    tuple_(FIGURES.c.group_id, FIGURES.c.day).in_(chunk),
                    *empty,
                )
            )


def fill_hourly_activity(session: Session, org: str | None = None) -> int:
    """Count the hourly tables from the log (`org`: only its own), one UTC day of events at a
    time: for a store upgraded from before they were kept, or an org moved to another zone;
    cheaper than a rebuild. Returns the events counted."""

    def owned(column: Any) -> list[Any]:
        return [] if org is None else [column == org]

    session.execute(delete(HOURLY).where(*owned(HOURLY.c.org)))
    session.execute(delete(ORG_HOURLY).where(*owned(ORG_HOURLY.c.org)))
    zones = {owner: zone(timezone) for owner, timezone in session.execute(select(Org.id, Org.timezone))}  # fmt: skip
    active = and_(EventRecord.type.in_(ACTIVE), EventRecord.group_id.is_not(None),
                  *owned(EventRecord.org))  # fmt: skip
    first, last = session.execute(
        select(func.min(EventRecord.key), func.max(EventRecord.key)).where(active)
    ).one()
    if first is None:
        return 0
    day = datetime.strptime(first[:8], "%Y%m%d").replace(tzinfo=UTC)
    counted = 0
    while order_key(day, 0, 0) <= last:
        following = day + timedelta(days=1)
        hours: dict[HourKey, list[int]] = {}
        for at_org, group, at, kind in session.execute(
            select(EventRecord.org, EventRecord.group_id, EventRecord.at, EventRecord.type).where(
                active,
                EventRecord.key >= order_key(day, 0, 0),
                EventRecord.key < order_key(following, 0, 0),
            )
        ):
            local = at.astimezone(zones.get(at_org) or zone(DEFAULT_TIMEZONE))
            counts = hours.setdefault((at_org, cast(str, group), local.date(), local.hour), [0, 0])
            counts[0 if kind == POSTED else 1] += 1
            counted += 1
        if hours:
            _add_hours(session, hours)
        day = following
    return counted


def recut_days(
    session: Session, org: str, *, on_progress: Callable[[int, int], None] | None = None
) -> int:
    """Cut one org's daily and hourly figures again at its local midnights (after it moved to
    another zone): counted from its log, stints and orders, RECUT_DAYS at a time, as a rebuild
    would leave them, without replaying anything else or touching other orgs. `on_progress`
    hears the days done and the days in all after each pass. Returns the daily rows written."""
    timezone = session.execute(select(Org.timezone).where(Org.id == org)).scalar_one()
    session.execute(delete(FIGURES).where(FIGURES.c.org == org))
    fill_hourly_activity(session, org)
    span = _moments(session, org)
    if span is None:
        return 0
    first, last = (local_day(moment, timezone) for moment in span)
    total, written = (last - first).days + 1, 0
    while first <= last:
        days = days_of(first, min(last, first + timedelta(days=RECUT_DAYS - 1)))
        tallies = daily_tallies(session, org, day_bounds(days, timezone), opening=False)
        leaves, kicked = tallies.leaves_and_kicks()
        rows = []
        for key in sorted(tallies.counted(), key=lambda key: (key[0] or "", key[1])):
            traffic, sales = tallies.traffic.get(key, Traffic()), tallies.sales.get(key, Sales())
            counts = {
                "joins": tallies.joins.get(key, 0), "leaves": leaves[key], "kicked": kicked[key],
                "messages": traffic.messages, "speakers": traffic.speakers,
                "active": traffic.active, "orders": sales.orders, "buyers": sales.buyers,
                "items": sales.items, "gmv": sales.gmv, "refunds": tallies.refunds.get(key, 0),
            }  # fmt: skip
            # As the projection keeps them: a row with nothing counted is not kept.
            if any(counts.values()):
                group, index = key
                rows.append({"org": org, "group_id": NO_GROUP if group is None else group,
                             "day": days[index], **counts})  # fmt: skip
        if rows:
            session.execute(FIGURES.insert(), rows)
        written += len(rows)
        first = days[-1] + timedelta(days=1)
        if on_progress is not None:
            on_progress(total - (last - first).days - 1, total)
    return written


def _moments(session: Session, org: str) -> tuple[datetime, datetime] | None:
    """The earliest and latest moment anything of the org's figures happened at, or None."""
    queries = [
        select(func.min(EventRecord.at), func.max(EventRecord.at)).where(EventRecord.org == org),
        select(func.min(Order.paid_at), func.max(Order.paid_at)).where(Order.org == org),
        select(func.min(Refund.refunded_at), func.max(Refund.refunded_at)).where(Refund.org == org),
        select(func.min(Membership.joined_at), func.max(Membership.left_at)).where(
            Membership.org == org
        ),
    ]
    found: list[datetime] = [
        moment for query in queries for moment in session.execute(query).one() if moment is not None
    ]
    return (min(found), max(found)) if found else None


GROUP_DAYS = Projection(
    name="group_days",
    tables=[FIGURES, HOURLY, ORG_HOURLY],
    prefetch=prefetch,
    # Every type: the batch's last event, whatever it is, is where the batch's figures land.
    on=dict.fromkeys(PAYLOADS, on_event),
)
