"""Campaign runs (a playbook started on a date for some groups) and each planned step's fate."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import Base


class CampaignRun(Base):
    """Operator state: a rebuild keeps it."""

    __tablename__ = "campaign_run"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    playbook: Mapped[str] = mapped_column(String(64))
    # The YAML as started: jobs render from it, so editing the file later changes no running plan.
    source: Mapped[str] = mapped_column(Text)
    start_date: Mapped[str] = mapped_column(String(10))
    timezone: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8))
    groups: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    status_at: Mapped[datetime]


class CampaignStep(Base):
    """One step for one group (group "" for an org-wide step) and what became of it."""

    __tablename__ = "campaign_step"
    __table_args__ = (
        Index("ix_campaign_step_due", "org", "run_id", "due_at"),
        # A group's posts today, across runs: the message budget's count.
        Index("ix_campaign_step_group", "org", "group_id", "ran_at"),
    )

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    # The planned instant; a deferral moves `next_at`, never this.
    due_at: Mapped[datetime]
    next_at: Mapped[datetime]
    # Each deferral schedules a new job: only the job of the current attempt may act.
    attempt: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    ran_at: Mapped[datetime | None]
    # [{"at": ISO, "status": "deferred", "reason": "quiet hours …"}, …] in order.
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
