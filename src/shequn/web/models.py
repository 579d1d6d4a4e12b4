"""Staff logins, their sessions, what staff did, and phone numbers sealed at rest: operator
state, kept by a rebuild."""

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import Base


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
