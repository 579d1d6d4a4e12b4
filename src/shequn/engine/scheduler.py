"""Timed jobs: stored in the database, run when due, and after a downtime run once or skipped."""

from dataclasses import dataclass
from datetime import datetime

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shequn.engine.context import Context
from shequn.engine.models import JobRecord, JobStatus
from shequn.engine.registry import Registry
from shequn.kit.time import format_delay


@dataclass(frozen=True)
class JobRun:
    id: str
    kind: str
    status: JobStatus
    note: str | None


def run_due_jobs(
    sessions: sessionmaker[Session],
    registry: Registry,
    *,
    now: datetime,
    limit: int = 100,
    console: Console | None = None,
) -> list[JobRun]:
    """Run each due job in its own transaction, so one failing job does not hold back the rest."""
    with sessions() as session:
        due = session.scalars(
            select(JobRecord.id)
            .where(JobRecord.status == JobStatus.PENDING, JobRecord.due_at <= now)
            .order_by(JobRecord.due_at, JobRecord.id)
            .limit(limit)
        ).all()
    runs = []
    for job_id in due:
        run = _run_one(sessions, registry, job_id, now=now)
        if run is not None:
            runs.append(run)
            if console is not None:
                console.log(
                    f"job {run.kind} {run.id}: {run.status}"
                    + (f" ({run.note})" if run.note else "")
                )
    return runs


def _run_one(
    sessions: sessionmaker[Session], registry: Registry, job_id: str, *, now: datetime
) -> JobRun | None:
    with sessions.begin() as session:
        job = session.get(JobRecord, job_id, with_for_update=True)
        if job is None or job.status != JobStatus.PENDING:
            return None
        kind = registry.job_kinds.get(job.kind)
        lateness = now - job.due_at
        if kind is None:
            job.status, job.note = JobStatus.FAILED, f"no job kind {job.kind!r} is registered"
        elif kind.max_lateness is not None and lateness > kind.max_lateness:
            job.status = JobStatus.SKIPPED
            job.note = (
                f"too late: due {job.due_at:%Y-%m-%d %H:%M} UTC, {format_delay(lateness)} ago; "
                f"{job.kind} runs at most {format_delay(kind.max_lateness)} late"
            )
        else:
            tenants = registry.tenancy.ensure(session, [job.org], now)
            context = Context(session, registry=registry, tenants=tenants, now=now)
            try:
                with session.begin_nested():
                    kind.run(context, job)
                    context.flush()
            except Exception as error:
                job.status, job.note = JobStatus.FAILED, f"{type(error).__name__}: {error}"[:1000]
            else:
                job.status = JobStatus.DONE
        job.ran_at = now
        return JobRun(job.id, job.kind, job.status, job.note)
