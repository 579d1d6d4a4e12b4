"""What commerce reacts to: a paid order is attributed, redeems its coupons and may reward the
buyer's first inviter; a refund reverses the attribution and, when full, gives coupons back.
And the deadline job of group-buy teams, bargains and assist tasks."""

from collections.abc import Sequence

from shequn.commerce.mechanics import DEADLINE_JOB, run_deadline
from shequn.commerce.models import Order, OrderAttribution
from shequn.commerce.orders import (
    attribute,
    is_refunded_in_full,
    load_orders,
    note_refund,
    note_refund_amount,
    redeem_coupons,
    restore_coupons,
    reward_referral,
)
from shequn.contract import OrderPaid, OrderRefunded
from shequn.engine.context import Context
from shequn.engine.event import Event
from shequn.engine.registry import JobKind, Reaction
from shequn.member.models import Member


def prefetch(context: Context, events: Sequence[Event]) -> None:
    paid = [(event.org, event.data) for event in events if isinstance(event.data, OrderPaid)]
    orders = {
        (event.org, event.data.order)
        for event in events
        if isinstance(event.data, (OrderPaid, OrderRefunded))
    }
    context.rows.prefetch(Member, {(org, data.member) for org, data in paid})
    context.rows.prefetch(OrderAttribution, orders)
    # Before any event of the batch is applied: what is stored, without this batch's refunds.
    load_orders(context, orders)


def on_order_paid(context: Context, event: Event) -> None:
    data = event.payload(OrderPaid)
    order = context.rows.get(Order, (event.org, data.order))
    # The projection kept a newer order.paid: this older copy changes nothing.
    if order is None or order.paid_key != event.key:
        return
    attribute(context, order)
    redeem_coupons(context, order)
    if is_refunded_in_full(context, order):
        restore_coupons(context, order, at=event.at)
    reward_referral(context, order)


def on_order_refunded(context: Context, event: Event) -> None:
    data = event.payload(OrderRefunded)
    note_refund_amount(context, event.org, data.order, data.amount)
    note_refund(context, event.org, data.order, at=event.at)


COMMERCE = Reaction(
    name="commerce",
    on={"order.paid": on_order_paid, "order.refunded": on_order_refunded},
    prefetch=prefetch,
)
# A deadline is owed however late: a team that did not fill must still be refunded.
DEADLINE = JobKind(name=DEADLINE_JOB, run=run_deadline, max_lateness=None)
