"""Lotteries on the dashboard: draws still to come, and results with winners and proofs."""

from collections.abc import Collection, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shequn.analytics.service import org_timezone
from shequn.api import shequn_of
from shequn.group.models import Group
from shequn.lottery.models import DrawRecord, DrawStatus, LotteryRecord, LotteryWin
from shequn.member.service import nicknames
from shequn.web.common import (
    PAGE_SIZE,
    Signed,
    csv_response,
    page,
    require,
    visible_groups,
)
from shequn.web.rules import Permission, Staff

router = APIRouter()

# Draws still owed are few (one per group per evening at most): all of them, soonest first.
UPCOMING_LIMIT = 200
COLUMNS = ("draw", "lottery", "group", "at", "status", "entrants", "winners", "proof")


def _in_scope(session: Session, staff: Staff) -> ColumnElement[bool]:
    """Draws in the staff's groups; org-wide staff need no list of 10,000 group ids."""
    mine = DrawRecord.org == staff.org
    if staff.is_org_wide:
        return mine
    return mine & DrawRecord.group_id.in_(sorted(visible_groups(session, staff)))


def _described(
    session: Session, staff: Staff, draws: Sequence[DrawRecord], *, personal: bool
) -> list[dict[str, Any]]:
    """Each draw with its lottery's and group's names and, once drawn, its winners; winners
    are personal data, shown only to those who may see members."""
    org = staff.org
    lotteries = _names(session, LotteryRecord, org, {d.lottery for d in draws})
    groups = _names(session, Group, org, {d.group_id for d in draws})
    wins: dict[str, list[LotteryWin]] = {}
    if personal and draws:
        for win in session.scalars(
            select(LotteryWin)
            .where(LotteryWin.org == org, LotteryWin.draw_id.in_([d.id for d in draws]))
            .order_by(LotteryWin.draw_id, LotteryWin.rank)
        ):
            wins.setdefault(win.draw_id, []).append(win)
    names = nicknames(session, org, [w.member_id for found in wins.values() for w in found])
    return [
        {
            "id": draw.id, "lottery": lotteries.get(draw.lottery, draw.lottery),
            "group": groups.get(draw.group_id, draw.group_id), "group_id": draw.group_id,
            "due_at": draw.due_at, "status": draw.status, "entrants": draw.entrant_count,
            "skip_reason": draw.skip_reason,
            "winners": [
                {"member": w.member_id, "name": names.get(w.member_id, w.member_id),
                 "prize": w.prize}
                for w in wins.get(draw.id, [])
            ],
            "proof": f"/lottery/{org}/{draw.id}",
        }
        for draw in draws
    ]  # fmt: skip


def _names(
    session: Session, model: type[LotteryRecord] | type[Group], org: str, ids: Collection[str]
) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(model.id, model.name).where(model.org == org, model.id.in_(sorted(ids)))
    )
    return {str(found): str(name) for found, name in rows if name}


@router.get("/dashboard/lotteries", response_model=None)
def lotteries(
    request: Request,
    visit: Signed,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    format: str = "html",
) -> Response:
    """Draws to come, soonest first, then results, newest first, with winners and the link
    to each draw's public proof; the CSV holds every result in the staff's scope."""
    require(visit, Permission.VIEW_FIGURES)
    staff = visit.staff
    personal = staff.may(Permission.VIEW_MEMBERS)
    with shequn_of(request).sessions() as session:
        scope = _in_scope(session, staff)
        done = scope & (DrawRecord.status != DrawStatus.COMMITTED.value)
        query = select(DrawRecord).where(done).order_by(DrawRecord.due_at.desc(), DrawRecord.id)
        if format == "csv":
            results = _described(session, staff, session.scalars(query).all(), personal=personal)
            rows = [
                {**r, "at": r["due_at"].isoformat(), "group": r["group_id"],
                 "winners": "; ".join(f"{w['member']}:{w['prize']}" for w in r["winners"])}
                for r in results
            ]  # fmt: skip
            return csv_response("lotteries.csv", COLUMNS, rows)
        total = int(session.scalar(select(func.count()).select_from(DrawRecord).where(done)) or 0)
        shown = session.scalars(query.offset((page_number - 1) * PAGE_SIZE).limit(PAGE_SIZE))
        results = _described(session, staff, shown.all(), personal=personal)
        owed = session.scalars(
            select(DrawRecord)
            .where(scope & (DrawRecord.status == DrawStatus.COMMITTED.value))
            .order_by(DrawRecord.due_at, DrawRecord.id)
            .limit(UPCOMING_LIMIT)
        ).all()
        upcoming = _described(session, staff, owed, personal=False)
        timezone = org_timezone(session, staff.org)
    return page(request, "lotteries.html", lang=visit.lang, visit=visit, upcoming=upcoming,
                results=results, total=total, personal=personal, page_number=page_number,
                pages=max(1, -(-total // PAGE_SIZE)), timezone=timezone)  # fmt: skip
