"""HTTP for the shop's pages: products and prices, a member's coupons, and the calls by which
members join group-buys, cut bargains, help assist tasks and open coupon shares."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from shequn.analytics.service import org_timezone
from shequn.api import MemberOrg, ReadOrg, shequn_of
from shequn.commerce.mechanics import (
    assist_bargain,
    assist_json,
    click_share,
    help_assist,
    join_team,
    open_team,
    share_order,
    team_view,
)
from shequn.commerce.service import (
    CommerceNotFound,
    CommerceRefusal,
    coupon_json,
    coupons_of,
    products_of,
)
from shequn.contract import Money
from shequn.engine.context import Context
from shequn.kit.time import utc_now

router = APIRouter(prefix="/api/v1")
T = TypeVar("T")
PlatformId = Annotated[str, Field(min_length=1, max_length=200)]


class MemberIn(BaseModel):
    member: PlatformId
    # The member's payment order, named in the refund task if the team fails.
    order: PlatformId | None = None
    # A client's retry with the same key gets the team it opened the first time.
    key: PlatformId | None = None


class FriendIn(BaseModel):
    friend: PlatformId


class ShareIn(BaseModel):
    order: PlatformId
    template: PlatformId
    min: Money
    max: Money
    clicks: Annotated[int, Field(ge=1, le=10_000)] = 10


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except CommerceNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    except CommerceRefusal as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT, {"reason": error.reason, "message": str(error)}
        ) from None


def _in_unit_of_work(request: Request, org: str, use: Callable[[Context], T]) -> T:
    shequn = shequn_of(request)
    with _refusals(), shequn.sessions.begin() as session:
        context = shequn.context(session, org)
        result = use(context)
        context.flush()
        return result


@router.get("/products")
def get_products(request: Request, org: ReadOrg) -> list[dict[str, Any]]:
    """Every product with its price now and its schedule, in the org's time zone."""
    with shequn_of(request).sessions() as session:
        timezone = org_timezone(session, org)
        return [view.as_json(timezone) for view in products_of(session, org, at=utc_now())]


@router.get("/coupons/{member}")
def get_coupons(request: Request, org: ReadOrg, member: str) -> list[dict[str, Any]]:
    with shequn_of(request).sessions() as session:
        return [coupon_json(coupon) for coupon in coupons_of(session, org, member=member)]


@router.post("/groupbuys/{deal}/teams", status_code=201)
def post_team(request: Request, org: MemberOrg, deal: str, body: MemberIn) -> dict[str, Any]:
    """A member opens a team (开团) and is its first member."""

    def use(context: Context) -> dict[str, Any]:
        team = open_team(context, org=org, deal=deal, leader=body.member, order=body.order,
                         key=body.key)  # fmt: skip
        context.session.flush()
        return team_view(context, org, team.id)

    return _in_unit_of_work(request, org, use)


@router.post("/teams/{team}/joins")
def post_join(request: Request, org: MemberOrg, team: str, body: MemberIn) -> dict[str, Any]:
    """A member joins a team (参团); 409 when it is closed or past its deadline."""

    def use(context: Context) -> dict[str, Any]:
        join_team(context, org=org, team=team, member=body.member, order=body.order)
        context.session.flush()
        return team_view(context, org, team)

    return _in_unit_of_work(request, org, use)


@router.post("/bargains/{bargain}/assists")
def post_assist(request: Request, org: MemberOrg, bargain: str, body: FriendIn) -> dict[str, Any]:
    """A friend's one cut (帮砍一刀); the same friend again gets the same cut."""
    return _in_unit_of_work(
        request,
        org,
        lambda context: assist_bargain(
            context, org=org, bargain=bargain, friend=body.friend
        ).as_json(),
    )


@router.post("/assists/{task}/helps")
def post_help(request: Request, org: MemberOrg, task: str, body: FriendIn) -> dict[str, Any]:
    """A friend's one help (助力); the last one needed issues the coupon."""
    return _in_unit_of_work(
        request,
        org,
        lambda context: assist_json(help_assist(context, org=org, task=task, friend=body.friend)),
    )


@router.post("/shares", status_code=201)
def post_share(request: Request, org: MemberOrg, body: ShareIn) -> dict[str, Any]:
    """After an order, a share (分享券): the buyer's coupon of a random amount."""
    return _in_unit_of_work(
        request,
        org,
        lambda context: share_order(
            context, org=org, order=body.order, template=body.template, low=body.min,
            high=body.max, clicks=body.clicks,
        ).as_json(),
    )  # fmt: skip


@router.post("/shares/{share}/clicks")
def post_click(request: Request, org: MemberOrg, share: str, body: MemberIn) -> dict[str, Any]:
    """A friend opens a share and gets a coupon of a random amount, once."""
    return _in_unit_of_work(
        request,
        org,
        lambda context: click_share(context, org=org, share=share, member=body.member).as_json(),
    )
