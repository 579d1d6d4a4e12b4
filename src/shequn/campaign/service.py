"""Campaign use cases: plan a playbook for groups, start it as a run, pause, resume, cancel, show."""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Dialect, select, type_coerce
from sqlalchemy.orm import Session

from shequn.campaign.models import CampaignRun, CampaignStep
from shequn.campaign.playbook import ID_PATTERN, LANGS, SENDS, Playbook, parse_playbook
from shequn.campaign.rules import (
    OPEN,
    Budget,
    GroupProfile,
    PlannedStep,
    RunStatus,
    StepStatus,
    budget_of,
    next_status,
    on_resume,
    plan_campaign,
    quiet_until,
)
from shequn.campaign.steps import (
    job_for,
    log_entry,
    profile_of,
    record_step,
    render_texts,
    stored_playbook,
    template_values,
)
from shequn.db import UTCDateTime
from shequn.engine.context import Context
from shequn.group.models import Group
from shequn.kit.time import zone

# The org-wide steps' group column: a primary key part cannot be NULL.
ORG_WIDE_GROUP = ""


class CampaignError(ValueError):
    pass


class UnknownRun(LookupError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"campaign {run_id!r} does not exist in this org")


def group_profiles(session: Session, org: str, groups: Sequence[str] | None) -> list[GroupProfile]:
    """The named groups, or every group of the org that is not dismissed."""
    query = select(Group).where(Group.org == org)
    if groups:
        query = query.where(Group.id.in_(groups))
    else:
        query = query.where(Group.dismissed_at.is_(None))
    found = {group.id: group for group in session.scalars(query.order_by(Group.id))}
    unknown = [group for group in groups or () if group not in found]
    if unknown:
        raise CampaignError(f"--groups: {', '.join(unknown)} not known in org {org!r}")
    if not found:
        raise CampaignError(f"org {org!r} has no groups yet: send group.upserted events first")
    return [profile_of(group) for group in found.values()]


@dataclass(frozen=True)
class PlanRow:
    """One line of `playbook plan`: a step for a group (None: for the org), rendered."""

    planned: PlannedStep
    texts: dict[str, str]
    note: str | None

    def as_json(self) -> dict[str, Any]:
        step = self.planned.step
        return {
            "group": self.planned.group,
            "day": step.day,
            "at": self.planned.local.isoformat(),
            "step": step.id,
            "kind": str(step.kind),
            "text": self.texts.get("text") or self.texts.get("name"),
            "details": {key: value for key, value in step.values.items()},
            "note": self.note,
        }


def plan_rows(
    context: Context,
    org: str,
    playbook: Playbook,
    *,
    start: date,
    groups: Sequence[str] | None,
    lang: str | None = None,
) -> list[PlanRow]:
    """The dry run: every step for every group with its text rendered from today's values."""
    profiles = group_profiles(context.session, org, groups)
    tenant = context.tenant(org)
    budget = budget_of(tenant.settings)
    rows = []
    by_id = {profile.id: profile for profile in profiles}
    for planned in plan_campaign(playbook, start=start, groups=profiles, timezone=tenant.timezone):
        group = None if planned.group is None else by_id[planned.group]
        values = template_values(
            context.session, org, playbook, planned.step, group=group, local=planned.local
        )
        texts = render_texts(planned.step, lang or playbook.lang, values)
        rows.append(PlanRow(planned, texts, _quiet_note(planned, budget, tenant.timezone)))
    return rows


def _quiet_note(planned: PlannedStep, budget: Budget, timezone: str) -> str | None:
    if planned.step.kind not in SENDS:
        return None
    until = quiet_until(planned.due_at, budget, timezone)
    return None if until is None else f"in quiet hours: would be deferred to {until.isoformat()}"


def start_campaign(
    context: Context,
    org: str,
    playbook: Playbook,
    source: str,
    *,
    start: date,
    groups: Sequence[str] | None,
    run_id: str | None = None,
    lang: str | None = None,
) -> tuple[CampaignRun, list[CampaignStep]]:
    """Store the run and its planned steps and schedule one job per step still ahead."""
    session = context.session
    run_id = run_id or f"{playbook.name}-{start:%Y%m%d}"
    if not ID_PATTERN.match(run_id):
        raise CampaignError(f"--id: {run_id!r} may only hold letters, digits and _ . -")
    if session.get(CampaignRun, (org, run_id)) is not None:
        raise CampaignError(f"campaign {run_id!r} already exists in this org (give --id)")
    lang = lang or playbook.lang
    if lang not in LANGS:
        raise CampaignError(f"--lang: {lang!r} is not one of {', '.join(LANGS)}")
    if parse_playbook(source) != playbook:
        # Jobs render from the stored source: it must be the playbook that was planned.
        raise CampaignError("the playbook's source does not match the playbook")
    profiles = group_profiles(session, org, groups)
    timezone = context.tenant(org).timezone
    planned = plan_campaign(playbook, start=start, groups=profiles, timezone=timezone)
    if not planned:
        raise CampaignError("no step of the playbook applies to these groups (check segments)")
    run = CampaignRun(
        org=org, id=run_id, playbook=playbook.name, source=source, start_date=start.isoformat(),
        timezone=timezone, lang=lang, groups=[profile.id for profile in profiles],
        status=RunStatus.RUNNING, created_at=context.now, status_at=context.now,
    )  # fmt: skip
    session.add(run)
    steps = []
    for item in planned:
        row = CampaignStep(
            org=org, run_id=run_id, step_id=item.step.id, group_id=item.group or ORG_WIDE_GROUP,
            day=item.step.day, kind=str(item.step.kind), due_at=item.due_at, next_at=item.due_at,
            attempt=1, status=StepStatus.PLANNED, reason=None, ran_at=None, log=[],
        )  # fmt: skip
        if item.due_at < context.now:
            reason = "its time had passed when the campaign started"
            row.status, row.reason = StepStatus.SKIPPED, reason
            row.log = [log_entry(context.now, StepStatus.SKIPPED, reason)]
        else:
            context.schedule(job_for(row))
        session.add(row)
        steps.append(row)
    session.flush()
    return run, steps


def load_run(session: Session, org: str, run_id: str) -> CampaignRun:
    run = session.get(CampaignRun, (org, run_id))
    if run is None:
        raise UnknownRun(run_id)
    return run


def steps_of(session: Session, org: str, run_id: str) -> list[CampaignStep]:
    return list(
        session.scalars(
            select(CampaignStep)
            .where(CampaignStep.org == org, CampaignStep.run_id == run_id)
            .order_by(CampaignStep.due_at, CampaignStep.group_id, CampaignStep.step_id)
        )
    )


def change_run(context: Context, org: str, run_id: str, command: str) -> CampaignRun:
    """pause, resume or cancel; see `on_resume` for what resume does with missed steps."""
    session = context.session
    run = load_run(session, org, run_id)
    status = next_status(RunStatus(run.status), command)
    if status is None:
        raise CampaignError(f"campaign {run_id} is {run.status}: it cannot {command}")
    run.status, run.status_at = status, context.now
    if command == "cancel":
        for row in steps_of(session, org, run_id):
            if row.status in OPEN:
                record_step(row, context.now, StepStatus.CANCELLED, "campaign cancelled")
    elif command == "resume":
        _resume(context, run)
    session.flush()
    return run


def _resume(context: Context, run: CampaignRun) -> None:
    playbook = stored_playbook(run.source)
    budget = budget_of(context.tenant(run.org).settings)
    for row in steps_of(context.session, run.org, run.id):
        if row.status != StepStatus.HELD:
            continue
        skipped = on_resume(
            playbook.step(row.step_id), due_at=row.next_at, now=context.now, budget=budget
        )
        if skipped is not None:
            record_step(row, context.now, StepStatus.SKIPPED, skipped)
            continue
        row.attempt += 1
        row.next_at = context.now
        record_step(row, context.now, StepStatus.PLANNED, "resumed: runs now")
        context.schedule(job_for(row))


def run_summary(run: CampaignRun, steps: Sequence[CampaignStep]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for row in steps:
        counts[row.status] = counts.get(row.status, 0) + 1
    return {
        "id": run.id,
        "playbook": run.playbook,
        "start": run.start_date,
        "timezone": run.timezone,
        "lang": run.lang,
        "groups": run.groups,
        "status": run.status,
        "steps": dict(sorted(counts.items())),
    }


def step_json(row: CampaignStep, timezone: str) -> dict[str, Any]:
    where = zone(timezone)
    return {
        "step": row.step_id,
        "group": row.group_id or None,
        "day": row.day,
        "kind": row.kind,
        "at": row.due_at.astimezone(where).isoformat(),
        "status": row.status,
        "reason": row.reason,
        "next_at": row.next_at.astimezone(where).isoformat(),
        "ran_at": None if row.ran_at is None else row.ran_at.astimezone(where).isoformat(),
        "log": row.log,
    }


def _local_isoformat(timezone: str, dialect: Dialect) -> Callable[[Any], str | None]:
    """Instants as the database gives them to local ISO text, each distinct one converted once
    (by the column type's own conversion): a step is due at the same instant in every group."""
    where, instant = zone(timezone), UTCDateTime()
    shown: dict[Any, str | None] = {None: None}

    def local(raw: Any) -> str | None:
        if raw in shown:
            return shown[raw]
        moment = instant.process_result_value(raw, dialect)
        found = shown[raw] = None if moment is None else moment.astimezone(where).isoformat()
        return found

    return local


def timeline_of(
    session: Session,
    org: str,
    run_id: str,
    *,
    timezone: str,
    groups: Collection[str] | None,
) -> list[dict[str, Any]]:
    """The run's steps as `step_json` shows them, without their log, by group, time and step;
    `groups` narrows them down, None keeps the whole run."""
    # Instants read raw: converting 100,000 of them one by one took a third of the export.
    stored = UTCDateTime().impl
    query = select(
        CampaignStep.group_id, CampaignStep.day, type_coerce(CampaignStep.due_at, stored),
        CampaignStep.step_id, CampaignStep.kind, CampaignStep.status, CampaignStep.reason,
        type_coerce(CampaignStep.next_at, stored), type_coerce(CampaignStep.ran_at, stored),
    ).where(CampaignStep.org == org, CampaignStep.run_id == run_id)  # fmt: skip
    if groups is not None:
        query = query.where(CampaignStep.group_id.in_(list(groups)))
    query = query.order_by(CampaignStep.group_id, CampaignStep.due_at, CampaignStep.step_id)
    local = _local_isoformat(timezone, session.get_bind().dialect)
    return [
        {"step": step, "group": group or None, "day": day, "kind": kind, "at": local(due_at),
         "status": status, "reason": reason, "next_at": local(next_at), "ran_at": local(ran_at)}
        for group, day, due_at, step, kind, status, reason, next_at, ran_at
        in session.execute(query)
    ]  # fmt: skip
