"""What fission campaigns react to: joins and leaves schedule a recount; jobs grant rewards."""

from datetime import datetime, timedelta

from shequn.engine.context import Context
from shequn.engine.event import Event
from shequn.engine.models import JobRecord
from shequn.engine.registry import JobKind, Reaction
from shequn.fission.models import CampaignRecord
from shequn.fission.service import (
    BOARD,
    CHECK,
    SETTLE,
    active_campaigns,
    post_board,
    schedule_check,
    settle,
)


def recount_on_move(context: Context, event: Event) -> None:
    for campaign in active_campaigns(context, event.org):
        in_window = campaign.starts_at <= event.at <= campaign.ends_at
        in_groups = not campaign.groups or event.group in campaign.groups
        # End mode recounts too: inviters hear of their progress before the final count.
        if in_window and in_groups:
            schedule_check(context, campaign, event.at)


def _campaign(context: Context, job: JobRecord) -> CampaignRecord:
    campaign = context.session.get(CampaignRecord, (job.org, str(job.payload["campaign"])))
    if campaign is None:
        raise LookupError(f"campaign {job.payload['campaign']!r} no longer exists")
    return campaign


def run_check(context: Context, job: JobRecord) -> None:
    # Counted as of the job's own moment, not whenever it ran: the same grants either way.
    settle(context, _campaign(context, job), at=datetime.fromisoformat(str(job.payload["at"])),
           final=False)  # fmt: skip


def run_settle(context: Context, job: JobRecord) -> None:
    campaign = _campaign(context, job)
    settle(context, campaign, at=campaign.ends_at, final=True)


def run_board(context: Context, job: JobRecord) -> None:
    post_board(context, _campaign(context, job), at=job.due_at, job_id=job.id)


RECOUNT = Reaction(
    name="fission-recount", on={"member.joined": recount_on_move, "member.left": recount_on_move}
)
# Rewards are owed however late the engine gets to them.
CHECK_JOB = JobKind(name=CHECK, run=run_check, max_lateness=None)
SETTLE_JOB = JobKind(name=SETTLE, run=run_settle, max_lateness=None)
# A leaderboard posted hours late reads as a mistake; skip it instead.
BOARD_JOB = JobKind(name=BOARD, run=run_board, max_lateness=timedelta(minutes=30))
