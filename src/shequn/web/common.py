"""What every dashboard page shares: who is looking, in which language, what they may see."""

import io
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.orm import Session

from shequn.analytics.service import org_timezone
from shequn.api import shequn_of
from shequn.audit.rules import AuditPolicy, audit_policy
from shequn.group.models import Group
from shequn.kit.spreadsheet import write_csv
from shequn.kit.time import local_day, utc_now, zone
from shequn.member.models import GroupMember
from shequn.org.changes import log_staff_action
from shequn.org.models import Org
from shequn.web.i18n import LANGUAGES, labeller, translator
from shequn.web.models import StaffSession, StaffUser
from shequn.web.rules import Permission, Role, Staff, token_hash

templates = Environment(
    loader=PackageLoader("shequn.web", "templates"), autoescape=select_autoescape(["html"])
)
COOKIE = "shequn_session"
SESSION_LIFETIME = timedelta(hours=12)
PAGE_SIZE = 50


@dataclass(frozen=True)
class Visit:
    """Who is looking, in which language, and the session's CSRF token for forms."""

    staff: Staff
    lang: str
    csrf: str


def language_of(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or ""
    if lang in LANGUAGES:
        return lang
    accepted = request.headers.get("accept-language", "")
    return "en" if accepted.lower().startswith("en") else "zh"


def number(value: object) -> str:
    """12345 → 12,345: the grouping both zh-CN and en readers expect."""
    return f"{value:,}" if isinstance(value, int) else str(value)


def money(value: object) -> str:
    """Yuan as text or Decimal → "¥166,109.00", exactly: the digits are never rounded through
    a float. Anything that is not an amount is shown as it is."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not amount.is_finite():
        return str(value)
    return f"{'-' if amount < 0 else ''}¥{abs(amount):,.2f}"


def moment_in(lang: str, timezone: str) -> Any:
    def shown(value: datetime | None) -> str:
        if value is None:
            return "—"
        local = value.astimezone(zone(timezone))
        return f"{local:%Y-%m-%d %H:%M}" if lang == "zh" else f"{local:%d %b %Y %H:%M}"

    return shown


def page(request: Request, name: str, *, lang: str, **values: Any) -> HTMLResponse:
    timezone = values.pop("timezone", "Asia/Shanghai")
    body = templates.get_template(name).render(
        t=translator(lang), lang=lang, path=request.url.path, number=number, money=money,
        moment=moment_in(lang, timezone), query=request.url.query,
        **{"label": labeller(lang), **values},
    )  # fmt: skip
    response = HTMLResponse(body)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


def csv_response(
    filename: str, columns: Sequence[str], rows: Iterable[Mapping[str, object]]
) -> Response:
    """A table as a CSV download, with a BOM so spreadsheets on Chinese Windows read UTF-8."""
    out = io.StringIO()
    write_csv(out, columns, rows)
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def visit_of(request: Request) -> Visit:
    token = request.cookies.get(COOKIE)
    if token:
        with shequn_of(request).sessions() as session:
            found = session.get(StaffSession, token_hash(token))
            user = None if found is None else session.get(StaffUser, (found.org, found.username))
            usable = user is not None and user.disabled_at is None
            if found is not None and user is not None and usable and found.expires_at > utc_now():
                staff = Staff(org=user.org, username=user.username, role=Role(user.role),
                              store=user.store)  # fmt: skip
                return Visit(staff=staff, lang=language_of(request), csrf=found.csrf)
    raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/login"})


Signed = Annotated[Visit, Depends(visit_of)]


def require(visit: Visit, permission: Permission) -> None:
    if not visit.staff.may(permission):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"your role may not {permission}")


def check_csrf(visit: Visit, token: str) -> None:
    if not secrets.compare_digest(visit.csrf, token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "stale form: reload the page")


@dataclass(frozen=True)
class GroupView:
    """What lists need of a group: read as plain columns, 10,000 of them stay cheap."""

    id: str
    name: str
    store: str | None
    owner: str | None
    member_count: int


def in_scope(staff: Staff) -> ColumnElement[bool]:
    """`Staff.sees_group` as a condition on groups, so the database picks the staff's groups
    instead of every group of the org being read to be asked."""
    if staff.is_org_wide:
        return Group.org == staff.org
    mine = [] if staff.store is None else [Group.store == staff.store]
    if staff.role is Role.OPERATOR:
        mine.append(Group.owner == staff.username)
    return and_(Group.org == staff.org, or_(false(), *mine))


def visible_group_ids(staff: Staff) -> Select[str]:
    return select(Group.id).where(in_scope(staff))


def visible_groups(session: Session, staff: Staff) -> dict[str, GroupView]:
    query = select(Group.id, Group.name, Group.store, Group.owner, Group.member_count)
    views = [
        GroupView(*row) for row in session.execute(query.where(in_scope(staff)).order_by(Group.id))
    ]
    return {view.id: view for view in views}


def visible_among(session: Session, staff: Staff, ids: Iterable[str]) -> dict[str, GroupView]:
    """The visible ones of these groups: a page about a few groups need not list every group."""
    wanted = sorted(set(ids))
    found: dict[str, GroupView] = {}
    for start in range(0, len(wanted), 500):
        query = select(Group.id, Group.name, Group.store, Group.owner, Group.member_count).where(
            in_scope(staff), Group.id.in_(wanted[start : start + 500])
        )
        found.update((row[0], GroupView(*row)) for row in session.execute(query))
    return found


def visible_group(session: Session, staff: Staff, group_id: str) -> Group | None:
    """One group, when the staff may see it: a lookup instead of listing every group."""
    group = session.get(Group, (staff.org, group_id))
    return group if group is not None and staff.sees_group(group.store, group.owner) else None


def is_visible_member(session: Session, staff: Staff, member: str) -> bool:
    """Org-wide staff see every member; scoped staff those who ever were in one of their groups."""
    if staff.is_org_wide:
        return True
    groups = list(visible_groups(session, staff))
    found = session.scalar(
        select(GroupMember.member_id)
        .where(GroupMember.org == staff.org, GroupMember.member_id == member,
               GroupMember.group_id.in_(groups))
        .limit(1)
    )  # fmt: skip
    return found is not None


def policy_of(session: Session, org: str) -> AuditPolicy:
    found = session.get(Org, org)
    return audit_policy(found.settings if found else {})


def today_of(session: Session, org: str) -> date:
    return local_day(utc_now(), org_timezone(session, org))


def record(
    session: Session,
    staff: Staff | tuple[str, str],
    action: str,
    *,
    target: str | None = None,
    detail: Mapping[str, object] | None = None,
    at: datetime | None = None,
) -> None:
    """Appends one line to the staff audit log; `staff` may be (org, username) before a login."""
    org, username = (staff.org, staff.username) if isinstance(staff, Staff) else staff
    log_staff_action(session, org, username, action, target=target, detail=detail or {}, at=at)
