"""Members, their stints in groups (memberships), and their activity counters."""

from datetime import datetime

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import UPDATED_IN_PLACE, Base


class Member(Base):
    __tablename__ = "member"
    __table_args__ = UPDATED_IN_PLACE
    written_in_bulk = True

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    platform: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime]
    first_seen_key: Mapped[str] = mapped_column(String(48))
    nickname: Mapped[str | None] = mapped_column(String(200))
    gender: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str | None] = mapped_column(String(1000))
    avatar_url: Mapped[str | None] = mapped_column(String(2000))
    avatar_flags: Mapped[list[str]] = mapped_column(JSON)
    album_flags: Mapped[list[str]] = mapped_column(JSON)
    phone: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str | None] = mapped_column(String(100))
    profile_key: Mapped[str | None] = mapped_column(String(48))
    # The first join into any of the org's groups: the one an invite credit can come from.
    first_join_key: Mapped[str | None] = mapped_column(String(48))
    first_joined_at: Mapped[datetime | None]
    first_group: Mapped[str | None] = mapped_column(String(200))
    first_inviter: Mapped[str | None] = mapped_column(String(200))
    first_via_kind: Mapped[str | None] = mapped_column(String(32))
    first_via_code: Mapped[str | None] = mapped_column(String(200))


class GroupMember(Base):
    """Where a member stands in one group now, and the last join/leave applied to get there."""

    __tablename__ = "group_member"
    written_in_bulk = True

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    is_member: Mapped[bool]
    stints: Mapped[int]
    # Key of the join that opened the current stint (None when out of the group).
    joined_key: Mapped[str | None] = mapped_column(String(48))
    last_key: Mapped[str] = mapped_column(String(48))


class Membership(Base):
    """One stint of a member in a group: joined, maybe left."""

    __tablename__ = "membership"
    written_in_bulk = True

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    stint: Mapped[int] = mapped_column(primary_key=True)
    joined_at: Mapped[datetime]
    join_key: Mapped[str] = mapped_column(String(48))
    inviter: Mapped[str | None] = mapped_column(String(200))
    via_kind: Mapped[str | None] = mapped_column(String(32))
    via_code: Mapped[str | None] = mapped_column(String(200))
    left_at: Mapped[datetime | None]
    left_reason: Mapped[str | None] = mapped_column(String(16))
    left_by: Mapped[str | None] = mapped_column(String(200))


class MemberActivity(Base):
    """Messages and reactions a member posted in a group; counters, added to in bulk."""

    __tablename__ = "member_activity"
    __table_args__ = UPDATED_IN_PLACE

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    messages: Mapped[int]
    reactions: Mapped[int]
    last_active_at: Mapped[datetime | None]


class MemberTag(Base):
    """A tag staff put on a member (VIP, 团长, …): operator state, kept by a rebuild."""

    __tablename__ = "member_tag"
    __table_args__ = (Index("ix_member_tag_tag", "org", "tag"),)

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime]


class SealedPhone(Base):
    """A member's phone number encrypted at rest (AES-GCM), with the masked form pages show."""

    __tablename__ = "member_phone"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    sealed: Mapped[str] = mapped_column(String(200))
    masked: Mapped[str] = mapped_column(String(40))
    sealed_at: Mapped[datetime]
    # Key of the member.upserted this number came with: only a newer upsert replaces or removes
    # it. None when sealed from the member row (`shequn staff seal-phones`).
    source_key: Mapped[str | None] = mapped_column(String(48))
