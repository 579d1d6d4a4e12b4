"""Campaign runs and their timelines within the staff's scope; owners and admins steer them."""

from collections.abc import Collection, Sequence
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequn.api import shequn_of
from shequn.campaign.models import CampaignRun, CampaignStep
from shequn.campaign.rules import OPEN, RunStatus, StepStatus, next_status
from shequn.campaign.service import (
    ORG_WIDE_GROUP,
    CampaignError,
    UnknownRun,
    change_run,
    load_run,
    run_summary,
    timeline_of,
)
from shequn.group.models import Group
from shequn.web.common import (
    PAGE_SIZE,
    Signed,
    Visit,
    check_csrf,
    csv_response,
    page,
    record,
    require,
    visible_group_ids,
)
from shequn.web.i18n import labeller
from shequn.web.rules import Permission, Staff

router = APIRouter()
COMMANDS = ("pause", "resume", "cancel")
STEP_STATUSES = tuple(str(found) for found in StepStatus)
RUN_COLUMNS = ("id", "playbook", "start", "timezone", "status", "groups", *STEP_STATUSES)
TIMELINE_COLUMNS = ("group", "day", "at", "step", "kind", "status", "reason", "next_at",
                    "ran_at")  # fmt: skip
# A run may span 10,000 groups of ~25 steps each: the timeline shows a page of groups at a time.
GROUPS_PER_PAGE = 20


def group_scope(session: Session, staff: Staff) -> set[str] | None:
    """The groups whose steps the staff may see; None: every step, the org-wide ones too."""
    return None if staff.is_org_wide else set(session.scalars(visible_group_ids(staff)))


def step_counts(
    session: Session, org: str, scope: Collection[str] | None, *, run_id: str | None = None
) -> dict[str, dict[str, int]]:
    """Steps per run and status, counted by the database: a run's steps can be a million rows."""
    query = select(CampaignStep.run_id, CampaignStep.status, func.count()).where(
        CampaignStep.org == org
    )
    if run_id is not None:
        query = query.where(CampaignStep.run_id == run_id)
    if scope is not None:
        query = query.where(CampaignStep.group_id.in_(list(scope)))
    query = query.group_by(CampaignStep.run_id, CampaignStep.status)
    counts: dict[str, dict[str, int]] = {}
    for run, found, count in session.execute(query):
        counts.setdefault(str(run), {})[str(found)] = int(count)
    return {run: dict(sorted(found.items())) for run, found in counts.items()}


def summary_of(
    run: CampaignRun, counts: dict[str, int], scope: Collection[str] | None
) -> dict[str, Any]:
    """The service's summary of a run, as far as the staff may see it."""
    summary = run_summary(run, [])
    groups = [group for group in run.groups if scope is None or group in scope]
    return {**summary, "groups": groups, "steps": counts}


@router.get("/dashboard/campaigns", response_model=None)
def campaign_list(
    request: Request,
    visit: Signed,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    format: str = "html",
) -> Response:
    """Every campaign run, newest first, with its steps counted by status."""
    require(visit, Permission.VIEW_FIGURES)
    org = visit.staff.org
    with shequn_of(request).sessions() as session:
        scope = group_scope(session, visit.staff)
        counts = step_counts(session, org, scope)
        runs = session.scalars(
            select(CampaignRun).where(CampaignRun.org == org)
            .order_by(CampaignRun.start_date.desc(), CampaignRun.id)
        ).all()  # fmt: skip
        # A scoped staff member sees the runs in one of their groups, as on the timeline.
        rows = [
            summary_of(run, counts.get(run.id, {}), scope)
            for run in runs
            if scope is None or scope.intersection(run.groups)
        ]
    if format == "csv":
        exported = [
            {**row, "groups": len(row["groups"]),
             **{found: row["steps"].get(found, 0) for found in STEP_STATUSES}}
            for row in rows
        ]  # fmt: skip
        return csv_response("campaigns.csv", RUN_COLUMNS, exported)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    shown = rows[(page_number - 1) * PAGE_SIZE : page_number * PAGE_SIZE]
    return page(request, "campaigns.html", lang=visit.lang, visit=visit, runs=shown,
                label=labeller(visit.lang), page_number=page_number, pages=pages,
                total=len(rows))  # fmt: skip


def timeline_row(shown: dict[str, Any]) -> dict[str, Any]:
    owed = shown["status"] in OPEN
    return {**shown, "time": shown["at"][11:16],
            "next": shown["next_at"][:16].replace("T", " ") if owed else ""}  # fmt: skip


def sections_of(
    rows: Sequence[dict[str, Any]], names: dict[str, str], start: date
) -> list[dict[str, Any]]:
    """The timeline as the page lays it out: per group (org-wide steps first), then per day."""
    sections: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["group"] or ORG_WIDE_GROUP
        section = sections.setdefault(
            key, {"group": row["group"], "name": names.get(key, ""), "days": {}}
        )
        day = section["days"].setdefault(
            row["day"], {"day": row["day"], "date": start + timedelta(days=row["day"] - 1),
                         "steps": []}
        )  # fmt: skip
        day["steps"].append(row)
    return [
        {**section, "days": [section["days"][day] for day in sorted(section["days"])]}
        for _, section in sorted(sections.items())
    ]


def visible_run(session: Session, visit: Visit, run_id: str) -> tuple[CampaignRun, list[str]]:
    """The run and the groups of it the staff may see; another store's run is not there."""
    try:
        run = load_run(session, visit.staff.org, run_id)
    except UnknownRun as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    scope = group_scope(session, visit.staff)
    groups = sorted(group for group in run.groups if scope is None or group in scope)
    if scope is not None and not groups:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"campaign {run_id!r} does not exist")
    return run, groups


@router.get("/dashboard/campaigns/{run_id}", response_model=None)
def campaign_timeline(
    request: Request,
    visit: Signed,
    run_id: str,
    group: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    format: str = "html",
) -> Response:
    """A run's timeline: per group and local day, each step's time, status, reason and next
    time; the CSV holds every step the staff may see."""
    require(visit, Permission.VIEW_FIGURES)
    org = visit.staff.org
    with shequn_of(request).sessions() as session:
        run, groups = visible_run(session, visit, run_id)
        if group and group not in groups:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"group: {group!r} is not in {run_id}")
        if format == "csv":
            # The whole run for org-wide staff: no list of 10,000 group ids to send along. A
            # list rather than a subquery for the others: PostgreSQL, before its statistics
            # know a new run, loops over every step of the run once per group of the subquery.
            scoped = None if visit.staff.is_org_wide else groups
            exported = timeline_of(session, org, run_id, timezone=run.timezone,
                                   groups=[group] if group else scoped)  # fmt: skip
            return csv_response(f"campaign-{run_id}.csv", TIMELINE_COLUMNS, exported)
        wanted = [group] if group else groups
        pages = max(1, -(-len(wanted) // GROUPS_PER_PAGE))
        wanted = wanted[(page_number - 1) * GROUPS_PER_PAGE : page_number * GROUPS_PER_PAGE]
        # Org-wide steps (a price change) concern every store: org-wide staff see them first.
        if visit.staff.is_org_wide and not group and page_number == 1:
            wanted = [ORG_WIDE_GROUP, *wanted]
        shown = timeline_of(session, org, run_id, timezone=run.timezone, groups=wanted)
        rows = [timeline_row(row) for row in shown]
        scope = None if visit.staff.is_org_wide else groups
        counts = step_counts(session, org, scope, run_id=run_id).get(run_id, {})
        names = {
            str(found): str(name)
            for found, name in session.execute(
                select(Group.id, Group.name).where(Group.org == org, Group.id.in_(wanted))
            )
        }
    summary = summary_of(run, counts, scope)
    changed = request.query_params.get("changed")
    commands = [
        command for command in COMMANDS
        if visit.staff.may(Permission.RUN_CAMPAIGNS)
        and next_status(RunStatus(run.status), command) is not None
    ]  # fmt: skip
    return page(request, "campaign.html", lang=visit.lang, visit=visit, run=summary,
                sections=sections_of(rows, names, date.fromisoformat(run.start_date)),
                commands=commands, group=group, label=labeller(visit.lang),
                changed=changed if changed in COMMANDS else None, page_number=page_number,
                pages=pages)  # fmt: skip


@router.post("/dashboard/campaigns/{run_id}/{command}")
def campaign_command(
    request: Request,
    visit: Signed,
    run_id: str,
    command: str,
    csrf: Annotated[str, Form()],
) -> RedirectResponse:
    """Pause, resume or cancel a run, as `shequn campaign pause|resume|cancel` does."""
    check_csrf(visit, csrf)
    require(visit, Permission.RUN_CAMPAIGNS)
    if command not in COMMANDS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{command!r} is not one of {COMMANDS}")
    shequn = shequn_of(request)
    with shequn.sessions.begin() as session:
        visible_run(session, visit, run_id)
        context = shequn.context(session, visit.staff.org)
        try:
            change_run(context, visit.staff.org, run_id, command)
        except CampaignError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        record(session, visit.staff, f"campaign_{command}", target=run_id)
        context.flush()
    return RedirectResponse(
        f"/dashboard/campaigns/{run_id}?changed={command}", status_code=status.HTTP_303_SEE_OTHER
    )
