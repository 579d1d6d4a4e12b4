"""The daily figures table gives exactly what the log gives, whatever the delivery order."""

import random
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.analytics.daily import (
    day_totals,
    group_lines,
    members_at_start,
    table_group_days,
    table_stages,
)
from shequn.analytics.insights import report_lifecycle
from shequn.analytics.models import GroupDayFigures
from shequn.analytics.projection import recut_days
from shequn.analytics.service import report_group_days, report_group_range
from shequn.cli.main import app
from shequn.engine.rebuild import rebuild
from shequn.kit.time import utc_now
from shequn.org.changes import change_settings
from shequn.org.service import save_org
from shequn.wiring import Shequn
from tests.conftest import empty_store, event, ingest, state_of
from tests.test_analytics import joined, left, paid, posted, reacted, refunded, upserted

runner = CliRunner()

D0, D1, D2, D3 = date(2020, 11, 6), date(2020, 11, 7), date(2020, 11, 8), date(2020, 11, 9)

# Three local days in Asia/Shanghai (UTC+8): 23:59 and 00:00 fall on different days, and
# 07:59 local is the previous UTC day.
LOG = [
    upserted("g1", "2020-11-06T10:00:00"), upserted("g2", "2020-11-06T10:00:00"),
    joined("a", "2020-11-06T12:00:00"), joined("b", "2020-11-06T13:00:00"),
    joined("c", "2020-11-06T23:59:59"),
    # Day 1: a join, a quit, a kick; a repeated join changes nothing.
    joined("d", "2020-11-07T00:00:00"), joined("e", "2020-11-07T07:59:00"),
    joined("a", "2020-11-07T08:30:00"),
    left("b", "2020-11-07T11:00:00", "quit"), left("e", "2020-11-07T12:00:00", "kicked"),
    posted("a", "2020-11-07T10:00:00"), posted("a", "2020-11-07T11:00:00"),
    reacted("a", "2020-11-07T11:30:00"), reacted("c", "2020-11-07T13:00:00"),
    posted("a", "2020-11-07T23:59:59"),
    paid("o1", "a", "2020-11-07T20:31:00", [(2, "600.00"), (1, "30.00")], "1230.00"),
    # A refund that comes before its order counts under no group until the order comes.
    refunded("o2", "2020-11-07T21:00:00"),
    # Day 2: b comes back, e is back and kicked again; an order corrected into g2.
    joined("b", "2020-11-08T09:00:00"), joined("e", "2020-11-08T09:30:00"),
    left("e", "2020-11-08T10:00:00", "kicked"), posted("b", "2020-11-08T00:00:00"),
    posted("x", "2020-11-08T10:00:00", group="g2"), joined("x", "2020-11-08T09:59:00", group="g2"),
    paid("o2", "b", "2020-11-07T22:00:00", [(1, "600.00")], "600.00"),
    paid("o3", "b", "2020-11-08T21:00:00", [(3, "600.00")], "1800.00"),
    event("o3-fix", "order.paid", "2020-11-08T21:05:00",
          {"order": "o3", "member": "x", "group": "g2", "amount": "1700.00",
           "items": [{"sku": "s", "qty": 2, "unit_price": "850.00"}]}, source="shop"),
    refunded("o1", "2020-11-08T10:00:00", "30.00"),
    # Day 3: c quits; d leaves, but that leave is delivered late, after d's later messages.
    left("c", "2020-11-09T00:00:00", "quit"), posted("d", "2020-11-09T09:00:00"),
    left("d", "2020-11-09T08:00:00", "quit"), joined("d", "2020-11-09T08:30:00"),
    paid("o4", "y", "2020-11-09T12:00:00", [(1, "99.00")], "99.00", group=None),
]  # fmt: skip


def log_rows(shequn: Shequn, first: date = D0, last: date = D3) -> list[dict[str, object]]:
    with shequn.sessions() as session:
        return [row.as_json() for row in report_group_days(session, "demo", first=first, last=last)]


def table_rows(shequn: Shequn, first: date = D0, last: date = D3) -> list[dict[str, object]]:
    with shequn.sessions() as session:
        return [row.as_json() for row in table_group_days(session, "demo", first=first, last=last)]


def stored(shequn: Shequn) -> list[tuple[Any, ...]]:
    return state_of(shequn)["group_daily_figures"]


def test_the_table_gives_the_log_s_figures_for_every_group_and_day(shequn: Shequn) -> None:
    ingest(shequn, LOG)
    rows = table_rows(shequn)
    assert rows == log_rows(shequn)
    by_key = {(row["group"], row["day"]): row for row in rows}
    day1 = by_key[("g1", "2020-11-07")]
    assert (day1["members_start"], day1["joins"], day1["leaves"], day1["kicked"]) == (3, 2, 1, 1)
    assert (day1["messages"], day1["speakers"], day1["active"], day1["members_end"]) == (3, 1, 2, 3)
    assert (day1["orders"], day1["gmv"], day1["refunds"]) == (2, "1830.00", "600.00")
    day2 = by_key[("g2", "2020-11-08")]
    assert (day2["joins"], day2["orders"], day2["buyers"], day2["gmv"]) == (1, 1, 1, "1700.00")
    day3 = by_key[("g1", "2020-11-09")]
    assert (day3["joins"], day3["leaves"], day3["members_end"]) == (1, 2, 3)
    assert by_key[(None, "2020-11-09")]["gmv"] == "99.00"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_and_redelivered_the_table_is_the_same_and_a_rebuild_keeps_it(
    shequn: Shequn, seed: int
) -> None:
    ingest(shequn, LOG, batch_size=1000)
    expected = stored(shequn)
    empty_store(shequn)
    shuffled = list(LOG)
    random.Random(seed).shuffle(shuffled)
    # Every event twice, the second time in another batch.
    ingest(shequn, shuffled + shuffled[:10], batch_size=3)
    assert stored(shequn) == expected
    assert table_rows(shequn) == log_rows(shequn)
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert stored(shequn) == expected


def test_a_day_with_nothing_left_counted_keeps_no_row(shequn: Shequn) -> None:
    # q's leave on the 10th counts, until a late leave on the 9th shows q was gone by then.
    ingest(shequn, [upserted("g1", "2020-11-06T10:00:00"), joined("q", "2020-11-09T09:00:00"),
                    left("q", "2020-11-10T10:00:00", "quit")])  # fmt: skip
    ingest(shequn, [left("q", "2020-11-09T12:00:00", "kicked")])
    with shequn.sessions() as session:
        days = session.execute(
            select(GroupDayFigures.day, GroupDayFigures.joins, GroupDayFigures.leaves,
                   GroupDayFigures.kicked)
        ).all()  # fmt: skip
    assert days == [(D3, 1, 0, 1)]
    assert table_rows(shequn, D3, date(2020, 11, 10)) == log_rows(shequn, D3, date(2020, 11, 10))


def test_members_at_a_day_s_start_are_counted_back_from_now(shequn: Shequn) -> None:
    ingest(shequn, LOG)
    with shequn.sessions() as session:
        assert members_at_start(session, "demo", D1) == {"g1": 3}
        assert members_at_start(session, "demo", D3) == {"g1": 4, "g2": 1}


def test_overview_totals_are_the_sums_of_the_daily_rows(shequn: Shequn) -> None:
    ingest(shequn, LOG)
    with shequn.sessions() as session:
        totals = day_totals(session, "demo", [D1, D2])
        only_g2 = day_totals(session, "demo", [D2], scope={"g2"})
    rows = [row for row in log_rows(shequn, D1, D2) if row["group"] is not None]
    for day in (D1, D2):
        mine = [row for row in rows if row["day"] == day.isoformat()]
        assert totals[day]["members"] == sum(int(str(row["members_end"])) for row in mine)
        for name in ("joins", "leaves", "kicked", "messages", "active", "orders", "buyers"):
            assert totals[day][name] == sum(int(str(row[name])) for row in mine)
    assert totals[D1]["gmv"] == 183000
    assert only_g2[D2] == {"joins": 1, "leaves": 0, "kicked": 0, "messages": 1, "active": 1,
                           "orders": 1, "buyers": 1, "gmv": 170000, "members": 1}  # fmt: skip


def test_group_lines_are_the_range_report_sorted_and_paged_in_the_database(
    shequn: Shequn,
) -> None:
    ingest(shequn, LOG)
    with shequn.sessions() as session:
        report = {
            row.group: row.as_json()
            for row in report_group_range(session, "demo", first=D0, last=D3)
        }
        total, lines = group_lines(session, "demo", first=D0, last=D3, sort="gmv")
        _, by_name = group_lines(session, "demo", first=D0, last=D3, sort="id", limit=1, offset=1)
        _, found = group_lines(session, "demo", first=D0, last=D3, needle="G2")
        _, by_active = group_lines(session, "demo", first=D0, last=D3, sort="active")
    assert total == 2
    assert [line.id for line in lines] == ["g1", "g2"]
    assert [line.id for line in by_name] == ["g2"]
    assert [line.id for line in found] == ["g2"]
    assert [(line.id, line.active) for line in by_active] == [("g1", 4), ("g2", 1)]
    for line in lines:
        row = report[line.id]
        assert (line.members, line.joins, line.leaves, line.kicked, line.messages) == (
            row["members_end"], row["joins"], row["leaves"], row["kicked"], row["messages"]
        )  # fmt: skip
        assert (line.active, line.buyers, line.orders) == (row["active"], row["buyers"],
                                                           row["orders"])  # fmt: skip


def test_stages_from_the_table_are_the_log_s_stages(shequn: Shequn) -> None:
    # Five weeks: g1 grows, then goes quiet; g2 grows while one member speaks; g3 opens late.
    start = date(2020, 10, 1)
    log: list[dict[str, Any]] = [upserted("g1", "2020-10-01T09:00:00"),
                                 upserted("g2", "2020-10-01T09:00:00")]  # fmt: skip
    for offset in range(35):
        day = (start + timedelta(days=offset)).isoformat()
        log.append(joined(f"m{offset}", f"{day}T10:00:00", group="g1" if offset < 20 else "g2"))
        if offset % 3 == 0:
            log.append(left(f"m{offset - 3}", f"{day}T11:00:00", "quit", group="g1"))
        if offset < 12:
            log.append(posted(f"m{offset}", f"{day}T12:00:00", group="g1"))
        log.append(posted("m0", f"{day}T23:30:00", group="g2"))
    log.append(joined("late", "2020-10-30T10:00:00", group="g3"))
    ingest(shequn, log)
    with shequn.sessions() as session:
        for on in (date(2020, 10, 20), date(2020, 11, 4)):
            expected = [found.as_json() for found in report_lifecycle(session, "demo", on=on)]
            got = table_stages(session, "demo", on=on)
            assert [found.as_json() for found in got.values()] == expected
        stages = {group: str(found.stage) for group, found in got.items()}
    assert stages == {"g1": "dead", "g2": "declining", "g3": "new"}


def test_moving_the_org_to_another_zone_re_cuts_its_days_and_a_bare_update_keeps_the_zone(
    shequn: Shequn,
) -> None:
    db = ["--db", shequn.settings.database_url]
    assert runner.invoke(app, ["org", "create", "demo", *db]).exit_code == 0
    ingest(shequn, LOG)
    moved = runner.invoke(app, ["org", "create", "demo", "--timezone", "UTC", *db])
    assert moved.exit_code == 0, moved.output
    assert "Asia/Shanghai → UTC" in moved.output
    # 07:00 in Beijing is the evening before in UTC: the table follows, as the log does.
    assert table_rows(shequn, D0 - timedelta(days=1)) == log_rows(shequn, D0 - timedelta(days=1))
    kept = runner.invoke(app, ["org", "create", "demo", "--name", "演示", *db])
    assert kept.exit_code == 0, kept.output
    assert "(UTC)" in kept.output


DAY_TABLES = ("group_daily_figures", "group_hourly_activity", "org_hourly_activity")


def day_tables(shequn: Shequn) -> dict[str, list[tuple[Any, ...]]]:
    state = state_of(shequn)
    return {name: state[name] for name in DAY_TABLES}


def of_org(tables: dict[str, list[tuple[Any, ...]]], org: str) -> dict[str, list[tuple[Any, ...]]]:
    # Every day table's rows start with their org.
    return {name: [row for row in rows if row[0] == org] for name, rows in tables.items()}


def test_a_move_to_another_zone_re_cuts_only_that_org_as_a_rebuild_would_cut_it(
    shequn: Shequn,
) -> None:
    other = [{**item, "id": f"other-{item['id']}", "org": "other"} for item in LOG]
    with shequn.sessions.begin() as session:
        for org in ("demo", "other"):
            save_org(session, org, name=None, timezone="Asia/Shanghai", settings=None,
                     now=utc_now())  # fmt: skip
    ingest(shequn, LOG + other)
    before = day_tables(shequn)
    with shequn.sessions.begin() as session:
        # Kathmandu is UTC+05:45: Beijing's 00:00-02:14 falls on the day before there.
        change = change_settings(session, "demo", {"timezone": "Asia/Kathmandu"}, by="boss",
                                 now=utc_now())  # fmt: skip
    assert change.recut
    recut = day_tables(shequn)
    assert of_org(recut, "other") == of_org(before, "other")
    assert of_org(recut, "demo") != of_org(before, "demo")
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert day_tables(shequn) == recut
    assert table_rows(shequn, D0 - timedelta(days=1)) == log_rows(shequn, D0 - timedelta(days=1))


def test_a_re_cut_holds_an_org_s_months_in_passes_and_keeps_no_empty_day(shequn: Shequn) -> None:
    # Joins two months apart, a leave the next day: more days than one pass counts.
    log = [upserted("g1", "2020-09-01T10:00:00"), joined("a", "2020-09-01T10:00:00"),
           joined("b", "2020-11-06T23:30:00"), left("b", "2020-11-07T00:30:00", "quit")]  # fmt: skip
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=None,
                 now=utc_now())  # fmt: skip
    ingest(shequn, log)
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="UTC", settings=None, now=utc_now())
        heard: list[tuple[int, int]] = []
        assert recut_days(session, "demo", on_progress=lambda *told: heard.append(told)) == 2
    # 1 September to 6 November in UTC: 67 days, 31 per pass.
    assert heard == [(31, 67), (62, 67), (67, 67)]
    with shequn.sessions() as session:
        days = session.execute(
            select(GroupDayFigures.day, GroupDayFigures.joins, GroupDayFigures.leaves)
            .order_by(GroupDayFigures.day)
        ).all()  # fmt: skip
    # In Beijing b left on the 7th; in UTC b's join (15:30) and leave (16:30) are both the 6th.
    assert days == [(date(2020, 9, 1), 1, 0), (date(2020, 11, 6), 1, 1)]
