"""Orders and refunds as the shop's systems report them; money in integer minor units."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
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
