"""The points mall (积分商城): items, and redemptions that hold points and stock at once, then
are fulfilled or cancelled."""

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, select, update
from sqlalchemy.orm import Session

from shequn.engine.context import Context
from shequn.kit.ids import stable_id
from shequn.points.ledger import (
    ReservationStatus,
    cancel,
    fulfil,
    reserve,
)
from shequn.points.models import (
    ItemKind,
    MallItem,
    MallRedemption,
    PointsBalance,
    PointsReservation,
    RedemptionStatus,
)
from shequn.points.policy import policy_of
from shequn.points.store import (
    is_dialect,
    load_ledger,
    lock_members,
    require_member,
    save_ledger,
    table_of,
)


class UnknownItem(LookupError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"mall item {sku!r} does not exist in this org")


class UnknownRedemption(LookupError):
    def __init__(self, redemption: str) -> None:
        super().__init__(f"redemption {redemption!r} does not exist in this org")


class MallRefusal(ValueError):
    """A redemption the mall refuses as things stand: the caller may try again later."""


class ItemInactive(MallRefusal):
    def __init__(self, sku: str) -> None:
        super().__init__(f"mall item {sku!r} is not on offer")


class OutOfStock(MallRefusal):
    def __init__(self, sku: str) -> None:
        super().__init__(f"mall item {sku!r} is out of stock")


class LimitReached(MallRefusal):
    def __init__(self, sku: str, limit: int) -> None:
        super().__init__(f"limit reached: {limit} of {sku!r} per member")


def _item(session: Session, org: str, sku: str, *, lock: bool = False) -> MallItem:
    query = select(MallItem).where(MallItem.org == org, MallItem.sku == sku)
    if lock:
        if is_dialect(session, "sqlite"):
            balances = table_of(PointsBalance)
            session.execute(update(balances).where(false()).values(balance=balances.c.balance))
        else:
            query = query.with_for_update()
    item = session.scalars(query.execution_options(populate_existing=True)).first()
    if item is None:
        raise UnknownItem(sku)
    return item


def _check_item(sku: str, name: str, kind: str, price: int, stock: int, limit: int | None) -> None:
    if not sku.strip() or len(sku) > 200 or any(c.isspace() for c in sku):
        raise ValueError(f"sku: {sku!r} must be 1-200 characters without spaces")
    if not name.strip() or len(name) > 200:
        raise ValueError(f"--name: {name!r} must be 1-200 characters")
    if kind not in tuple(ItemKind):
        raise ValueError(f"--kind: {kind!r} is not one of {', '.join(ItemKind)}")
    if price < 1:
        raise ValueError(f"--price: {price} must be 1 point or more")
    if stock < 0:
        raise ValueError(f"--stock: {stock} cannot be negative")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit: {limit} must be 1 or more")


def add_item(
    session: Session,
    org: str,
    sku: str,
    *,
    name: str,
    kind: str,
    price: int,
    stock: int,
    limit: int | None,
    now: datetime,
) -> MallItem:
    """A new item in the points mall; an existing sku is refused, not overwritten."""
    _check_item(sku, name, kind, price, stock, limit)
    if session.get(MallItem, (org, sku)) is not None:
        raise ValueError(f"sku: {sku!r} already exists (change it with: shequn mall item set)")
    item = MallItem(org=org, sku=sku, name=name.strip(), kind=kind, price=price, stock=stock,
                    per_member_limit=limit, is_active=True, created_at=now)  # fmt: skip
    session.add(item)
    session.flush()
    return item


def set_item(
    session: Session,
    org: str,
    sku: str,
    *,
    changes: Mapping[str, Any],
) -> MallItem:
    """Change an item's name, price, stock, limit or whether it is on offer."""
    item = _item(session, org, sku, lock=True)
    values = {"name": item.name, "kind": item.kind, "price": item.price, "stock": item.stock,
              "limit": item.per_member_limit, **changes}  # fmt: skip
    _check_item(sku, values["name"], values["kind"], values["price"], values["stock"],
                values["limit"])  # fmt: skip
    item.name, item.kind, item.price = values["name"].strip(), values["kind"], values["price"]
    item.stock, item.per_member_limit = values["stock"], values["limit"]
    item.is_active = bool(changes.get("active", item.is_active))
    session.flush()
    return item


def items_of(session: Session, org: str) -> list[MallItem]:
    return list(session.scalars(select(MallItem).where(MallItem.org == org).order_by(MallItem.sku)))


def item_json(item: MallItem) -> dict[str, Any]:
    return {"sku": item.sku, "name": item.name, "kind": item.kind, "price": item.price,
            "stock": item.stock, "limit": item.per_member_limit,
            "active": item.is_active}  # fmt: skip


def redemption_json(redemption: MallRedemption, *, balance: int | None = None) -> dict[str, Any]:
    shown = {"redemption": redemption.id, "member": redemption.member, "sku": redemption.sku,
             "points": redemption.points, "status": redemption.status,
             "created_at": redemption.created_at.isoformat()}  # fmt: skip
    return shown if balance is None else {**shown, "balance": balance}


def redeem(
    context: Context, org: str, member: str, sku: str, *, key: str | None = None
) -> MallRedemption:
    """Hold the item's price in points and one of its stock, at once or not at all."""
    session = context.session
    # Locks in one order everywhere: the item, then the member's balance.
    item = _item(session, org, sku, lock=True)
    require_member(session, org, member)
    # With a key, a retried request finds the redemption it made the first time.
    redemption_id = f"r-{secrets.token_hex(8)}" if key is None else stable_id("r", org, key)
    lock_members(session, org, [member])
    earlier = session.get(MallRedemption, (org, redemption_id))
    if earlier is not None:
        return earlier
    if not item.is_active:
        raise ItemInactive(sku)
    if item.per_member_limit is not None:
        taken = session.scalar(
            select(func.count()).select_from(MallRedemption).where(
                MallRedemption.org == org, MallRedemption.member == member,
                MallRedemption.sku == sku,
                MallRedemption.status != RedemptionStatus.CANCELLED.value,
            )
        ) or 0  # fmt: skip
        if taken >= item.per_member_limit:
            raise LimitReached(sku, item.per_member_limit)
    if item.stock < 1:
        raise OutOfStock(sku)
    policy = policy_of(context, org)
    before = load_ledger(session, org, [member], timezone=context.tenant(org).timezone,
                         months=policy.expiry_months)  # fmt: skip
    reservation_key = f"redeem:{redemption_id}"
    after, _ = reserve(before, member=member, points=item.price, key=reservation_key,
                       at=context.now, reason=f"mall {sku}")  # fmt: skip
    save_ledger(context, org, before, after)
    item.stock -= 1
    redemption = MallRedemption(
        org=org, id=redemption_id, member=member, sku=sku, points=item.price,
        reservation=reservation_key, status=RedemptionStatus.HELD.value, created_at=context.now,
        status_at=context.now, status_by=None,
    )  # fmt: skip
    session.add(redemption)
    session.flush()
    return redemption


def _redemption(session: Session, org: str, redemption_id: str) -> MallRedemption:
    found = session.get(MallRedemption, (org, redemption_id), populate_existing=True)
    if found is None:
        raise UnknownRedemption(redemption_id)
    return found


def settle_redemption(
    context: Context, org: str, redemption_id: str, *, fulfilled: bool, by: str
) -> MallRedemption:
    """Fulfil a held redemption (the points stay spent), or cancel it (points and stock come
    back). Doing the same again changes nothing; the other is refused."""
    session = context.session
    found = _redemption(session, org, redemption_id)
    item = _item(session, org, found.sku, lock=True)
    lock_members(session, org, [found.member])
    redemption = _redemption(session, org, redemption_id)
    policy = policy_of(context, org)
    held = session.get(PointsReservation, (org, redemption.reservation), populate_existing=True)
    taken = [str(take["lot"]) for take in held.taken] if held is not None else []
    before = load_ledger(session, org, [redemption.member], lots=taken,
                         reservation=redemption.reservation,
                         timezone=context.tenant(org).timezone,
                         months=policy.expiry_months)  # fmt: skip
    if fulfilled:
        after = fulfil(before, redemption.reservation)
    else:
        after = cancel(before, redemption.reservation, at=context.now, reason="mall cancelled")
    status = (ReservationStatus.FULFILLED if fulfilled else ReservationStatus.CANCELLED).value
    if redemption.status == status:
        return redemption
    save_ledger(context, org, before, after)
    if not fulfilled:
        item.stock += 1
    redemption.status, redemption.status_at, redemption.status_by = status, context.now, by
    session.flush()
    return redemption
