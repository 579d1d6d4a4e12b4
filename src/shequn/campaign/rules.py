"""Pure campaign rules: which group gets which step when, message budgets, quiet hours, and
what pause, resume and cancel allow. No I/O: times are arguments."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shequn.campaign.playbook import ORG_WIDE, SENDS, Playbook, Step
from shequn.kit.time import TimeError, local_time_to_utc, parse_clock, zone

# Seed 004: a good selling group carries about 200 messages a day, members' included.
DAILY_MESSAGES = 200
DAILY_POSTS = 10
QUIET_HOURS = "23:00-08:00"
# A post more than this late (after a downtime or a pause) is news nobody wants any more.
LATE_LIMIT = timedelta(hours=2)


class RunStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    PLANNED = "planned"
    DEFERRED = "deferred"
    HELD = "held"
    DONE = "done"
    DROPPED = "dropped"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A run's state machine: which command moves it from where.
TRANSITIONS: Mapping[tuple[RunStatus, str], RunStatus] = {
    (RunStatus.RUNNING, "pause"): RunStatus.PAUSED,
    (RunStatus.PAUSED, "resume"): RunStatus.RUNNING,
    (RunStatus.RUNNING, "cancel"): RunStatus.CANCELLED,
    (RunStatus.PAUSED, "cancel"): RunStatus.CANCELLED,
}
# Steps still owed: a job will (or, when held, resume may) carry them out.
OPEN = frozenset({StepStatus.PLANNED, StepStatus.DEFERRED, StepStatus.HELD})


def next_status(current: RunStatus, command: str) -> RunStatus | None:
    """The run's status after the command, or None when the command does not apply."""
    return TRANSITIONS.get((current, command))


@dataclass(frozen=True)
class GroupProfile:
    """What planning needs of a group."""

    id: str
    name: str
    tags: frozenset[str]
    member_count: int


@dataclass(frozen=True)
class PlannedStep:
    """One step for one group (None: once for the org) at one instant."""

    step: Step
    group: str | None
    due_at: datetime
    local: datetime


def segments_of(tags: frozenset[str], segments: Mapping[str, tuple[str, ...]]) -> frozenset[str]:
    """The playbook's segments a group is in: those naming any of its tags."""
    return frozenset(name for name, wanted in segments.items() if tags & set(wanted))


def applies_to(step: Step, in_segments: frozenset[str]) -> bool:
    return not step.segments or bool(in_segments & set(step.segments))


def step_instant(start: date, step: Step, timezone: str) -> datetime:
    """Day 1 is the start date; the step's time is local to the org."""
    return local_time_to_utc(start + timedelta(days=step.day - 1), step.hour, step.minute, timezone)


def plan_campaign(
    playbook: Playbook, *, start: date, groups: Sequence[GroupProfile], timezone: str
) -> list[PlannedStep]:
    """The full timeline: every step for every group it applies to, in time order."""
    planned = []
    where = zone(timezone)
    order = {step.id: index for index, step in enumerate(playbook.steps)}
    for step in playbook.steps:
        due = step_instant(start, step, timezone)
        if step.kind in ORG_WIDE:
            planned.append(PlannedStep(step, None, due, due.astimezone(where)))
            continue
        for group in groups:
            if applies_to(step, segments_of(group.tags, playbook.segments)):
                planned.append(PlannedStep(step, group.id, due, due.astimezone(where)))
    return sorted(planned, key=lambda p: (p.due_at, p.group or "", order[p.step.id]))


@dataclass(frozen=True)
class Budget:
    """An org's limits on what a campaign may post in one group and local day."""

    daily_messages: int = DAILY_MESSAGES
    daily_posts: int = DAILY_POSTS
    # (start, end) local clock times; None: no quiet hours.
    quiet: tuple[tuple[int, int], tuple[int, int]] | None = ((23, 0), (8, 0))
    late_limit: timedelta = LATE_LIMIT


def parse_quiet_hours(text: str) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """ "23:00-08:00" (may cross midnight); "" or "off": none."""
    if text.strip().lower() in ("", "off", "none"):
        return None
    start, sep, end = text.partition("-")
    if not sep:
        raise TimeError(f"{text!r} is not a span like 23:00-08:00")
    first, last = parse_clock(start.strip()), parse_clock(end.strip())
    if first == last:
        raise TimeError(f"{text!r} starts and ends at the same time")
    return first, last


def budget_of(settings: Mapping[str, Any]) -> Budget:
    """The org's `campaign` settings: daily_messages, daily_posts, quiet_hours."""
    own = settings.get("campaign") or {}
    return Budget(
        daily_messages=int(own.get("daily_messages", DAILY_MESSAGES)),
        daily_posts=int(own.get("daily_posts", DAILY_POSTS)),
        quiet=parse_quiet_hours(str(own.get("quiet_hours", QUIET_HOURS))),
    )


BUDGET_SETTINGS = ("daily_messages", "daily_posts", "quiet_hours")


class BudgetError(ValueError):
    """A `campaign` setting budget_of could not read; `name` is the setting's."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


def check_budget(own: Mapping[str, Any]) -> Budget:
    """The org's `campaign` settings as a budget; refused, naming the setting, when malformed."""
    unknown = sorted(set(own) - set(BUDGET_SETTINGS))
    if unknown:
        raise BudgetError(unknown[0], f"not one of {', '.join(BUDGET_SETTINGS)}")
    for name in ("daily_messages", "daily_posts"):
        value = own.get(name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BudgetError(name, f"{value!r} is not a whole number, 1 or more")
    quiet = own.get("quiet_hours", QUIET_HOURS)
    if not isinstance(quiet, str):
        raise BudgetError("quiet_hours", f"{quiet!r} is not a span like 23:00-08:00, or off")
    try:
        parse_quiet_hours(quiet)
    except TimeError as error:
        raise BudgetError("quiet_hours", str(error)) from None
    return budget_of({"campaign": own})


def quiet_until(moment: datetime, budget: Budget, timezone: str) -> datetime | None:
    """The end of the quiet hours `moment` falls in (UTC), or None when it is not quiet."""
    if budget.quiet is None:
        return None
    local = moment.astimezone(zone(timezone))
    clock = (local.hour, local.minute)
    start, end = budget.quiet
    crosses_midnight = start > end
    inside = (clock >= start or clock < end) if crosses_midnight else start <= clock < end
    if not inside:
        return None
    day = local.date()
    if crosses_midnight and clock >= start:
        day += timedelta(days=1)
    return local_time_to_utc(day, end[0], end[1], timezone)


class SendOutcome(StrEnum):
    SEND = "send"
    DEFER = "defer"
    DROP = "drop"
    SKIP = "skip"


@dataclass(frozen=True)
class SendDecision:
    outcome: SendOutcome
    reason: str = ""
    until: datetime | None = None


def decide_send(
    *,
    due_at: datetime,
    now: datetime,
    timezone: str,
    budget: Budget,
    messages_today: int,
    posts_today: int,
    group_posts_today: int,
    essential: bool = False,
) -> SendDecision:
    """Whether a post goes out now. In the group's local day so far, `messages_today` counts
    members' messages, `posts_today` the campaign's posts (for the post cap) and
    `group_posts_today` every post the engine made in the group, the campaign's included
    (welcomes, lottery posts, coupon drops count against the message budget too). An essential
    post (the evening's event) is never dropped for the message budget, only for the post cap."""
    where = zone(timezone)
    if now - due_at > budget.late_limit:
        return SendDecision(
            SendOutcome.SKIP,
            f"too late: due {due_at.astimezone(where):%m-%d %H:%M}, now {now.astimezone(where):%m-%d %H:%M}"
            f" (posts run at most {int(budget.late_limit.total_seconds() // 60)} min late)",
        )
    until = quiet_until(now, budget, timezone)
    if until is not None:
        start, end = budget.quiet or ((0, 0), (0, 0))
        return SendDecision(
            SendOutcome.DEFER,
            f"quiet hours {start[0]:02d}:{start[1]:02d}-{end[0]:02d}:{end[1]:02d}: "
            f"deferred to {until.astimezone(where):%m-%d %H:%M}",
            until,
        )
    if posts_today >= budget.daily_posts:
        return SendDecision(
            SendOutcome.DROP,
            f"post budget spent: {posts_today} of {budget.daily_posts} posts today",
        )
    total = messages_today + group_posts_today
    if total >= budget.daily_messages and not essential:
        return SendDecision(
            SendOutcome.DROP,
            f"message budget spent: {total} of {budget.daily_messages} messages today",
        )
    return SendDecision(SendOutcome.SEND)


def on_resume(step: Step, *, due_at: datetime, now: datetime, budget: Budget) -> str | None:
    """What resume does with a step that came due while paused: None runs it now, else the
    reason it is skipped. Posts and lotteries are news: late by more than the limit, they are
    skipped. Steps that set state (price, name, notice, sign-in, coupons) always catch up."""
    if now - due_at <= budget.late_limit:
        return None
    if step.kind in SENDS or step.kind.value == "lottery":
        return f"missed while paused (due {due_at.isoformat()})"
    return None


def countdown(playbook: Playbook, step: Step) -> int:
    return playbook.days - step.day
