"""Carrying out one planned step when its job comes due: budget and quiet hours, live values,
the actions it emits, and a log line for whatever became of it."""

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequn.campaign.models import CampaignRun, CampaignStep
from shequn.campaign.playbook import SENDS, Playbook, Step, StepKind, parse_playbook
from shequn.campaign.rules import (
    OPEN,
    GroupProfile,
    RunStatus,
    SendOutcome,
    StepStatus,
    budget_of,
    countdown,
    decide_send,
)
from shequn.campaign.templates import render
from shequn.commerce.service import drop_coupons, set_price
from shequn.engine.action import Action, ActionKind
from shequn.engine.context import Context, Job
from shequn.engine.event import order_key
from shequn.engine.models import ActionRecord, ActionStatus, EventRecord, JobRecord
from shequn.group.models import Group
from shequn.kit.ids import stable_id
from shequn.kit.time import local_day, local_time_to_utc, parse_clock, zone
from shequn.lottery.service import LotteryError, create_lottery, parse_prize
from shequn.member.models import GroupMember
from shequn.member.service import nicknames
from shequn.points.models import PointsBalance
from shequn.points.service import set_sign_in_open

STEP = "campaign.step"
# Outbox actions that put a message in the group.
GROUP_POSTS = frozenset({ActionKind.SEND_MESSAGE, ActionKind.WARN_MEMBER, ActionKind.SET_NOTICE})
LEADERBOARD_TOP = 5
_FORMATS = {
    StepKind.IMAGE: "image",
    StepKind.LINK: "link",
    StepKind.MINI_PROGRAM: "mini_program",
}


@lru_cache(maxsize=64)
def stored_playbook(source: str) -> Playbook:
    """A run's playbook, read once per process: every step job of the run needs it."""
    return parse_playbook(source)


def job_for(row: CampaignStep) -> Job:
    """The job of the step's current attempt; a deferral or a resume makes a new attempt."""
    return Job(
        id=stable_id("campaign-step", row.org, row.run_id, row.step_id, row.group_id, row.attempt),
        org=row.org,
        kind=STEP,
        due_at=row.next_at,
        payload={
            "run": row.run_id,
            "step": row.step_id,
            "group": row.group_id,
            "attempt": row.attempt,
        },
    )


def log_entry(now: datetime, status: StepStatus, reason: str | None) -> dict[str, Any]:
    return {"at": now.isoformat(), "status": str(status), "reason": reason}


def leaderboard_text(session: Session, org: str, group: str, *, top: int) -> str:
    """The group's current members with the most points, one per line."""
    rows = session.execute(
        select(PointsBalance.member, PointsBalance.balance)
        .join(
            GroupMember,
            (GroupMember.org == PointsBalance.org)
            & (GroupMember.member_id == PointsBalance.member),
        )
        .where(
            PointsBalance.org == org,
            GroupMember.group_id == group,
            GroupMember.is_member.is_(True),
            PointsBalance.balance > 0,
        )
        .order_by(PointsBalance.balance.desc(), PointsBalance.member)
        .limit(top)
    ).all()
    names = nicknames(session, org, [member for member, _balance in rows])
    return "\n".join(
        f"{rank}. {names.get(member, member)} {balance}"
        for rank, (member, balance) in enumerate(rows, start=1)
    )


def template_values(
    session: Session,
    org: str,
    playbook: Playbook,
    step: Step,
    *,
    group: GroupProfile | None,
    local: datetime,
) -> dict[str, Any]:
    """What a step's templates may use, with the values of this moment."""
    values: dict[str, Any] = dict(playbook.variables)
    values.update(
        group=group.name if group else "",
        group_id=group.id if group else "",
        members=group.member_count if group else 0,
        campaign=playbook.name,
        day=step.day,
        days=playbook.days,
        countdown=countdown(playbook, step),
        date=local.date().isoformat(),
        time=step.at,
        leaderboard="",
    )
    uses_board = any("leaderboard" in source for text in step.texts.values()
                     for source in text.variants.values())  # fmt: skip
    if group and uses_board:
        top = int(step.values.get("top", LEADERBOARD_TOP))
        values["leaderboard"] = leaderboard_text(session, org, group.id, top=top)
    if step.kind is StepKind.REPEAT:
        values["line"] = step.values["line"]
    if step.kind is StepKind.LOTTERY:
        values["prize"] = parse_prize(str(step.values["prize"])).name
        values["draw_at"] = step.values["draw_at"]
    return values


def profile_of(group: Group) -> GroupProfile:
    return GroupProfile(group.id, group.name, frozenset(group.tags or ()), group.member_count)


def render_texts(step: Step, lang: str, values: Mapping[str, Any]) -> dict[str, str]:
    return {name: render(text.pick(lang), values) for name, text in step.texts.items()}


def _today_counts(
    session: Session, org: str, group: str, *, now: datetime, timezone: str
) -> tuple[int, int, int]:
    """Members' messages, campaign posts and every post in the group's outbox (the campaign's
    included) in its local day so far."""
    day = local_day(now, timezone)
    start = local_time_to_utc(day, 0, 0, timezone)
    end = local_time_to_utc(day + timedelta(days=1), 0, 0, timezone)
    messages = session.scalar(
        select(func.count()).where(
            EventRecord.org == org,
            EventRecord.group_id == group,
            EventRecord.type == "message.posted",
            EventRecord.key >= order_key(start, 0, 0),
            EventRecord.key < order_key(end, 0, 0),
        )
    )
    # Campaign posts of every run, from the campaign's own index: the outbox has none by group.
    posts = session.scalar(
        select(func.count()).where(
            CampaignStep.org == org,
            CampaignStep.group_id == group,
            CampaignStep.ran_at >= start,
            CampaignStep.ran_at < end,
            CampaignStep.status == StepStatus.DONE,
            CampaignStep.kind.in_(sorted(SENDS)),
        )
    )
    # Everything the engine posts (welcomes, lottery posts, coupon drops, campaign posts …) goes
    # through the outbox: counted there by its (org, group_id, created_at) index. A post that
    # failed never reached the group.
    group_posts = session.scalar(
        select(func.count()).where(
            ActionRecord.org == org,
            ActionRecord.group_id == group,
            ActionRecord.created_at >= start,
            ActionRecord.created_at < end,
            ActionRecord.kind.in_(sorted(GROUP_POSTS)),
            ActionRecord.status != ActionStatus.FAILED,
        )
    )
    return int(messages or 0), int(posts or 0), int(group_posts or 0)


def record_step(row: CampaignStep, now: datetime, status: StepStatus, reason: str | None) -> None:
    """Set the step's status and append it to its log; `ran_at` is when a job settled it."""
    row.status, row.reason = status, reason
    row.log = [*row.log, log_entry(now, status, reason)]
    if status not in OPEN and status is not StepStatus.CANCELLED:
        row.ran_at = now


def run_step_job(context: Context, job: JobRecord) -> None:
    """Safe to run twice: only the job of the step's current attempt, while the step is still
    owed, does anything."""
    payload = job.payload
    session = context.session
    row = session.get(
        CampaignStep, (job.org, str(payload["run"]), str(payload["step"]), str(payload["group"]))
    )
    if row is None or row.attempt != int(payload["attempt"]) or row.status not in OPEN:
        return
    run = session.get(CampaignRun, (job.org, row.run_id))
    if run is None or run.status == RunStatus.CANCELLED:
        record_step(row, context.now, StepStatus.CANCELLED, "campaign cancelled")
        return
    if run.status == RunStatus.PAUSED:
        if row.status != StepStatus.HELD:
            record_step(row, context.now, StepStatus.HELD, "campaign paused: waits for resume")
        return
    playbook = stored_playbook(run.source)
    carry_out(context, run, playbook, row)


def carry_out(context: Context, run: CampaignRun, playbook: Playbook, row: CampaignStep) -> None:
    step = playbook.step(row.step_id)
    session = context.session
    group = session.get(Group, (run.org, row.group_id)) if row.group_id else None
    if row.group_id and (group is None or group.dismissed_at is not None):
        record_step(row, context.now, StepStatus.SKIPPED, f"group {row.group_id} is dismissed")
        return
    local = row.due_at.astimezone(zone(run.timezone))
    if step.kind in SENDS and group is not None:
        messages, posts, group_posts = _today_counts(
            session, run.org, group.id, now=context.now, timezone=run.timezone
        )
        decision = decide_send(
            due_at=row.next_at, now=context.now, timezone=run.timezone,
            budget=budget_of(context.tenant(run.org).settings),
            messages_today=messages, posts_today=posts, group_posts_today=group_posts,
            essential=step.essential,
        )  # fmt: skip
        if decision.outcome is SendOutcome.DEFER and decision.until is not None:
            row.attempt += 1
            row.next_at = decision.until
            record_step(row, context.now, StepStatus.DEFERRED, decision.reason)
            context.schedule(job_for(row))
            return
        if decision.outcome is SendOutcome.DROP:
            record_step(row, context.now, StepStatus.DROPPED, decision.reason)
            return
        if decision.outcome is SendOutcome.SKIP:
            record_step(row, context.now, StepStatus.SKIPPED, decision.reason)
            return
    try:
        profile = None if group is None else profile_of(group)
        values = template_values(session, run.org, playbook, step, group=profile, local=local)
        texts = render_texts(step, run.lang, values)
        # A failing effect leaves nothing half-done: its writes roll back to here.
        with session.begin_nested():
            reason = _perform(context, run, row, step, group, texts)
    except (TemplateError, LotteryError, LookupError, ValueError) as error:
        record_step(row, context.now, StepStatus.FAILED, f"{type(error).__name__}: {error}"[:500])
        return
    record_step(row, context.now, StepStatus.DONE, reason)


def _perform(
    context: Context,
    run: CampaignRun,
    row: CampaignStep,
    step: Step,
    group: Group | None,
    texts: Mapping[str, str],
) -> str | None:
    cause = f"campaign:{run.id}:{step.id}"
    action_id = stable_id("campaign", run.org, run.id, step.id, row.group_id, row.attempt)
    where = zone(run.timezone)
    if step.kind in SENDS and group is not None:
        context.emit(
            Action(
                id=action_id, org=run.org, kind=ActionKind.SEND_MESSAGE, cause=cause,
                platform=group.platform, group=group.id,
                payload=_send_payload(step, texts, deadline=row.next_at.astimezone(where)),
            )
        )  # fmt: skip
        return None
    if step.kind is StepKind.RENAME and group is not None:
        context.emit(Action(id=action_id, org=run.org, kind=ActionKind.RENAME_GROUP, cause=cause,
                            platform=group.platform, group=group.id,
                            payload={"name": texts["name"]}))  # fmt: skip
        return None
    if step.kind is StepKind.NOTICE and group is not None:
        context.emit(Action(id=action_id, org=run.org, kind=ActionKind.SET_NOTICE, cause=cause,
                            platform=group.platform, group=group.id,
                            payload={"text": texts["text"], "mentions": []}))  # fmt: skip
        return None
    if step.kind is StepKind.LOTTERY and group is not None:
        return _start_lottery(context, run, row, step, group)
    if step.kind is StepKind.COUPONS and group is not None:
        issued = drop_coupons(context, org=run.org, group=group.id,
                              template=str(step.values["coupon"]), cause=cause)  # fmt: skip
        return f"{issued} coupons issued"
    if step.kind is StepKind.PRICE:
        set_price(context, org=run.org, sku=str(step.values["sku"]),
                  price=int(step.values["price"]), cause=cause)  # fmt: skip
        return None
    if step.kind is StepKind.SIGN_IN and group is not None:
        set_sign_in_open(context, org=run.org, group=group.id, is_open=bool(step.values["open"]))
        return None
    raise ValueError(f"a {step.kind} step needs a group")


def _send_payload(step: Step, texts: Mapping[str, str], *, deadline: datetime) -> dict[str, Any]:
    """Every post carries its deadline: where a human must confirm it (WeCom), the connector
    turns it into a task due then."""
    payload: dict[str, Any] = {
        "text": texts.get("text", ""),
        "mentions": [],
        "format": _FORMATS.get(step.kind, "text"),
        "deadline": deadline.isoformat(),
    }
    if step.kind is StepKind.MENTION_ALL:
        payload["mention_all"] = True
    if step.kind is StepKind.IMAGE:
        payload["image"] = step.values["image"]
    if step.kind is StepKind.LINK:
        payload["link"] = {"url": step.values["url"], "title": texts["text"]}
    if step.kind is StepKind.MINI_PROGRAM:
        payload["mini_program"] = {
            "app": step.values["app"],
            "path": step.values["path"],
            "title": texts["text"],
        }
    return payload


def _start_lottery(
    context: Context, run: CampaignRun, row: CampaignStep, step: Step, group: Group
) -> str:
    """A one-draw lottery in the group, drawn at `draw_at` of the step's day."""
    hour, minute = parse_clock(str(step.values["draw_at"]))
    day = row.due_at.astimezone(zone(run.timezone)).date()
    draw_at = local_time_to_utc(day, hour, minute, run.timezone)
    prize = parse_prize(str(step.values["prize"]))
    keyword = step.values.get("keyword")
    if run.lang == "en":
        rules_text = f"{prize.name}×{prize.count}; one win per member per 3 days"
    else:
        rules_text = f"{prize.name}×{prize.count};每人 3 天内最多中奖 1 次"
    lottery_id = stable_id("campaign", run.org, run.id, step.id, group.id)
    eligibility: dict[str, Any] = {
        "keyword": keyword, "keyword_from": step.values.get("keyword_from", "00:00"),
        "joined_before": None, "require_active_today": False, "include_staff": False,
        "win_window_days": 3, "max_wins": 1, "min_members": step.values.get("min_members", 0),
        "min_points": 0, "require_sign_in": False, "weight_by_points": False,
    }  # fmt: skip
    create_lottery(
        context, run.org, lottery_id=lottery_id, name=f"{run.playbook} day {step.day}",
        groups=[group.id], first=draw_at, days=1, prizes=[prize], rules_text=rules_text,
        eligibility=eligibility, lang=run.lang,
    )  # fmt: skip
    return f"lottery {lottery_id} draws at {draw_at.astimezone(zone(run.timezone)):%H:%M}"
