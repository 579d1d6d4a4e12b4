"""Use cases on groups that operators start by hand."""

from datetime import datetime, timedelta

from shequn.engine.context import Context, Job
from shequn.group.handlers import ANNOUNCE
from shequn.kit.ids import stable_id
from shequn.kit.time import local_time_to_utc, zone


def schedule_announcements(
    context: Context, *, org: str, group: str, first: datetime, days: int, text: str
) -> list[Job]:
    """Post `text` at the same local time on `days` consecutive days, from `first` on.

    Each day's instant is computed in the org's zone, so 20:30 stays 20:30 across a DST change.
    """
    timezone = context.tenant(org).timezone
    local = first.astimezone(zone(timezone))
    jobs = []
    for offset in range(days):
        day = local.date() + timedelta(days=offset)
        due = local_time_to_utc(day, local.hour, local.minute, timezone)
        job = Job(
            id=stable_id("announce", org, group, due.isoformat(), text),
            org=org,
            kind=ANNOUNCE.name,
            due_at=due,
            payload={"group": group, "text": text},
        )
        context.schedule(job)
        jobs.append(job)
    return jobs
