"""Operator tasks, the outbox and the staff audit log: what shequn and the staff did."""

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from shequn.api import shequn_of
from shequn.engine.action import ActionKind
from shequn.engine.models import ActionRecord
from shequn.org.models import StaffAuditEntry
from shequn.web.common import (
    PAGE_SIZE,
    Signed,
    Visit,
    csv_response,
    page,
    require,
    visible_groups,
)
from shequn.web.rules import Permission

router = APIRouter()
ACTION_COLUMNS = ("id", "kind", "status", "group", "member", "title", "attempts", "created_at",
                  "done_at", "connector", "last_error")  # fmt: skip
LOG_COLUMNS = ("at", "username", "action", "target", "detail")


def title_of(payload: Mapping[str, Any], lang: str) -> str:
    """What a person reads of an action: its title in the page's language, else its text."""
    title = payload.get("title", payload.get("text"))
    if isinstance(title, Mapping):
        return str(title.get(lang) or title.get("zh") or title.get("en") or "")
    if isinstance(title, str):
        return title
    return json.dumps(dict(payload), ensure_ascii=False)[:200]


def scoped(query: Select[Any], session: Session, visit: Visit) -> Select[Any]:
    """Scoped staff see the actions of their groups; those naming no group are org-wide."""
    if visit.staff.is_org_wide:
        return query
    return query.where(ActionRecord.group_id.in_(list(visible_groups(session, visit.staff))))


def action_page(
    request: Request, visit: Signed, *, kind: str | None, status: str, page_number: int,
    format: str, template: str,
) -> Response:  # fmt: skip
    require(visit, Permission.VIEW_MEMBERS)
    with shequn_of(request).sessions() as session:
        base = select(ActionRecord).where(ActionRecord.org == visit.staff.org)
        if kind is not None:
            base = base.where(ActionRecord.kind == kind)
        base = scoped(base, session, visit)
        # Statuses as the table has them: a connector may add its own (awaiting confirmation).
        statuses = sorted(
            str(found)
            for found in session.scalars(
                scoped(select(ActionRecord.status).distinct().where(
                    ActionRecord.org == visit.staff.org,
                    *(() if kind is None else (ActionRecord.kind == kind,))), session, visit)
            )
        )  # fmt: skip
        if status:
            base = base.where(ActionRecord.status == status)
        total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
        ordered = base.order_by(ActionRecord.created_at.desc(), ActionRecord.id)
        if format != "csv":
            ordered = ordered.offset((page_number - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        actions = session.scalars(ordered).all()
        rows = [
            {**a.as_json(), "title": title_of(a.payload, visit.lang), "created": a.created_at,
             "done": a.done_at}
            for a in actions
        ]  # fmt: skip
    if format == "csv":
        return csv_response(f"{template.removesuffix('.html')}.csv", ACTION_COLUMNS, rows)
    pages = max(1, -(-total // PAGE_SIZE))
    return page(request, template, lang=visit.lang, visit=visit, actions=rows, status=status,
                statuses=statuses, page_number=page_number, pages=pages, total=total)  # fmt: skip


@router.get("/dashboard/tasks", response_model=None)
def tasks(
    request: Request,
    visit: Signed,
    status: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    format: str = "html",
) -> Response:
    """The tasks shequn left for people: gifts to send, groups to open, full groups."""
    return action_page(request, visit, kind=str(ActionKind.CREATE_TASK), status=status,
                       page_number=page_number, format=format, template="tasks.html")  # fmt: skip


@router.get("/dashboard/outbox", response_model=None)
def outbox(
    request: Request,
    visit: Signed,
    status: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    format: str = "html",
) -> Response:
    """Every action recorded for the connectors, newest first, by status."""
    return action_page(request, visit, kind=None, status=status, page_number=page_number,
                       format=format, template="outbox.html")  # fmt: skip


@router.get("/dashboard/staff-log", response_model=None)
def staff_log(
    request: Request,
    visit: Signed,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    format: str = "html",
) -> Response:
    """Logins, reveals and decisions, newest first; for those who manage staff."""
    require(visit, Permission.MANAGE_STAFF)
    with shequn_of(request).sessions() as session:
        query = (
            select(StaffAuditEntry)
            .where(StaffAuditEntry.org == visit.staff.org)
            .order_by(StaffAuditEntry.at.desc(), StaffAuditEntry.id.desc())
        )
        total = int(
            session.scalar(
                select(func.count()).where(StaffAuditEntry.org == visit.staff.org)
            ) or 0
        )  # fmt: skip
        if format != "csv":
            query = query.offset((page_number - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        found = session.scalars(query).all()
    entries = [
        {"at": e.at, "username": e.username, "action": e.action, "target": e.target,
         "detail": json.dumps(e.detail, ensure_ascii=False) if e.detail else ""}
        for e in found
    ]  # fmt: skip
    if format == "csv":
        listed = [
            {**entry, "at": e.at.isoformat()} for entry, e in zip(entries, found, strict=True)
        ]
        return csv_response("staff-log.csv", LOG_COLUMNS, listed)
    pages = max(1, -(-total // PAGE_SIZE))
    return page(request, "staff_log.html", lang=visit.lang, visit=visit, entries=entries,
                page_number=page_number, pages=pages, total=total)  # fmt: skip
