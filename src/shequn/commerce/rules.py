"""Commerce decisions without I/O: prices over time, coupon stacking and validity, and the state
machines and amounts of group-buys (拼团), bargains (砍价), assist tasks (助力) and fission
coupons. Time and randomness are arguments; money is integer minor units (fen) throughout."""

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise

from shequn.kit.ids import stable_id

PERMILLE = 1000


class CommerceRuleError(ValueError):
    """A price, tier list, discount or split that cannot be."""


@dataclass(frozen=True)
class PricePoint:
    """From `effective_at` on, the product sells at `price` (until the next point)."""

    effective_at: datetime
    price: int


def price_at(schedule: Sequence[PricePoint], instant: datetime) -> int | None:
    """The price in force at `instant`: the latest point not after it; None before the first."""
    current: PricePoint | None = None
    for point in schedule:
        if point.effective_at <= instant and (
            current is None or point.effective_at >= current.effective_at
        ):
            current = point
    return None if current is None else current.price


def coupon_code(org: str, template: str, member: str, cause: str) -> str:
    """The code of the coupon of `template` a cause issued to a member: the same every time, so
    an issue is idempotent and a shop that knows the drop knows each member's code."""
    return stable_id("cp", org, template, member, cause)


class CouponKind(StrEnum):
    # ¥100 off (threshold 0: 无门槛), or ¥50 off from ¥300 (满300减50).
    AMOUNT_OFF = "amount_off"
    # Pay a share of the price: 4.5折 pays 450‰.
    DISCOUNT = "discount"


def parse_discount(text: str) -> int:
    """ "4.5" (折) → 450 per mille paid; refused unless strictly between 0 and 10 折."""
    try:
        value = Decimal(text.strip().removesuffix("折"))
    except InvalidOperation:
        raise CommerceRuleError(f"{text!r} is not a discount like 4.5 (4.5折)") from None
    permille = value * 100
    if not value.is_finite() or permille != permille.to_integral_value():
        raise CommerceRuleError(f"{text!r}: a discount has at most 2 decimals, like 8.85")
    if not 0 < value < 10:
        raise CommerceRuleError(f"{text!r}: a discount lies between 0 and 10 (折), e.g. 4.5")
    return int(permille)


def discount_label(rate: int) -> str:
    return f"{Decimal(rate) / 100:f}".rstrip("0").rstrip(".") + "折"


@dataclass(frozen=True)
class CouponTerms:
    """What one coupon takes off; `rate` (per mille paid) for a discount, else amount/threshold."""

    kind: CouponKind
    amount_off: int = 0
    threshold: int = 0
    rate: int = PERMILLE


def discounted(amount: int, rate: int) -> int:
    """`amount` at `rate`‰, rounded half up to the fen: ¥600 at 4.5折 is ¥270.00."""
    return (amount * rate + PERMILLE // 2) // PERMILLE


class Refusal(StrEnum):
    NOT_ISSUED = "not_issued"
    NOT_YOURS = "not_yours"
    USED = "used"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    BELOW_THRESHOLD = "below_threshold"
    # Only one discount and one amount-off coupon apply to an order.
    DOES_NOT_STACK = "does_not_stack"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Quote:
    """An order priced with its coupons: each applied coupon's value, each refused one's reason."""

    gross: int
    after_discount: int
    payable: int
    applied: Mapping[int, int]
    refused: Mapping[int, Refusal]


def quote(gross: int, coupons: Sequence[CouponTerms]) -> Quote:
    """Apply coupons in the stacking order: the discount first (at most one), then one amount
    off, whose threshold is met by the amount after the discount; never below zero.

    ¥600 at 4.5折 is ¥270, then ¥100 off: ¥170. A ¥300 − ¥50 coupon no longer applies to that
    ¥270. A discount with a threshold (满300打4.5折) needs the order's price to meet it.
    Indexes in `applied` / `refused` are positions in `coupons`.
    """
    applied: dict[int, int] = {}
    refused: dict[int, Refusal] = {}
    after = gross
    discount_used = False
    for index, terms in enumerate(coupons):
        if terms.kind is not CouponKind.DISCOUNT:
            continue
        if discount_used:
            refused[index] = Refusal.DOES_NOT_STACK
            continue
        if gross < terms.threshold:
            # 满300打4.5折: the discount's own threshold is met by the order's price.
            refused[index] = Refusal.BELOW_THRESHOLD
            continue
        discount_used = True
        new = discounted(after, terms.rate)
        applied[index] = after - new
        after = new
    payable = after
    amount_used = False
    for index, terms in enumerate(coupons):
        if terms.kind is not CouponKind.AMOUNT_OFF:
            continue
        if amount_used:
            refused[index] = Refusal.DOES_NOT_STACK
        elif after < terms.threshold:
            refused[index] = Refusal.BELOW_THRESHOLD
        else:
            amount_used = True
            value = min(terms.amount_off, payable)
            applied[index] = value
            payable -= value
    return Quote(gross, after, payable, applied, refused)


@dataclass(frozen=True)
class CouponFacts:
    """One issued coupon as redemption sees it."""

    member: str
    valid_from: datetime | None
    valid_until: datetime | None
    used_by: str | None
    revoked: bool = False


def redemption_refusal(coupon: CouponFacts | None, *, member: str, order: str,
                       at: datetime) -> Refusal | None:  # fmt: skip
    """Why `member` cannot redeem the coupon on `order` paid `at`; None: they can."""
    if coupon is None:
        return Refusal.NOT_ISSUED
    if coupon.member != member:
        return Refusal.NOT_YOURS
    if coupon.revoked:
        return Refusal.REVOKED
    if coupon.used_by is not None and coupon.used_by != order:
        return Refusal.USED
    if coupon.valid_from is not None and at < coupon.valid_from:
        return Refusal.NOT_YET_VALID
    if coupon.valid_until is not None and at >= coupon.valid_until:
        return Refusal.EXPIRED
    return None


def may_restore(*, fully_refunded: bool, at: datetime, valid_until: datetime | None) -> bool:
    """A fully refunded order gives its coupons back while they are still valid."""
    return fully_refunded and (valid_until is None or at < valid_until)


def referral_stands(orders_kept: int) -> bool:
    """An old-brings-new reward is earned by an invitee's paid order they keep: once every
    order of theirs is refunded in full, an unused reward is revoked (buy-and-refund farms no
    coupons); a later order they keep brings it back."""
    return orders_kept > 0


def may_issue(*, already: int, limit: int | None) -> bool:
    return limit is None or already < limit


def refunded_total(amount: int, refunds: Sequence[int | None]) -> int:
    """What of `amount` the refunds return; a refund without an amount returns all of it."""
    if any(refund is None for refund in refunds):
        return amount
    return min(amount, sum(refund for refund in refunds if refund is not None))


class Trigger(StrEnum):
    JOIN = "join"
    FILL = "fill"
    ASSIST = "assist"
    COMPLETE = "complete"
    DEADLINE_MET = "deadline_met"
    DEADLINE_SHORT = "deadline_short"


class TeamStatus(StrEnum):
    OPEN = "open"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# 拼团: a team fills its largest tier at once; at its deadline it succeeds at the largest tier
# it reached, or fails and everyone is refunded.
TEAM_TRANSITIONS: Mapping[tuple[TeamStatus, Trigger], TeamStatus] = {
    (TeamStatus.OPEN, Trigger.JOIN): TeamStatus.OPEN,
    (TeamStatus.OPEN, Trigger.FILL): TeamStatus.SUCCEEDED,
    (TeamStatus.OPEN, Trigger.DEADLINE_MET): TeamStatus.SUCCEEDED,
    (TeamStatus.OPEN, Trigger.DEADLINE_SHORT): TeamStatus.FAILED,
}


class TaskStatus(StrEnum):
    OPEN = "open"
    SUCCEEDED = "succeeded"
    EXPIRED = "expired"


# 砍价 and 助力: friends help one by one; the last help needed completes it; the deadline
# closes what is still open.
TASK_TRANSITIONS: Mapping[tuple[TaskStatus, Trigger], TaskStatus] = {
    (TaskStatus.OPEN, Trigger.ASSIST): TaskStatus.OPEN,
    (TaskStatus.OPEN, Trigger.COMPLETE): TaskStatus.SUCCEEDED,
    (TaskStatus.OPEN, Trigger.DEADLINE_SHORT): TaskStatus.EXPIRED,
}


class InvalidTransition(ValueError):
    def __init__(self, status: str, trigger: Trigger) -> None:
        super().__init__(f"a {status} one cannot take a {trigger}")
        self.status = status
        self.trigger = trigger


def team_after(status: TeamStatus, trigger: Trigger) -> TeamStatus:
    try:
        return TEAM_TRANSITIONS[(status, trigger)]
    except KeyError:
        raise InvalidTransition(status, trigger) from None


def task_after(status: TaskStatus, trigger: Trigger) -> TaskStatus:
    try:
        return TASK_TRANSITIONS[(status, trigger)]
    except KeyError:
        raise InvalidTransition(status, trigger) from None


@dataclass(frozen=True)
class Tier:
    """A team of at least `size` people buys at `price` each."""

    size: int
    price: int


def check_tiers(tiers: Sequence[Tier]) -> None:
    """More people, lower price: sizes from 2 up and prices down, each strictly."""
    if not tiers:
        raise CommerceRuleError("a group-buy needs at least one tier, like 3:99.00")
    for tier in tiers:
        if tier.size < 2:
            raise CommerceRuleError(f"tier {tier.size}: a team has at least 2 people")
        if tier.price <= 0:
            raise CommerceRuleError(f"tier {tier.size}: the price must be above zero")
    for smaller, larger in pairwise(tiers):
        if larger.size <= smaller.size or larger.price >= smaller.price:
            raise CommerceRuleError(
                f"tiers {smaller.size} and {larger.size}: a larger team must pay strictly less"
            )


def tier_reached(tiers: Sequence[Tier], size: int) -> Tier | None:
    """The largest tier a team of `size` reached; None below the first."""
    reached = [tier for tier in tiers if tier.size <= size]
    return reached[-1] if reached else None


@dataclass(frozen=True)
class TeamOutcome:
    status: TeamStatus
    price: int | None


def team_on_join(tiers: Sequence[Tier], size: int) -> TeamOutcome:
    """After a join: the team is full at the largest tier, or stays open."""
    if size >= tiers[-1].size:
        return TeamOutcome(team_after(TeamStatus.OPEN, Trigger.FILL), tiers[-1].price)
    return TeamOutcome(team_after(TeamStatus.OPEN, Trigger.JOIN), None)


def team_at_deadline(tiers: Sequence[Tier], size: int) -> TeamOutcome:
    tier = tier_reached(tiers, size)
    if tier is None:
        return TeamOutcome(team_after(TeamStatus.OPEN, Trigger.DEADLINE_SHORT), None)
    return TeamOutcome(team_after(TeamStatus.OPEN, Trigger.DEADLINE_MET), tier.price)


def team_refund(*, paid: int, outcome: TeamOutcome) -> int:
    """What a member gets back: all they paid when the team failed, else the difference to
    the tier price it reached (everyone pays the first tier's price to join)."""
    if outcome.status is TeamStatus.FAILED or outcome.price is None:
        return paid
    return max(0, paid - outcome.price)


def split_cut(total: int, parts: int, seed: int | str) -> tuple[int, ...]:
    """`total` fen cut in `parts` random amounts of at least 1 fen that sum exactly to it.

    Deterministic for a seed. Earlier friends tend to cut more, as shoppers expect: weights
    fall with the position, then the remainder goes by largest remainder, all in integers.
    """
    if parts < 1:
        raise CommerceRuleError("a bargain needs at least 1 assist")
    if total < parts:
        raise CommerceRuleError(
            f"{parts} assists cannot each cut at least ¥0.01 from ¥{total / 100:.2f}"
        )
    rng = random.Random(f"split:{seed}")
    weights = [rng.randint(1, 1000) * (parts - index + parts) for index in range(parts)]
    spare = total - parts
    whole = sum(weights)
    shares = [spare * weight // whole for weight in weights]
    left = spare - sum(shares)
    by_remainder = sorted(
        range(parts), key=lambda index: (-(spare * weights[index] % whole), index)
    )
    for index in by_remainder[:left]:
        shares[index] += 1
    return tuple(1 + share for share in shares)


def share_amount(*, low: int, high: int, seed: str, clicker: str) -> int:
    """A fission coupon's amount for one person of one share: uniform in [low, high] fen."""
    if not 0 < low <= high:
        raise CommerceRuleError("a share's range needs 0 < min <= max")
    return random.Random(f"share:{seed}:{clicker}").randint(low, high)


class GroupSource(StrEnum):
    EXPLICIT = "explicit"
    LAST_ACTIVE = "last_active"
    NONE = "none"


@dataclass(frozen=True)
class GroupPresence:
    """A member's latest sign of life in one group: a message, a reaction or a join."""

    group: str
    last_seen: datetime
    is_member: bool


def attributed_group(
    explicit: str | None, presences: Sequence[GroupPresence]
) -> tuple[str | None, GroupSource]:
    """The order's group: the one it names, else the member's most recently active group
    (groups they are still in first), else none."""
    if explicit is not None:
        return explicit, GroupSource.EXPLICIT
    if not presences:
        return None, GroupSource.NONE
    best = max(presences, key=lambda p: (p.is_member, p.last_seen, p.group))
    return best.group, GroupSource.LAST_ACTIVE


@dataclass(frozen=True)
class CampaignWindow:
    id: str
    groups: frozenset[str]
    starts_at: datetime
    ends_at: datetime

    def runs_in(self, group: str | None, at: datetime) -> bool:
        in_group = not self.groups or (group is not None and group in self.groups)
        return in_group and self.starts_at <= at <= self.ends_at


def attributed_campaign(
    campaigns: Sequence[CampaignWindow],
    *,
    first_group: str | None,
    first_joined_at: datetime | None,
    group: str | None,
    paid_at: datetime,
) -> str | None:
    """The fission campaign that brought the member (running in the group they first joined,
    when they joined), else one running in the order's group at payment; the latest started."""
    if first_joined_at is not None:
        brought = [c for c in campaigns if c.runs_in(first_group, first_joined_at)]
        if brought:
            return max(brought, key=lambda c: (c.starts_at, c.id)).id
    running = [c for c in campaigns if c.runs_in(group, paid_at)]
    return max(running, key=lambda c: (c.starts_at, c.id)).id if running else None


def attributed_puller(
    *, first_inviter: str | None, staff: frozenset[str], order_staff: str | None
) -> str | None:
    """The staff who pulled the member in: their first inviter when that is staff, else the
    salesperson the shop's order names."""
    if first_inviter is not None and first_inviter in staff:
        return first_inviter
    return order_staff
