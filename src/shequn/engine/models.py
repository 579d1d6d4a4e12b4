"""The engine's own tables: the event log, intake batches, the outbox and scheduled jobs."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import Base, BigId


class EventRecord(Base):
    """Every accepted event, stored once per (org, source, id)."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("org", "source", "event_id"),
        Index("ix_event_pair", "org", "group_id", "member_id", "key"),
    )

    # Arrival: a batch, then the position in it. Both only grow, so the index only appends.
    batch: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    org: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    offset_minutes: Mapped[int]
    group_id: Mapped[str | None] = mapped_column(String(200))
    member_id: Mapped[str | None] = mapped_column(String(200))
    # Sortable (at, batch, position): the order events are applied and replayed in.
    key: Mapped[str] = mapped_column(String(48), index=True)
    data: Mapped[dict[str, Any]]


class IntakeBatch(Base):
    """One committed batch; its id orders arrivals across batches and processes."""

    __tablename__ = "intake_batch"

    # Numbered by intake itself (last + 1), not by a sequence: see store_batch.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    origin: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]
    accepted: Mapped[int]


class ActionStatus(StrEnum):
    PENDING = "pending"
    # Handed to a person the platform requires (a WeCom employee confirming a group send or
    # removing a customer): done when they confirm, failed past the task's deadline.
    AWAITING = "awaiting"
    SENT = "sent"
    FAILED = "failed"


class ActionRecord(Base):
    """An action a handler decided, recorded in the same transaction as the state that caused it."""

    __tablename__ = "action"
    __table_args__ = (
        Index("ix_action_due", "status", "next_attempt_at"),
        # A group's posts in a day: the campaign's message budget counts the engine's own.
        Index("ix_action_group_created", "org", "group_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str | None] = mapped_column(String(64))
    group_id: Mapped[str | None] = mapped_column(String(200))
    member_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    cause: Mapped[str] = mapped_column(String(300))
    status: Mapped[ActionStatus] = mapped_column(String(16))
    attempts: Mapped[int]
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    connector: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(1000))

    def as_json(self) -> dict[str, Any]:
        """The shape the CLI's --json and the API both print."""
        return {
            "id": self.id,
            "org": self.org,
            "kind": self.kind,
            "status": str(self.status),
            "platform": self.platform,
            "group": self.group_id,
            "member": self.member_id,
            "payload": self.payload,
            "attempts": self.attempts,
            "cause": self.cause,
            "created_at": self.created_at.isoformat(),
            "done_at": None if self.done_at is None else self.done_at.isoformat(),
            "connector": self.connector,
            "last_error": self.last_error,
        }


class JobStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


class JobRecord(Base):
    """A timed job (a 20:30 draw, a 00:00 price change) that survives restarts."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_due", "status", "due_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    status: Mapped[JobStatus] = mapped_column(String(16))
    created_at: Mapped[datetime]
    ran_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(String(1000))

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org": self.org,
            "kind": self.kind,
            "due_at": self.due_at.isoformat(),
            "status": str(self.status),
            "note": self.note,
            "payload": self.payload,
            "ran_at": None if self.ran_at is None else self.ran_at.isoformat(),
        }
