"""Pure figures: local-day buckets, exact rates and money, and how tallies become report rows.

A day is the org's local calendar day, [00:00, 24:00) in its time zone; an event at 00:00:00
itself belongs to the new day. "Members at 00:00" are the stints begun before that instant
and not ended before it, so a day's members_end is exactly members_start + joins - leaves -
kicked, and equals the next day's members_start.
"""

import math
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from shequn.kit.money import format_amount
from shequn.kit.time import local_time_to_utc, zone

RATE_PLACES = 4
# A report names one row per group and day; a longer range is a different question (months).
MAX_DAYS = 366
# Retention horizons of an acquisition cohort, in local days after the first join's day.
HORIZONS = (1, 7, 30)
POSTED = "message.posted"
# What makes a member active on a day: speaking or reacting (a reaction taken back still was one).
ACTIVE_TYPES = (POSTED, "reaction.added")
KICKED = "kicked"
NO_GROUP_LABEL = "(none)"
DAY_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")

GroupKey = str | None
DayKey = tuple[GroupKey, int]


class RangeError(ValueError):
    """A date that is not one, or a range that is reversed or too long."""


def parse_day(option: str, text: str) -> date:
    """A local calendar date written YYYY-MM-DD."""
    if DAY_PATTERN.match(text.strip()):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            pass
    raise RangeError(f"{option}: {text!r} is not a date like 2020-11-07")


def days_of(first: date, last: date) -> list[date]:
    """Every local day from `first` to `last`, both included."""
    if last < first:
        raise RangeError(f"--from {first} is after --to {last}")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise RangeError(f"--from {first} --to {last} spans {count} days; at most {MAX_DAYS}")
    return [first + timedelta(days=offset) for offset in range(count)]


def day_bounds(days: Sequence[date], timezone: str) -> list[datetime]:
    """The UTC instants of each day's local 00:00, and of the last day's 24:00."""
    zone(timezone)
    following = days[-1] + timedelta(days=1)
    return [local_time_to_utc(day, 0, 0, timezone) for day in [*days, following]]


def day_index(moment: datetime, bounds: Sequence[datetime]) -> int | None:
    """Which day of `bounds` holds `moment`, or None outside them."""
    if not bounds or moment < bounds[0] or moment >= bounds[-1]:
        return None
    return bisect_right(bounds, moment) - 1


def round_half_up(value: Fraction, places: int) -> Decimal:
    """Rounded as operators round by hand (0.36745 → 0.3675), exactly, with no float between."""
    scaled = value * 10**places
    whole = math.floor(abs(scaled) + Fraction(1, 2))
    return Decimal(whole if scaled >= 0 else -whole).scaleb(-places)


def ratio(numerator: int, denominator: int) -> Decimal | None:
    """numerator / denominator to 4 decimals; None when the denominator is 0."""
    if denominator == 0:
        return None
    return round_half_up(Fraction(numerator, denominator), RATE_PLACES)


def money_per(amount: int, count: int) -> int | None:
    """An amount in fen shared over `count`, to the nearest fen; None when `count` is 0."""
    if count == 0:
        return None
    return int(round_half_up(Fraction(amount, count), 0))


def rate_json(value: Decimal | None) -> float | None:
    # A 4-decimal Decimal survives the trip through float: its shortest repr is itself.
    return None if value is None else float(value)


def money_json(amount: int | None) -> str | None:
    return None if amount is None else format_amount(amount)


@dataclass(frozen=True)
class Traffic:
    """One group's messages, distinct speakers and distinct active members on one day."""

    messages: int = 0
    speakers: int = 0
    active: int = 0


@dataclass(frozen=True)
class Sales:
    """Orders paid in one group on one day; gmv in fen."""

    orders: int = 0
    buyers: int = 0
    items: int = 0
    gmv: int = 0


@dataclass(frozen=True)
class GroupSpan:
    """When a group existed: from its first sighting to its dismissal, if any."""

    group: str
    first_seen_at: datetime
    dismissed_at: datetime | None = None

    def exists_between(self, start: datetime, end: datetime) -> bool:
        return self.first_seen_at < end and (
            self.dismissed_at is None or self.dismissed_at >= start
        )


@dataclass(frozen=True)
class DailyTallies:
    """What was counted, per group (None: orders without a group) and day index."""

    # Members of each group just before the first day's 00:00.
    opening: Mapping[GroupKey, int] = field(default_factory=dict)
    joins: Mapping[DayKey, int] = field(default_factory=dict)
    # Keyed by (group, day, reason): quit, kicked or unknown.
    exits: Mapping[tuple[GroupKey, int, str], int] = field(default_factory=dict)
    traffic: Mapping[DayKey, Traffic] = field(default_factory=dict)
    sales: Mapping[DayKey, Sales] = field(default_factory=dict)
    # Refunded fen, on the day of the refund, in the group of the refunded order.
    refunds: Mapping[DayKey, int] = field(default_factory=dict)

    def counted(self) -> set[DayKey]:
        """Every (group, day) with something counted on it."""
        # A refund of nothing (no amount, its order never arrived) counts nothing.
        found = {*self.joins, *self.traffic, *self.sales}
        found.update(key for key, amount in self.refunds.items() if amount)
        found.update((group, day) for group, day, _ in self.exits)
        return found

    def leaves_and_kicks(self) -> tuple[dict[DayKey, int], dict[DayKey, int]]:
        """Exits per (group, day): those who left (quit or unknown), and those kicked."""
        leaves: dict[DayKey, int] = defaultdict(int)
        kicked: dict[DayKey, int] = defaultdict(int)
        for (group, index, reason), count in self.exits.items():
            (kicked if reason == KICKED else leaves)[(group, index)] += count
        return leaves, kicked


COLUMNS = (
    "group", "day", "members_start", "members_end", "joins", "leaves", "kicked", "exit_rate",
    "messages", "speakers", "active", "dau_rate", "orders", "buyers", "items", "gmv", "refunds",
    "aov", "gmv_per_buyer", "items_per_buyer", "avg_item_price", "conversion",
)  # fmt: skip


@dataclass(frozen=True)
class GroupDay:
    """One group's figures on one local day; money in fen."""

    group: GroupKey
    day: date
    members_start: int
    members_end: int
    joins: int
    leaves: int
    kicked: int
    traffic: Traffic
    sales: Sales
    refunds: int

    @property
    def exit_rate(self) -> Decimal | None:
        # Kicks are the operator's decision, not the members': an audit sweep of 50 fake
        # accounts must not read as a group its members are fleeing.
        return ratio(self.leaves, self.members_start)

    @property
    def dau_rate(self) -> Decimal | None:
        return ratio(self.traffic.active, self.members_end)

    @property
    def conversion(self) -> Decimal | None:
        return ratio(self.sales.buyers, self.members_end)

    def as_json(self) -> dict[str, object]:
        sales = self.sales
        return {
            "group": self.group, "day": self.day.isoformat(),
            "members_start": self.members_start, "members_end": self.members_end,
            "joins": self.joins, "leaves": self.leaves, "kicked": self.kicked,
            "exit_rate": rate_json(self.exit_rate),
            "messages": self.traffic.messages, "speakers": self.traffic.speakers,
            "active": self.traffic.active, "dau_rate": rate_json(self.dau_rate),
            "orders": sales.orders, "buyers": sales.buyers, "items": sales.items,
            "gmv": format_amount(sales.gmv), "refunds": format_amount(self.refunds),
            "aov": money_json(money_per(sales.gmv, sales.orders)),
            "gmv_per_buyer": money_json(money_per(sales.gmv, sales.buyers)),
            "items_per_buyer": rate_json(ratio(sales.items, sales.buyers)),
            "avg_item_price": money_json(money_per(sales.gmv, sales.items)),
            "conversion": rate_json(self.conversion),
        }  # fmt: skip


def group_days(
    days: Sequence[date],
    bounds: Sequence[datetime],
    spans: Iterable[GroupSpan],
    tallies: DailyTallies,
) -> list[GroupDay]:
    """One row per group and day it existed or had something counted; groups by id, None last."""
    # A refund after a group's dismissal still shows, on a row of its own.
    by_group = {span.group: span for span in spans}
    counted = tallies.counted()
    leaves, kicked = tallies.leaves_and_kicks()
    groups: set[GroupKey] = {*by_group, *(group for group, _ in counted)}
    rows = []
    for group in sorted(groups, key=lambda group: (group is None, group or "")):
        span = by_group.get(group) if group is not None else None
        members = tallies.opening.get(group, 0)
        for index, day in enumerate(days):
            key = (group, index)
            start = members
            members += tallies.joins.get(key, 0) - leaves[key] - kicked[key]
            exists = span is not None and span.exists_between(bounds[index], bounds[index + 1])
            if not exists and key not in counted:
                continue
            row = GroupDay(
                group=group, day=day, members_start=start, members_end=members,
                joins=tallies.joins.get(key, 0), leaves=leaves[key], kicked=kicked[key],
                traffic=tallies.traffic.get(key, Traffic()),
                sales=tallies.sales.get(key, Sales()), refunds=tallies.refunds.get(key, 0),
            )  # fmt: skip
            rows.append(row)
    return rows


@dataclass(frozen=True)
class Funnel:
    """Members at the end of a range → active in it → buyers in it (distinct members each)."""

    group: GroupKey
    first: date
    last: date
    members: int
    active: int
    buyers: int

    def as_json(self) -> dict[str, object]:
        return {
            "group": self.group, "from": self.first.isoformat(), "to": self.last.isoformat(),
            "members": self.members, "active": self.active, "buyers": self.buyers,
            "active_rate": rate_json(ratio(self.active, self.members)),
            "conversion": rate_json(ratio(self.buyers, self.members)),
            "active_conversion": rate_json(ratio(self.buyers, self.active)),
        }  # fmt: skip


@dataclass(frozen=True)
class Stay:
    """One stint of a newcomer in their first group."""

    joined_at: datetime
    left_at: datetime | None


def is_in(stays: Iterable[Stay], at: datetime) -> bool:
    """In the group at `at`, counted as the daily figures count members at 00:00."""
    return any(
        stay.joined_at < at and (stay.left_at is None or stay.left_at >= at) for stay in stays
    )


@dataclass(frozen=True)
class Newcomer:
    """A member whose first join falls in the cohort's range, and what became of them."""

    member: str
    channel: str
    # Days are indexes into the cohort's day bounds: 0 is the range's first day.
    join_day: int
    stays: tuple[Stay, ...] = ()
    # Days with a post or reaction in the first group.
    active_days: frozenset[int] = frozenset()
    # Orders paid since the first join, anywhere in the org; gmv in fen.
    orders: int = 0
    gmv: int = 0


@dataclass(frozen=True)
class Retention:
    """Of `members` newcomers: still in the first group at the end of day N, active there on it."""

    members: int
    stayed: int
    active: int

    def as_json(self) -> dict[str, object]:
        return {
            "stayed": self.stayed, "active": self.active,
            "stayed_rate": rate_json(ratio(self.stayed, self.members)),
            "active_rate": rate_json(ratio(self.active, self.members)),
        }  # fmt: skip


@dataclass(frozen=True)
class ChannelCohort:
    """The newcomers of one acquisition channel: size, retention, buyers and gmv (fen)."""

    channel: str
    members: int
    buyers: int
    gmv: int
    # None where the horizon has not passed for the whole range yet.
    retention: Mapping[int, Retention | None]

    def as_json(self) -> dict[str, object]:
        return {
            "channel": self.channel, "members": self.members, "buyers": self.buyers,
            "conversion": rate_json(ratio(self.buyers, self.members)),
            "gmv": format_amount(self.gmv),
            "retention": {
                f"d{days}": None if kept is None else kept.as_json()
                for days, kept in self.retention.items()
            },
        }  # fmt: skip


def cohort_bounds(first: date, last: date, timezone: str) -> list[datetime]:
    """Day bounds from the range's first day to its last plus the longest horizon."""
    count = (last - first).days + 1 + max(HORIZONS)
    return day_bounds([first + timedelta(days=offset) for offset in range(count)], timezone)


def channel_cohorts(
    newcomers: Iterable[Newcomer], *, range_days: int, bounds: Sequence[datetime], now: datetime
) -> list[ChannelCohort]:
    """Per channel, biggest first; a horizon counts once day N after the range's last is over."""
    by_channel: dict[str, list[Newcomer]] = defaultdict(list)
    for newcomer in newcomers:
        by_channel[newcomer.channel].append(newcomer)
    cohorts = []
    for channel, members in by_channel.items():
        retention: dict[int, Retention | None] = {}
        for horizon in HORIZONS:
            if bounds[range_days + horizon] > now:
                retention[horizon] = None
                continue
            retention[horizon] = Retention(
                members=len(members),
                stayed=sum(is_in(m.stays, bounds[m.join_day + horizon + 1]) for m in members),
                active=sum(m.join_day + horizon in m.active_days for m in members),
            )
        cohorts.append(
            ChannelCohort(
                channel=channel,
                members=len(members),
                buyers=sum(member.orders > 0 for member in members),
                gmv=sum(member.gmv for member in members),
                retention=retention,
            )
        )
    cohorts.sort(key=lambda cohort: (-cohort.members, cohort.channel))
    return cohorts
