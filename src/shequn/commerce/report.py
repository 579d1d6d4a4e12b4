"""Sales by what they are attributed to: group, store, staff, puller, inviter, channel, campaign."""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.commerce.models import OrderAttribution
from shequn.commerce.texts import yuan
from shequn.kit.time import local_time_to_utc


class AttributionBy(StrEnum):
    GROUP = "group"
    STORE = "store"
    # The group owner (群主), the staff credited with the group's sales.
    STAFF = "staff"
    PULLER = "puller"
    INVITER = "inviter"
    CHANNEL = "channel"
    CAMPAIGN = "campaign"


COLUMN = {
    AttributionBy.GROUP: OrderAttribution.group_id,
    AttributionBy.STORE: OrderAttribution.store,
    AttributionBy.STAFF: OrderAttribution.owner,
    AttributionBy.PULLER: OrderAttribution.puller,
    AttributionBy.INVITER: OrderAttribution.inviter,
    AttributionBy.CHANNEL: OrderAttribution.channel,
    AttributionBy.CAMPAIGN: OrderAttribution.campaign,
}


@dataclass(frozen=True)
class AttributionRow:
    key: str | None
    orders: int
    buyers: int
    gmv: int
    refunded: int

    @property
    def net(self) -> int:
        return self.gmv - self.refunded

    def as_json(self, by: AttributionBy) -> dict[str, Any]:
        return {
            by.value: self.key,
            "orders": self.orders,
            "buyers": self.buyers,
            "gmv": yuan(self.gmv),
            "refunded": yuan(self.refunded),
            "net": yuan(self.net),
        }


def attribution_report(
    session: Session,
    org: str,
    *,
    by: AttributionBy,
    timezone: str,
    first: date | None = None,
    last: date | None = None,
) -> list[AttributionRow]:
    """Orders paid on local days [first, last] (all when open), summed per key; refunds are
    those of these orders so far. Largest net first; unattributed (None) rows last."""
    column = COLUMN[by]
    query = select(
        column, OrderAttribution.member_id, OrderAttribution.amount, OrderAttribution.refunded
    ).where(OrderAttribution.org == org)
    if first is not None:
        query = query.where(OrderAttribution.paid_at >= local_time_to_utc(first, 0, 0, timezone))
    if last is not None:
        end = local_time_to_utc(last + timedelta(days=1), 0, 0, timezone)
        query = query.where(OrderAttribution.paid_at < end)
    totals: dict[str | None, list[int]] = {}
    buyers: dict[str | None, set[str]] = {}
    for key, member, amount, refunded in session.execute(query):
        figures = totals.setdefault(key, [0, 0, 0])
        figures[0] += 1
        figures[1] += amount
        figures[2] += refunded
        buyers.setdefault(key, set()).add(member)
    rows = [
        AttributionRow(key, orders, len(buyers[key]), gmv, refunded)
        for key, (orders, gmv, refunded) in totals.items()
    ]
    return sorted(rows, key=lambda row: (row.key is None, -row.net, row.key or ""))
