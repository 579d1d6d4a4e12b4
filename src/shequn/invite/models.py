"""Invite codes: each one brings newcomers to a group for its owner, through one channel."""

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import Base


class InviteCodeRecord(Base):
    """Set up by operators and connectors, not derived from events: a rebuild keeps it."""

    __tablename__ = "invite_code"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    code: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    group_id: Mapped[str | None] = mapped_column(String(200))
    # Acquisition channel label: poster, moments, douban, store-qr, kol:NAME …
    channel: Mapped[str] = mapped_column(String(100))
    # The platform's own join URL for this code (a Telegram invite link, a WeCom group QR URL):
    # where shequn's /j/ORG/CODE link and the code's poster send people.
    link: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime]


class LiveCodeRecord(Base):
    """A live code (活码): one QR that sends each newcomer to the first pool group with room."""

    __tablename__ = "live_code"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    code: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Group ids in the order they fill.
    groups: Mapped[list[str]] = mapped_column(JSON)
    margin: Mapped[int]
    # Newcomers one group takes per local day, or None for no cap.
    daily_cap: Mapped[int | None]
    created_at: Mapped[datetime]
