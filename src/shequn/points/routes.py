"""HTTP: members' points and history, the mall's items, and redemptions, behind org tokens."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from shequn.api import Org, shequn_of
from shequn.kit.time import utc_now
from shequn.points.ledger import InsufficientPoints
from shequn.points.service import (
    ItemInactive,
    LimitReached,
    OutOfStock,
    UnknownItem,
    UnknownMember,
    balance_of,
    history_of,
    item_json,
    items_of,
    redeem,
    redemption_json,
)

router = APIRouter(prefix="/api/v1")

# Why a redemption was refused, as a word a client can branch on.
REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (InsufficientPoints, "insufficient_points"),
    (OutOfStock, "out_of_stock"),
    (LimitReached, "limit_reached"),
    (ItemInactive, "not_on_offer"),
)


class LotOut(BaseModel):
    lot: str
    earned: int
    remaining: int
    earned_at: str
    expires_at: str


class BalanceOut(BaseModel):
    member: str
    balance: int
    spendable: int
    lots: list[LotOut]


class EntryOut(BaseModel):
    at: str
    kind: str
    points: int
    balance: int
    reason: str
    group: str | None
    key: str
    lot: str


class ItemOut(BaseModel):
    sku: str
    name: str
    kind: str
    price: int
    stock: int
    limit: int | None
    active: bool


PlatformId = Annotated[str, Field(min_length=1, max_length=200)]


class RedemptionIn(BaseModel):
    member: PlatformId
    sku: PlatformId
    # A client's retry with the same key gets the redemption it made the first time.
    key: PlatformId | None = None


class RedemptionOut(BaseModel):
    redemption: str
    member: str
    sku: str
    points: int
    status: str
    created_at: str
    balance: int


def _not_found(error: LookupError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(error))


@router.get("/points/{member}", response_model=BalanceOut)
def get_points(request: Request, org: Org, member: str) -> dict[str, Any]:
    """A member's balance, what of it may be spent now, and its lots, earliest-expiring first."""
    with shequn_of(request).sessions() as session:
        try:
            return balance_of(session, org, member, now=utc_now()).as_json()
        except UnknownMember as error:
            raise _not_found(error) from None


@router.get("/points/{member}/history", response_model=list[EntryOut])
def get_history(request: Request, org: Org, member: str) -> list[dict[str, Any]]:
    """Every movement of the member's points in time order, with the balance after each."""
    with shequn_of(request).sessions() as session:
        try:
            return history_of(session, org, member)
        except UnknownMember as error:
            raise _not_found(error) from None


@router.get("/mall/items", response_model=list[ItemOut])
def get_items(request: Request, org: Org) -> list[dict[str, Any]]:
    with shequn_of(request).sessions() as session:
        return [item_json(item) for item in items_of(session, org)]


@router.post("/mall/redemptions", response_model=RedemptionOut, status_code=201)
def post_redemption(request: Request, org: Org, body: RedemptionIn) -> dict[str, Any]:
    """Hold an item's price and one of its stock for a member; 409 names why it cannot be."""
    shequn = shequn_of(request)
    try:
        with shequn.sessions.begin() as session:
            context = shequn.context(session, org)
            redemption = redeem(context, org, body.member, body.sku, key=body.key)
            context.flush()
            balance = balance_of(session, org, body.member, now=context.now).balance
            return redemption_json(redemption, balance=balance)
    except (UnknownMember, UnknownItem) as error:
        raise _not_found(error) from None
    except tuple(kind for kind, _ in REFUSALS) as error:
        reason = next(word for kind, word in REFUSALS if isinstance(error, kind))
        raise HTTPException(
            status.HTTP_409_CONFLICT, {"reason": reason, "message": str(error)}
        ) from None
