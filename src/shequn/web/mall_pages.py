"""The points mall (积分商城): its items and the latest redemptions, settled by owners and admins."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from shequn.analytics.service import org_timezone
from shequn.api import shequn_of
from shequn.member.models import GroupMember
from shequn.member.service import nicknames
from shequn.points.ledger import PointsError
from shequn.points.models import MallRedemption, RedemptionStatus
from shequn.points.service import (
    ConcurrentChange,
    UnknownRedemption,
    item_json,
    items_of,
    settle_redemption,
)
from shequn.web.common import (
    PAGE_SIZE,
    Signed,
    check_csrf,
    csv_response,
    is_visible_member,
    page,
    record,
    require,
    visible_groups,
)
from shequn.web.i18n import labeller
from shequn.web.rules import Permission, Staff

router = APIRouter()
ITEM_COLUMNS = ("sku", "name", "kind", "price", "stock", "limit", "active")
REDEMPTION_COLUMNS = ("redemption", "member", "nickname", "sku", "item", "points", "status",
                      "created_at", "status_at", "status_by")  # fmt: skip
TABLES = ("items", "redemptions")
SETTLEMENTS = {"fulfil": True, "cancel": False}


def scoped_redemptions(session: Session, staff: Staff, status_: str) -> Select[Any]:
    """Org-wide staff see every redemption; scoped staff those of members who ever were in one
    of their groups, as on the member pages."""
    query = select(MallRedemption).where(MallRedemption.org == staff.org)
    if not staff.is_org_wide:
        members = select(GroupMember.member_id).where(
            GroupMember.org == staff.org,
            GroupMember.group_id.in_(list(visible_groups(session, staff))),
        )
        query = query.where(MallRedemption.member.in_(members))
    if status_:
        query = query.where(MallRedemption.status == status_)
    return query


def redemption_row(
    found: MallRedemption, names: dict[str, str], items: dict[str, str]
) -> dict[str, Any]:
    return {"redemption": found.id, "member": found.member, "nickname": names.get(found.member, ""),
            "sku": found.sku, "item": items.get(found.sku, ""), "points": found.points,
            "status": found.status, "created": found.created_at, "status_by": found.status_by,
            "created_at": found.created_at.isoformat(),
            "status_at": found.status_at.isoformat()}  # fmt: skip


@router.get("/dashboard/mall", response_model=None)
def mall(
    request: Request,
    visit: Signed,
    status_: Annotated[str, Query(alias="status")] = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    format: str = "html",
    table: str = "redemptions",
) -> Response:
    """Items on offer and the latest redemptions; analysts see the items only (no members)."""
    require(visit, Permission.VIEW_FIGURES)
    staff = visit.staff
    statuses = tuple(str(found) for found in RedemptionStatus)
    if status_ and status_ not in statuses:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"status: {status_!r} is not one of {', '.join(statuses)}"
        )
    if table not in TABLES:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"table: {table!r} is not one of {', '.join(TABLES)}"
        )
    shows_members = staff.may(Permission.VIEW_MEMBERS)
    if format == "csv" and table == "redemptions":
        require(visit, Permission.VIEW_MEMBERS)
    with shequn_of(request).sessions() as session:
        items = [item_json(item) for item in items_of(session, staff.org)]
        if format == "csv" and table == "items":
            return csv_response("mall-items.csv", ITEM_COLUMNS, items)
        timezone = org_timezone(session, staff.org)
        rows: list[dict[str, Any]] = []
        total = 0
        if shows_members:
            base = scoped_redemptions(session, staff, status_)
            total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
            ordered = base.order_by(MallRedemption.created_at.desc(), MallRedemption.id)
            if format != "csv":
                ordered = ordered.offset((page_number - 1) * PAGE_SIZE).limit(PAGE_SIZE)
            found = session.scalars(ordered).all()
            names = nicknames(session, staff.org, [row.member for row in found])
            titles = {item["sku"]: item["name"] for item in items}
            rows = [redemption_row(row, names, titles) for row in found]
    if format == "csv":
        return csv_response("mall-redemptions.csv", REDEMPTION_COLUMNS, rows)
    pages = max(1, -(-total // PAGE_SIZE))
    return page(request, "mall.html", lang=visit.lang, visit=visit, items=items,
                redemptions=rows, shows_members=shows_members, status=status_,
                statuses=statuses, label=labeller(visit.lang), timezone=timezone,
                settled=request.query_params.get("settled"), page_number=page_number,
                pages=pages, total=total)  # fmt: skip


@router.post("/dashboard/mall/redemptions/{redemption_id}/{settlement}")
def settle(
    request: Request,
    visit: Signed,
    redemption_id: str,
    settlement: str,
    csrf: Annotated[str, Form()],
) -> RedirectResponse:
    """Fulfil (the points stay spent) or cancel (points and stock come back) a redemption."""
    check_csrf(visit, csrf)
    require(visit, Permission.SETTLE_REDEMPTIONS)
    if settlement not in SETTLEMENTS:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{settlement!r} is not one of {', '.join(SETTLEMENTS)}"
        )
    shequn = shequn_of(request)
    org = visit.staff.org
    with shequn.sessions.begin() as session:
        found = session.get(MallRedemption, (org, redemption_id))
        if found is None or not is_visible_member(session, visit.staff, found.member):
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(UnknownRedemption(redemption_id)))
        context = shequn.context(session, org)
        try:
            settle_redemption(context, org, redemption_id, fulfilled=SETTLEMENTS[settlement],
                              by=f"dashboard:{visit.staff.username}")  # fmt: skip
        except (PointsError, ConcurrentChange) as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        record(session, visit.staff, f"mall_{settlement}", target=redemption_id)
        context.flush()
    return RedirectResponse(
        f"/dashboard/mall?settled={redemption_id}", status_code=status.HTTP_303_SEE_OTHER
    )
