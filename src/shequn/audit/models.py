"""Audit cases (each member's latest score), operators' decisions, and kicked accounts' looks."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import UPDATED_IN_PLACE, Base, BigId
from shequn.member.models import GroupMember

# Scoring reads one member's stays across all of the org's groups, and the primary key of
# group_member leads with the group: without this index every batch would scan the org.
Index("ix_group_member_member", GroupMember.org, GroupMember.member_id)


class AuditCase(Base):
    """A member's latest assessment and the decision that stands on it."""

    # Not a projection: scores come from a reaction and decisions from operators, so `shequn
    # rebuild` leaves the table as it is.

    __tablename__ = "audit_case"
    __table_args__ = UPDATED_IN_PLACE
    written_in_bulk = True

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    score: Mapped[int]
    verdict: Mapped[str] = mapped_column(String(16))
    # [{"code", "weight", "reason_zh", "reason_en", "evidence"}], strongest first.
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # staff, crew or whitelisted: never scored.
    exempt: Mapped[str | None] = mapped_column(String(16))
    scored_at: Mapped[datetime]
    # The latest decision (kick, keep, whitelist); the history is in audit_decision.
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]


class AuditDecision(Base):
    """One operator decision on one member, appended and never changed."""

    __tablename__ = "audit_decision"
    __table_args__ = (Index("ix_audit_decision_member", "org", "member", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(200))
    member: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(1000))


class KickedLook(Base):
    """A nickname or avatar a kicked member wore, so a look-alike is recognised by key."""

    # `look` is a digest of the normalised nickname or of the avatar URL: scoring asks only for
    # the looks of the members at hand instead of loading every kicked member of the org.

    __tablename__ = "audit_kicked_look"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    look: Mapped[str] = mapped_column(String(64), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)


class AuditStrike(Base):
    """One offence in a group and what it earned: a warning or a kick; cleared by a restore."""

    # The id comes from the offending event, so a re-delivered message strikes once.

    __tablename__ = "audit_strike"
    __table_args__ = (Index("ix_audit_strike_member", "org", "member", "at"),)

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member: Mapped[str] = mapped_column(String(200))
    group_id: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(String(200))
    # [{"code", "evidence"}]: every offence the message showed.
    offences: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    at: Mapped[datetime]
    step: Mapped[str] = mapped_column(String(16))
    # A warning stops counting then; a kick never expires, only a restore clears it.
    expires_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[str | None] = mapped_column(String(200))


class AuditRestore(Base):
    """An operator re-admitting a kicked member into one group, appended and never changed."""

    __tablename__ = "audit_restore"
    __table_args__ = (Index("ix_audit_restore_member", "org", "member", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(200))
    member: Mapped[str] = mapped_column(String(200))
    group_id: Mapped[str] = mapped_column(String(200))
    # The stay in the group that ended in the kick undone; None for a kick not carried out yet.
    stint: Mapped[int | None]
    restored_by: Mapped[str] = mapped_column(String(200))
    restored_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(1000))


class AuditMessageTail(Base):
    """A member's latest message times in a group, as many as a flood needs to be seen."""

    __tablename__ = "audit_message_tail"
    __table_args__ = UPDATED_IN_PLACE

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Milliseconds since the epoch, ascending.
    times: Mapped[list[int]] = mapped_column(JSON)


class AuditModel(Base):
    """The text model an org's decisions trained, with the figures of its training."""

    __tablename__ = "audit_model"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    trained_at: Mapped[datetime]
    trained_by: Mapped[str] = mapped_column(String(200))
    fakes: Mapped[int]
    genuine: Mapped[int]
    # {"fake": {ngram: count}, "genuine": {ngram: count}}
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)
