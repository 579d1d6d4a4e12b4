"""Groups, and the stores and staff they belong to, as the events describe them."""

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import UPDATED_IN_PLACE, Base


class Store(Base):
    __tablename__ = "store"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seen_at: Mapped[datetime]


class Staff(Base):
    __tablename__ = "staff"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seen_at: Mapped[datetime]


class Group(Base):
    __tablename__ = "chat_group"
    __table_args__ = UPDATED_IN_PLACE

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The source of the first event that named the group: telegram, wecom, …
    platform: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int | None]
    store: Mapped[str | None] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON)
    member_count: Mapped[int]
    first_seen_at: Mapped[datetime]
    first_seen_key: Mapped[str] = mapped_column(String(48))
    # Key of the group.upserted the profile comes from: a late, older one never overwrites it.
    profile_key: Mapped[str | None] = mapped_column(String(48))
    dismissed_at: Mapped[datetime | None]
