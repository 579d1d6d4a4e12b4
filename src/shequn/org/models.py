"""Tenants, the API tokens that write on their behalf, and the staff log of what staff did."""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import Base, BigId


class Org(Base):
    __tablename__ = "org"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # Per-org rule settings (welcome text, capacity margin …); each domain documents its keys.
    settings: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Only a hash is kept: a leaked database does not leak working tokens.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    # What it may do (shequn.org.scopes): "*" for everything, as tokens from before scopes.
    scopes: Mapped[str] = mapped_column(String(200), server_default="*")


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
