"""Lottery jobs: post each draw's commitment ahead of it, and draw it at its freeze time."""

from shequn.engine.context import Context
from shequn.engine.models import JobRecord
from shequn.engine.registry import JobKind
from shequn.lottery.models import DrawRecord
from shequn.lottery.service import ANNOUNCE, DRAW, UnknownDraw, announce_commitment, draw_due


def _draw(context: Context, job: JobRecord) -> DrawRecord:
    draw_id = str(job.payload["draw"])
    draw_record = context.session.get(DrawRecord, draw_id)
    if draw_record is None:
        raise UnknownDraw(draw_id)
    return draw_record


def run_announce(context: Context, job: JobRecord) -> None:
    announce_commitment(context, _draw(context, job), job.id)


def run_draw(context: Context, job: JobRecord) -> None:
    draw_record = _draw(context, job)
    draw_due(context, job.org, up_to=draw_record.due_at)


# A draw is owed however late the engine gets to it: its entrants are those of its freeze time.
DRAW_JOB = JobKind(name=DRAW, run=run_draw, max_lateness=None)
# A late commitment still goes up as long as its draw has not happened.
ANNOUNCE_JOB = JobKind(name=ANNOUNCE, run=run_announce, max_lateness=None)
