"""Staff logins, their sessions, what staff did, and phone numbers sealed at rest: operator
state, kept by a rebuild."""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import Base, BigId


class StaffUser(Base):
    __tablename__ = "staff_user"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(32))
    # A store manager sees only this store's groups.
    store: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class StaffSession(Base):
    """A login; the cookie holds the token, the table only its hash."""

    __tablename__ = "staff_session"
    __table_args__ = (Index("ix_staff_session_user", "org", "username"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(100))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class StaffAuditEntry(Base):
    """One staff action worth answering for later: a login, a reveal, a decision; never changed."""

    __tablename__ = "staff_audit_log"
    __table_args__ = (Index("ix_staff_audit_log_at", "org", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
    username: Mapped[str] = mapped_column(String(100))
    # login, login_failed, logout, reveal_phone, audit_decision, staff_created, staff_disabled.
    action: Mapped[str] = mapped_column(String(32))
    # What it was done to: a member, a login name.
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]]
