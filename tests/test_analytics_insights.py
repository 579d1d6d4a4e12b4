"""The activity heatmap, best posting times and lifecycle stages, on hand-built logs."""

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from shequn.analytics.heatmap import Bucket, best_hours, fold_buckets, whole_hour_offsets
from shequn.analytics.insights import report_heatmap, report_lifecycle
from shequn.analytics.lifecycle import Activity, GroupTrend, Stage, stage_of, to_revive
from shequn.analytics.rules import day_bounds
from shequn.cli.main import app
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()


def posted(member: str, at: str, group: str = "g1") -> dict[str, Any]:
    data = {"group": group, "member": member, "message": f"m-{member}-{at}", "kind": "text"}
    return event(f"p-{member}-{group}-{at}", "message.posted", at, data)


def reacted(member: str, at: str, group: str = "g1") -> dict[str, Any]:
    data = {"group": group, "member": member, "message": "m-1"}
    return event(f"r-{member}-{group}-{at}", "reaction.added", at, data)


def joined(member: str, at: str, group: str) -> dict[str, Any]:
    return event(f"j-{member}-{group}", "member.joined", at, {"group": group, "member": member})


def upserted(group: str, at: str) -> dict[str, Any]:
    return event(f"g-{group}", "group.upserted", at, {"group": group, "name": f"{group} 群"})


# 2020-11-07 is a Saturday (ISO weekday 6) in Asia/Shanghai.
ACTIVITY = [
    upserted("g1", "2020-11-01T08:00:00"), upserted("g2", "2020-11-01T08:00:00"),
    posted("a", "2020-11-07T20:31:00"), posted("b", "2020-11-07T20:59:59"),
    # 12:40 UTC is 20:40 in Shanghai.
    reacted("c", "2020-11-07T12:40:00Z"),
    posted("a", "2020-11-07T08:10:00"),
    # Midnight belongs to Sunday.
    posted("a", "2020-11-08T00:00:00"),
    reacted("a", "2020-11-08T12:05:00"), posted("b", "2020-11-08T12:30:00"),
    posted("z", "2020-11-08T20:00:00", group="g2"),
    # Outside the range: the Monday after.
    posted("a", "2020-11-09T20:00:00"),
]  # fmt: skip


@pytest.fixture
def active(shequn: Shequn) -> Shequn:
    assert ingest(shequn, ACTIVITY).rejected == []
    return shequn


def test_the_heatmap_counts_each_local_weekday_and_hour(active: Shequn) -> None:
    with active.sessions() as session:
        heatmap = report_heatmap(session, "demo", first=date(2020, 11, 7), last=date(2020, 11, 8))
    busy = {(c.weekday, c.hour): (c.messages, c.reactions) for c in heatmap.cells if c.interactions}
    assert busy == {(6, 20): (2, 1), (6, 8): (1, 0), (7, 0): (1, 0), (7, 12): (1, 1),
                    (7, 20): (1, 0)}  # fmt: skip
    assert heatmap.total == 8
    assert [(b.time, b.interactions) for b in heatmap.best_times()] == [
        ("00:00", 1), ("12:00", 2), ("20:00", 4),
    ]  # fmt: skip
    assert [(b.weekday, b.time) for b in heatmap.best_by_weekday()] == [(6, "20:00"), (7, "12:00")]


def test_the_heatmap_of_one_group_and_of_a_scope(active: Shequn) -> None:
    with active.sessions() as session:
        one = report_heatmap(session, "demo", first=date(2020, 11, 8), last=date(2020, 11, 8),
                             group="g2")  # fmt: skip
        scoped = report_heatmap(session, "demo", first=date(2020, 11, 7),
                                last=date(2020, 11, 8), groups={"g1"})  # fmt: skip
    assert (one.total, one.cell(7, 20).messages) == (1, 1)
    assert (scoped.total, scoped.cell(7, 20).messages) == (7, 0)


def test_report_heatmap_json_and_csv(active: Shequn) -> None:
    db = active.settings.database_url
    args = ["report", "heatmap", "--from", "2020-11-07", "--to", "2020-11-08", "--org", "demo",
            "--db", db]  # fmt: skip
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["timezone"], shown["interactions"], len(shown["cells"])) == (
        "Asia/Shanghai", 8, 168,
    )  # fmt: skip
    assert shown["cells"][5 * 24 + 20] == {"weekday": 6, "hour": 20, "messages": 2,
                                           "reactions": 1, "interactions": 3}  # fmt: skip
    assert shown["best_times"][2] == {"hour": 20, "time": "20:00", "interactions": 4,
                                      "share": 0.5}  # fmt: skip
    as_csv = runner.invoke(app, [*args, "--csv"])
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "weekday,hour,messages,reactions,interactions"
    assert lines[1 + 5 * 24 + 20] == "6,20,2,1,3"
    assert len(lines) == 169
    table = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "best posting times 建议发布时间: 00:00 (12.5%), 12:00 (25.0%), 20:00 (50.0%)" in (
        table.stdout
    )


def test_report_heatmap_refuses_an_unknown_group(active: Shequn) -> None:
    result = runner.invoke(app, ["report", "heatmap", "--from", "2020-11-07", "--to",
                                 "2020-11-08", "--group", "g9", "--org", "demo", "--db",
                                 active.settings.database_url])  # fmt: skip
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "error: --group: no group 'g9' in org 'demo'\n"


def test_best_times_are_the_busiest_hours_two_hours_apart_in_order_of_the_day() -> None:
    per_hour = [0] * 24
    per_hour[8], per_hour[9], per_hour[12], per_hour[20], per_hour[21] = 30, 25, 40, 90, 80
    assert [b.hour for b in best_hours(per_hour, total=265)] == [8, 12, 20]
    # Around midnight counts too: 23:00 is one hour from 00:00.
    night = [0] * 24
    night[0], night[23], night[3] = 10, 9, 1
    assert [b.hour for b in best_hours(night, total=20)] == [0, 3]
    assert best_hours([0] * 24, total=0) == []


def test_a_zone_with_a_quarter_hour_offset_is_bucketed_by_minute() -> None:
    bounds = day_bounds([date(2020, 11, 7)], "Asia/Kathmandu")
    assert not whole_hour_offsets(bounds, "Asia/Kathmandu")
    assert whole_hour_offsets(day_bounds([date(2020, 11, 7)], "Asia/Shanghai"), "Asia/Shanghai")
    # 14:14 UTC is 19:59 in Kathmandu (+05:45); 14:15 UTC is 20:00.
    heatmap = fold_buckets(
        [Bucket(datetime(2020, 11, 7, 14, 14, tzinfo=UTC), 1, 0),
         Bucket(datetime(2020, 11, 7, 14, 15, tzinfo=UTC), 2, 0)],
        group=None, first=date(2020, 11, 7), last=date(2020, 11, 7), timezone="Asia/Kathmandu",
    )  # fmt: skip
    assert (heatmap.cell(6, 19).messages, heatmap.cell(6, 20).messages) == (1, 2)


def trend(members_before: int, members: int, recent: tuple[int, int], prior: tuple[int, int],
          first_seen: date = date(2020, 1, 1)) -> GroupTrend:  # fmt: skip
    return GroupTrend(group="g", first_seen=first_seen, members_before=members_before,
                      members=members, recent=Activity(*recent), prior=Activity(*prior))  # fmt: skip


ON = date(2020, 12, 4)


@pytest.mark.parametrize(
    ("given", "stage"),
    [
        (trend(0, 0, (0, 0), (0, 0), first_seen=date(2020, 11, 21)), Stage.NEW),
        (trend(100, 100, (10, 700), (500, 2100)), Stage.DEAD),  # 1.4% DAU
        (trend(100, 0, (0, 0), (500, 2100)), Stage.DEAD),
        (trend(100, 100, (70, 700), (210, 2100)), Stage.MATURE),  # 10% both
        (trend(100, 100, (104, 700), (420, 2100)), Stage.DECLINING),  # 14.9% < 3/4 of 20%
        (trend(100, 100, (105, 700), (420, 2100)), Stage.MATURE),  # exactly 3/4
        (trend(100, 94, (70, 658), (210, 2000)), Stage.DECLINING),  # lost 6%
        (trend(100, 110, (77, 770), (210, 2100)), Stage.GROWING),
        (trend(0, 20, (70, 140), (0, 0), first_seen=date(2020, 11, 20)), Stage.GROWING),
    ],
)  # fmt: skip
def test_a_groups_stage_follows_the_documented_thresholds(given: GroupTrend, stage: Stage) -> None:
    assert stage_of(given, on=ON) is stage


def daily(member: str, group: str, first: date, last: date) -> list[dict[str, Any]]:
    days = (last - first).days + 1
    return [posted(member, f"{first + timedelta(days=n)}T10:00:00", group) for n in range(days)]


def test_lifecycle_stages_and_the_dead_groups_to_revive(shequn: Shequn) -> None:
    start, end, quiet = date(2020, 11, 1), date(2020, 12, 4), date(2020, 11, 27)
    log: list[dict[str, Any]] = [
        upserted("new", "2020-11-30T09:00:00"), joined("n1", "2020-11-30T09:00:00", "new"),
        upserted("dead", "2020-11-01T09:00:00"), upserted("empty", "2020-11-01T09:00:00"),
        upserted("steady", "2020-11-01T09:00:00"), upserted("rising", "2020-11-01T09:00:00"),
        upserted("fading", "2020-11-01T09:00:00"),
        joined("x", "2020-11-20T09:00:00", "rising"),
        *daily("s1", "steady", start, end), *daily("s2", "steady", start, end),
        *daily("r1", "rising", start, end),
        *daily("f1", "fading", start, end), *daily("f2", "fading", start, quiet),
    ]  # fmt: skip
    log += [joined(f"d{n}", "2020-11-01T09:30:00", "dead") for n in range(3)]
    log += [joined(m, "2020-11-01T09:30:00", g) for g, m in
            [("steady", "s1"), ("steady", "s2"), ("rising", "r1"), ("rising", "r2"),
             ("fading", "f1"), ("fading", "f2")]]  # fmt: skip
    assert ingest(shequn, log).rejected == []
    with shequn.sessions() as session:
        stages = report_lifecycle(session, "demo", on=end)
    assert {s.trend.group: str(s.stage) for s in stages} == {
        "dead": "dead", "empty": "dead", "fading": "declining", "new": "new",
        "rising": "growing", "steady": "mature",
    }  # fmt: skip
    fading = next(s for s in stages if s.trend.group == "fading").as_json()
    assert {k: fading[k] for k in ("members", "members_28d_ago", "dau_7d", "dau_prior_21d",
                                   "messages_7d", "age_days")} == {
        "members": 2, "members_28d_ago": 2, "dau_7d": 0.5, "dau_prior_21d": 1.0,
        "messages_7d": 7, "age_days": 33,
    }  # fmt: skip
    assert [s.trend.group for s in to_revive(stages)] == ["dead"]


def test_report_lifecycle_lists_the_dead_groups_as_json_and_csv(shequn: Shequn) -> None:
    log = [upserted("quiet", "2020-11-01T09:00:00"), joined("q1", "2020-11-01T09:30:00", "quiet"),
           upserted("busy", "2020-11-01T09:00:00"), joined("b1", "2020-11-01T09:30:00", "busy"),
           *daily("b1", "busy", date(2020, 11, 1), date(2020, 12, 4))]  # fmt: skip
    assert ingest(shequn, log).rejected == []
    args = ["report", "lifecycle", "--on", "2020-12-04", "--org", "demo", "--db",
            shequn.settings.database_url]  # fmt: skip
    dead = runner.invoke(app, [*args, "--dead", "--json"])
    assert dead.exit_code == 0, dead.output
    assert json.loads(dead.stdout) == [{
        "group": "quiet", "name": "quiet 群", "store": None, "owner": None, "stage": "dead",
        "age_days": 33, "members": 1, "members_28d_ago": 1, "dau_7d": 0.0, "dau_prior_21d": 0.0,
        "messages_7d": 0, "last_active_at": None,
    }]  # fmt: skip
    every = runner.invoke(app, [*args, "--csv"]).stdout.splitlines()
    assert every[0].startswith("group,name,store,owner,stage,age_days,members")
    assert [line.split(",")[4] for line in every[1:]] == ["mature", "dead"]
    bad = runner.invoke(app, [*args[:2], "--on", "2020-12-40", *args[4:]])
    assert (bad.exit_code, bad.stderr) == (1, "error: --on: '2020-12-40' is not a date like "
                                              "2020-11-07\n")  # fmt: skip
