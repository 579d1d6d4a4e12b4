"""Commerce rules without a database: prices over time, coupon stacking with the seed's numbers
(¥600 items, ¥100 no-threshold, 4.5折, ¥300 − ¥50), validity, group-buy tiers, bargain splits."""

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shequn.commerce.rules import (
    CommerceRuleError,
    CouponFacts,
    CouponKind,
    CouponTerms,
    GroupPresence,
    GroupSource,
    InvalidTransition,
    PricePoint,
    Refusal,
    TaskStatus,
    TeamOutcome,
    TeamStatus,
    Tier,
    Trigger,
    attributed_group,
    attributed_puller,
    check_tiers,
    discount_label,
    may_restore,
    parse_discount,
    price_at,
    quote,
    redemption_refusal,
    refunded_total,
    share_amount,
    split_cut,
    task_after,
    team_after,
    team_at_deadline,
    team_on_join,
    team_refund,
)
from shequn.kit.time import local_time_to_utc

NO_THRESHOLD_100 = CouponTerms(CouponKind.AMOUNT_OFF, amount_off=10000)
THRESHOLD_300_50 = CouponTerms(CouponKind.AMOUNT_OFF, amount_off=5000, threshold=30000)
DISCOUNT_45 = CouponTerms(CouponKind.DISCOUNT, rate=450)
ITEM = 60000


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def sale_schedule(timezone: str) -> list[PricePoint]:
    """The seed's day 5: ¥9,999 as a placeholder until 00:00 local, then the ¥600 sale price."""
    midnight = local_time_to_utc(date(2020, 11, 11), 0, 0, timezone)
    return [
        PricePoint(midnight - timedelta(days=4), 999900),
        PricePoint(midnight, 60000),
    ]


def test_the_placeholder_price_turns_into_the_sale_price_at_shanghai_midnight() -> None:
    schedule = sale_schedule("Asia/Shanghai")
    assert price_at(schedule, at("2020-11-10T23:59:59+08:00")) == 999900
    assert price_at(schedule, at("2020-11-11T00:00:00+08:00")) == 60000
    # 16:00 UTC the day before is already the sale in Shanghai.
    assert price_at(schedule, at("2020-11-10T16:00:00+00:00")) == 60000


def test_the_same_local_midnight_in_berlin_is_seven_hours_later_in_utc() -> None:
    schedule = sale_schedule("Europe/Berlin")
    assert price_at(schedule, at("2020-11-10T16:00:00+00:00")) == 999900
    assert price_at(schedule, at("2020-11-10T22:59:59+00:00")) == 999900
    assert price_at(schedule, at("2020-11-10T23:00:00+00:00")) == 60000


def test_before_its_first_price_a_product_has_none() -> None:
    assert price_at(sale_schedule("Asia/Shanghai"), at("2020-11-01T00:00:00+08:00")) is None
    assert price_at([], at("2020-11-01T00:00:00+08:00")) is None


def test_45_discount_then_100_off_makes_a_600_item_170() -> None:
    priced = quote(ITEM, [NO_THRESHOLD_100, DISCOUNT_45])
    assert (priced.after_discount, priced.payable) == (27000, 17000)
    assert priced.applied == {1: 33000, 0: 10000}
    assert priced.refused == {}


def test_300_minus_50_applies_to_600_but_not_to_the_270_left_after_45_discount() -> None:
    assert quote(ITEM, [THRESHOLD_300_50]).payable == 55000
    priced = quote(ITEM, [DISCOUNT_45, THRESHOLD_300_50])
    assert priced.payable == 27000
    assert priced.refused == {1: Refusal.BELOW_THRESHOLD}


def test_two_amount_off_coupons_do_not_stack_and_the_first_named_wins() -> None:
    priced = quote(2 * ITEM, [NO_THRESHOLD_100, THRESHOLD_300_50])
    assert priced.payable == 110000
    assert priced.refused == {1: Refusal.DOES_NOT_STACK}


def test_a_second_discount_does_not_stack() -> None:
    priced = quote(ITEM, [DISCOUNT_45, CouponTerms(CouponKind.DISCOUNT, rate=800)])
    assert priced.payable == 27000
    assert priced.refused == {1: Refusal.DOES_NOT_STACK}


def test_an_amount_off_never_takes_the_price_below_zero() -> None:
    priced = quote(6000, [NO_THRESHOLD_100])
    assert (priced.payable, priced.applied) == (0, {0: 6000})


def test_a_discount_from_300_applies_to_600_but_not_to_a_299_order() -> None:
    from_300 = CouponTerms(CouponKind.DISCOUNT, rate=450, threshold=30000)
    assert quote(ITEM, [from_300]).payable == 27000
    small = quote(29900, [from_300])
    assert (small.payable, small.refused) == (29900, {0: Refusal.BELOW_THRESHOLD})


def test_a_discount_rounds_half_up_to_the_fen() -> None:
    # ¥0.99 at 4.5折 is 44.55 fen: 45.
    assert quote(99, [DISCOUNT_45]).payable == 45


@pytest.mark.parametrize(
    ("text", "permille"), [("4.5", 450), ("4.5折", 450), ("8.85", 885), ("9", 900)]
)
def test_discounts_are_read_in_zhe(text: str, permille: int) -> None:
    assert parse_discount(text) == permille


@pytest.mark.parametrize("text", ["0", "10", "12", "4.555", "abc", "-1"])
def test_impossible_discounts_are_refused(text: str) -> None:
    with pytest.raises(CommerceRuleError):
        parse_discount(text)


def test_discount_labels_read_as_operators_write_them() -> None:
    assert [discount_label(rate) for rate in (450, 885, 900)] == ["4.5折", "8.85折", "9折"]


def test_a_coupon_is_refused_by_name_when_it_is_not_the_buyers_used_or_out_of_its_window() -> None:
    start, end = at("2020-11-09T00:00:00+08:00"), at("2020-11-12T00:00:00+08:00")
    paid = at("2020-11-11T20:30:00+08:00")
    mine = CouponFacts("u1", start, end, None)

    def refusal(coupon: CouponFacts | None, when: datetime = paid) -> Refusal | None:
        return redemption_refusal(coupon, member="u1", order="o1", at=when)

    assert refusal(mine) is None
    assert refusal(None) is Refusal.NOT_ISSUED
    assert refusal(CouponFacts("u2", start, end, None)) is Refusal.NOT_YOURS
    assert refusal(CouponFacts("u1", start, end, "o0")) is Refusal.USED
    assert refusal(CouponFacts("u1", start, end, "o1")) is None
    assert refusal(mine, at("2020-11-08T23:59:00+08:00")) is Refusal.NOT_YET_VALID
    assert refusal(mine, end) is Refusal.EXPIRED


def test_only_a_full_refund_within_validity_restores_a_coupon() -> None:
    end = at("2020-11-12T00:00:00+08:00")
    before, after = at("2020-11-11T22:00:00+08:00"), at("2020-11-12T08:00:00+08:00")
    assert may_restore(fully_refunded=True, at=before, valid_until=end)
    assert not may_restore(fully_refunded=True, at=after, valid_until=end)
    assert not may_restore(fully_refunded=False, at=before, valid_until=end)
    assert may_restore(fully_refunded=True, at=after, valid_until=None)


def test_refunds_add_up_to_at_most_the_order_and_an_amountless_one_is_all_of_it() -> None:
    assert refunded_total(120000, [60000]) == 60000
    assert refunded_total(120000, [60000, 80000]) == 120000
    assert refunded_total(120000, [10000, None]) == 120000
    assert refunded_total(120000, []) == 0


TIERS = [Tier(3, 9900), Tier(5, 7900)]


def test_group_buy_tiers_must_get_larger_and_cheaper() -> None:
    check_tiers(TIERS)
    for bad in ([], [Tier(1, 9900)], [Tier(3, 9900), Tier(5, 9900)], [Tier(3, 0)]):
        with pytest.raises(CommerceRuleError):
            check_tiers(bad)


def test_a_team_closes_at_once_when_it_fills_its_largest_tier() -> None:
    assert team_on_join(TIERS, 4) == TeamOutcome(TeamStatus.OPEN, None)
    assert team_on_join(TIERS, 5) == TeamOutcome(TeamStatus.SUCCEEDED, 7900)


def test_at_its_deadline_a_team_succeeds_at_the_tier_it_reached_or_fails() -> None:
    assert team_at_deadline(TIERS, 2) == TeamOutcome(TeamStatus.FAILED, None)
    assert team_at_deadline(TIERS, 3) == TeamOutcome(TeamStatus.SUCCEEDED, 9900)
    assert team_at_deadline(TIERS, 4) == TeamOutcome(TeamStatus.SUCCEEDED, 9900)


def test_a_failed_team_refunds_everything_and_a_better_tier_the_difference() -> None:
    assert team_refund(paid=9900, outcome=TeamOutcome(TeamStatus.FAILED, None)) == 9900
    assert team_refund(paid=9900, outcome=TeamOutcome(TeamStatus.SUCCEEDED, 7900)) == 2000
    assert team_refund(paid=9900, outcome=TeamOutcome(TeamStatus.SUCCEEDED, 9900)) == 0


def test_closed_teams_and_tasks_take_no_more_triggers() -> None:
    with pytest.raises(InvalidTransition):
        team_after(TeamStatus.FAILED, Trigger.JOIN)
    with pytest.raises(InvalidTransition):
        team_after(TeamStatus.SUCCEEDED, Trigger.DEADLINE_SHORT)
    with pytest.raises(InvalidTransition):
        task_after(TaskStatus.SUCCEEDED, Trigger.ASSIST)
    assert task_after(TaskStatus.OPEN, Trigger.COMPLETE) is TaskStatus.SUCCEEDED


def test_a_600_bargain_to_270_in_five_cuts_sums_exactly_and_repeats_for_its_seed() -> None:
    cuts = split_cut(33000, 5, "b1")
    assert sum(cuts) == 33000
    assert split_cut(33000, 5, "b1") == cuts
    assert split_cut(33000, 5, "b2") != cuts


@given(
    total=st.integers(min_value=1, max_value=10**9),
    parts=st.integers(min_value=1, max_value=200),
    seed=st.text(max_size=20),
)
def test_bargain_cuts_always_sum_exactly_to_the_target_and_each_cuts_a_fen(
    total: int, parts: int, seed: str
) -> None:
    if total < parts:
        with pytest.raises(CommerceRuleError):
            split_cut(total, parts, seed)
        return
    cuts = split_cut(total, parts, seed)
    assert len(cuts) == parts
    assert sum(cuts) == total
    assert min(cuts) >= 1


@given(low=st.integers(min_value=1, max_value=5000), spread=st.integers(0, 5000),
       clicker=st.text(max_size=10))  # fmt: skip
def test_a_share_amount_lies_in_its_range_and_repeats_for_the_same_clicker(
    low: int, spread: int, clicker: str
) -> None:
    amount = share_amount(low=low, high=low + spread, seed="s1", clicker=clicker)
    assert low <= amount <= low + spread
    assert amount == share_amount(low=low, high=low + spread, seed="s1", clicker=clicker)


def test_an_order_goes_to_its_named_group_else_the_latest_group_the_buyer_is_still_in() -> None:
    early, late = at("2020-11-09T20:00:00+00:00"), at("2020-11-10T20:00:00+00:00")
    presences = [
        GroupPresence("new-3", early, is_member=True),
        GroupPresence("old-1", late, is_member=False),
    ]
    assert attributed_group("old-2", presences) == ("old-2", GroupSource.EXPLICIT)
    assert attributed_group(None, presences) == ("new-3", GroupSource.LAST_ACTIVE)
    assert attributed_group(None, []) == (None, GroupSource.NONE)


def test_the_puller_is_the_staff_first_inviter_else_the_orders_salesperson() -> None:
    staff = frozenset({"s1"})
    assert attributed_puller(first_inviter="s1", staff=staff, order_staff="s9") == "s1"
    assert attributed_puller(first_inviter="u7", staff=staff, order_staff="s9") == "s9"
    assert attributed_puller(first_inviter=None, staff=staff, order_staff=None) is None
