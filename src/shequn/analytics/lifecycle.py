"""Each group's lifecycle stage from its last 28 local days, and the dead groups worth reviving.

The stage is the first that applies, in this order:
- new: first seen less than NEW_DAYS (14) local days before the day of the report;
- dead: no members, or a 7-day DAU rate below DEAD_DAU (2%) — activity decayed to near zero
  (a revived group gets back to about 8%, a healthy one with points 25% and more);
- declining: the 7-day DAU rate fell below DECLINE_SHARE (3/4) of the 21 days before it,
  or members fell more than SHRINK (5%) over the 28 days;
- growing: members grew at least GROWTH (10%) over the 28 days (or from none);
- mature: anything else — steady members and activity.

A window's DAU rate is its active member-days over its member-days: the sum of each day's
`active` over the sum of each day's `members_end`, so a busy big day weighs more than a
quiet small one. "Members 28 days ago" are the members at the window's first 00:00.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from shequn.analytics.rules import GroupDay, rate_json, ratio

WINDOW_DAYS = 28
RECENT_DAYS = 7
NEW_DAYS = 14
DEAD_DAU = Fraction(2, 100)
DECLINE_SHARE = Fraction(3, 4)
SHRINK = Fraction(95, 100)
GROWTH = Fraction(110, 100)
LIFECYCLE_COLUMNS = (
    "group", "name", "store", "owner", "stage", "age_days", "members", "members_28d_ago",
    "dau_7d", "dau_prior_21d", "messages_7d", "last_active_at",
)  # fmt: skip


class Stage(StrEnum):
    NEW = "new"
    GROWING = "growing"
    MATURE = "mature"
    DECLINING = "declining"
    DEAD = "dead"


@dataclass(frozen=True)
class Activity:
    """Active member-days over member-days in a window, and the messages in it."""

    active: int = 0
    member_days: int = 0
    messages: int = 0

    @property
    def dau(self) -> Fraction | None:
        return None if self.member_days == 0 else Fraction(self.active, self.member_days)


@dataclass(frozen=True)
class GroupTrend:
    """What a group's stage is decided on."""

    group: str
    first_seen: date
    members_before: int
    members: int
    recent: Activity
    prior: Activity


def stage_of(trend: GroupTrend, *, on: date) -> Stage:
    if (on - trend.first_seen).days < NEW_DAYS:
        return Stage.NEW
    recent, prior = trend.recent.dau, trend.prior.dau
    if trend.members == 0 or recent is None or recent < DEAD_DAU:
        return Stage.DEAD
    if prior is not None and prior > 0 and recent < prior * DECLINE_SHARE:
        return Stage.DECLINING
    if trend.members < trend.members_before * SHRINK:
        return Stage.DECLINING
    if trend.members >= trend.members_before * GROWTH and trend.members > trend.members_before:
        return Stage.GROWING
    return Stage.MATURE


def window_of(on: date) -> tuple[date, date]:
    """The 28 local days ending with `on`, both included."""
    return on - timedelta(days=WINDOW_DAYS - 1), on


def trend_of(group: str, first_seen: date, rows: Sequence[GroupDay], *, on: date) -> GroupTrend:
    """A group's trend from its daily rows of the window (days it did not exist are absent)."""
    recent_from = on - timedelta(days=RECENT_DAYS - 1)

    def activity(days: Iterable[GroupDay]) -> Activity:
        chosen = list(days)
        return Activity(
            active=sum(day.traffic.active for day in chosen),
            member_days=sum(day.members_end for day in chosen),
            messages=sum(day.traffic.messages for day in chosen),
        )

    ordered = sorted(rows, key=lambda row: row.day)
    return GroupTrend(
        group=group,
        first_seen=first_seen,
        members_before=ordered[0].members_start if ordered else 0,
        members=ordered[-1].members_end if ordered else 0,
        recent=activity(row for row in ordered if row.day >= recent_from),
        prior=activity(row for row in ordered if row.day < recent_from),
    )


@dataclass(frozen=True)
class GroupStage:
    """A group's stage and what it rests on, with the names operators know it by."""

    trend: GroupTrend
    stage: Stage
    on: date
    name: str
    store: str | None
    owner: str | None
    last_active_at: datetime | None

    @property
    def is_to_revive(self) -> bool:
        """Dead with people still in it: somebody to wake up."""
        return self.stage is Stage.DEAD and self.trend.members > 0

    def as_json(self) -> dict[str, object]:
        trend = self.trend
        return {
            "group": trend.group, "name": self.name, "store": self.store, "owner": self.owner,
            "stage": str(self.stage), "age_days": (self.on - trend.first_seen).days,
            "members": trend.members, "members_28d_ago": trend.members_before,
            "dau_7d": rate_json(ratio(trend.recent.active, trend.recent.member_days)),
            "dau_prior_21d": rate_json(ratio(trend.prior.active, trend.prior.member_days)),
            "messages_7d": trend.recent.messages,
            "last_active_at": None if self.last_active_at is None
            else self.last_active_at.isoformat(),
        }  # fmt: skip


def to_revive(stages: Iterable[GroupStage]) -> list[GroupStage]:
    """Dead groups with members, most members first: the most people to win back."""
    dead = [stage for stage in stages if stage.is_to_revive]
    return sorted(dead, key=lambda stage: (-stage.trend.members, stage.trend.group))
