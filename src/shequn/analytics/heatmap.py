"""The activity heatmap, hour of day × weekday in the org's zone, and the posting times it implies.

A cell counts interactions: messages posted plus reactions added in that local hour, summed
over every such weekday of the range. The best posting times are the busiest hours of the
day over the whole week, at most BEST_COUNT of them and at least BEST_SPACING hours apart
(so morning, noon and evening peaks each get a slot instead of 20:00, 21:00 and 22:00), with
an hour nobody used never suggested. Each weekday also gets its own busiest hour. Ties go to
the earlier hour. Operators post at the start of the suggested hour, ahead of the crowd.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from shequn.analytics.rules import GroupKey, rate_json, ratio
from shequn.kit.time import zone

HOURS = 24
WEEKDAYS = 7
BEST_COUNT = 3
BEST_SPACING = 2
HEATMAP_COLUMNS = ("weekday", "hour", "messages", "reactions", "interactions")


@dataclass(frozen=True)
class Bucket:
    """Messages and reactions counted from a UTC instant on, over a slice no local hour splits."""

    start: datetime
    messages: int
    reactions: int


@dataclass(frozen=True)
class Cell:
    """One local hour of one weekday (ISO: 1 is Monday) summed over the range."""

    weekday: int
    hour: int
    messages: int = 0
    reactions: int = 0

    @property
    def interactions(self) -> int:
        return self.messages + self.reactions

    def as_json(self) -> dict[str, object]:
        return {"weekday": self.weekday, "hour": self.hour, "messages": self.messages,
                "reactions": self.reactions, "interactions": self.interactions}  # fmt: skip


@dataclass(frozen=True)
class BestTime:
    """A suggested posting hour: how many interactions it drew and its share of the total."""

    hour: int
    interactions: int
    total: int
    weekday: int | None = None

    @property
    def time(self) -> str:
        return f"{self.hour:02d}:00"

    def as_json(self) -> dict[str, object]:
        shown: dict[str, object] = {} if self.weekday is None else {"weekday": self.weekday}
        return {**shown, "hour": self.hour, "time": self.time,
                "interactions": self.interactions,
                "share": rate_json(ratio(self.interactions, self.total))}  # fmt: skip


@dataclass(frozen=True)
class Heatmap:
    group: GroupKey
    first: date
    last: date
    timezone: str
    # 7 × 24 cells, Monday 00:00 first.
    cells: tuple[Cell, ...]

    def cell(self, weekday: int, hour: int) -> Cell:
        return self.cells[(weekday - 1) * HOURS + hour]

    @property
    def total(self) -> int:
        return sum(cell.interactions for cell in self.cells)

    def by_hour(self) -> list[int]:
        """Interactions per local hour of day, every weekday together."""
        return [sum(self.cell(day, hour).interactions for day in range(1, 8)) for hour in range(24)]

    def best_times(self) -> list[BestTime]:
        return best_hours(self.by_hour(), total=self.total)

    def best_by_weekday(self) -> list[BestTime]:
        """Each weekday's busiest hour; a weekday without interactions has none."""
        found = []
        for weekday in range(1, WEEKDAYS + 1):
            hours = [self.cell(weekday, hour).interactions for hour in range(HOURS)]
            best = best_hours(hours, total=sum(hours), count=1)
            found += [BestTime(b.hour, b.interactions, b.total, weekday) for b in best]
        return found

    def as_json(self) -> dict[str, object]:
        return {
            "group": self.group, "from": self.first.isoformat(), "to": self.last.isoformat(),
            "timezone": self.timezone, "interactions": self.total,
            "cells": [cell.as_json() for cell in self.cells],
            "best_times": [best.as_json() for best in self.best_times()],
            "best_by_weekday": [best.as_json() for best in self.best_by_weekday()],
        }  # fmt: skip


def best_hours(
    per_hour: Sequence[int], *, total: int, count: int = BEST_COUNT, spacing: int = BEST_SPACING
) -> list[BestTime]:
    """The busiest hours, greedily, each at least `spacing` hours (around midnight too) from
    those already picked; in order of the day."""
    picked: list[int] = []
    for hour in sorted(range(len(per_hour)), key=lambda h: (-per_hour[h], h)):
        if len(picked) == count or per_hour[hour] == 0:
            break
        if all(min(abs(hour - p), HOURS - abs(hour - p)) >= spacing for p in picked):
            picked.append(hour)
    return [BestTime(hour, per_hour[hour], total) for hour in sorted(picked)]


def fold_buckets(
    buckets: Iterable[Bucket], *, group: GroupKey, first: date, last: date, timezone: str
) -> Heatmap:
    """Each bucket lands in the local weekday and hour its start falls in."""
    local = zone(timezone)
    starts = ((bucket.start.astimezone(local), bucket) for bucket in buckets)
    return fold_hours(
        ((start.date(), start.hour, bucket.messages, bucket.reactions) for start, bucket in starts),
        group=group, first=first, last=last, timezone=timezone,
    )  # fmt: skip


def fold_hours(
    hours: Iterable[tuple[date, int, int, int]],
    *,
    group: GroupKey,
    first: date,
    last: date,
    timezone: str,
) -> Heatmap:
    """Counts already kept per local (day, hour, messages, reactions) land in that day's weekday."""
    messages = [0] * (WEEKDAYS * HOURS)
    reactions = [0] * (WEEKDAYS * HOURS)
    for day, hour, posted, reacted in hours:
        index = day.weekday() * HOURS + hour
        messages[index] += posted
        reactions[index] += reacted
    cells = tuple(
        Cell(weekday=index // HOURS + 1, hour=index % HOURS, messages=messages[index],
             reactions=reactions[index])
        for index in range(WEEKDAYS * HOURS)
    )  # fmt: skip
    return Heatmap(group=group, first=first, last=last, timezone=timezone, cells=cells)


def whole_hour_offsets(bounds: Iterable[datetime], timezone: str) -> bool:
    """Whether the zone's offset is whole hours all range long: UTC hours are then local hours."""
    local = zone(timezone)
    for bound in bounds:
        offset = bound.astimezone(local).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
    return True
