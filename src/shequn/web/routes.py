"""Dashboard pages: log in, see the figures of the groups one may see, decide audit cases."""

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.analytics.rules import GroupDay
from shequn.analytics.service import org_timezone, report_group_days
from shequn.api import shequn_of
from shequn.audit.models import AuditCase
from shequn.audit.rules import AuditPolicy, audit_policy
from shequn.audit.service import decide, review_queue
from shequn.fission.models import CampaignRecord
from shequn.fission.service import campaign_counts
from shequn.group.models import Group
from shequn.kit.fonts import FontMissing, Weight, find_cjk_font
from shequn.kit.money import format_amount
from shequn.kit.time import local_day, utc_now
from shequn.lottery.models import DrawRecord
from shequn.member.models import GroupMember
from shequn.member.service import nicknames
from shequn.org.models import Org
from shequn.web.charts import Series, bar_line_svg
from shequn.web.i18n import LANGUAGES, translator
from shequn.web.models import StaffSession, StaffUser
from shequn.web.rules import LoginThrottle, Permission, Role, Staff, password_matches, token_hash

router = APIRouter()
templates = Environment(
    loader=PackageLoader("shequn.web", "templates"), autoescape=select_autoescape(["html"])
)
COOKIE = "shequn_session"
SESSION_LIFETIME = timedelta(hours=12)


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


def page(request: Request, name: str, *, lang: str, **values: Any) -> HTMLResponse:
    body = templates.get_template(name).render(
        t=translator(lang), lang=lang, path=request.url.path, **values
    )
    response = HTMLResponse(body)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


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


def throttle_of(request: Request) -> LoginThrottle:
    """One throttle per running app."""
    state = request.app.state
    if not hasattr(state, "login_throttle"):
        state.login_throttle = LoginThrottle()
    throttle: LoginThrottle = state.login_throttle
    return throttle


@router.get("/fonts/{name}", include_in_schema=False)
def cjk_font(name: str) -> FileResponse:
    """The CJK font posters use, for browsers that have none: the stylesheet names local
    Chinese fonts first, so a browser that has one never fetches this."""
    weights = {"cjk-regular.ttf": Weight.REGULAR, "cjk-bold.ttf": Weight.BOLD}
    if name not in weights:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such font")
    try:
        path = find_cjk_font().path(weights[name])
    except (FontMissing, FileNotFoundError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no CJK font installed") from None
    return FileResponse(path, media_type="font/ttf",
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})  # fmt: skip


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    default_org = shequn_of(request).settings.default_org
    return page(request, "login.html", lang=language_of(request), org=default_org, error=None)


@router.post("/login", response_model=None)
def login(
    request: Request,
    org: Annotated[str, Form()],
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    lang = language_of(request)
    t = translator(lang)
    key = (request.client.host if request.client else "?", f"{org}/{username}")
    now = utc_now()
    throttle = throttle_of(request)
    if throttle.is_blocked(key, now):
        blocked = page(request, "login.html", lang=lang, org=org, error=t("throttled"))
        blocked.status_code = status.HTTP_429_TOO_MANY_REQUESTS
        return blocked
    with shequn_of(request).sessions.begin() as session:
        user = session.get(StaffUser, (org, username))
        if (
            user is None
            or user.disabled_at is not None
            or not password_matches(password, user.password_hash)
        ):
            throttle.failed(key, now)
            response = page(request, "login.html", lang=lang, org=org, error=t("bad_login"))
            response.status_code = status.HTTP_401_UNAUTHORIZED
            return response
        throttle.succeeded(key)
        token = secrets.token_urlsafe(32)
        session.add(StaffSession(token_hash=token_hash(token), org=org, username=username,
                                 csrf=secrets.token_urlsafe(24), created_at=now,
                                 expires_at=now + SESSION_LIFETIME))  # fmt: skip
    redirect = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    secure = request.url.scheme == "https"
    redirect.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=secure,
                        max_age=int(SESSION_LIFETIME.total_seconds()))  # fmt: skip
    return redirect


@router.post("/logout")
def logout(request: Request, visit: Signed, csrf: Annotated[str, Form()]) -> RedirectResponse:
    check_csrf(visit, csrf)
    token = request.cookies.get(COOKIE, "")
    with shequn_of(request).sessions.begin() as session:
        found = session.get(StaffSession, token_hash(token))
        if found is not None:
            session.delete(found)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE)
    return response


def visible_groups(session: Session, staff: Staff) -> dict[str, Group]:
    groups = session.scalars(select(Group).where(Group.org == staff.org).order_by(Group.id))
    return {group.id: group for group in groups if staff.sees_group(group.store)}


def policy_of(session: Session, org: str) -> AuditPolicy:
    found = session.get(Org, org)
    return audit_policy(found.settings if found else {})


def today_of(session: Session, org: str) -> date:
    return local_day(utc_now(), org_timezone(session, org))


def sums(days: list[GroupDay]) -> dict[str, Any]:
    total: dict[str, Any] = {
        "members": sum(day.members_end for day in days),
        "joins": sum(day.joins for day in days),
        "leaves": sum(day.leaves for day in days),
        "kicked": sum(day.kicked for day in days),
        "messages": sum(day.traffic.messages for day in days),
        "active": sum(day.traffic.active for day in days),
        "orders": sum(day.sales.orders for day in days),
        "buyers": sum(day.sales.buyers for day in days),
        "gmv": sum(day.sales.gmv for day in days),
    }
    total["gmv_text"] = format_amount(total["gmv"])
    return total


@router.get("/dashboard", response_class=HTMLResponse)
def overview(request: Request, visit: Signed) -> HTMLResponse:
    require(visit, Permission.VIEW_FIGURES)
    staff = visit.staff
    with shequn_of(request).sessions() as session:
        groups = visible_groups(session, staff)
        today = today_of(session, staff.org)
        rows = report_group_days(session, staff.org, first=today - timedelta(days=1), last=today)
        policy = policy_of(session, staff.org)
        waiting = (
            len(cases_for(session, staff, policy)) if staff.may(Permission.VIEW_MEMBERS) else None
        )
    mine = [row for row in rows if row.group in groups]
    figures = {
        "today": sums([row for row in mine if row.day == today]),
        "yesterday": sums([row for row in mine if row.day != today]),
    }
    return page(request, "overview.html", lang=visit.lang, visit=visit, figures=figures,
                group_count=len(groups), waiting=waiting)  # fmt: skip


@router.get("/dashboard/groups", response_class=HTMLResponse)
def group_list(request: Request, visit: Signed, sort: str = "gmv") -> HTMLResponse:
    require(visit, Permission.VIEW_FIGURES)
    with shequn_of(request).sessions() as session:
        groups = visible_groups(session, visit.staff)
        today = today_of(session, visit.staff.org)
        rows = report_group_days(
            session, visit.staff.org, first=today - timedelta(days=6), last=today
        )
    by_group: dict[str, list[GroupDay]] = {}
    for row in rows:
        if row.group in groups:
            by_group.setdefault(str(row.group), []).append(row)
    listed = []
    for group_id, group in groups.items():
        days = by_group.get(group_id, [])
        total = sums(days)
        total["members"] = days[-1].members_end if days else group.member_count
        listed.append({"id": group_id, "name": group.name, "store": group.store or "", **total})
    key = sort if sort in {"gmv", "members", "joins", "messages", "orders"} else "gmv"
    listed.sort(key=lambda item: (-int(item[key]), item["id"]))
    return page(request, "groups.html", lang=visit.lang, visit=visit, groups=listed, sort=key)


@router.get("/dashboard/groups/{group_id}", response_class=HTMLResponse)
def group_detail(request: Request, visit: Signed, group_id: str) -> HTMLResponse:
    require(visit, Permission.VIEW_FIGURES)
    with shequn_of(request).sessions() as session:
        group = visible_groups(session, visit.staff).get(group_id)
        if group is None:
            # Another store's group is not there at all, as far as this staff member can tell.
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"group {group_id!r} not found")
        today = today_of(session, visit.staff.org)
        rows = report_group_days(session, visit.staff.org, first=today - timedelta(days=13),
                                 last=today, group=group_id)  # fmt: skip
    t = translator(visit.lang)
    labels = [row.day.strftime("%m-%d") for row in rows]
    members_chart = bar_line_svg(labels, [
        Series(t("members"), [row.members_end for row in rows]),
        Series(t("messages"), [row.traffic.messages for row in rows]),
    ], title=t("members_chart"))  # fmt: skip
    gmv_chart = bar_line_svg(labels, [Series(t("gmv"), [row.sales.gmv / 100 for row in rows])],
                             title=t("gmv_chart"))  # fmt: skip
    return page(request, "group.html", lang=visit.lang, visit=visit, group=group,
                rows=[row.as_json() for row in reversed(rows)], members_chart=members_chart,
                gmv_chart=gmv_chart)  # fmt: skip


def cases_for(session: Session, staff: Staff, policy: AuditPolicy) -> list[AuditCase]:
    cases = review_queue(session, staff.org, policy=policy)
    if staff.is_org_wide:
        return cases
    groups = visible_groups(session, staff)
    members = set(
        session.scalars(
            select(GroupMember.member_id).where(
                GroupMember.org == staff.org, GroupMember.group_id.in_(list(groups)),
                GroupMember.is_member.is_(True),
            )
        )
    )  # fmt: skip
    return [case for case in cases if case.member in members]


@router.get("/dashboard/audit", response_class=HTMLResponse)
def audit_queue(request: Request, visit: Signed) -> HTMLResponse:
    require(visit, Permission.VIEW_MEMBERS)
    with shequn_of(request).sessions() as session:
        cases = cases_for(session, visit.staff, policy_of(session, visit.staff.org))
        names = nicknames(session, visit.staff.org, [case.member for case in cases])
    reason = "reason_zh" if visit.lang == "zh" else "reason_en"
    listed = [
        {"member": case.member, "name": names.get(case.member, ""), "score": case.score,
         "verdict": case.verdict, "signals": [signal[reason] for signal in case.signals]}
        for case in cases
    ]  # fmt: skip
    return page(request, "audit.html", lang=visit.lang, visit=visit, cases=listed,
                decided=request.query_params.get("decided"))  # fmt: skip


@router.post("/dashboard/audit/{member}")
def audit_decide(
    request: Request,
    visit: Signed,
    member: str,
    decision: Annotated[str, Form()],
    csrf: Annotated[str, Form()],
) -> RedirectResponse:
    check_csrf(visit, csrf)
    require(visit, Permission.DECIDE_AUDIT)
    shequn = shequn_of(request)
    with shequn.sessions.begin() as session:
        allowed = {
            case.member
            for case in cases_for(session, visit.staff, policy_of(session, visit.staff.org))
        }
        if member not in allowed:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case for {member!r} awaits you")
        context = shequn.context(session, visit.staff.org)
        try:
            decide(
                context, visit.staff.org, member, decision, by=f"dashboard:{visit.staff.username}"
            )
        except ValueError as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        context.flush()
    return RedirectResponse(
        f"/dashboard/audit?decided={member}", status_code=status.HTTP_303_SEE_OTHER
    )


@router.get("/dashboard/lotteries", response_class=HTMLResponse)
def lotteries(request: Request, visit: Signed) -> HTMLResponse:
    require(visit, Permission.VIEW_FIGURES)
    with shequn_of(request).sessions() as session:
        groups = visible_groups(session, visit.staff)
        draws = session.scalars(
            select(DrawRecord).where(DrawRecord.org == visit.staff.org)
            .order_by(DrawRecord.due_at.desc(), DrawRecord.id).limit(200)
        ).all()  # fmt: skip
        listed = [
            {"id": d.id, "group": d.group_id, "at": d.freeze_text, "status": d.status,
             "entrants": d.entrant_count}
            for d in draws if d.group_id in groups
        ]  # fmt: skip
    return page(request, "lotteries.html", lang=visit.lang, visit=visit, draws=listed,
                org=visit.staff.org)  # fmt: skip


@router.get("/dashboard/fission", response_class=HTMLResponse)
def fission_boards(request: Request, visit: Signed) -> HTMLResponse:
    """Each campaign's leaderboard: effective invites, ties to who got there first."""
    require(visit, Permission.VIEW_FIGURES)
    shows_names = visit.staff.may(Permission.VIEW_MEMBERS)
    with shequn_of(request).sessions() as session:
        groups = visible_groups(session, visit.staff)
        campaigns = session.scalars(
            select(CampaignRecord).where(CampaignRecord.org == visit.staff.org)
            .order_by(CampaignRecord.starts_at.desc(), CampaignRecord.id)
        ).all()  # fmt: skip
        boards = []
        for campaign in campaigns:
            # An org-wide campaign spans every store: only org-wide staff see it.
            if (
                not (campaign.groups and set(campaign.groups) <= set(groups))
                and not visit.staff.is_org_wide
            ):
                continue
            counts = campaign_counts(session, campaign, at=utc_now())[:20]
            names = (
                nicknames(session, visit.staff.org, [c.inviter for c in counts])
                if shows_names
                else {}
            )
            boards.append({
                "id": campaign.id, "name": campaign.name,
                "window": f"{campaign.starts_at:%Y-%m-%d} – {campaign.ends_at:%Y-%m-%d}",
                "rows": [
                    {"rank": rank, "inviter": (names.get(c.inviter, c.inviter) if shows_names else "—"),
                     "effective": c.effective, "invited": c.invited, "left": c.left,
                     "flagged": c.flagged}
                    for rank, c in enumerate(counts, start=1)
                ],
            })  # fmt: skip
    return page(request, "fission.html", lang=visit.lang, visit=visit, boards=boards)
