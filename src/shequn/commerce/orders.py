"""What a paid order sets off: its attribution, the redemption of the coupons it names, the
old-brings-new reward; and what a refund reverses."""

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select

from shequn.audit.service import flagged_members
from shequn.commerce.models import (
    Coupon,
    CouponStatus,
    CouponUse,
    Order,
    OrderAttribution,
    Refund,
)
from shequn.commerce.rules import (
    CampaignWindow,
    CouponFacts,
    GroupPresence,
    Refusal,
    attributed_campaign,
    attributed_group,
    attributed_puller,
    may_restore,
    quote,
    redemption_refusal,
    referral_stands,
    refunded_total,
)
from shequn.commerce.service import (
    REFERRAL_SETTING,
    CommerceNotFound,
    CommerceRefusal,
    issue_coupon,
    terms_of,
)
from shequn.engine.context import Context
from shequn.fission.models import CampaignRecord
from shequn.group.models import Group, Staff
from shequn.member.models import GroupMember, Member, MemberActivity, Membership

# The order's `coupon` may name several codes: "cp-1…,cp-2…" (commas, plus signs or spaces).
CODE_SEPARATORS = re.compile(r"[,+\s]+")


class UseOutcome(StrEnum):
    REDEEMED = "redeemed"
    REFUSED = "refused"


def codes_of(coupon: str | None) -> list[str]:
    if not coupon:
        return []
    return list(dict.fromkeys(code for code in CODE_SEPARATORS.split(coupon) if code))


def gross_of(order: Order) -> int:
    return sum(int(item["qty"]) * int(item["unit_price"]) for item in order.items)


@dataclass
class OrderBook:
    """What a batch knows of its orders: their refunds (stored before the batch, then each
    refund as it passes) and which already recorded their coupon uses. Loaded in one query per
    kind at the batch's start, so no order flushes the session to read its own batch."""

    refunds: dict[tuple[str, str], list[int | None]] = field(default_factory=dict)
    used: set[tuple[str, str]] = field(default_factory=set)
    loaded: set[tuple[str, str]] = field(default_factory=set)


def order_book(context: Context) -> OrderBook:
    return context.memo(("commerce-orders",), OrderBook)


def load_orders(context: Context, keys: Collection[tuple[str, str]]) -> None:
    """Read the stored refunds and coupon uses of these orders into the batch's book."""
    book = order_book(context)
    wanted = sorted(set(keys) - book.loaded)
    by_org: dict[str, list[str]] = {}
    for org, order in wanted:
        by_org.setdefault(org, []).append(order)
        book.refunds.setdefault((org, order), [])
    for org, orders in by_org.items():
        for start in range(0, len(orders), 500):
            chunk = orders[start : start + 500]
            for order, amount in context.session.execute(
                select(Refund.order_id, Refund.amount).where(
                    Refund.org == org, Refund.order_id.in_(chunk)
                )
            ):
                book.refunds[(org, order)].append(amount)
            book.used.update(
                (org, order)
                for order in context.session.scalars(
                    select(CouponUse.order_id)
                    .where(CouponUse.org == org, CouponUse.order_id.in_(chunk))
                    .distinct()
                )
            )
    book.loaded.update(wanted)


def note_refund_amount(context: Context, org: str, order_id: str, amount: int | None) -> None:
    load_orders(context, [(org, order_id)])
    order_book(context).refunds[(org, order_id)].append(amount)


def refunded_of(context: Context, order: Order) -> int:
    """What the refunds so far (a refund may come before its order) return of it."""
    load_orders(context, [(order.org, order.id)])
    return refunded_total(order.amount, order_book(context).refunds[(order.org, order.id)])


def is_refunded_in_full(context: Context, order: Order) -> bool:
    """Refunds so far return all of it; an order paid ¥0 (all by coupon) needs a refund too."""
    load_orders(context, [(order.org, order.id)])
    refunds = order_book(context).refunds[(order.org, order.id)]
    return bool(refunds) and refunded_total(order.amount, refunds) >= order.amount


def _campaigns(context: Context, org: str) -> list[CampaignWindow]:
    def load() -> list[CampaignWindow]:
        rows = context.session.scalars(select(CampaignRecord).where(CampaignRecord.org == org))
        return [CampaignWindow(row.id, frozenset(row.groups), row.starts_at, row.ends_at)
                for row in rows]  # fmt: skip

    return context.memo(("commerce-campaigns", org), load)


def presences_of(context: Context, org: str, member: str) -> list[GroupPresence]:
    """Each group's latest sign of the member: a message or reaction, else their last join."""
    session = context.session
    seen: dict[str, datetime] = {}
    for group, joined in session.execute(
        select(Membership.group_id, func.max(Membership.joined_at))
        .where(Membership.org == org, Membership.member_id == member)
        .group_by(Membership.group_id)
    ):
        seen[group] = joined
    for group, active in session.execute(
        select(MemberActivity.group_id, MemberActivity.last_active_at).where(
            MemberActivity.org == org, MemberActivity.member_id == member
        )
    ):
        if active is not None and (group not in seen or active > seen[group]):
            seen[group] = active
    current = set(
        session.scalars(
            select(GroupMember.group_id).where(
                GroupMember.org == org, GroupMember.member_id == member, GroupMember.is_member
            )
        )
    )
    return [GroupPresence(group, at, group in current) for group, at in sorted(seen.items())]


def attribute(context: Context, order: Order) -> OrderAttribution:
    """Credit the order to its group, store, owner, puller, inviter, channel and campaign."""
    org = order.org
    member = context.rows.get(Member, (org, order.member_id))
    group_id, source = attributed_group(
        order.group_id, [] if order.group_id else presences_of(context, org, order.member_id)
    )
    group = None if group_id is None else context.rows.get(Group, (org, group_id))
    first_inviter = None if member is None else member.first_inviter
    staff = frozenset(
        {first_inviter}
        if first_inviter is not None and context.rows.get(Staff, (org, first_inviter))
        else ()
    )
    values: dict[str, Any] = {
        "member_id": order.member_id,
        "group_id": group_id,
        "group_source": source.value,
        "store": order.store or (None if group is None else group.store),
        "owner": None if group is None else group.owner,
        "puller": attributed_puller(
            first_inviter=first_inviter,
            staff=staff,
            order_staff=order.staff,
        ),
        "inviter": first_inviter,
        "channel": None if member is None else member.channel,
        "campaign": attributed_campaign(
            _campaigns(context, org),
            first_group=None if member is None else member.first_group,
            first_joined_at=None if member is None else member.first_joined_at,
            group=group_id,
            paid_at=order.paid_at,
        ),
        "amount": order.amount,
        "refunded": refunded_of(context, order),
        "paid_at": order.paid_at,
        "paid_key": order.paid_key,
    }
    row = context.rows.get(OrderAttribution, (org, order.id))
    if row is None:
        row = context.rows.add(OrderAttribution(org=org, order_id=order.id, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
    return row


def note_refund(context: Context, org: str, order_id: str, *, at: datetime) -> None:
    """A refund arrived `at`: the order's attribution and coupons follow what is refunded now."""
    order = context.rows.get(Order, (org, order_id))
    row = context.rows.get(OrderAttribution, (org, order_id))
    if order is None or row is None:
        return
    row.refunded = refunded_of(context, order)
    if is_refunded_in_full(context, order):
        restore_coupons(context, order, at=at)
        settle_referral(context, order)


@dataclass(frozen=True)
class Use:
    code: str
    outcome: str
    reason: str | None
    value: int


def redeem_coupons(context: Context, order: Order) -> list[Use]:
    """Redeem the coupons the order names, in the stacking order; a coupon not issued to the
    buyer, not valid at payment, already used or that does not apply is recorded as refused
    with its reason. The order counts either way. Once per order: a corrected re-send of it
    changes none of its coupon uses."""
    session = context.session
    org = order.org
    codes = codes_of(order.coupon)
    book = order_book(context)
    load_orders(context, [(org, order.id)])
    if not codes or (org, order.id) in book.used:
        return []
    book.used.add((org, order.id))
    coupons = {code: session.get(Coupon, (org, code)) for code in codes}
    refusals: dict[str, Refusal] = {}
    usable: list[Coupon] = []
    for code in codes:
        coupon = coupons[code]
        facts = None if coupon is None else CouponFacts(
            coupon.member, coupon.valid_from, coupon.valid_until, coupon.order_id,
            revoked=coupon.status == CouponStatus.REVOKED,
        )  # fmt: skip
        refusal = redemption_refusal(facts, member=order.member_id, order=order.id,
                                     at=order.paid_at)  # fmt: skip
        if refusal is not None:
            refusals[code] = refusal
        elif coupon is not None:
            usable.append(coupon)
    priced = quote(gross_of(order), [terms_of(coupon) for coupon in usable])
    uses = []
    for index, coupon in enumerate(usable):
        if index in priced.refused:
            refusals[coupon.code] = priced.refused[index]
            continue
        coupon.status = CouponStatus.REDEEMED.value
        coupon.order_id = order.id
        coupon.used_at = order.paid_at
        uses.append(Use(coupon.code, UseOutcome.REDEEMED.value, None, priced.applied[index]))
    uses.extend(
        Use(code, UseOutcome.REFUSED.value, reason.value, 0) for code, reason in refusals.items()
    )
    for use in uses:
        session.add(CouponUse(org=org, order_id=order.id, code=use.code, member=order.member_id,
                              outcome=use.outcome, reason=use.reason, value=use.value,
                              at=order.paid_at, restored_at=None))  # fmt: skip
    return uses


def restore_coupons(context: Context, order: Order, *, at: datetime) -> int:
    """A fully refunded order gives back the coupons it redeemed that are still valid `at` the
    refund."""
    session = context.session
    session.flush()
    restored = 0
    for use in session.scalars(
        select(CouponUse).where(
            CouponUse.org == order.org,
            CouponUse.order_id == order.id,
            CouponUse.outcome == UseOutcome.REDEEMED.value,
            CouponUse.restored_at.is_(None),
        )
    ):
        coupon = session.get(Coupon, (order.org, use.code))
        if coupon is None or coupon.order_id != order.id:
            continue
        if not may_restore(fully_refunded=True, at=at, valid_until=coupon.valid_until):
            continue
        coupon.status, coupon.order_id, coupon.used_at = CouponStatus.ISSUED.value, None, None
        use.restored_at = at
        restored += 1
    return restored


def _referrer(context: Context, order: Order) -> str | None:
    """The invitee's first inviter, when old-brings-new rewards them: not the buyer themself,
    not staff, and neither of the two flagged by the audit."""
    org = order.org
    member = context.rows.get(Member, (org, order.member_id))
    inviter = None if member is None else member.first_inviter
    if inviter is None or inviter == order.member_id:
        return None
    if context.rows.get(Staff, (org, inviter)) is not None:
        return None
    flagged = context.memo(("commerce-flagged", org),
                           lambda: flagged_members(context.session, org))  # fmt: skip
    if inviter in flagged or order.member_id in flagged:
        return None
    return inviter


def _orders_kept(context: Context, org: str, member: str) -> int:
    """The member's paid orders not refunded in full."""
    context.session.flush()
    orders = context.session.scalars(
        select(Order).where(Order.org == org, Order.member_id == member)
    ).all()
    load_orders(context, [(org, order.id) for order in orders])
    return sum(1 for order in orders if not is_refunded_in_full(context, order))


def _referral_coupon(context: Context, org: str, inviter: str, invitee: str) -> Coupon | None:
    return context.session.scalars(
        select(Coupon)
        .where(Coupon.org == org, Coupon.member == inviter, Coupon.cause == f"referral:{invitee}")
        .order_by(Coupon.issued_at, Coupon.code)
        .limit(1)
    ).first()


def reward_referral(context: Context, order: Order) -> str | None:
    """Old brings new (老带新): when a member first pays, their first inviter gets the org's
    referral coupon; once per invitee. Staff and audit-flagged inviters or invitees get none.
    A reward revoked after refunds comes back with an order the invitee keeps."""
    org = order.org
    template = context.tenant(org).settings.get(REFERRAL_SETTING)
    if not template:
        return None
    inviter = _referrer(context, order)
    if inviter is None:
        return None
    context.session.flush()
    given = _referral_coupon(context, org, inviter, order.member_id)
    if given is not None:
        if given.status == CouponStatus.REVOKED and not is_refunded_in_full(context, order):
            given.status = CouponStatus.ISSUED.value
        return given.code
    earlier = context.session.scalars(
        select(Order).where(Order.org == org, Order.member_id == order.member_id,
                            Order.paid_at < order.paid_at)
    ).all()  # fmt: skip
    load_orders(context, [(org, row.id) for row in earlier])
    # Not their first order they keep: the reward, if any, belonged to the first.
    if any(not is_refunded_in_full(context, row) for row in earlier):
        return None
    # Refunded before the order arrived: the reward it earned, already revoked, as replaying
    # the log in time order leaves it.
    status = CouponStatus.REVOKED if is_refunded_in_full(context, order) else CouponStatus.ISSUED
    try:
        return issue_coupon(context, org=org, member=inviter, template=str(template),
                            cause=f"referral:{order.member_id}", at=order.paid_at,
                            status=status)  # fmt: skip
    except (CommerceNotFound, CommerceRefusal):
        # A template since removed or expired: the order still counts; nobody is rewarded.
        return None


def settle_referral(context: Context, order: Order) -> None:
    """The order is refunded in full: the reward it earned its inviter is revoked, unused,
    unless the invitee keeps another paid order. A reward already spent stays spent."""
    inviter = _referrer(context, order)
    if inviter is None:
        return
    given = _referral_coupon(context, order.org, inviter, order.member_id)
    if given is None or given.status != CouponStatus.ISSUED:
        return
    if not referral_stands(_orders_kept(context, order.org, order.member_id)):
        given.status = CouponStatus.REVOKED.value


def uses_of(context: Context, org: str, orders: Sequence[str]) -> list[CouponUse]:
    return list(
        context.session.scalars(
            select(CouponUse)
            .where(CouponUse.org == org, CouponUse.order_id.in_(sorted(set(orders))))
            .order_by(CouponUse.order_id, CouponUse.code)
        )
    )
