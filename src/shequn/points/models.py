"""The points ledger as stored: entries, lots, balances, mall holds; the mall's items and
redemptions; sign-ins, daily tallies and the chat replies waiting for their window.

None of these tables is a projection: points come from reactions, jobs and operators, and every
earning is keyed by the event or the fact that caused it, so `shequn rebuild` leaves them as they
are and nothing replayed can earn a second time.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shequn.db import UPDATED_IN_PLACE, Base, BigId

# Lot ids are earning keys, and a hold returned by a cancel opens lots named after the hold and
# the lot each part came from; room for a few such rounds on top of an event's own id.
KEY_LENGTH = 1000


class PointsEntry(Base):
    """One movement of one member's points in one lot; appended, never changed."""

    __tablename__ = "points_entry"
    __table_args__ = (
        # The ledger's rule: an operation's entries are unique by (key, lot). Leading with the
        # lot, the same index finds every entry of a lot (expiry, revocation, boards).
        UniqueConstraint("org", "lot", "key"),
        Index("ix_points_entry_member", "org", "member", "at"),
        Index("ix_points_entry_kind", "org", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    lot: Mapped[str] = mapped_column(String(KEY_LENGTH))
    member: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(300))
    # Where the points were earned, for a group's board; None for the rest.
    group_id: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime]


class PointsLot(Base):
    """Points that arrived together and expire together; `remaining` is what is left of them."""

    __tablename__ = "points_lot"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= earned", name="remaining_within_earned"),
        Index("ix_points_lot_member", "org", "member", "expires_at"),
        Index("ix_points_lot_expiry", "org", "expires_at"),
    )

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    member: Mapped[str] = mapped_column(String(200))
    earned: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    earned_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class PointsBalance(Base):
    """A member's balance, kept in step with the entries: the row a spend locks."""

    __tablename__ = "points_balance"
    __table_args__ = (
        # The last line of defence: whatever a bug or a race did, the database refuses to store
        # a negative balance and the whole unit of work rolls back.
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        UPDATED_IN_PLACE,
    )

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)


class PointsReservation(Base):
    """Points held for a mall redemption until it is fulfilled or cancelled."""

    __tablename__ = "points_reservation"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    member: Mapped[str] = mapped_column(String(200))
    points: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    # [{"lot": ..., "points": 30}]: what the hold took from each lot, returned on a cancel.
    taken: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))


class PointsSignIn(Base):
    """A member's sign-in (签到) on one local day: at most one per day, with the streak it made."""

    __tablename__ = "points_sign_in"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    streak: Mapped[int]
    points: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    group_id: Mapped[str | None] = mapped_column(String(200))


class PointsTally(Base):
    """Points a member earned by one kind of action on one local day: what a daily cap reads."""

    __tablename__ = "points_tally"
    __table_args__ = UPDATED_IN_PLACE

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)


class PointsPendingInvite(Base):
    """A newcomer whose inviter is owed points if they are still in once their first local day
    is over; settled by the first unit of work after that."""

    __tablename__ = "points_pending_invite"
    __table_args__ = (Index("ix_points_pending_invite_due", "org", "due_at"),)

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    invitee: Mapped[str] = mapped_column(String(200), primary_key=True)
    due_at: Mapped[datetime]


class ReplyKind(StrEnum):
    SIGN_IN = "sign_in"
    BALANCE = "balance"
    RANK = "rank"


class PointsReply(Base):
    """A chat command waiting for its group's reply window: one message answers them all."""

    __tablename__ = "points_reply"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    window: Mapped[datetime] = mapped_column(primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    at: Mapped[datetime]
    # A sign-in's outcome as decided: {"counted": true, "points": 5, "streak": 3}.
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class ItemKind(StrEnum):
    GIFT = "gift"
    COUPON = "coupon"
    SERVICE = "service"


class MallItem(Base):
    """Something the points mall (积分商城) offers, with its price in points and its stock."""

    __tablename__ = "mall_item"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price > 0", name="price_positive"),
    )

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    sku: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    price: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int]
    # Redemptions per member, held or fulfilled; None: no limit.
    per_member_limit: Mapped[int | None]
    is_active: Mapped[bool]
    created_at: Mapped[datetime]


class RedemptionStatus(StrEnum):
    HELD = "held"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


class MallRedemption(Base):
    """A member's redemption of one item: points and stock held, then fulfilled or cancelled."""

    __tablename__ = "mall_redemption"
    __table_args__ = (Index("ix_mall_redemption_member", "org", "member", "sku"),)

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(200))
    points: Mapped[int] = mapped_column(BigInteger)
    # The ledger's hold: its key names the reservation and the spend entries.
    reservation: Mapped[str] = mapped_column(String(KEY_LENGTH))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    status_at: Mapped[datetime]
    status_by: Mapped[str | None] = mapped_column(String(200))


class PointsGroup(Base):
    """A group's points switches; a group without a row has sign-in (签到) open."""

    __tablename__ = "points_group"
    __table_args__ = UPDATED_IN_PLACE

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    is_sign_in_open: Mapped[bool]
    changed_at: Mapped[datetime]


class PointsQuiz(Base):
    """A quiz (有奖问答) posted to one group: any accepted answer in [opens_at, closes_at) earns."""

    __tablename__ = "points_quiz"
    __table_args__ = (
        Index("ix_points_quiz_group", "org", "group_id", "closes_at"),
        CheckConstraint("points > 0", name="quiz_points_positive"),
        UPDATED_IN_PLACE,
    )

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(String(1000))
    answers: Mapped[list[str]] = mapped_column(JSON)
    points: Mapped[int] = mapped_column(BigInteger)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    lang: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(200))
    # When the answer was posted; None while the quiz has not been closed.
    closed_at: Mapped[datetime | None]


class PointsQuizAnswer(Base):
    """A member's right answer to a quiz: one per member and quiz, however often re-delivered;
    `points` is what it earned within the daily cap (0 once the cap is reached)."""

    __tablename__ = "points_quiz_answer"

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    quiz: Mapped[str] = mapped_column(String(64), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime]
    points: Mapped[int] = mapped_column(BigInteger)
