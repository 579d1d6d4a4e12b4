"""Orders and refunds from the log: a refund may arrive before its order and still counts."""

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table

from shequn.commerce.models import Order, Refund
from shequn.contract import OrderPaid, OrderRefunded
from shequn.engine.context import Context
from shequn.engine.event import Event
from shequn.engine.registry import Projection


def prefetch(context: Context, events: Sequence[Event]) -> None:
    context.rows.prefetch(
        Order,
        {(event.org, event.data.order) for event in events if isinstance(event.data, OrderPaid)},
    )


def on_order_paid(context: Context, event: Event) -> None:
    data = event.payload(OrderPaid)
    order = context.rows.get(Order, (event.org, data.order))
    if order is not None and event.key < order.paid_key:
        return
    if order is None:
        order = context.rows.add(Order(org=event.org, id=data.order))
    order.member_id = data.member
    order.group_id = data.group
    order.store = data.store
    order.staff = data.staff
    order.items = [
        {"sku": item.sku, "qty": item.qty, "unit_price": item.unit_price} for item in data.items
    ]
    order.item_count = sum(item.qty for item in data.items)
    order.amount = data.amount
    order.coupon = data.coupon
    order.paid_at = event.at
    order.paid_key = event.key


def on_order_refunded(context: Context, event: Event) -> None:
    data = event.payload(OrderRefunded)
    context.rows.add(
        Refund(
            org=event.org,
            source=event.source,
            event_id=event.id,
            order_id=data.order,
            amount=data.amount,
            refunded_at=event.at,
        )
    )


ORDERS = Projection(
    name="orders",
    tables=[cast(Table, model.__table__) for model in (Order, Refund)],
    prefetch=prefetch,
    on={"order.paid": on_order_paid, "order.refunded": on_order_refunded},
)
