"""Invite codes: each one brings newcomers to a group for its owner, through one channel."""

from datetime import datetime

from sqlalchemy import JSON, Index, String
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


class TreeNodeRecord(Base):
    """A member's place in the invite tree, kept at join: what the fission report groups.

    Derived from the member's first join and the org's invite codes; the projection keeps it
    exact whatever the arrival order, and a new code places the members who came through it.
    """

    __tablename__ = "invite_tree_node"
    written_in_bulk = True
    __table_args__ = (
        # Whom a member's (late) first join places again, and the distinct credited inviters.
        Index("ix_invite_tree_node_inviter", "org", "inviter", "is_credited"),
        Index("ix_invite_tree_node_via_code", "org", "via_code"),
        # The report's GROUP BY reads this index alone; a group's window, the next one.
        Index("ix_invite_tree_node_report", "org", "generation", "channel", "is_credited"),
        Index("ix_invite_tree_node_group", "org", "group_id", "joined_at"),
    )

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The member's first join into any of the org's groups, as the log has it.
    join_key: Mapped[str] = mapped_column(String(48))
    joined_at: Mapped[datetime]
    group_id: Mapped[str] = mapped_column(String(200))
    reported_inviter: Mapped[str | None] = mapped_column(String(200))
    via_code: Mapped[str | None] = mapped_column(String(200))
    # Whom the join names: the code's owner, else the reported inviter (never the member).
    inviter: Mapped[str | None] = mapped_column(String(200))
    # Whether the credit rules credit that inviter (not when they first joined later).
    is_credited: Mapped[bool]
    generation: Mapped[int]
    channel: Mapped[str] = mapped_column(String(100))
