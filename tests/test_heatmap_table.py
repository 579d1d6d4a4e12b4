"""The dashboard's heatmap reads hourly activity the projection keeps: the log's heatmap exactly,
in any zone, whatever the order the events arrive in."""

import random
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from shequn.analytics.heatmap import Heatmap
from shequn.analytics.insights import report_heatmap, table_heatmap
from shequn.cli.main import app
from shequn.config import Settings
from shequn.engine.rebuild import rebuild
from shequn.kit.time import utc_now
from shequn.org.service import save_org
from shequn.wiring import Shequn, open_shequn
from tests.conftest import downgraded, empty_store, ingest, state_of
from tests.test_analytics_insights import ACTIVITY, posted, reacted, upserted

runner = CliRunner()
TABLES = ("group_hourly_activity", "org_hourly_activity")


def busy(heatmap: Heatmap) -> dict[tuple[int, int], tuple[int, int]]:
    return {(c.weekday, c.hour): (c.messages, c.reactions) for c in heatmap.cells if c.interactions}


def both(
    shequn: Shequn, first: date, last: date, org: str = "demo", **scope: Any
) -> tuple[Heatmap, Heatmap]:
    with shequn.sessions() as session:
        return (
            table_heatmap(session, org, first=first, last=last, **scope),
            report_heatmap(session, org, first=first, last=last, **scope),
        )


def hourly(shequn: Shequn) -> dict[str, list[tuple[Any, ...]]]:
    state = state_of(shequn)
    return {name: state[name] for name in TABLES}


def test_the_table_heatmap_is_the_log_heatmap_for_the_org_a_group_and_a_scope(
    shequn: Shequn,
) -> None:
    ingest(shequn, ACTIVITY)
    first, last = date(2020, 11, 7), date(2020, 11, 8)
    table, log = both(shequn, first, last)
    assert table == log
    # Saturday 20:00 holds two messages and the reaction at 12:40 UTC; Sunday 00:00 is Sunday's.
    assert busy(table) == {(6, 8): (1, 0), (6, 20): (2, 1), (7, 0): (1, 0), (7, 12): (1, 1),
                           (7, 20): (1, 0)}  # fmt: skip
    table, log = both(shequn, first, last, group="g2")
    assert table == log
    assert busy(table) == {(7, 20): (1, 0)}
    table, log = both(shequn, first, last, groups={"g1"})
    assert table == log
    assert table.total == 7
    # A group outside the scope shows nothing, as from the log.
    table, log = both(shequn, first, last, group="g2", groups={"g1"})
    assert table == log
    assert table.total == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_shuffled_and_redelivered_the_hours_are_the_same_and_a_rebuild_keeps_them(
    shequn: Shequn, seed: int
) -> None:
    ingest(shequn, ACTIVITY)
    expected = hourly(shequn)
    # The Monday after counts in its own hour: 20:00 on 2020-11-09.
    assert ("demo", "g1", date(2020, 11, 9), 20, 1, 0) in expected["group_hourly_activity"]
    assert ("demo", date(2020, 11, 8), 12, 1, 1) in expected["org_hourly_activity"]
    empty_store(shequn)
    shuffled = list(ACTIVITY)
    random.Random(seed).shuffle(shuffled)
    ingest(shequn, shuffled + shuffled[:4], batch_size=2)
    assert hourly(shequn) == expected
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert hourly(shequn) == expected


def in_zone(shequn: Shequn, timezone: str) -> None:
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone=timezone, settings={}, now=utc_now())


def test_a_quarter_hour_zone_cuts_its_hours_at_quarter_past_utc(shequn: Shequn) -> None:
    # Kathmandu is UTC+05:45: 10:14 UTC is 15:59 there, 10:16 UTC is 16:01.
    in_zone(shequn, "Asia/Kathmandu")
    ingest(shequn, [
        upserted("g1", "2020-11-01T08:00:00"),
        posted("a", "2020-11-07T10:14:00Z"), posted("b", "2020-11-07T10:16:00Z"),
        reacted("c", "2020-11-07T18:14:59Z"),
    ])  # fmt: skip
    table, log = both(shequn, date(2020, 11, 7), date(2020, 11, 8))
    assert table == log
    # 18:14:59 UTC is 23:59:59 on Saturday; 18:15 would have been Sunday.
    assert busy(table) == {(6, 15): (1, 0), (6, 16): (1, 0), (6, 23): (0, 1)}


def test_the_hours_a_summer_time_change_skips_or_repeats_count_as_the_log_does(
    shequn: Shequn,
) -> None:
    # Berlin: on 2020-03-29 clocks jump from 02:00 to 03:00; on 2020-10-25 03:00 goes back to
    # 02:00, so 02:xx happens twice (00:30 and 01:30 UTC).
    in_zone(shequn, "Europe/Berlin")
    ingest(shequn, [
        upserted("g1", "2020-03-01T08:00:00"),
        posted("a", "2020-03-29T00:59:00Z"), posted("b", "2020-03-29T01:00:00Z"),
        posted("a", "2020-10-25T00:30:00Z"), posted("b", "2020-10-25T01:30:00Z"),
        posted("c", "2020-10-25T02:00:00Z"),
    ])  # fmt: skip
    table, log = both(shequn, date(2020, 3, 29), date(2020, 3, 29))
    assert table == log
    assert busy(table) == {(7, 1): (1, 0), (7, 3): (1, 0)}
    table, log = both(shequn, date(2020, 10, 25), date(2020, 10, 25))
    assert table == log
    assert busy(table) == {(7, 2): (2, 0), (7, 3): (1, 0)}


def test_moving_the_org_to_another_zone_re_cuts_its_hours(shequn: Shequn) -> None:
    db = ["--db", shequn.settings.database_url]
    assert runner.invoke(app, ["org", "create", "demo", *db]).exit_code == 0
    ingest(shequn, ACTIVITY)
    moved = runner.invoke(app, ["org", "create", "demo", "--timezone", "UTC", *db])
    assert moved.exit_code == 0, moved.output
    table, log = both(shequn, date(2020, 11, 6), date(2020, 11, 9))
    assert table == log
    # 08:10 in Beijing is 00:10 UTC on Saturday.
    assert busy(table)[(6, 0)] == (1, 0)


def test_a_store_upgraded_past_the_hourly_tables_counts_them_from_its_log(
    shequn: Shequn, settings: Settings
) -> None:
    in_zone(shequn, "Asia/Kathmandu")
    ingest(shequn, [*ACTIVITY, posted("a", "2020-11-07T10:14:00Z")])
    live = hourly(shequn)
    # The store as the release before the tables left it.
    downgraded(shequn, "0022")
    reopened = open_shequn(settings)
    try:
        assert hourly(reopened) == live
        # The Kathmandu org's 10:14 UTC is its 15:59.
        assert ("demo", "g1", date(2020, 11, 7), 15, 1, 0) in live["group_hourly_activity"]
    finally:
        reopened.close()
