"""The database decides a group's stage exactly as stage_of does, from the same daily rows."""

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from shequn.analytics.daily import DISMISSED, group_stages, table_stages
from shequn.analytics.lifecycle import (
    DEAD_DAU,
    DECLINE_SHARE,
    GROWTH,
    NEW_DAYS,
    RECENT_DAYS,
    SHRINK,
    Activity,
    GroupTrend,
    Stage,
    stage_of,
    window_of,
)
from shequn.analytics.models import GroupDayFigures
from shequn.group.models import Group
from shequn.org.models import Org
from shequn.org.service import save_org
from shequn.wiring import Shequn

# The window 02-22..03-20 holds New York's move to summer time (03-10): a 23-hour day.
ON = date(2024, 3, 20)
FIRST, _ = window_of(ON)
ZONES = {"sh": "Asia/Shanghai", "ny": "America/New_York"}


@dataclass(frozen=True)
class Day:
    joins: int = 0
    leaves: int = 0
    kicked: int = 0
    active: int = 0
    messages: int = 0

    @property
    def net(self) -> int:
        return self.joins - self.leaves - self.kicked


@dataclass(frozen=True)
class GivenGroup:
    """A group first seen at a local time, its daily rows, and its members now (after every
    row, including days after ON)."""

    id: str
    seen: date
    seen_at: time
    member_count: int
    days: dict[date, Day] = field(default_factory=dict)
    is_dismissed: bool = False

    def members_end(self, day: date) -> int:
        return self.member_count - sum(row.net for at, row in self.days.items() if at > day)


def expected_trend(group: GivenGroup) -> GroupTrend:
    """trend_of, as the log's daily rows would give it: only the days the group existed."""
    days = [FIRST + timedelta(days=n) for n in range(28) if FIRST + timedelta(days=n) >= group.seen]
    recent_from = ON - timedelta(days=RECENT_DAYS - 1)

    def activity(chosen: list[date]) -> Activity:
        rows = [group.days.get(day, Day()) for day in chosen]
        return Activity(
            active=sum(row.active for row in rows),
            member_days=sum(group.members_end(day) for day in chosen),
            messages=sum(row.messages for row in rows),
        )

    if not days:
        return GroupTrend(group.id, group.seen, 0, 0, Activity(), Activity())
    return GroupTrend(
        group=group.id,
        first_seen=group.seen,
        members_before=group.members_end(days[0]) - group.days.get(days[0], Day()).net,
        members=group.members_end(ON),
        recent=activity([day for day in days if day >= recent_from]),
        prior=activity([day for day in days if day < recent_from]),
    )


def expected_stage(group: GivenGroup) -> str:
    return DISMISSED if group.is_dismissed else str(stage_of(expected_trend(group), on=ON))


def store(shequn: Shequn, org: str, groups: list[GivenGroup]) -> None:
    zone = ZoneInfo(ZONES[org])
    with shequn.sessions.begin() as session:
        if session.get(Org, org) is None:
            save_org(session, org, name=None, timezone=ZONES[org], settings=None,
                     now=datetime(2024, 1, 1, tzinfo=UTC))  # fmt: skip
        session.execute(delete(GroupDayFigures).where(GroupDayFigures.org == org))
        session.execute(delete(Group).where(Group.org == org))
        seen_at = {g.id: datetime.combine(g.seen, g.seen_at, zone).astimezone(UTC) for g in groups}
        session.execute(insert(Group), [
            {"org": org, "id": g.id, "platform": "telegram", "name": g.id, "capacity": None,
             "store": None, "owner": None, "tags": [], "member_count": g.member_count,
             "first_seen_at": seen_at[g.id], "first_seen_key": "", "profile_key": None,
             "dismissed_at": seen_at[g.id] + timedelta(days=1) if g.is_dismissed else None}
            for g in groups
        ])  # fmt: skip
        rows = [
            {"org": org, "group_id": g.id, "day": day, "joins": row.joins, "leaves": row.leaves,
             "kicked": row.kicked, "messages": row.messages, "speakers": 0, "active": row.active,
             "orders": 0, "buyers": 0, "items": 0, "gmv": 0, "refunds": 0}
            for g in groups for day, row in g.days.items()
        ]  # fmt: skip
        if rows:
            session.execute(insert(GroupDayFigures), rows)


def stages_in_sql(shequn: Shequn, org: str) -> dict[str, str]:
    with shequn.sessions() as session:
        staged = group_stages(session, org, on=ON)
        return {
            group: stage for group, stage in session.execute(select(staged.c.id, staged.c.stage))
        }


day_rows = st.builds(
    Day,
    joins=st.integers(0, 4),
    leaves=st.integers(0, 3),
    kicked=st.integers(0, 1),
    active=st.integers(0, 6),
    messages=st.integers(0, 9),
)


@st.composite
def given_groups(draw: st.DrawFn) -> list[GivenGroup]:
    groups = []
    for number in range(draw(st.integers(1, 6))):
        # From after ON to well before the window; rows only from the first day on.
        seen = ON - timedelta(days=draw(st.integers(-2, 40)))
        seen_at = draw(st.sampled_from([time(0, 0), time(0, 30), time(12, 0), time(23, 59, 59)]))
        offsets = draw(st.dictionaries(st.integers(-3, 40), day_rows, max_size=12))
        days = {ON - timedelta(days=n): row for n, row in offsets.items()
                if ON - timedelta(days=n) >= seen}  # fmt: skip
        # Members never below zero: enough before the first row to cover every net.
        low, running = 0, 0
        for day in sorted(days):
            running += days[day].net
            low = min(low, running)
        base = -low + draw(st.integers(0, 60))
        groups.append(GivenGroup(
            id=f"g{number}", seen=seen, seen_at=seen_at, member_count=base + running,
            days=days, is_dismissed=draw(st.booleans()) and draw(st.booleans()),
        ))  # fmt: skip
    return groups


def steady(members: int, *, recent: int, prior: int) -> GivenGroup:
    """A group seen long ago with `members` throughout, `recent` active member-days in the
    recent days and `prior` in the days before."""
    days = {FIRST: Day(active=prior), ON: Day(active=recent)}
    return GivenGroup("g0", ON - timedelta(days=60), time(12, 0), members, days)


def changed(before: int, now: int) -> GivenGroup:
    """Members from `before` to `now` on the window's first day, busy every day."""
    net = now - before
    days = {FIRST + timedelta(days=n): Day(active=now // 2) for n in range(28)}
    days[FIRST] = Day(joins=max(net, 0), kicked=max(-net, 0), active=now // 2)
    return GivenGroup("g0", ON - timedelta(days=60), time(12, 0), now, days)


def first_seen(days_before: int, at: time) -> GivenGroup:
    return GivenGroup("g0", ON - timedelta(days=days_before), at, 50, {ON: Day(active=10)})


# Each sits exactly on a line stage_of draws, or one step past it.
BOUNDARIES = {
    "2% DAU is alive": (steady(50, recent=7, prior=0), Stage.MATURE),
    "just under 2% DAU is dead": (steady(50, recent=6, prior=0), Stage.DEAD),
    "3/4 of the prior DAU is not declining": (steady(100, recent=105, prior=420), Stage.MATURE),
    "under 3/4 of the prior DAU is declining": (
        steady(100, recent=104, prior=420),
        Stage.DECLINING,
    ),
    "no members is dead": (steady(0, recent=0, prior=0), Stage.DEAD),
    "95% of the members is steady": (changed(100, 95), Stage.MATURE),
    "under 95% is declining": (changed(100, 94), Stage.DECLINING),
    "110% of the members is growing": (changed(100, 110), Stage.GROWING),
    "under 110% is steady": (changed(100, 109), Stage.MATURE),
    "from none is growing": (changed(0, 4), Stage.GROWING),
    "seen NEW_DAYS - 1 days ago at 00:00 is new": (first_seen(NEW_DAYS - 1, time(0, 0)), Stage.NEW),
    "seen NEW_DAYS days ago at 23:59 is not": (
        first_seen(NEW_DAYS, time(23, 59, 59)),
        Stage.MATURE,
    ),
}


@pytest.mark.parametrize("org", sorted(ZONES))
@pytest.mark.parametrize("case", sorted(BOUNDARIES))
def test_on_each_boundary_the_database_decides_what_stage_of_decides(
    shequn: Shequn, case: str, org: str
) -> None:
    group, stage = BOUNDARIES[case]
    assert stage_of(expected_trend(group), on=ON) is stage
    store(shequn, org, [group])
    assert stages_in_sql(shequn, org) == {"g0": str(stage)}


def test_the_boundaries_are_exact() -> None:
    def trend(case: str) -> GroupTrend:
        return expected_trend(BOUNDARIES[case][0])

    assert trend("2% DAU is alive").recent.dau == DEAD_DAU
    declining = trend("3/4 of the prior DAU is not declining")
    assert declining.recent.dau == declining.prior.dau * DECLINE_SHARE  # type: ignore[operator]
    steady = trend("95% of the members is steady")
    assert Fraction(steady.members, steady.members_before) == SHRINK
    growing = trend("110% of the members is growing")
    assert Fraction(growing.members, growing.members_before) == GROWTH
    assert (ON - trend("seen NEW_DAYS days ago at 23:59 is not").first_seen).days == NEW_DAYS


@pytest.mark.parametrize("org", sorted(ZONES))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(groups=given_groups())
@example(groups=[replace(group, id=f"b{n}") for n, (group, _) in enumerate(BOUNDARIES.values())])
def test_the_database_decides_every_group_s_stage_as_stage_of_does(
    shequn: Shequn, org: str, groups: list[GivenGroup]
) -> None:
    store(shequn, org, groups)
    assert stages_in_sql(shequn, org) == {group.id: expected_stage(group) for group in groups}
    with shequn.sessions() as session:
        judged = table_stages(session, org, on=ON)
    assert {group: found.trend for group, found in judged.items()} == {
        group.id: expected_trend(group) for group in groups if not group.is_dismissed
    }
