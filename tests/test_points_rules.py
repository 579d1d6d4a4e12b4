"""Points rules: the ledger's lots and expiry, mall holds, sign-in, earning caps, quizzes,
leaderboards and the choice of KOCs."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
)

from shequn.points import ledger as points
from shequn.points.ledger import (
    Entry,
    EntryKind,
    InsufficientPoints,
    Ledger,
    Lot,
    ReservationClosed,
    ReservationStatus,
    Take,
    UnknownReservation,
    adjust,
    cancel,
    earn,
    expire,
    expiry_for,
    expiry_on,
    filled_lot,
    fulfil,
    reserve,
    revoke,
    spend,
)
from shequn.points.rules import (
    DEFAULT_RULES,
    EarningRule,
    EarnKind,
    KocFacts,
    KocFigures,
    KocWeights,
    Period,
    Quiz,
    SignInResult,
    SignInRule,
    board,
    earned,
    is_correct,
    is_sign_in,
    koc_scores,
    sign_in,
)

ZONE = "Asia/Shanghai"
SHANGHAI = ZoneInfo(ZONE)


def sh(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def earned_on(*lots: tuple[str, int, datetime], member: str = "u7", months: int = 12) -> Ledger:
    ledger = Ledger(expiry_months=months)
    for key, amount, at in lots:
        ledger = earn(ledger, member=member, points=amount, key=key, at=at, reason="sign-in")
    return ledger


def remaining(ledger: Ledger) -> dict[str, int]:
    return {lot.id: lot.remaining for lot in ledger.lots}


# Expiry: the day before the same date 12 months later is the last day to spend.


@pytest.mark.parametrize(
    ("earned_at", "months", "expires_at"),
    [
        (sh(2024, 1, 15, 10), 12, sh(2025, 1, 15)),
        (sh(2024, 1, 15, 23, 59), 12, sh(2025, 1, 15)),
        # 29 Feb 2025 does not exist: the points last through 28 Feb.
        (sh(2024, 2, 29, 9), 12, sh(2025, 3, 1)),
        (sh(2024, 2, 28, 9), 12, sh(2025, 2, 28)),
        (sh(2023, 2, 28, 9), 12, sh(2024, 2, 28)),
        # Month ends with a one-month expiry: 31 Jan → through 29 Feb in a leap year.
        (sh(2024, 1, 31, 9), 1, sh(2024, 3, 1)),
        (sh(2023, 1, 31, 9), 1, sh(2023, 3, 1)),
        (sh(2024, 1, 30, 9), 1, sh(2024, 3, 1)),
        (sh(2024, 1, 29, 9), 1, sh(2024, 2, 29)),
        (sh(2024, 3, 31, 9), 1, sh(2024, 5, 1)),
        (sh(2024, 3, 30, 9), 1, sh(2024, 4, 30)),
        (sh(2024, 12, 31, 9), 2, sh(2025, 3, 1)),
        # The org's day, not UTC's: 23:30 UTC on 31 Jan is 07:30 on 1 Feb in Shanghai.
        (datetime(2024, 1, 31, 23, 30, tzinfo=UTC), 12, sh(2025, 2, 1)),
        (datetime(2024, 2, 29, 16, 30, tzinfo=UTC), 12, sh(2025, 3, 1)),
        (datetime(2024, 2, 29, 15, 59, tzinfo=UTC), 12, sh(2025, 3, 1)),
        (datetime(2024, 2, 28, 15, 59, tzinfo=UTC), 12, sh(2025, 2, 28)),
    ],
)
def test_points_expire_at_midnight_local_on_their_date_months_later(
    earned_at: datetime, months: int, expires_at: datetime
) -> None:
    assert expiry_for(earned_at, timezone=ZONE, months=months) == expires_at


def test_a_lot_filled_directly_is_the_one_earn_books() -> None:
    at = sh(2024, 2, 29, 8)
    booked = earn(Ledger(timezone=ZONE), member="u7", points=30, key="order:o1", at=at,
                  reason="order")  # fmt: skip
    expires_at = expiry_on(date(2024, 2, 29), timezone=ZONE)
    entry, lot = filled_lot(kind=EntryKind.EARN, member="u7", points=30, key="order:o1", at=at,
                            reason="order", expires_at=expires_at)  # fmt: skip
    assert (booked.entries, booked.lots) == ((entry,), (lot,))
    assert lot == Lot("order:o1", "u7", 30, 30, at, sh(2025, 3, 1))


def test_a_later_earning_never_expires_before_an_earlier_one() -> None:
    day = sh(2023, 1, 1, 12)
    expiries = [expiry_for(day + timedelta(days=n), timezone=ZONE, months=1) for n in range(800)]
    assert expiries == sorted(expiries)


def test_points_earned_on_29_february_are_spendable_through_28_february_and_not_after() -> None:
    ledger = earned_on(("signin:u7:2024-02-29", 100, sh(2024, 2, 29, 8)))
    assert ledger.spendable("u7", at=sh(2025, 2, 28, 23, 59, 59)) == 100
    assert ledger.spendable("u7", at=sh(2025, 3, 1)) == 0
    spent = spend(ledger, member="u7", points=100, key="mall-1", at=sh(2025, 2, 28, 23, 59, 59))
    assert spent.balance("u7") == 0
    with pytest.raises(InsufficientPoints) as raised:
        spend(ledger, member="u7", points=1, key="mall-1", at=sh(2025, 3, 1))
    assert (raised.value.balance, raised.value.wanted) == (0, 1)


# The ledger: lots, first-expiring-first spending, idempotency.


def test_an_earning_opens_a_lot_named_after_its_key() -> None:
    ledger = earned_on(("quiz:q1:u7", 10, sh(2024, 3, 1, 20, 30)))
    assert ledger.lots == (Lot("quiz:q1:u7", "u7", 10, 10, sh(2024, 3, 1, 20, 30), sh(2025, 3, 1)),)
    assert ledger.entries == (
        Entry(
            "quiz:q1:u7", "u7", EntryKind.EARN, 10, sh(2024, 3, 1, 20, 30), "quiz:q1:u7", "sign-in"
        ),
    )


def test_a_spend_takes_the_earliest_expiring_lots_first_one_entry_per_lot() -> None:
    ledger = earned_on(
        ("late", 50, sh(2024, 3, 5, 9)),
        ("early", 20, sh(2024, 1, 10, 9)),
        ("middle", 30, sh(2024, 2, 1, 9)),
    )
    ledger = spend(ledger, member="u7", points=35, key="mall-1", at=sh(2024, 4, 1, 12))
    assert remaining(ledger) == {"late": 50, "early": 0, "middle": 15}
    assert [(e.key, e.lot, e.amount) for e in ledger.operation("mall-1")] == [
        ("mall-1", "early", -20),
        ("mall-1", "middle", -15),
    ]
    assert ledger.balance("u7") == 65


def test_lots_expiring_together_are_spent_earliest_earned_then_by_id() -> None:
    ledger = earned_on(
        ("b", 10, sh(2024, 3, 1, 9)),
        ("a", 10, sh(2024, 3, 1, 9)),
        ("c", 10, sh(2024, 3, 1, 8)),
    )
    ledger = spend(ledger, member="u7", points=15, key="s", at=sh(2024, 3, 2))
    assert remaining(ledger) == {"b": 10, "a": 5, "c": 0}


def test_spending_more_than_the_balance_raises_and_changes_nothing() -> None:
    ledger = earned_on(("e1", 30, sh(2024, 3, 1, 9)), ("e2", 20, sh(2024, 3, 2, 9)))
    with pytest.raises(InsufficientPoints) as raised:
        spend(ledger, member="u7", points=51, key="s", at=sh(2024, 3, 3))
    assert (raised.value.balance, raised.value.wanted) == (50, 51)
    assert "51 points wanted, 50 spendable" in str(raised.value)
    assert ledger.balance("u7") == 50


def test_a_key_seen_before_is_a_no_op_returning_the_same_ledger() -> None:
    ledger = earned_on(("signin:u7:2024-03-01", 5, sh(2024, 3, 1, 8)))
    assert (
        earn(ledger, member="u7", points=5, key="signin:u7:2024-03-01", at=sh(2024, 3, 1, 9))
        is ledger
    )
    # The first delivery wins, even when a retry computes a different amount.
    assert (
        earn(ledger, member="u7", points=9, key="signin:u7:2024-03-01", at=sh(2024, 3, 2)) is ledger
    )
    spent = spend(ledger, member="u7", points=3, key="mall-1", at=sh(2024, 3, 2))
    assert spend(spent, member="u7", points=3, key="mall-1", at=sh(2024, 3, 2)) is spent
    assert spend(spent, member="u7", points=99, key="mall-1", at=sh(2024, 3, 2)) is spent


def test_the_ledger_derives_its_own_keys_and_refuses_them_from_callers() -> None:
    with pytest.raises(ValueError, match="are the ledger's"):
        earned_on(("expire:x", 5, sh(2024, 3, 1)))
    with pytest.raises(ValueError, match="idempotency key"):
        earned_on(("", 5, sh(2024, 3, 1)))


def test_an_entry_moves_points_in_the_direction_of_its_kind() -> None:
    with pytest.raises(ValueError, match="a spend entry cannot move 5 points"):
        Entry("k", "u7", EntryKind.SPEND, 5, sh(2024, 3, 1), "lot")
    with pytest.raises(ValueError, match="UTC offset"):
        Entry("k", "u7", EntryKind.EARN, 5, datetime(2024, 3, 1), "lot")
    with pytest.raises(ValueError, match="1 or more"):
        earned_on(("k", 0, sh(2024, 3, 1)))


# The expiry job.


def test_before_the_job_expired_points_are_in_the_balance_but_not_spendable() -> None:
    ledger = earned_on(("old", 40, sh(2024, 1, 10, 9)), ("new", 25, sh(2024, 6, 1, 9)), months=3)
    now = sh(2024, 6, 2)
    assert ledger.balance("u7") == 65
    assert ledger.spendable("u7", at=now) == 25
    with pytest.raises(InsufficientPoints) as raised:
        spend(ledger, member="u7", points=30, key="s", at=now)
    assert raised.value.balance == 25


def test_the_job_writes_one_expire_entry_per_lot_dated_at_its_expiry_and_is_idempotent() -> None:
    ledger = earned_on(("old", 40, sh(2024, 1, 10, 9)), ("new", 25, sh(2024, 6, 1, 9)), months=3)
    ledger = spend(ledger, member="u7", points=15, key="s", at=sh(2024, 2, 1))
    now = sh(2024, 6, 2)
    after = expire(ledger, now)
    assert after.operation("expire:old") == (
        Entry("expire:old", "u7", EntryKind.EXPIRE, -25, sh(2024, 4, 10), "old", "expired"),
    )
    assert after.balance("u7") == after.spendable("u7", at=now) == 25
    assert expire(after, now) is after
    assert expire(after, now + timedelta(days=1)) is after


# Holds for the points mall.


def test_a_hold_spends_points_and_a_cancel_returns_them_with_their_original_expiry() -> None:
    ledger = earned_on(("a", 20, sh(2024, 1, 10, 9)), ("b", 50, sh(2024, 2, 10, 9)))
    ledger, held = reserve(ledger, member="u7", points=30, key="mall-7", at=sh(2024, 3, 1))
    assert held.taken == (Take("a", 20), Take("b", 10))
    assert held.status is ReservationStatus.HELD
    assert ledger.balance("u7") == 40
    again, same = reserve(ledger, member="u7", points=30, key="mall-7", at=sh(2024, 3, 1))
    assert (again, same) == (ledger, held)

    ledger = cancel(ledger, "mall-7", at=sh(2024, 3, 2))
    assert ledger.balance("u7") == 70
    assert ledger.reservation("mall-7").status is ReservationStatus.CANCELLED
    restored = {
        lot.id: (lot.earned, lot.expires_at) for lot in ledger.lots if lot.id.startswith("cancel:")
    }
    assert restored == {
        "cancel:mall-7:a": (20, sh(2025, 1, 10)),
        "cancel:mall-7:b": (10, sh(2025, 2, 10)),
    }
    assert {e.kind for e in ledger.operation("cancel:mall-7")} == {EntryKind.ADJUST}
    assert cancel(ledger, "mall-7", at=sh(2024, 3, 3)) is ledger
    with pytest.raises(ReservationClosed):
        fulfil(ledger, "mall-7")


def test_points_that_expired_while_held_come_back_already_expired() -> None:
    ledger = earned_on(("a", 20, sh(2024, 1, 10, 9)), ("b", 50, sh(2024, 2, 10, 9)), months=2)
    ledger, _ = reserve(ledger, member="u7", points=30, key="mall-7", at=sh(2024, 3, 1))
    at = sh(2024, 3, 20)
    ledger = cancel(ledger, "mall-7", at=at)
    assert ledger.balance("u7") == ledger.spendable("u7", at=at) == 50
    assert ledger.operation("expire:cancel:mall-7:a") == (
        Entry(
            "expire:cancel:mall-7:a", "u7", EntryKind.EXPIRE, -20, at, "cancel:mall-7:a", "expired"
        ),
    )
    assert expire(ledger, at) is ledger


def test_fulfilling_a_hold_keeps_its_points_spent_and_closes_it() -> None:
    ledger = earned_on(("a", 20, sh(2024, 1, 10, 9)))
    ledger, _ = reserve(ledger, member="u7", points=20, key="mall-7", at=sh(2024, 3, 1))
    done = fulfil(ledger, "mall-7")
    assert done.entries == ledger.entries
    assert done.reservation("mall-7").status is ReservationStatus.FULFILLED
    assert fulfil(done, "mall-7") is done
    with pytest.raises(ReservationClosed):
        cancel(done, "mall-7", at=sh(2024, 3, 2))
    with pytest.raises(UnknownReservation):
        cancel(done, "mall-8", at=sh(2024, 3, 2))
    with pytest.raises(points.PointsError, match="not a reservation"):
        reserve(done, member="u7", points=1, key="a", at=sh(2024, 3, 2))


# Revocation and corrections.


def test_revoking_a_fake_account_takes_what_is_left_of_its_open_lots() -> None:
    ledger = earned_on(
        ("invite:u7:u90", 20, sh(2024, 1, 10, 9)),
        ("invite:u7:u91", 20, sh(2024, 3, 1, 9)),
        ("invite:u7:u92", 20, sh(2024, 3, 2, 9)),
        months=2,
    )
    ledger = spend(ledger, member="u7", points=25, key="s", at=sh(2024, 3, 3))
    ledger = earn(ledger, member="u7", points=20, key="invite:u7:u93", at=sh(2024, 3, 4, 9))
    ledger = spend(ledger, member="u7", points=15, key="t", at=sh(2024, 3, 20))
    at = sh(2024, 3, 20)
    assert remaining(ledger) == {
        "invite:u7:u90": 0,
        "invite:u7:u91": 0,
        "invite:u7:u92": 20,
        "invite:u7:u93": 20,
    }
    after = revoke(ledger, member="u7", at=at, reason="fake account")
    assert [(e.key, e.amount, e.reason) for e in after.entries if e.kind is EntryKind.REVOKE] == [
        ("revoke:invite:u7:u92", -20, "fake account"),
        ("revoke:invite:u7:u93", -20, "fake account"),
    ]
    assert after.balance("u7") == after.spendable("u7", at=at) == 0
    assert revoke(after, member="u7", at=at, reason="fake account") is after


def test_points_past_their_expiry_are_left_to_the_expiry_job_not_revoked() -> None:
    ledger = earned_on(("old", 20, sh(2024, 1, 10, 9)), ("new", 20, sh(2024, 3, 1, 9)), months=2)
    at = sh(2024, 3, 20)
    after = revoke(ledger, member="u7", at=at, reason="kicked")
    # So the member's history says "expired" for the January points, as it would have anyway.
    assert remaining(after) == {"old": 20, "new": 0}
    assert [e.kind for e in expire(after, at).entries[-1:]] == [EntryKind.EXPIRE]


def test_revoking_one_invites_points_names_the_earning() -> None:
    ledger = earned_on(
        ("invite:u7:u90", 20, sh(2024, 3, 1, 9)), ("invite:u7:u91", 20, sh(2024, 3, 1, 10))
    )
    after = revoke(ledger, member="u7", lot="invite:u7:u90", at=sh(2024, 3, 2), reason="u90 fake")
    assert remaining(after) == {"invite:u7:u90": 0, "invite:u7:u91": 20}
    with pytest.raises(points.PointsError, match="is not 'u8'"):
        revoke(ledger, member="u8", lot="invite:u7:u90", at=sh(2024, 3, 2), reason="x")


def test_revoking_leaves_lots_credited_after_it_alone() -> None:
    ledger = earned_on(("e1", 20, sh(2024, 3, 1, 9)))
    ledger = revoke(ledger, member="u7", at=sh(2024, 3, 2), reason="kicked")
    ledger = earn(ledger, member="u7", points=5, key="e2", at=sh(2024, 3, 5))
    assert revoke(ledger, member="u7", at=sh(2024, 3, 2), reason="kicked") is ledger


def test_corrections_are_new_entries_up_as_a_lot_down_as_a_spend() -> None:
    ledger = earned_on(("e1", 20, sh(2024, 3, 1, 9)))
    ledger = adjust(
        ledger, member="u7", points=7, key="fix-1", at=sh(2024, 3, 2), reason="missed quiz"
    )
    ledger = adjust(
        ledger, member="u7", points=-12, key="fix-2", at=sh(2024, 3, 3), reason="double sign-in"
    )
    assert ledger.balance("u7") == 15
    assert remaining(ledger) == {"e1": 8, "fix-1": 7}
    assert [e.kind for e in ledger.entries] == [EntryKind.EARN, EntryKind.ADJUST, EntryKind.ADJUST]
    with pytest.raises(InsufficientPoints):
        adjust(ledger, member="u7", points=-16, key="fix-3", at=sh(2024, 3, 3), reason="x")


# Sign-in (签到).


@pytest.mark.parametrize(
    ("text", "is_it"),
    [
        ("签到", True),
        ("  签到\n", True),
        ("打卡", True),
        ("/signin", True),
        ("/SignIn", True),
        ("／ｓｉｇｎｉｎ", True),
        ("/signin@shequn_bot", True),
        ("我签到了", False),
        ("签到!", False),
        ("签 到", False),
        ("signin", False),
        ("", False),
        (None, False),
    ],
)
def test_a_sign_in_is_a_whole_message_equal_to_a_keyword(text: str | None, is_it: bool) -> None:
    assert is_sign_in(text) is is_it


def test_sign_in_keywords_are_the_operators_to_choose() -> None:
    assert is_sign_in("Check in", keywords=("check in",))
    assert not is_sign_in("签到", keywords=("check in",))


def test_23_59_and_00_01_in_shanghai_are_two_days_and_a_streak_of_two() -> None:
    first = sign_in([], at=sh(2024, 2, 28, 23, 59), timezone=ZONE)
    assert first == SignInResult(counted=True, local_day=date(2024, 2, 28), streak=1, points=5)
    second = sign_in([first.local_day], at=sh(2024, 2, 29, 0, 1), timezone=ZONE)
    assert second == SignInResult(counted=True, local_day=date(2024, 2, 29), streak=2, points=5)


def test_00_30_utc_is_08_30_in_shanghai_the_same_day_as_an_earlier_morning_sign_in() -> None:
    morning = sign_in([], at=datetime(2024, 2, 29, 23, 30, tzinfo=UTC), timezone=ZONE)
    assert morning.local_day == date(2024, 3, 1)
    again = sign_in([morning.local_day], at=datetime(2024, 3, 1, 0, 30, tzinfo=UTC), timezone=ZONE)
    assert again == SignInResult(counted=False, local_day=date(2024, 3, 1), streak=1, points=0)
    # The same instant in UTC's calendar would have been another day.
    assert sign_in(
        [], at=datetime(2024, 3, 1, 0, 30, tzinfo=UTC), timezone="UTC"
    ).local_day == date(2024, 3, 1)
    assert sign_in(
        [], at=datetime(2024, 2, 29, 23, 30, tzinfo=UTC), timezone="UTC"
    ).local_day == date(2024, 2, 29)


def test_a_streak_earns_its_bonuses_on_days_3_and_7_of_every_week() -> None:
    days: list[date] = []
    earned_points = []
    for n in range(14):
        result = sign_in(days, at=sh(2024, 3, 1, 8) + timedelta(days=n), timezone=ZONE)
        days.append(result.local_day)
        earned_points.append(result.points)
    assert earned_points == [5, 5, 15, 5, 5, 5, 35, 5, 5, 15, 5, 5, 5, 35]
    assert sum(earned_points[:7]) == 75


def test_a_missed_day_starts_the_streak_again() -> None:
    history = [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3), date(2024, 3, 5)]
    result = sign_in(history, at=sh(2024, 3, 6, 8), timezone=ZONE)
    assert (result.streak, result.points) == (2, 5)


def test_without_a_cycle_the_bonuses_are_paid_once_per_streak() -> None:
    rule = SignInRule(base=2, bonuses={7: 50}, cycle=None)
    assert [rule.points_for(n) for n in (1, 7, 8, 14)] == [2, 52, 2, 2]
    with pytest.raises(ValueError, match="beyond the 7-day cycle"):
        SignInRule(bonuses={8: 10})
    with pytest.raises(ValueError, match="count from 1"):
        SignInRule(bonuses={0: 10})


# Earning with daily caps.


def test_chatter_earns_up_to_its_daily_cap_and_no_more() -> None:
    message = DEFAULT_RULES[EarnKind.MESSAGE]
    assert [earned(message, earned_today_by_kind=n) for n in (0, 9, 10, 11)] == [1, 1, 0, 0]
    rule = EarningRule(EarnKind.SHOW_ORDER, points=20, daily_cap=25)
    assert earned(rule, earned_today_by_kind=10) == 15


def test_an_order_earns_whole_points_per_yuan_from_its_exact_amount() -> None:
    order = DEFAULT_RULES[EarnKind.ORDER]
    # The seed's Double-11 buyer: 2.5 items at ¥600.
    assert earned(order, earned_today_by_kind=0, amount_fen=150_000) == 1500
    assert earned(order, earned_today_by_kind=0, amount_fen=60_050) == 600
    assert earned(order, earned_today_by_kind=0, amount_fen=99) == 0
    double = EarningRule(EarnKind.ORDER, points=2, per_yuan=True)
    assert earned(double, earned_today_by_kind=0, amount_fen=60_050) == 1201
    assert earned(double, earned_today_by_kind=0, amount_fen=60_049) == 1200
    with pytest.raises(ValueError, match="amount in fen"):
        earned(order, earned_today_by_kind=0)


def test_the_default_rules_cover_every_kind_and_leave_invites_uncapped() -> None:
    assert set(DEFAULT_RULES) == set(EarnKind)
    assert all(kind is rule.kind for kind, rule in DEFAULT_RULES.items())
    assert earned(DEFAULT_RULES[EarnKind.INVITE], earned_today_by_kind=600) == 20
    assert earned(DEFAULT_RULES[EarnKind.SHOW_ORDER], earned_today_by_kind=20) == 0


# Quizzes.

QUIZ = Quiz("设计师的家乡是哪座城市?", ("杭州", "Hangzhou"), sh(2024, 3, 1, 20), sh(2024, 3, 1, 21))


@pytest.mark.parametrize(
    ("text", "right"),
    [
        ("杭州", True),
        (" 杭 州。", True),
        ("ＨＡＮＧＺＨＯＵ!", True),
        ("hang zhou", True),
        ("杭\u200b州", True),
        ("杭州市", False),
        ("答案是杭州", False),
        ("", False),
        (None, False),
    ],
)
def test_an_answer_is_right_ignoring_width_case_spaces_and_punctuation(
    text: str | None, right: bool
) -> None:
    assert is_correct(QUIZ, text, at=sh(2024, 3, 1, 20, 30)) is right


def test_an_answer_counts_only_while_the_quiz_is_open() -> None:
    assert is_correct(QUIZ, "杭州", at=sh(2024, 3, 1, 20))
    assert not is_correct(QUIZ, "杭州", at=sh(2024, 3, 1, 19, 59, 59))
    assert not is_correct(QUIZ, "杭州", at=sh(2024, 3, 1, 21))
    with pytest.raises(ValueError, match="closes before"):
        Quiz("q", ("a",), sh(2024, 3, 1, 21), sh(2024, 3, 1, 20))
    with pytest.raises(ValueError, match="letters or digits"):
        Quiz("q", ("?!",), sh(2024, 3, 1, 20), sh(2024, 3, 1, 21))


# Leaderboards.


def board_ledger() -> Ledger:
    ledger = Ledger()
    earnings = [
        ("u1", 10, sh(2024, 3, 3, 23, 59)),  # Sunday: last week
        ("u2", 30, sh(2024, 3, 4, 0, 1)),  # Monday
        ("u1", 20, sh(2024, 3, 5, 9)),
        ("u3", 20, sh(2024, 3, 5, 10)),
        ("u3", 10, sh(2024, 3, 6, 8)),
        ("u4", 25, sh(2024, 3, 6, 9)),
    ]
    for n, (member, amount, at) in enumerate(earnings):
        ledger = earn(ledger, member=member, points=amount, key=f"e{n}", at=at)
    return ledger


def test_the_week_board_counts_points_earned_since_monday_00_00_local() -> None:
    ledger = board_ledger()
    at = sh(2024, 3, 6, 12)
    # u2 and u3 both have 30: u2 got there first.
    assert board(ledger.entries, period=Period.WEEK, at=at, timezone=ZONE) == [
        ("u2", 30),
        ("u3", 30),
        ("u4", 25),
        ("u1", 20),
    ]
    assert board(ledger.entries, period=Period.DAY, at=at, timezone=ZONE) == [
        ("u4", 25),
        ("u3", 10),
    ]
    assert board(ledger.entries, period=Period.ALL, at=at, timezone=ZONE) == [
        ("u2", 30),
        ("u1", 30),
        ("u3", 30),
        ("u4", 25),
    ]


def test_the_board_follows_the_orgs_zone_not_utc() -> None:
    ledger = board_ledger()
    # Monday 00:01 in Shanghai is still Sunday in UTC: a UTC org counts u2's 30 last week.
    at = sh(2024, 3, 6, 12)
    assert board(ledger.entries, period=Period.WEEK, at=at, timezone="UTC") == [
        ("u3", 30),
        ("u4", 25),
        ("u1", 20),
    ]


def test_the_board_counts_earnings_not_the_balance_and_drops_revoked_points() -> None:
    ledger = board_ledger()
    at = sh(2024, 3, 6, 12)
    ledger = spend(ledger, member="u2", points=30, key="mall", at=at)
    ledger = adjust(ledger, member="u4", points=100, key="fix", at=at, reason="goodwill")
    ledger = revoke(ledger, member="u3", lot="e4", at=at, reason="fake quiz answers")
    assert board(ledger.entries, period=Period.WEEK, at=at, timezone=ZONE) == [
        ("u2", 30),
        ("u4", 25),
        ("u1", 20),
        ("u3", 20),
    ]


# KOC selection.


def test_koc_scores_weigh_invites_and_purchases_over_points() -> None:
    facts = [
        KocFacts("a", points_earned_90d=900, effective_invites=0, orders=1, gmv_fen=60_000),
        KocFacts("b", points_earned_90d=300, effective_invites=30, orders=2, gmv_fen=150_000),
        KocFacts("c", points_earned_90d=300, effective_invites=5, orders=2, gmv_fen=120_000),
        KocFacts("d", points_earned_90d=0, effective_invites=0, orders=0, gmv_fen=0),
    ]
    scores = koc_scores(facts)
    assert [(s.member, s.score, s.rank) for s in scores] == [
        ("b", Fraction(4, 5), 1),
        ("c", Fraction(3, 5), 2),
        ("a", Fraction(1, 3), 3),
        ("d", Fraction(0), 4),
    ]
    third = Fraction(1, 3)
    assert scores[2].figures == KocFigures(
        points=Fraction(1), invites=Fraction(0), orders=third, gmv=third
    )


def test_equal_koc_scores_are_ranked_by_member_id() -> None:
    same = {"points_earned_90d": 50, "effective_invites": 3, "orders": 1, "gmv_fen": 9_900}
    scores = koc_scores([KocFacts("u9", **same), KocFacts("u10", **same), KocFacts("u2", **same)])
    assert [(s.member, s.rank) for s in scores] == [("u10", 1), ("u2", 2), ("u9", 3)]
    assert len({s.score for s in scores}) == 1


def test_koc_weights_count_by_proportion_and_the_input_must_be_sound() -> None:
    facts = [
        KocFacts("a", points_earned_90d=900, effective_invites=0, orders=0, gmv_fen=0),
        KocFacts("b", points_earned_90d=10, effective_invites=9, orders=0, gmv_fen=0),
    ]
    points_only = KocWeights(
        points=Fraction(3), invites=Fraction(0), orders=Fraction(0), gmv=Fraction(0)
    )
    assert [(s.member, s.score) for s in koc_scores(facts, weights=points_only)] == [
        ("a", Fraction(1)),
        ("b", Fraction(0)),
    ]
    assert [(s.member, s.rank, s.score) for s in koc_scores(facts[:1])] == [("a", 1, Fraction(0))]
    assert koc_scores([]) == []
    with pytest.raises(ValueError, match="appears twice"):
        koc_scores([facts[0], facts[0]])
    with pytest.raises(ValueError, match="not all 0"):
        KocWeights(Fraction(0), Fraction(0), Fraction(0), Fraction(0))
    with pytest.raises(ValueError, match="cannot be negative"):
        KocFacts("a", points_earned_90d=-1, effective_invites=0, orders=0, gmv_fen=0)


# The ledger as a state machine: any sequence of operations keeps the invariants.

MEMBERS = ("u7", "u42")
# Near midnight at a month's end, so sign-ins and expiry cross days and months within a few steps.
START = sh(2024, 1, 31, 23, 58).astimezone(UTC)
STEPS = [
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(hours=9),
    timedelta(days=1),
    timedelta(days=12),
    timedelta(days=29),
]


def fifo_order(lot: Lot) -> tuple[datetime, datetime, str]:
    return lot.expires_at, lot.earned_at, lot.id


class LedgerMachine(RuleBasedStateMachine):
    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger(expiry_months=1)
        self.now = START
        self.serial = 0
        self.signed: dict[str, set[date]] = {member: set() for member in MEMBERS}
        self.done: list[Callable[[Ledger], Ledger]] = []
        self.expired_at: datetime | None = None

    def key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def open_remaining(self, member: str) -> int:
        return sum(
            lot.remaining for lot in self.ledger.lots_of(member) if lot.expires_at > self.now
        )

    def run(self, operation: Callable[[Ledger], Ledger]) -> None:
        self.ledger = operation(self.ledger)
        self.done.append(operation)

    @rule(step=st.sampled_from(STEPS))
    def time_passes(self, step: timedelta) -> None:
        self.now += step

    @rule(member=st.sampled_from(MEMBERS), amount=st.integers(1, 40))
    def earn(self, member: str, amount: int) -> None:
        self.run(partial(earn, member=member, points=amount, key=self.key("earn"), at=self.now))

    @rule(member=st.sampled_from(MEMBERS))
    def sign_in(self, member: str) -> None:
        assert is_sign_in("签到")
        result = sign_in(self.signed[member], at=self.now, timezone=ZONE)
        today = self.now.astimezone(SHANGHAI).date()
        assert result.local_day == today
        assert result.counted is (today not in self.signed[member])
        self.signed[member].add(today)
        # The service keys a sign-in by member and local day: a second one that day cannot pay.
        key = f"signin:{member}:{today.isoformat()}"
        if result.counted:
            self.run(partial(earn, member=member, points=result.points, key=key, at=self.now))
        else:
            assert earn(self.ledger, member=member, points=5, key=key, at=self.now) is self.ledger

    def try_to_take(self, member: str, amount: int, take: Callable[[Ledger], Any]) -> Any:
        spendable = self.open_remaining(member)
        before = self.ledger
        if amount > spendable:
            with pytest.raises(InsufficientPoints) as raised:
                take(before)
            assert (raised.value.balance, raised.value.wanted) == (spendable, amount)
            return None
        result = take(before)
        after = result[0] if isinstance(result, tuple) else result
        assert after.balance(member) == before.balance(member) - amount
        touched = [lot for lot in before.lots if lot.remaining != after.lot(lot.id).remaining]
        # Expired points are never taken, and nothing later-expiring is taken while earlier remains.
        assert all(lot.expires_at > self.now for lot in touched)
        last = max(fifo_order(lot) for lot in touched)
        assert all(
            after.lot(lot.id).remaining == 0
            for lot in before.lots_of(member)
            if lot.expires_at > self.now and fifo_order(lot) < last
        )
        return result

    @rule(member=st.sampled_from(MEMBERS), amount=st.integers(1, 80))
    def spend(self, member: str, amount: int) -> None:
        operation = partial(spend, member=member, points=amount, key=self.key("spend"), at=self.now)
        after = self.try_to_take(member, amount, operation)
        if after is not None:
            self.ledger = after
            self.done.append(operation)

    @rule(target=reservations, member=st.sampled_from(MEMBERS), amount=st.integers(1, 80))
    def reserve(self, member: str, amount: int) -> Any:
        key = self.key("mall")
        operation = partial(reserve, member=member, points=amount, key=key, at=self.now)
        result = self.try_to_take(member, amount, operation)
        if result is None:
            return multiple()
        self.ledger, held = result
        assert (held.key, held.points, held.status) == (key, amount, ReservationStatus.HELD)
        self.done.append(lambda ledger: operation(ledger)[0])
        return key

    @rule(key=reservations)
    def cancel(self, key: str) -> None:
        held = self.ledger.reservation(key)
        operation = partial(cancel, reservation_key=key, at=self.now)
        if held.status is ReservationStatus.FULFILLED:
            with pytest.raises(ReservationClosed):
                operation(self.ledger)
            return
        before = self.ledger.balance(held.member)
        back = sum(t.points for t in held.taken if self.ledger.lot(t.lot).expires_at > self.now)
        self.run(operation)
        if held.status is ReservationStatus.HELD:
            assert self.ledger.balance(held.member) == before + back
        else:
            assert self.ledger.balance(held.member) == before

    @rule(key=reservations)
    def fulfil(self, key: str) -> None:
        if self.ledger.reservation(key).status is ReservationStatus.CANCELLED:
            with pytest.raises(ReservationClosed):
                fulfil(self.ledger, key)
            return
        before = self.ledger.entries
        self.run(partial(fulfil, reservation_key=key))
        assert self.ledger.entries == before

    @rule(member=st.sampled_from(MEMBERS))
    def revoke(self, member: str) -> None:
        taken = self.open_remaining(member)
        before = self.ledger.balance(member)
        operation = partial(revoke, member=member, at=self.now, reason="fake account")
        self.ledger = operation(self.ledger)
        assert self.ledger.balance(member) == before - taken
        # Not among the operations to repeat later: run again, it also takes what was credited
        # at this very instant since, as the member had that at `at` too.
        assert operation(self.ledger) is self.ledger

    @rule()
    def expire(self) -> None:
        self.run(partial(expire, now=self.now))
        self.expired_at = self.now

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def repeat_an_earlier_operation(self, data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(self.done))
        assert operation(self.ledger) is self.ledger

    @invariant()
    def every_lot_is_the_sum_of_its_entries(self) -> None:
        for lot in self.ledger.lots:
            assert 0 <= lot.remaining <= lot.earned
            assert lot.remaining == sum(e.amount for e in self.ledger.entries if e.lot == lot.id)

    @invariant()
    def balances_are_the_sum_of_entries_and_never_negative(self) -> None:
        for member in MEMBERS:
            balance = self.ledger.balance(member)
            assert balance == sum(e.amount for e in self.ledger.entries if e.member == member)
            assert balance == sum(lot.remaining for lot in self.ledger.lots_of(member))
            assert balance >= 0
            assert self.ledger.spendable(member, at=self.now) == self.open_remaining(member)
            if self.expired_at == self.now:
                assert balance == self.open_remaining(member)

    @invariant()
    def nothing_past_its_expiry_is_left_after_the_job(self) -> None:
        if self.expired_at is not None:
            assert all(
                lot.remaining == 0 for lot in self.ledger.lots if lot.expires_at <= self.expired_at
            )

    @invariant()
    def one_sign_in_per_member_per_local_day(self) -> None:
        for member in MEMBERS:
            days = [
                e.at.astimezone(SHANGHAI).date()
                for e in self.ledger.entries
                if e.member == member and e.kind is EntryKind.EARN and e.key.startswith("signin:")
            ]
            assert sorted(days) == sorted(self.signed[member])


LedgerMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerMachine = LedgerMachine.TestCase
