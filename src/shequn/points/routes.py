"""HTTP: members' points and history (paged), the org's balances, the mall's items,
redemptions and quizzes, behind org tokens."""

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from shequn.api import MemberOrg, OperateOrg, ReadOrg, shequn_of
from shequn.kit.time import utc_now
from shequn.points.ledger import InsufficientPoints
from shequn.points.quiz import (
    UnknownQuiz,
    close_quiz,
    correct_counts,
    counts_json,
    quizzes_of,
    start_quiz,
)
from shequn.points.service import (
    ItemInactive,
    LimitReached,
    OutOfStock,
    UnknownItem,
    UnknownMember,
    balance_of,
    balances_page,
    history_count,
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


class BalanceRowOut(BaseModel):
    member: str
    balance: int


class BalancesOut(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[BalanceRowOut]


class QuizIn(BaseModel):
    group: PlatformId
    question: Annotated[str, Field(min_length=1, max_length=1000)]
    answers: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]],
                       Field(min_length=1, max_length=20)]  # fmt: skip
    # Default: the org's points_quiz setting (10).
    points: Annotated[int | None, Field(ge=1)] = None
    # Default: now.
    opens_at: AwareDatetime | None = None
    # One of the two: when it closes, or how long after it opens.
    closes_at: AwareDatetime | None = None
    minutes: Annotated[int | None, Field(ge=1)] = None
    lang: Annotated[str | None, Field(pattern="^(zh|en)$")] = None
    by: Annotated[str | None, Field(max_length=200)] = None

    @model_validator(mode="after")
    def one_end(self) -> "QuizIn":
        if (self.closes_at is None) == (self.minutes is None):
            raise ValueError("give closes_at or minutes (one of them)")
        return self


class QuizOut(BaseModel):
    quiz: str
    group: str
    question: str
    answers: list[str]
    points: int
    opens_at: str
    closes_at: str
    status: str
    correct: int


Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


def _not_found(error: LookupError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(error))


@router.get("/points/{member}", response_model=BalanceOut)
def get_points(request: Request, org: ReadOrg, member: str) -> dict[str, Any]:
    """A member's balance, what of it may be spent now, and its lots, earliest-expiring first."""
    with shequn_of(request).sessions() as session:
        try:
            return balance_of(session, org, member, now=utc_now()).as_json()
        except UnknownMember as error:
            raise _not_found(error) from None


@router.get("/points", response_model=BalancesOut)
def get_balances(
    request: Request, org: ReadOrg, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """The org's balances, highest first, a page at a time; `total` counts them all."""
    with shequn_of(request).sessions() as session:
        return balances_page(session, org, limit=limit, offset=offset).as_json()


@router.get("/points/{member}/history", response_model=list[EntryOut])
def get_history(
    request: Request,
    response: Response,
    org: ReadOrg,
    member: str,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """The movements of the member's points in time order, with the balance after each, a page
    at a time; the X-Total-Count header counts them all."""
    with shequn_of(request).sessions() as session:
        try:
            rows = history_of(session, org, member, limit=limit, offset=offset)
        except UnknownMember as error:
            raise _not_found(error) from None
        response.headers["X-Total-Count"] = str(history_count(session, org, member))
        return rows


@router.get("/mall/items", response_model=list[ItemOut])
def get_items(request: Request, org: ReadOrg) -> list[dict[str, Any]]:
    with shequn_of(request).sessions() as session:
        return [item_json(item) for item in items_of(session, org)]


@router.post("/mall/redemptions", response_model=RedemptionOut, status_code=201)
def post_redemption(request: Request, org: MemberOrg, body: RedemptionIn) -> dict[str, Any]:
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


@router.get("/quizzes", response_model=list[QuizOut])
def get_quizzes(request: Request, org: ReadOrg, group: str | None = None) -> list[dict[str, Any]]:
    """Quizzes, latest first, with how many members answered right."""
    with shequn_of(request).sessions() as session:
        records = quizzes_of(session, org, group=group)
        counts = correct_counts(session, org, [record.id for record in records])
        return counts_json(records, counts, now=utc_now())


@router.post("/quizzes", response_model=QuizOut, status_code=201)
def post_quiz(request: Request, org: OperateOrg, body: QuizIn) -> dict[str, Any]:
    """Start a quiz in a group; the same question, group and start again returns the first."""
    shequn = shequn_of(request)
    try:
        with shequn.sessions.begin() as session:
            context = shequn.context(session, org)
            opens_at: datetime = body.opens_at or context.now
            closes_at = body.closes_at or opens_at + timedelta(minutes=body.minutes or 0)
            record = start_quiz(
                context, org, group=body.group, question=body.question, answers=body.answers,
                opens_at=opens_at, closes_at=closes_at, points=body.points, lang=body.lang,
                by=body.by,
            )  # fmt: skip
            context.flush()
            return counts_json([record], correct_counts(session, org, [record.id]),
                               now=context.now)[0]  # fmt: skip
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None


@router.post("/quizzes/{quiz}/close", response_model=QuizOut)
def post_quiz_close(request: Request, org: OperateOrg, quiz: str) -> dict[str, Any]:
    """Close a quiz now: its answer and the number of right answers are posted to the group."""
    shequn = shequn_of(request)
    try:
        with shequn.sessions.begin() as session:
            context = shequn.context(session, org)
            record = close_quiz(context, org, quiz)
            context.flush()
            return counts_json([record], correct_counts(session, org, [quiz]),
                               now=context.now)[0]  # fmt: skip
    except UnknownQuiz as error:
        raise _not_found(error) from None
    except ValueError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
