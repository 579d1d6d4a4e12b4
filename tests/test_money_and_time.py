from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from shequn.kit.money import AmountError, format_amount, parse_amount
from shequn.kit.time import TimeError, local_day, local_time_to_utc, parse_instant


@pytest.mark.parametrize(
    ("given", "minor"),
    [
        ("600.00", 60000),
        ("600", 60000),
        (600, 60000),
        (Decimal("0.01"), 1),
        ("1030000.5", 103000050),
    ],
)
def test_amounts_become_exact_minor_units(given: object, minor: int) -> None:
    assert parse_amount(given) == minor


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (600.0, "not a float"),
        ("600.005", "more than 2 decimals"),
        (Decimal("0.001"), "more than 2 decimals"),
        ("-1", "negative"),
        ("NaN", "not a finite amount"),
        ("12,00", "not a decimal amount"),
        (True, "not a float"),
    ],
)
def test_amounts_that_are_not_money_are_refused(given: object, reason: str) -> None:
    with pytest.raises(AmountError, match=reason):
        parse_amount(given)


def test_minor_units_print_with_two_decimals() -> None:
    assert format_amount(103000000) == "1030000.00"
    assert format_amount(5) == "0.05"


def test_a_time_without_an_offset_is_refused() -> None:
    with pytest.raises(TimeError, match="no UTC offset"):
        parse_instant("2020-11-07T20:31:05")


def test_operators_days_follow_the_org_time_zone() -> None:
    # 01:00 in Shanghai on 11 Nov is still 10 Nov in UTC: the Shanghai operator's day is the 11th.
    moment = parse_instant("2020-11-11T01:00:00+08:00")
    assert local_day(moment, "Asia/Shanghai") == date(2020, 11, 11)
    assert local_day(moment, "UTC") == date(2020, 11, 10)


def test_the_nightly_draw_at_2030_shanghai_is_1230_utc() -> None:
    assert local_time_to_utc(date(2020, 11, 11), 20, 30, "Asia/Shanghai") == datetime(
        2020, 11, 11, 12, 30, tzinfo=UTC
    )
