"""What the platform connectors remember of their own, beside the event log."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import Base


class WeComChatVersion(Base):
    """A WeCom customer group's member version as last seen: a callback not following it means
    callbacks were missed. Kept by the connector, not derived from events: a rebuild keeps it."""

    __tablename__ = "wecom_chat_version"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    chat: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[str] = mapped_column(String(200))
    seen_at: Mapped[datetime]


class JoinDecision(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    # Left for a person: the request waits in Telegram until an operator answers it.
    REVIEW = "review"


class TelegramJoinRequest(Base):
    """A Telegram join request and what shequn decided on it; one row per request."""

    __tablename__ = "telegram_join_request"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The request's own time: asking again later is a new request.
    requested_at: Mapped[datetime] = mapped_column(primary_key=True)
    nickname: Mapped[str] = mapped_column(String(200))
    bio: Mapped[str | None] = mapped_column(String(300))
    mode: Mapped[str] = mapped_column(String(16))
    score: Mapped[int | None]
    verdict: Mapped[str | None] = mapped_column(String(16))
    decision: Mapped[JoinDecision] = mapped_column(String(16))
    decided_at: Mapped[datetime]
    decided_by: Mapped[str] = mapped_column(String(200))
    # When Telegram took the approval or decline; None while it waits (review, or a failed call).
    answered_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(1000))


class DeliveryNonce(Base):
    """A signed delivery already taken in: the same one again is a replay until `expires_at`.

    In the store, not in a worker's memory, so every worker and a restart refuse it alike.
    """

    __tablename__ = "delivery_nonce"
    __table_args__ = (Index("ix_delivery_nonce_expires_at", "expires_at"),)

    # Who signed it (wecom, …): each source's keys are its own.
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # When the sender's freshness check would refuse the delivery anyway.
    expires_at: Mapped[datetime]
