"""A member's account as shown: balance and lots, the history of entries, the org's balances."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequn.points.ledger import Lot
from shequn.points.models import PointsBalance, PointsEntry, PointsLot
from shequn.points.store import lot_columns, lot_of, require_member


@dataclass(frozen=True)
class BalanceView:
    member: str
    balance: int
    spendable: int
    lots: list[Lot]

    def as_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "balance": self.balance,
            "spendable": self.spendable,
            "lots": [
                {"lot": lot.id, "earned": lot.earned, "remaining": lot.remaining,
                 "earned_at": lot.earned_at.isoformat(), "expires_at": lot.expires_at.isoformat()}
                for lot in self.lots
            ],
        }  # fmt: skip


def balance_of(session: Session, org: str, member: str, *, now: datetime) -> BalanceView:
    """The member's balance and the lots it is made of, earliest-expiring first."""
    require_member(session, org, member)
    row = session.get(PointsBalance, (org, member), populate_existing=True)
    lots = [
        lot_of(lot)
        for lot in session.execute(
            select(*lot_columns())
            .where(PointsLot.org == org, PointsLot.member == member, PointsLot.remaining > 0)
            .order_by(PointsLot.expires_at, PointsLot.earned_at, PointsLot.id)
        )
    ]
    spendable = sum(lot.remaining for lot in lots if lot.is_open(now))
    return BalanceView(member, 0 if row is None else row.balance, spendable, lots)


def history_of(
    session: Session, org: str, member: str, *, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """The member's entries in time order, with the balance after each; `offset` entries are
    skipped and at most `limit` shown, the running balance still counting the skipped ones."""
    require_member(session, org, member)
    if offset < 0 or (limit is not None and limit < 1):
        raise ValueError("offset must be 0 or more and limit 1 or more")
    mine = (PointsEntry.org == org, PointsEntry.member == member)
    order = (PointsEntry.at, PointsEntry.id)
    running = 0
    if offset:
        skipped = select(PointsEntry.amount).where(*mine).order_by(*order).limit(offset).subquery()
        running = int(session.scalar(select(func.sum(skipped.c.amount))) or 0)
    query = select(PointsEntry).where(*mine).order_by(*order).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    history: list[dict[str, Any]] = []
    for row in session.scalars(query):
        running += row.amount
        history.append({
            "at": row.at.isoformat(), "kind": row.kind, "points": row.amount, "balance": running,
            "reason": row.reason, "group": row.group_id, "key": row.key, "lot": row.lot,
        })  # fmt: skip
    return history


def history_count(session: Session, org: str, member: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(PointsEntry)
            .where(PointsEntry.org == org, PointsEntry.member == member)
        )
        or 0
    )


@dataclass(frozen=True)
class BalancesPage:
    """One page of the org's balances, highest first (ties by member id), and how many in all."""

    total: int
    limit: int
    offset: int
    balances: list[tuple[str, int]]

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total, "limit": self.limit, "offset": self.offset,
            "items": [{"member": member, "balance": balance} for member, balance in self.balances],
        }  # fmt: skip


def balances_page(session: Session, org: str, *, limit: int, offset: int = 0) -> BalancesPage:
    """Balances of the members with a points account, highest first."""
    if offset < 0 or limit < 1:
        raise ValueError("offset must be 0 or more and limit 1 or more")
    total = session.scalar(
        select(func.count()).select_from(PointsBalance).where(PointsBalance.org == org)
    )
    rows = session.execute(
        select(PointsBalance.member, PointsBalance.balance)
        .where(PointsBalance.org == org)
        .order_by(PointsBalance.balance.desc(), PointsBalance.member)
        .limit(limit)
        .offset(offset)
    )
    return BalancesPage(int(total or 0), limit, offset, [(m, int(b)) for m, b in rows])
