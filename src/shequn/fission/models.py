"""Fission campaigns and the rewards they grant."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import Base


class CampaignRecord(Base):
    """A fission campaign: which groups, when, and what each tier of effective invites earns."""

    __tablename__ = "fission_campaign"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Empty: every group of the org.
    groups: Mapped[list[str]] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # [{"count": 3, "kind": "coupon", "name": "¥20 券", "cost": 2000}], cost in minor units.
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    mode: Mapped[str] = mapped_column(String(16))
    # Language of what the campaign posts: zh or en.
    lang: Mapped[str] = mapped_column(String(8), default="zh")
    # An inviter hears of their progress at most this often; 0: never.
    progress_minutes: Mapped[int] = mapped_column(default=30)
    # The leaderboard is posted daily at this local time ("20:00"), or never.
    board_at: Mapped[str | None] = mapped_column(String(5))
    board_top: Mapped[int] = mapped_column(default=10)
    # Newcomers of its groups are welcomed with this ({nickname} {group} {campaign} {tiers});
    # None: the built-in welcome in the campaign's language; "": the org's own welcome.
    welcome_text: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime]


class RewardGrant(Base):
    """One tier granted to one inviter, once: the id is derived from campaign, inviter and tier."""

    __tablename__ = "reward_grant"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(200), index=True)
    campaign: Mapped[str] = mapped_column(String(200))
    inviter: Mapped[str] = mapped_column(String(200))
    tier: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    cost: Mapped[int] = mapped_column(BigInteger)
    count_at_grant: Mapped[int]
    granted_at: Mapped[datetime]
    # Set when the inviter's effective count later fell below the tier: kept, but for review.
    flagged_at: Mapped[datetime | None]


class InviterProgress(Base):
    """What an inviter was last told of their count: keeps progress messages rate-limited."""

    __tablename__ = "fission_progress"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    campaign: Mapped[str] = mapped_column(String(200), primary_key=True)
    inviter: Mapped[str] = mapped_column(String(200), primary_key=True)
    effective: Mapped[int]
    told_at: Mapped[datetime]
