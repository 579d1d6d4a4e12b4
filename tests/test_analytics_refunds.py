"""Refunds in the daily figures: the log's report and the table agree on what counts."""

from datetime import date

from shequn.analytics.daily import table_group_days
from shequn.analytics.service import report_group_days
from shequn.wiring import Shequn
from tests.conftest import ingest
from tests.test_analytics import paid, refunded, upserted


def days(shequn: Shequn) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    first, last = date(2020, 11, 7), date(2020, 11, 8)
    with shequn.sessions() as session:
        log = report_group_days(session, "demo", first=first, last=last)
        table = table_group_days(session, "demo", first=first, last=last)
    return [row.as_json() for row in log], [row.as_json() for row in table]


def test_a_refund_of_nothing_for_an_order_that_never_arrives_shows_no_row(
    shequn: Shequn,
) -> None:
    ingest(shequn, [upserted("g1", "2020-11-01T08:00:00"),
                    refunded("o-missing", "2020-11-07T21:00:00", "0.00")])  # fmt: skip
    log, table = days(shequn)
    assert log == table
    assert [(row["group"], row["day"]) for row in log] == [
        ("g1", "2020-11-07"),
        ("g1", "2020-11-08"),
    ]


def test_a_refund_of_an_order_not_arrived_yet_counts_under_no_group_until_it_does(
    shequn: Shequn,
) -> None:
    ingest(shequn, [upserted("g1", "2020-11-01T08:00:00"),
                    refunded("o1", "2020-11-07T21:00:00", "50.00")])  # fmt: skip
    log, table = days(shequn)
    assert log == table
    assert [(row["group"], row["refunds"]) for row in log if row["refunds"] != "0.00"] == [
        (None, "50.00")
    ]
    ingest(shequn, [paid("o1", "u1", "2020-11-07T20:00:00", [(1, "50.00")], "50.00")])
    log, table = days(shequn)
    assert log == table
    assert [(row["group"], row["day"], row["gmv"], row["refunds"]) for row in log
            if row["gmv"] != "0.00"] == [("g1", "2020-11-07", "50.00", "50.00")]  # fmt: skip
