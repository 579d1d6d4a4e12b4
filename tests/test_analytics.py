"""Figures per group and local day, the funnel and channels: a hand-built log with known answers."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from typer.testing import CliRunner

from shequn.analytics.rules import (
    COLUMNS,
    MAX_DAYS,
    DailyTallies,
    GroupDay,
    GroupSpan,
    Newcomer,
    RangeError,
    Sales,
    Stay,
    Traffic,
    channel_cohorts,
    cohort_bounds,
    day_bounds,
    day_index,
    days_of,
    group_days,
    money_per,
    parse_day,
    ratio,
    round_half_up,
)
from shequn.analytics.service import report_channels, report_funnel, report_group_days
from shequn.cli.main import app
from shequn.invite.service import create_invite_code
from shequn.kit.time import parse_instant, utc_now
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()
D1, D2, D3 = date(2020, 11, 7), date(2020, 11, 8), date(2020, 11, 9)
SHANGHAI = "Asia/Shanghai"


def joined(member: str, at: str, group: str = "g1", code: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"group": group, "member": member}
    if code is not None:
        data["via"] = {"kind": "invite_link", "code": code}
    return event(f"j-{member}-{group}-{at}", "member.joined", at, data)


def left(member: str, at: str, reason: str, group: str = "g1") -> dict[str, Any]:
    data = {"group": group, "member": member, "reason": reason}
    return event(f"l-{member}-{group}-{at}", "member.left", at, data)


def posted(member: str, at: str, group: str = "g1") -> dict[str, Any]:
    data = {"group": group, "member": member, "message": f"m-{member}-{at}", "kind": "text"}
    return event(f"p-{member}-{at}", "message.posted", at, data)


def reacted(member: str, at: str, group: str = "g1") -> dict[str, Any]:
    data = {"group": group, "member": member, "message": "m-1"}
    return event(f"r-{member}-{at}", "reaction.added", at, data)


def paid(order: str, member: str, at: str, items: list[tuple[int, str]], amount: str,
         group: str | None = "g1") -> dict[str, Any]:  # fmt: skip
    data: dict[str, Any] = {
        "order": order, "member": member, "amount": amount,
        "items": [{"sku": f"sku-{n}", "qty": qty, "unit_price": price}
                  for n, (qty, price) in enumerate(items)],
    }  # fmt: skip
    if group is not None:
        data["group"] = group
    return event(order, "order.paid", at, data, source="shop")


def refunded(order: str, at: str, amount: str | None = None) -> dict[str, Any]:
    data = {"order": order} if amount is None else {"order": order, "amount": amount}
    return event(f"rf-{order}-{at}", "order.refunded", at, data, source="shop")


def upserted(group: str, at: str) -> dict[str, Any]:
    return event(f"g-{group}", "group.upserted", at, {"group": group, "name": group})


# Three local days in Asia/Shanghai; g1 is busy, g2 opens on day 2 and never has a member,
# g3 is dismissed on day 1, and one order names no group.
LOG = [
    upserted("g1", "2020-11-06T10:00:00"),
    joined("a", "2020-11-06T12:00:00"), joined("b", "2020-11-06T13:00:00"),
    joined("c", "2020-11-06T14:00:00"),
    upserted("g3", "2020-11-06T09:00:00"), joined("z", "2020-11-06T09:30:00", group="g3"),
    # Day 1.
    joined("d", "2020-11-07T09:00:00", code="inv-a"), joined("e", "2020-11-07T10:00:00"),
    left("b", "2020-11-07T11:00:00", "quit"), left("e", "2020-11-07T12:00:00", "kicked"),
    posted("a", "2020-11-07T10:00:00"), posted("a", "2020-11-07T11:00:00"),
    posted("d", "2020-11-07T12:00:00"), reacted("c", "2020-11-07T13:00:00"),
    event("x-g3", "group.dismissed", "2020-11-07T15:00:00", {"group": "g3"}),
    paid("o1", "a", "2020-11-07T20:31:00", [(2, "600.00"), (1, "30.00")], "1230.00"),
    paid("o2", "d", "2020-11-07T20:40:00", [(1, "600.00")], "600.00"),
    posted("a", "2020-11-07T23:59:00"),
    # Day 2: one minute after midnight is another day.
    posted("a", "2020-11-08T00:01:00"), reacted("d", "2020-11-08T12:00:00"),
    upserted("g2", "2020-11-08T08:00:00"), posted("x", "2020-11-08T10:00:00", group="g2"),
    joined("b", "2020-11-08T09:00:00"), refunded("o1", "2020-11-08T10:00:00", "30.00"),
    paid("o3", "b", "2020-11-08T21:00:00", [(3, "600.00")], "1800.00"),
    paid("o4", "b", "2020-11-08T21:30:00", [(1, "600.00")], "600.00"),
    left("c", "2020-11-08T22:00:00", "unknown"),
    # Day 3: a post at 00:00:00 belongs to the new day.
    posted("d", "2020-11-09T00:00:00"), refunded("o4", "2020-11-09T10:00:00"),
    paid("o5", "y", "2020-11-09T12:00:00", [(1, "99.00")], "99.00", group=None),
]  # fmt: skip


@pytest.fixture
def logged(shequn: Shequn) -> Shequn:
    with shequn.sessions.begin() as session:
        create_invite_code(session, "demo", owner="a", group="g1", channel="douban",
                           code="inv-a", now=utc_now())  # fmt: skip
    summary = ingest(shequn, LOG)
    assert summary.rejected == []
    return shequn


def rows_of(shequn: Shequn, **query: Any) -> dict[tuple[str | None, str], dict[str, object]]:
    with shequn.sessions() as session:
        rows = report_group_days(session, "demo", first=D1, last=D3, **query)
    return {(row.group, row.day.isoformat()): row.as_json() for row in rows}


def test_a_busy_day_gives_every_figure_exactly(logged: Shequn) -> None:
    assert rows_of(logged)[("g1", "2020-11-07")] == {
        "group": "g1", "day": "2020-11-07", "members_start": 3, "members_end": 3,
        "joins": 2, "leaves": 1, "kicked": 1, "exit_rate": 0.3333,
        "messages": 4, "speakers": 2, "active": 3, "dau_rate": 1.0,
        "orders": 2, "buyers": 2, "items": 4, "gmv": "1830.00", "refunds": "0.00",
        "aov": "915.00", "gmv_per_buyer": "915.00", "items_per_buyer": 2.0,
        "avg_item_price": "457.50", "conversion": 0.6667,
    }  # fmt: skip


def test_a_rejoin_a_partial_refund_and_a_repeat_buyer_on_day_two(logged: Shequn) -> None:
    row = rows_of(logged)[("g1", "2020-11-08")]
    assert {key: row[key] for key in ("members_start", "joins", "leaves", "kicked",
                                      "members_end", "exit_rate")} == {
        "members_start": 3, "joins": 1, "leaves": 1, "kicked": 0, "members_end": 3,
        "exit_rate": 0.3333,
    }  # fmt: skip
    # a's 00:01 post is day 2's only message; d only reacted, and is active all the same.
    assert (row["messages"], row["speakers"], row["active"], row["dau_rate"]) == (1, 1, 2, 0.6667)
    assert {key: row[key] for key in ("orders", "buyers", "items", "gmv", "refunds", "aov",
                                      "gmv_per_buyer", "items_per_buyer", "avg_item_price",
                                      "conversion")} == {
        "orders": 2, "buyers": 1, "items": 4, "gmv": "2400.00", "refunds": "30.00",
        "aov": "1200.00", "gmv_per_buyer": "2400.00", "items_per_buyer": 4.0,
        "avg_item_price": "600.00", "conversion": 0.3333,
    }  # fmt: skip


def test_a_post_at_midnight_counts_to_the_new_day_and_a_whole_refund_its_order(
    logged: Shequn,
) -> None:
    row = rows_of(logged)[("g1", "2020-11-09")]
    assert (row["messages"], row["speakers"], row["active"]) == (1, 1, 1)
    assert (row["orders"], row["gmv"], row["refunds"], row["aov"]) == (0, "0.00", "600.00", None)


def test_rows_cover_each_groups_days_and_orders_without_a_group_come_last(
    logged: Shequn,
) -> None:
    assert list(rows_of(logged)) == [
        ("g1", "2020-11-07"), ("g1", "2020-11-08"), ("g1", "2020-11-09"),
        ("g2", "2020-11-08"), ("g2", "2020-11-09"),
        ("g3", "2020-11-07"),
        (None, "2020-11-09"),
    ]  # fmt: skip


def test_a_day_without_members_has_null_rates(logged: Shequn) -> None:
    row = rows_of(logged)[("g2", "2020-11-08")]
    # x posted without ever joining: active, but not a member.
    assert (row["members_start"], row["members_end"], row["active"]) == (0, 0, 1)
    assert (row["exit_rate"], row["dau_rate"], row["conversion"]) == (None, None, None)
    assert (row["aov"], row["gmv_per_buyer"], row["items_per_buyer"], row["avg_item_price"]) == (
        None, None, None, None,
    )  # fmt: skip


def test_an_order_without_a_group_is_reported_under_none(logged: Shequn) -> None:
    row = rows_of(logged)[(None, "2020-11-09")]
    assert (row["orders"], row["buyers"], row["items"], row["gmv"], row["conversion"]) == (
        1, 1, 1, "99.00", None,
    )  # fmt: skip


def test_members_end_is_start_plus_joins_minus_exits_and_the_next_days_start(
    logged: Shequn,
) -> None:
    with logged.sessions() as session:
        rows = report_group_days(session, "demo", first=D1, last=D3)
    for row in rows:
        assert row.members_end == row.members_start + row.joins - row.leaves - row.kicked
    g1 = [row for row in rows if row.group == "g1"]
    assert [row.members_start for row in g1[1:]] == [row.members_end for row in g1[:-1]]


def test_one_group_and_one_day(logged: Shequn) -> None:
    with logged.sessions() as session:
        rows = report_group_days(session, "demo", first=D2, last=D2, group="g1")
    assert [(row.group, row.day, row.members_start, row.members_end) for row in rows] == [
        ("g1", D2, 3, 3)
    ]


def test_the_funnel_of_a_range(logged: Shequn) -> None:
    with logged.sessions() as session:
        everywhere = report_funnel(session, "demo", first=D1, last=D3)
        in_g1 = report_funnel(session, "demo", first=D1, last=D1, group="g1")
    # z's group was dismissed, so z is no member at the end; x posted without joining and y
    # bought without a group: the stages are counted each on its own, not nested.
    assert everywhere.as_json() == {
        "group": None, "from": "2020-11-07", "to": "2020-11-09", "members": 3, "active": 4,
        "buyers": 4, "active_rate": 1.3333, "conversion": 1.3333, "active_conversion": 1.0,
    }  # fmt: skip
    assert in_g1.as_json() == {
        "group": "g1", "from": "2020-11-07", "to": "2020-11-07", "members": 3, "active": 3,
        "buyers": 2, "active_rate": 1.0, "conversion": 0.6667, "active_conversion": 0.6667,
    }  # fmt: skip


def test_channels_compare_newcomers_retention_and_sales(logged: Shequn) -> None:
    now = parse_instant("2020-11-20T12:00:00+08:00")
    with logged.sessions() as session:
        cohorts = report_channels(session, "demo", first=D1, last=D1, now=now)
    assert [cohort.as_json() for cohort in cohorts] == [
        {
            "channel": "douban", "members": 1, "buyers": 1, "conversion": 1.0, "gmv": "600.00",
            "retention": {
                "d1": {"stayed": 1, "active": 1, "stayed_rate": 1.0, "active_rate": 1.0},
                "d7": {"stayed": 1, "active": 0, "stayed_rate": 1.0, "active_rate": 0.0},
                # 30 days after 2020-11-07 had not passed on 2020-11-20.
                "d30": None,
            },
        },
        {
            "channel": "unknown", "members": 1, "buyers": 0, "conversion": 0.0, "gmv": "0.00",
            "retention": {
                "d1": {"stayed": 0, "active": 0, "stayed_rate": 0.0, "active_rate": 0.0},
                "d7": {"stayed": 0, "active": 0, "stayed_rate": 0.0, "active_rate": 0.0},
                "d30": None,
            },
        },
    ]  # fmt: skip


def report(shequn: Shequn, *args: str) -> Any:
    db = shequn.settings.database_url
    # A terminal wide enough for every column of the table.
    return runner.invoke(
        app, ["report", *args, "--org", "demo", "--db", db], env={"COLUMNS": "240"}
    )


RATES = {"exit_rate", "dau_rate", "items_per_buyer", "conversion"}
MONEY = {"gmv", "refunds"}
MONEY_OR_NULL = {"aov", "gmv_per_buyer", "avg_item_price"}


def test_report_groups_json_is_one_array_of_typed_rows(logged: Shequn) -> None:
    result = report(logged, "groups", "--from", "2020-11-07", "--to", "2020-11-09", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    assert len(rows) == 7
    for row in rows:
        assert list(row) == list(COLUMNS)
        assert row["group"] is None or isinstance(row["group"], str)
        assert isinstance(row["day"], str)
        for key, value in row.items():
            if key in RATES:
                assert value is None or isinstance(value, float), key
            elif key in MONEY:
                assert isinstance(value, str), key
                assert Decimal(value).as_tuple().exponent == -2
            elif key in MONEY_OR_NULL:
                assert value is None or isinstance(value, str), key
            elif key not in {"group", "day"}:
                assert type(value) is int, key
    assert rows[0]["gmv"] == "1830.00"


def test_report_groups_csv_has_the_same_columns(logged: Shequn) -> None:
    result = report(logged, "groups", "--from", "2020-11-07", "--to", "2020-11-07", "--csv",
                    "--group", "g1")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "group,day,members_start,members_end,joins,leaves,kicked,exit_rate,messages,speakers,"
        "active,dau_rate,orders,buyers,items,gmv,refunds,aov,gmv_per_buyer,items_per_buyer,"
        "avg_item_price,conversion"
    )
    assert lines[1:] == [
        "g1,2020-11-07,3,3,2,1,1,0.3333,4,2,3,1.0,2,2,4,1830.00,0.00,915.00,915.00,2.0,457.50,"
        "0.6667"
    ]


def test_report_groups_table_funnel_and_channels_print(logged: Shequn) -> None:
    table = report(logged, "groups", "--from", "2020-11-07", "--to", "2020-11-09")
    assert table.exit_code == 0, table.output
    assert "(none)" in table.stdout
    funnel = report(logged, "funnel", "--from", "2020-11-07", "--to", "2020-11-09", "--json")
    assert json.loads(funnel.stdout)["buyers"] == 4
    channels = report(logged, "channels", "--from", "2020-11-07", "--to", "2020-11-07", "--json")
    assert channels.exit_code == 0, channels.output
    # Long past: every horizon has been reached.
    assert [c["retention"]["d30"]["stayed"] for c in json.loads(channels.stdout)] == [1, 0]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--from", "2020-13-01", "--to", "2020-11-09"],
         "--from: '2020-13-01' is not a date like 2020-11-07"),
        (["--from", "2020-11-07", "--to", "11/09/2020"],
         "--to: '11/09/2020' is not a date like 2020-11-07"),
        (["--from", "2020-11-09", "--to", "2020-11-07"],
         "--from 2020-11-09 is after --to 2020-11-07"),
        (["--from", "2020-01-01", "--to", "2021-12-31"],
         "--from 2020-01-01 --to 2021-12-31 spans 731 days; at most 366"),
        (["--from", "2020-11-07", "--to", "2020-11-09", "--group", "g9"],
         "--group: no group 'g9' in org 'demo'"),
        (["--from", "2020-11-07", "--to", "2020-11-09", "--json", "--csv"],
         "--json and --csv: choose one"),
    ],
)  # fmt: skip
def test_report_groups_refuses_bad_input_by_name(
    logged: Shequn, args: list[str], error: str
) -> None:
    result = report(logged, "groups", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {error}\n"


def test_the_funnel_refuses_an_unknown_group_and_an_unknown_org(logged: Shequn) -> None:
    unknown = report(logged, "funnel", "--from", "2020-11-07", "--to", "2020-11-07",
                     "--group", "g9")  # fmt: skip
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "error: --group: no group 'g9' in org 'demo'\n",
    )
    db = logged.settings.database_url
    nobody = runner.invoke(app, ["report", "channels", "--from", "2020-11-07", "--to",
                                 "2020-11-07", "--org", "nobody", "--db", db])  # fmt: skip
    assert nobody.exit_code == 1
    assert "org 'nobody' does not exist" in nobody.stderr


def test_rates_round_half_up_exactly() -> None:
    assert ratio(687, 1870) == Decimal("0.3674")
    assert ratio(36745, 100000) == Decimal("0.3675")
    assert ratio(36744999, 100000000) == Decimal("0.3674")
    assert ratio(1, 0) is None
    assert round_half_up(Fraction(-5, 2), 0) == Decimal(-3)
    assert money_per(5, 2) == 3
    assert money_per(100, 0) is None


def test_the_double_11_campaign_figures_agree() -> None:
    # 1,870 members, 687 buyers, 1,717 items, ¥1.03M: 36.7% conversion, 2.5 items, ~¥600 each.
    day = GroupDay(
        group="old-1", day=D3, members_start=1870, members_end=1870, joins=0, leaves=0,
        kicked=0, traffic=Traffic(), sales=Sales(orders=700, buyers=687, items=1717,
                                                 gmv=103_000_000), refunds=0,
    )  # fmt: skip
    figures = day.as_json()
    assert (figures["conversion"], figures["items_per_buyer"]) == (0.3674, 2.4993)
    assert (figures["gmv"], figures["avg_item_price"]) == ("1030000.00", "599.88")
    assert (figures["gmv_per_buyer"], figures["aov"]) == ("1499.27", "1471.43")


def test_days_follow_the_orgs_zone() -> None:
    bounds = day_bounds([D1, D2], SHANGHAI)
    assert bounds == [datetime(2020, 11, 6, 16, tzinfo=UTC), datetime(2020, 11, 7, 16, tzinfo=UTC),
                      datetime(2020, 11, 8, 16, tzinfo=UTC)]  # fmt: skip
    assert day_index(parse_instant("2020-11-07T23:59:00+08:00"), bounds) == 0
    assert day_index(parse_instant("2020-11-08T00:01:00+08:00"), bounds) == 1
    assert day_index(parse_instant("2020-11-08T00:00:00+08:00"), bounds) == 1
    assert day_index(parse_instant("2020-11-09T00:00:00+08:00"), bounds) is None
    # The day New York's clocks go back has 25 hours.
    fall_back = day_bounds([date(2020, 11, 1)], "America/New_York")
    assert (fall_back[1] - fall_back[0]).total_seconds() == 25 * 3600


def test_dates_and_ranges_are_checked() -> None:
    assert parse_day("--from", "2020-11-07") == D1
    for text in ("20201107", "2020-11-7", "2020-02-30", "tomorrow"):
        with pytest.raises(RangeError, match="is not a date like 2020-11-07"):
            parse_day("--from", text)
    assert days_of(D1, D3) == [D1, D2, D3]
    assert len(days_of(D1, date.fromordinal(D1.toordinal() + MAX_DAYS - 1))) == MAX_DAYS
    with pytest.raises(RangeError, match="is after"):
        days_of(D3, D1)


def test_rows_run_through_a_groups_existence_and_wherever_something_was_counted() -> None:
    bounds = day_bounds([D1, D2, D3], SHANGHAI)
    spans = [
        GroupSpan("late", first_seen_at=parse_instant("2020-11-08T23:00:00+08:00")),
        GroupSpan("gone", first_seen_at=bounds[0],
                  dismissed_at=parse_instant("2020-11-07T10:00:00+08:00")),
    ]  # fmt: skip
    tallies = DailyTallies(
        opening={"gone": 5},
        exits={("gone", 0, "kicked"): 2, ("gone", 0, "quit"): 1},
        # A refund after the dismissal still shows, and so do orders without a group.
        refunds={("gone", 2): 600},
        sales={(None, 1): Sales(orders=1, buyers=1, items=1, gmv=600)},
    )
    rows = group_days([D1, D2, D3], bounds, spans, tallies)
    assert [(row.group, row.day, row.members_start, row.members_end) for row in rows] == [
        ("gone", D1, 5, 2), ("gone", D3, 2, 2), ("late", D2, 0, 0), ("late", D3, 0, 0),
        (None, D2, 0, 0),
    ]  # fmt: skip
    assert (rows[0].leaves, rows[0].kicked, rows[0].exit_rate) == (1, 2, Decimal("0.2000"))


def test_a_horizon_is_null_until_it_has_passed_for_the_whole_range() -> None:
    bounds = cohort_bounds(D1, D2, SHANGHAI)
    stay = Stay(joined_at=parse_instant("2020-11-07T09:00:00+08:00"),
                left_at=parse_instant("2020-11-09T12:00:00+08:00"))  # fmt: skip
    newcomers = [
        Newcomer("a", "douban", join_day=0, stays=(stay,), active_days=frozenset({1})),
        Newcomer("b", "douban", join_day=1, orders=2, gmv=1200),
    ]
    # Day 1 after the range's last day (2020-11-09) ends at 2020-11-10 00:00.
    before = channel_cohorts(newcomers, range_days=2, bounds=bounds,
                             now=parse_instant("2020-11-09T23:59:59+08:00"))  # fmt: skip
    assert before[0].retention[1] is None
    after = channel_cohorts(newcomers, range_days=2, bounds=bounds,
                            now=parse_instant("2020-11-10T00:00:00+08:00"))  # fmt: skip
    kept = after[0].retention[1]
    assert kept is not None
    # a was still in at the end of 2020-11-08 and spoke that day; b was never in.
    assert (kept.members, kept.stayed, kept.active) == (2, 1, 1)
    assert (after[0].buyers, after[0].gmv) == (1, 1200)


def test_the_funnel_without_dates_covers_the_whole_log(logged: Shequn) -> None:
    whole = report(logged, "funnel", "--json")
    assert whole.exit_code == 0, whole.output
    figures = json.loads(whole.stdout)
    # From the group's first event (joins on 11-06) to the last event's day.
    assert (figures["from"], figures["to"]) == ("2020-11-06", "2020-11-09")
    explicit = report(logged, "funnel", "--from", "2020-11-06", "--to", "2020-11-09", "--json")
    assert figures == json.loads(explicit.stdout)
