"""Boards (排行), the points report and the choice of KOCs."""

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from shequn.analytics.rules import round_half_up
from shequn.audit.service import flagged_members
from shequn.commerce.models import Order, Refund
from shequn.group.models import Group
from shequn.invite.service import InviteQuery, count_invites_as_of
from shequn.kit.money import format_amount
from shequn.kit.time import local_day, local_time_to_utc
from shequn.member.models import GroupMember, Member
from shequn.org.models import Org
from shequn.points.invites import staff_and_crew
from shequn.points.ledger import (
    EntryKind,
)
from shequn.points.models import (
    PointsEntry,
)
from shequn.points.rules import (
    KocFacts,
    KocScore,
    Period,
    koc_scores,
)

KOC_WINDOW = timedelta(days=90)


class UnknownGroup(LookupError):
    def __init__(self, group: str) -> None:
        super().__init__(f"group {group!r} is not known in this org")


@dataclass(frozen=True)
class BoardRow:
    rank: int
    member: str
    points: int


def period_bounds(
    period: Period, *, at: datetime, timezone: str
) -> tuple[datetime, datetime] | None:
    """The UTC bounds of the local day, or week from Monday, that holds `at`; None: all time."""
    today = local_day(at, timezone)
    if period is Period.ALL:
        return None
    first = today if period is Period.DAY else today - timedelta(days=today.weekday())
    last = first + timedelta(days=1 if period is Period.DAY else 7)
    return local_time_to_utc(first, 0, 0, timezone), local_time_to_utc(last, 0, 0, timezone)


def earned_by_member(
    session: Session,
    org: str,
    *,
    bounds: tuple[datetime, datetime] | None,
    group: str | None = None,
    members: Collection[str] | None = None,
) -> dict[str, tuple[int, datetime]]:
    """Points earned in the bounds, net of what was revoked of each earning, and when each
    member reached their total: what `rules.board` counts, summed in the database."""
    revokes = (
        select(PointsEntry.lot, func.sum(PointsEntry.amount).label("taken"))
        .where(PointsEntry.org == org, PointsEntry.kind == EntryKind.REVOKE.value)
        .group_by(PointsEntry.lot)
        .subquery()
    )
    net = PointsEntry.amount + func.coalesce(revokes.c.taken, literal(0))
    query = (
        select(PointsEntry.member, func.sum(net), func.max(PointsEntry.at))
        .outerjoin(revokes, revokes.c.lot == PointsEntry.lot)
        .where(PointsEntry.org == org, PointsEntry.kind == EntryKind.EARN.value, net > 0)
        .group_by(PointsEntry.member)
    )
    if bounds is not None:
        query = query.where(PointsEntry.at >= bounds[0], PointsEntry.at < bounds[1])
    if group is not None:
        query = query.where(PointsEntry.group_id == group)
    if members is not None:
        query = query.where(PointsEntry.member.in_(sorted(members)))
    return {member: (int(total), reached) for member, total, reached in session.execute(query)}


def points_board(
    session: Session,
    org: str,
    *,
    period: Period,
    at: datetime,
    timezone: str,
    group: str | None = None,
    top: int | None = None,
) -> list[BoardRow]:
    """The board (排行) of a group or the org: points earned in the period, most first; a tie
    goes to whoever reached the total first, then to the member id."""
    if group is not None and session.get(Group, (org, group)) is None:
        raise UnknownGroup(group)
    totals = earned_by_member(
        session, org, bounds=period_bounds(period, at=at, timezone=timezone), group=group
    )
    ordered = sorted(totals, key=lambda m: (-totals[m][0], totals[m][1], m))
    return [
        BoardRow(rank, member, totals[member][0])
        for rank, member in enumerate(ordered[:top] if top is not None else ordered, start=1)
    ]


@dataclass(frozen=True)
class PointsFigures:
    """One member's line of `shequn report points`."""

    member: str
    balance: int
    earned: int
    spent: int
    expired: int

    def as_json(self) -> dict[str, Any]:
        return {"member": self.member, "balance": self.balance, "earned": self.earned,
                "spent": self.spent, "expired": self.expired}  # fmt: skip


def report_points(session: Session, org: str, *, group: str | None = None) -> list[PointsFigures]:
    """Per member with any entry: balance, points earned by actions, points spent in the mall
    (net of cancelled redemptions) and points expired; highest balance first."""
    kind, amount = PointsEntry.kind, PointsEntry.amount
    returned = (kind == EntryKind.ADJUST.value) & PointsEntry.key.startswith("cancel:")
    query = (
        select(
            PointsEntry.member,
            func.sum(amount),
            func.sum(case((kind == EntryKind.EARN.value, amount), else_=0)),
            func.sum(case((kind == EntryKind.SPEND.value, -amount), (returned, -amount), else_=0)),
            func.sum(case((kind == EntryKind.EXPIRE.value, -amount), else_=0)),
        )
        .where(PointsEntry.org == org)
        .group_by(PointsEntry.member)
    )
    if group is not None:
        if session.get(Group, (org, group)) is None:
            raise UnknownGroup(group)
        present = select(GroupMember.member_id).where(
            GroupMember.org == org, GroupMember.group_id == group, GroupMember.is_member
        )
        query = query.where(PointsEntry.member.in_(present))
    figures = [
        PointsFigures(member, int(balance), int(gained), int(spent), int(expired))
        for member, balance, gained, spent, expired in session.execute(query)
    ]
    return sorted(figures, key=lambda row: (-row.balance, row.member))


@dataclass(frozen=True)
class KocRow:
    """A KOC candidate's rank and the figures behind it."""

    facts: KocFacts
    score: KocScore

    def as_json(self, nickname: str | None) -> dict[str, Any]:
        def share(value: Fraction) -> float:
            return float(round_half_up(value, 4))

        figures = self.score.figures
        return {
            "rank": self.score.rank, "member": self.facts.member, "nickname": nickname,
            "score": share(self.score.score), "points_90d": self.facts.points_earned_90d,
            "effective_invites": self.facts.effective_invites, "orders": self.facts.orders,
            "gmv": format_amount(self.facts.gmv_fen),
            "percentiles": {"points": share(figures.points), "invites": share(figures.invites),
                            "orders": share(figures.orders), "gmv": share(figures.gmv)},
        }  # fmt: skip


def koc_ranking(session: Session, org: str, *, now: datetime, top: int) -> list[KocRow]:
    """Members ranked by the KOC composite (rules.koc_scores): points earned in the last 90
    days, effective invites now, and orders and GMV net of refunds. Staff, the atmosphere crew
    and flagged members are not consumers and are left out."""
    found = session.get(Org, org)
    flagged = flagged_members(session, org)
    barred = flagged | staff_and_crew(session, org, found.settings if found else {})
    known = session.scalars(select(Member.id).where(Member.org == org))
    members = [member for member in known if member not in barred]
    points = earned_by_member(session, org, bounds=(now - KOC_WINDOW, now + timedelta(seconds=1)))
    invites = {
        count.inviter: count.effective
        for count in count_invites_as_of(session, org, InviteQuery(at=now), flagged=flagged)
    }
    refunds: dict[str, int | None] = {}
    for order_id, refunded in session.execute(
        select(Refund.order_id, Refund.amount).where(Refund.org == org)
    ):
        so_far = refunds.get(order_id, 0)
        refunds[order_id] = None if refunded is None or so_far is None else so_far + refunded
    orders: dict[str, int] = defaultdict(int)
    gmv: dict[str, int] = defaultdict(int)
    for order_id, member, amount in session.execute(
        select(Order.id, Order.member_id, Order.amount).where(Order.org == org)
    ):
        refunded = refunds.get(order_id, 0)
        kept = 0 if refunded is None else max(0, amount - refunded)
        if kept > 0:
            orders[member] += 1
            gmv[member] += kept
    facts = [
        KocFacts(member=member, points_earned_90d=points.get(member, (0, now))[0],
                 effective_invites=invites.get(member, 0), orders=orders[member],
                 gmv_fen=gmv[member])
        for member in sorted(members)
    ]  # fmt: skip
    by_member = {fact.member: fact for fact in facts}
    return [KocRow(by_member[score.member], score) for score in koc_scores(facts)[:top]]
