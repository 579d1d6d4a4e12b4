"""Lotteries, their draws (one per group and time) and the wins they produced."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import Base


class LotteryRecord(Base):
    """What the operator set up: where, which prizes, who may enter. Operator state: a rebuild
    keeps it."""

    __tablename__ = "lottery"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    groups: Mapped[list[str]] = mapped_column(JSON)
    # [{"name": "连衣裙", "count": 1, "cost": 19900}], cost in minor units, in award order.
    prizes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The announced rules in words: bound into every draw's commitment.
    rules_text: Mapped[str] = mapped_column(String(4000))
    # {"keyword": "今晚8:30,群内抽奖", "keyword_from": "12:00", "joined_before": ISO|None,
    #  "require_active_today": false, "include_staff": false, "win_window_days": 3,
    #  "max_wins": 1, "min_members": 50}
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSON)
    lang: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]


class DrawStatus(StrEnum):
    COMMITTED = "committed"
    DRAWN = "drawn"
    SKIPPED = "skipped"


class DrawRecord(Base):
    """One draw in one group: committed when scheduled, drawn once at its freeze time."""

    __tablename__ = "lottery_draw"
    __table_args__ = (Index("ix_lottery_draw_lottery", "org", "lottery"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(200))
    lottery: Mapped[str] = mapped_column(String(200))
    group_id: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime]
    # The freeze time exactly as committed (the org's local offset): the commitment binds the text.
    freeze_text: Mapped[str] = mapped_column(String(40))
    # Secret until the draw; revealed in `published`.
    seed_hex: Mapped[str] = mapped_column(String(128))
    commitment: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    entrant_count: Mapped[int | None]
    list_hash: Mapped[str | None] = mapped_column(String(64))
    published: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Who was left out and why: {"staff": 2, "won_recently": 1}.
    exclusions: Mapped[dict[str, int] | None] = mapped_column(JSON)
    skip_reason: Mapped[str | None] = mapped_column(String(300))
    drawn_at: Mapped[datetime | None]


class FulfilmentStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SHIPPED = "shipped"


class LotteryWin(Base):
    """A member's win: the org-wide win limit reads these, fulfilment is tracked on them."""

    __tablename__ = "lottery_win"
    __table_args__ = (Index("ix_lottery_win_member", "org", "member_id"),)

    draw_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rank: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(String(200))
    member_id: Mapped[str] = mapped_column(String(200))
    prize: Mapped[str] = mapped_column(String(200))
    cost: Mapped[int] = mapped_column(BigInteger)
    won_at: Mapped[datetime]
    # A short code printed on the certificate (奖状) to look the win up.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    status_at: Mapped[datetime]
