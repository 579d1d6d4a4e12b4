"""Dashboard pages: log in, see the figures of the groups one may see, decide audit cases."""

import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from shequn.analytics.campaigns import k_factor, seed_members
from shequn.analytics.daily import (
    GroupLine,
    day_totals,
    dead_lines,
    group_lines,
    table_group_days,
)
from shequn.analytics.insights import table_heatmap
from shequn.analytics.lifecycle import Stage
from shequn.analytics.rules import COLUMNS
from shequn.analytics.service import org_timezone, report_funnel
from shequn.api import shequn_of
from shequn.audit.models import AuditCase
from shequn.audit.rules import AuditPolicy
from shequn.audit.service import decide, is_queued, review_count, review_queue
from shequn.fission.models import CampaignRecord
from shequn.fission.service import campaign_counts
from shequn.group.models import Group
from shequn.kit.fonts import FontMissing, Weight, find_cjk_font
from shequn.kit.money import format_amount
from shequn.kit.time import utc_now
from shequn.member.models import GroupMember
from shequn.member.service import nicknames
from shequn.web.campaign_pages import router as campaign_router
from shequn.web.charts import Series, bar_line_svg, heatmap_svg
from shequn.web.common import (
    COOKIE,
    PAGE_SIZE,
    SESSION_LIFETIME,
    Signed,
    check_csrf,
    csv_response,
    language_of,
    page,
    policy_of,
    record,
    require,
    today_of,
    visible_among,
    visible_group,
    visible_groups,
)
from shequn.web.i18n import translator, weekday_names
from shequn.web.insight_pages import router as insight_router
from shequn.web.lottery_pages import router as lottery_router
from shequn.web.mall_pages import router as mall_router
from shequn.web.member_pages import router as member_router
from shequn.web.models import StaffSession, StaffUser
from shequn.web.ops_pages import router as ops_router
from shequn.web.rules import LoginThrottle, Permission, Staff, password_matches, token_hash
from shequn.web.settings_pages import router as settings_router

router = APIRouter()


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
            if user is not None:
                record(session, (org, username), "login_failed", at=now,
                       detail={"address": key[0]})  # fmt: skip
            response = page(request, "login.html", lang=lang, org=org, error=t("bad_login"))
            response.status_code = status.HTTP_401_UNAUTHORIZED
            return response
        throttle.succeeded(key)
        token = secrets.token_urlsafe(32)
        session.add(StaffSession(token_hash=token_hash(token), org=org, username=username,
                                 csrf=secrets.token_urlsafe(24), created_at=now,
                                 expires_at=now + SESSION_LIFETIME))  # fmt: skip
        record(session, (org, username), "login", at=now, detail={"address": key[0]})
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
        record(session, visit.staff, "logout")
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE)
    return response


def figures_of(totals: dict[str, int]) -> dict[str, Any]:
    return {**totals, "gmv_text": format_amount(totals["gmv"])}


@router.get("/dashboard", response_class=HTMLResponse)
def overview(request: Request, visit: Signed) -> HTMLResponse:
    require(visit, Permission.VIEW_FIGURES)
    staff = visit.staff
    with shequn_of(request).sessions() as session:
        scope = None if staff.is_org_wide else sorted(visible_groups(session, staff))
        group_count = (
            len(scope)
            if scope is not None
            else session.scalar(select(func.count()).where(Group.org == staff.org)) or 0
        )
        today = today_of(session, staff.org)
        yesterday = today - timedelta(days=1)
        totals = day_totals(session, staff.org, [yesterday, today], scope=scope)
        policy = policy_of(session, staff.org)
        waiting = None
        if staff.may(Permission.VIEW_MEMBERS):
            # Org-wide staff see every case: counted by the database, not loaded to be counted.
            waiting = (review_count(session, staff.org, policy=policy) if staff.is_org_wide
                       else len(cases_for(session, staff, policy)))  # fmt: skip
    figures = {"today": figures_of(totals[today]), "yesterday": figures_of(totals[yesterday])}
    return page(request, "overview.html", lang=visit.lang, visit=visit, figures=figures,
                group_count=group_count, waiting=waiting)  # fmt: skip


# What the list sorts by: figures largest first, names and stores A to Z, stages new to dead.
GROUP_SORTS = ("gmv", "members", "joins", "leaves", "kicked", "messages", "active", "orders",
               "buyers", "name", "store", "stage")  # fmt: skip
GROUP_COLUMNS = ("id", "name", "store", "owner", "stage", "members", "joins", "leaves",
                 "kicked", "messages", "active", "orders", "buyers", "gmv")  # fmt: skip


@router.get("/dashboard/groups", response_model=None)
def group_list(
    request: Request,
    visit: Signed,
    sort: str = "gmv",
    q: str = "",
    stage: str = "",
    store: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    format: str = "html",
) -> Response:
    """Every visible group's last 7 days and lifecycle stage; filtered, sorted, paginated.

    The figures and stages come from the daily table; the database sorts, filters, counts and
    pages by them, so only the page's groups come back (and, for dead ones, the revive list)."""
    require(visit, Permission.VIEW_FIGURES)
    staff = visit.staff
    key = sort if sort in GROUP_SORTS else "gmv"
    with shequn_of(request).sessions() as session:
        today = today_of(session, staff.org)
        timezone = org_timezone(session, staff.org)
        scope = None if staff.is_org_wide else sorted(visible_groups(session, staff))
        stores = stores_of(session, staff.org, scope)
        whole = format == "csv"
        first, limit = today - timedelta(days=6), None if whole else PAGE_SIZE
        offset = 0 if whole else (page_number - 1) * PAGE_SIZE
        revive = []
        if stage == Stage.DEAD:
            total, lines, found = dead_lines(session, staff.org, first=first, last=today,
                                             scope=scope, needle=q, store=store, sort=key,
                                             limit=limit, offset=offset)  # fmt: skip
            revive = [dead.as_json() for dead in found]
        else:
            total, lines = group_lines(session, staff.org, first=first, last=today, scope=scope,
                                       needle=q, store=store, stage=stage, sort=key, limit=limit,
                                       offset=offset)  # fmt: skip
    listed = [listing(line) for line in lines]
    if whole:
        exported = [{**item, "gmv": item["gmv_text"]} for item in listed]
        return csv_response(f"groups-{today}.csv", GROUP_COLUMNS, exported)
    pages = max(1, -(-total // PAGE_SIZE))
    return page(request, "groups.html", lang=visit.lang, visit=visit,
                groups=listed, sort=key, q=q, stage=stage, store=store,
                stores=stores, stages=[str(s) for s in Stage], page_number=page_number,
                pages=pages, total=total, revive=revive, timezone=timezone)  # fmt: skip


def stores_of(session: Session, org: str, scope: list[str] | None) -> list[str]:
    query = select(Group.store).where(Group.org == org, Group.store.is_not(None)).distinct()
    if scope is not None:
        query = query.where(Group.id.in_(scope))
    return sorted(store for store in session.scalars(query) if store)


def listing(line: GroupLine) -> dict[str, Any]:
    """A group's line in the list: its 7-day sums; members as of the last day's end."""
    return {"id": line.id, "name": line.name, "store": line.store or "",
            "owner": line.owner or "", "stage": line.stage, "members": line.members,
            "joins": line.joins, "leaves": line.leaves, "kicked": line.kicked,
            "messages": line.messages, "active": line.active, "orders": line.orders,
            "buyers": line.buyers, "gmv": line.gmv,
            "gmv_text": format_amount(line.gmv)}  # fmt: skip


@router.get("/dashboard/groups/{group_id}", response_model=None)
def group_detail(request: Request, visit: Signed, group_id: str, format: str = "html") -> Response:
    """A group's last 14 days: charts, figures, its funnel and when its members are active."""
    require(visit, Permission.VIEW_FIGURES)
    with shequn_of(request).sessions() as session:
        group = visible_group(session, visit.staff, group_id)
        if group is None:
            # Another store's group is not there at all, as far as this staff member can tell.
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"group {group_id!r} not found")
        today = today_of(session, visit.staff.org)
        first = today - timedelta(days=13)
        rows = table_group_days(session, visit.staff.org, first=first, last=today,
                                group=group_id)  # fmt: skip
        if format == "csv":
            return csv_response(f"{group_id}-{today}.csv", COLUMNS, [r.as_json() for r in rows])
        funnel = report_funnel(session, visit.staff.org, first=first, last=today, group=group_id)
        heatmap = table_heatmap(session, visit.staff.org, first=first, last=today,
                                 group=group_id)  # fmt: skip
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
                gmv_chart=gmv_chart, funnel=funnel.as_json(),
                heatmap=heatmap_svg(heatmap, title=t("heatmap"), weekdays=weekday_names(visit.lang)),
                best=heatmap.best_times())  # fmt: skip


def _in_their_groups(session: Session, staff: Staff) -> Select[str]:
    """Members now in the groups a scoped staff sees: whose cases are theirs to decide."""
    return select(GroupMember.member_id).where(
        GroupMember.org == staff.org, GroupMember.group_id.in_(list(visible_groups(session, staff))),
        GroupMember.is_member.is_(True),
    )  # fmt: skip


def cases_for(session: Session, staff: Staff, policy: AuditPolicy) -> list[AuditCase]:
    cases = review_queue(session, staff.org, policy=policy)
    if staff.is_org_wide:
        return cases
    members = set(session.scalars(_in_their_groups(session, staff)))
    return [case for case in cases if case.member in members]


def awaits(session: Session, staff: Staff, policy: AuditPolicy, member: str) -> bool:
    """Whether the member's case is in this staff's queue, without loading the queue."""
    if not is_queued(session, staff.org, member, policy=policy):
        return False
    if staff.is_org_wide:
        return True
    mine = _in_their_groups(session, staff).where(GroupMember.member_id == member).limit(1)
    return session.scalar(mine) is not None


@router.get("/dashboard/audit", response_class=HTMLResponse)
def audit_queue(
    request: Request,
    visit: Signed,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
) -> HTMLResponse:
    """The review queue, strongest first, a page at a time."""
    require(visit, Permission.VIEW_MEMBERS)
    staff = visit.staff
    start = (page_number - 1) * PAGE_SIZE
    with shequn_of(request).sessions() as session:
        policy = policy_of(session, staff.org)
        if staff.is_org_wide:
            # Every case is theirs: paged by the database.
            total = review_count(session, staff.org, policy=policy)
            cases = review_queue(session, staff.org, policy=policy, offset=start, limit=PAGE_SIZE)
        else:
            mine = cases_for(session, staff, policy)
            total, cases = len(mine), mine[start : start + PAGE_SIZE]
        names = nicknames(session, staff.org, [case.member for case in cases])
    reason = "reason_zh" if visit.lang == "zh" else "reason_en"
    listed = [
        {"member": case.member, "name": names.get(case.member, ""), "score": case.score,
         "verdict": case.verdict, "signals": [signal[reason] for signal in case.signals]}
        for case in cases
    ]  # fmt: skip
    return page(request, "audit.html", lang=visit.lang, visit=visit, cases=listed,
                decided=request.query_params.get("decided"), total=total,
                page_number=page_number, pages=max(1, -(-total // PAGE_SIZE)))  # fmt: skip


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
        if not awaits(session, visit.staff, policy_of(session, visit.staff.org), member):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case for {member!r} awaits you")
        context = shequn.context(session, visit.staff.org)
        try:
            decide(
                context, visit.staff.org, member, decision, by=f"dashboard:{visit.staff.username}"
            )
        except ValueError as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        record(session, visit.staff, "audit_decision", target=member,
               detail={"decision": decision})  # fmt: skip
        context.flush()
    return RedirectResponse(
        f"/dashboard/audit?decided={member}", status_code=status.HTTP_303_SEE_OTHER
    )


@router.get("/dashboard/fission", response_class=HTMLResponse)
def fission_boards(request: Request, visit: Signed) -> HTMLResponse:
    """Each campaign's leaderboard: effective invites, ties to who got there first."""
    require(visit, Permission.VIEW_FIGURES)
    shows_names = visit.staff.may(Permission.VIEW_MEMBERS)
    with shequn_of(request).sessions() as session:
        campaigns = session.scalars(
            select(CampaignRecord).where(CampaignRecord.org == visit.staff.org)
            .order_by(CampaignRecord.starts_at.desc(), CampaignRecord.id)
        ).all()  # fmt: skip
        boards = []
        for campaign in campaigns:
            # An org-wide campaign spans every store: only org-wide staff see it.
            if not visit.staff.is_org_wide and not (
                campaign.groups
                and len(visible_among(session, visit.staff, campaign.groups))
                == len(set(campaign.groups))
            ):
                continue
            every = campaign_counts(session, campaign, at=utc_now())
            counts = every[:20]
            effective = sum(c.effective for c in every)
            seed = seed_members(session, visit.staff.org, groups=campaign.groups,
                                at=campaign.starts_at)  # fmt: skip
            names = (
                nicknames(session, visit.staff.org, [c.inviter for c in counts])
                if shows_names
                else {}
            )
            boards.append({
                "id": campaign.id, "name": campaign.name,
                "window": f"{campaign.starts_at:%Y-%m-%d} – {campaign.ends_at:%Y-%m-%d}",
                "effective": effective, "seed": seed, "k_factor": k_factor(effective, seed),
                "rows": [
                    {"rank": rank, "inviter": (names.get(c.inviter, c.inviter) if shows_names else "—"),
                     "effective": c.effective, "invited": c.invited, "left": c.left,
                     "flagged": c.flagged}
                    for rank, c in enumerate(counts, start=1)
                ],
            })  # fmt: skip
    return page(request, "fission.html", lang=visit.lang, visit=visit, boards=boards)


router.include_router(insight_router)
router.include_router(member_router)
router.include_router(ops_router)
router.include_router(campaign_router)
router.include_router(mall_router)
router.include_router(lottery_router)
router.include_router(settings_router)
