"""Orders and refunds as the shop's systems report them, their attribution, products and their
price schedules, coupons; money in integer minor units."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import Base


class Order(Base):
    __tablename__ = "shop_order"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(200))
    group_id: Mapped[str | None] = mapped_column(String(200))
    store: Mapped[str | None] = mapped_column(String(200))
    staff: Mapped[str | None] = mapped_column(String(200))
    # [{"sku": ..., "qty": 2, "unit_price": 60000}] with unit prices in minor units.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    item_count: Mapped[int]
    amount: Mapped[int] = mapped_column(BigInteger)
    coupon: Mapped[str | None] = mapped_column(String(100))
    paid_at: Mapped[datetime]
    # A re-sent order.paid (a correction) replaces an older one, never a newer one.
    paid_key: Mapped[str] = mapped_column(String(48))


class Refund(Base):
    __tablename__ = "refund"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(200), index=True)
    # None: the whole order was refunded.
    amount: Mapped[int | None] = mapped_column(BigInteger)
    refunded_at: Mapped[datetime]


class OrderAttribution(Base):
    """Who and what one paid order is credited to, decided when it is paid; refunds reverse it.

    Not a projection: it records the community as it stood at payment (the member's most
    recently active group then), so a rebuild leaves it as decided.
    """

    __tablename__ = "order_attribution"
    __table_args__ = (
        Index("ix_order_attribution_paid", "org", "paid_at"),
        Index("ix_order_attribution_campaign", "org", "campaign"),
    )

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(200))
    group_id: Mapped[str | None] = mapped_column(String(200))
    # explicit (the order named it), last_active (the member's most recent group) or none.
    group_source: Mapped[str] = mapped_column(String(16))
    store: Mapped[str | None] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200))
    puller: Mapped[str | None] = mapped_column(String(200))
    inviter: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(100))
    campaign: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    refunded: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[datetime]
    # The order.paid it was decided from: a re-sent correction re-attributes, an older one not.
    paid_key: Mapped[str] = mapped_column(String(48))


class Product(Base):
    __tablename__ = "product"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    sku: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class PriceChange(Base):
    """From `effective_at`, the product sells at `price`; one row per cause, so a playbook step
    or an operator's command run twice schedules one change."""

    __tablename__ = "price_change"
    __table_args__ = (Index("ix_price_change_sku", "org", "sku", "effective_at"),)

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(String(200))
    price: Mapped[int] = mapped_column(BigInteger)
    effective_at: Mapped[datetime]
    cause: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]


class CouponTemplate(Base):
    """A kind of coupon: ¥100 off, ¥300 − ¥50, or 4.5折; valid in a window, N per member."""

    __tablename__ = "coupon_template"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    amount_off: Mapped[int] = mapped_column(BigInteger)
    threshold: Mapped[int] = mapped_column(BigInteger)
    # Per mille of the price paid: 450 is 4.5折; 1000 for an amount-off coupon.
    rate: Mapped[int]
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    # Coupons of this template one member may hold, used or not; None: no limit.
    per_member_limit: Mapped[int | None]
    created_at: Mapped[datetime]


class CouponStatus(StrEnum):
    ISSUED = "issued"
    REDEEMED = "redeemed"
    # An old-brings-new reward whose invitee refunded every order in full: it comes back
    # (issued again) when they pay for one they keep.
    REVOKED = "revoked"


class Coupon(Base):
    """One coupon held by one member; its terms are copied from the template when issued
    (a fission coupon's amount is its own)."""

    __tablename__ = "coupon"
    __table_args__ = (Index("ix_coupon_member", "org", "member", "template"),)

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    template: Mapped[str] = mapped_column(String(100))
    member: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    amount_off: Mapped[int] = mapped_column(BigInteger)
    threshold: Mapped[int] = mapped_column(BigInteger)
    rate: Mapped[int]
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    # Why it was issued (a drop, a reward, a share): issuing again for the same cause is a no-op.
    cause: Mapped[str] = mapped_column(String(300))
    issued_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[str | None] = mapped_column(String(200))
    used_at: Mapped[datetime | None]


class CouponUse(Base):
    """A coupon an order named: redeemed with the value it took off, or refused and why;
    `restored_at` when a full refund gave it back."""

    __tablename__ = "coupon_use"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    code: Mapped[str] = mapped_column(String(100), primary_key=True)
    member: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    restored_at: Mapped[datetime | None]


class GroupBuyDeal(Base):
    """A group-buy (拼团) offer: teams of N within T hours buy at the tier's price."""

    __tablename__ = "group_buy_deal"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    sku: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    # [{"size": 3, "price": 9900}, {"size": 5, "price": 7900}]: sizes up, prices down.
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    hours: Mapped[int]
    created_at: Mapped[datetime]


class GroupBuyTeam(Base):
    __tablename__ = "group_buy_team"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deal: Mapped[str] = mapped_column(String(100))
    leader: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime]
    deadline: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    size: Mapped[int]
    # The tier price it succeeded at; None while open or when it failed.
    price: Mapped[int | None] = mapped_column(BigInteger)
    settled_at: Mapped[datetime | None]


class GroupBuyJoin(Base):
    """One member in one team, with what they paid to join (the first tier's price)."""

    __tablename__ = "group_buy_join"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    team: Mapped[str] = mapped_column(String(64), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    paid: Mapped[int] = mapped_column(BigInteger)
    order_ref: Mapped[str | None] = mapped_column(String(200))
    joined_at: Mapped[datetime]
    refunded: Mapped[int] = mapped_column(BigInteger)


class Bargain(Base):
    """A bargain (砍价): N friends' assists cut the price from `start_price` to `target_price`."""

    __tablename__ = "bargain"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(200))
    start_price: Mapped[int] = mapped_column(BigInteger)
    target_price: Mapped[int] = mapped_column(BigInteger)
    assists: Mapped[int]
    # The cuts are split_cut(start - target, assists, seed): fixed when the bargain opens.
    seed: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime]
    deadline: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    cut: Mapped[int] = mapped_column(BigInteger)
    closed_at: Mapped[datetime | None]


class AssistTask(Base):
    """An assist task (助力): N friends help, and the member earns a coupon."""

    __tablename__ = "assist_task"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(100))
    needed: Mapped[int]
    opened_at: Mapped[datetime]
    deadline: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    helped: Mapped[int]
    coupon: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]


class CouponShare(Base):
    """A fission coupon share after an order: the sharer and each clicker get a coupon of a
    random amount in [low, high], up to `clicks` clickers."""

    __tablename__ = "coupon_share"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(200))
    sharer: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(100))
    low: Mapped[int] = mapped_column(BigInteger)
    high: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int]
    created_at: Mapped[datetime]


class HelpKind(StrEnum):
    BARGAIN = "bargain"
    ASSIST = "assist"
    SHARE = "share"


class FriendHelp(Base):
    """A friend's one help to one bargain, assist task or share: the key keeps it to one."""

    __tablename__ = "friend_help"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    friend: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The position among the target's helps, from 1; the amount it cut or the coupon's value.
    number: Mapped[int]
    amount: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
