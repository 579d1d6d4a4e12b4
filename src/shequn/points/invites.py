"""Invite points: newcomers whose first local day is over credit their inviter, once; and who
earns nothing at all (staff, the atmosphere crew, the audit's flagged)."""

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shequn.audit.rules import audit_policy
from shequn.audit.service import flagged_among
from shequn.engine.context import CHUNK, Context
from shequn.group.models import Staff
from shequn.invite.models import InviteCodeRecord
from shequn.invite.rules import (
    Credit,
    FirstJoin,
    InviteCode,
    Standing,
    Stay,
    credit_for,
    standing_at,
)
from shequn.kit.time import local_day, local_time_to_utc
from shequn.member.models import Member, Membership
from shequn.points.models import (
    PointsLot,
    PointsPendingInvite,
)
from shequn.points.policy import policy_of
from shequn.points.rules import (
    EarningRule,
    EarnKind,
    earned,
)
from shequn.points.store import Earning, book_earnings, lock_members, tallies_of


@dataclass(frozen=True)
class DueInvites:
    """Newcomers whose first local day is over: the credits among them that earn, as of then."""

    invitees: list[str]
    credits: list[tuple[Credit, datetime]]

    @property
    def inviters(self) -> set[str]:
        return {credit.inviter for credit, _ in self.credits}


def invite_due_at(joined_at: datetime, *, timezone: str) -> datetime:
    """The end of the newcomer's first local day: when their inviter may be credited."""
    return local_time_to_utc(local_day(joined_at, timezone) + timedelta(days=1), 0, 0, timezone)


def pending_due(session: Session, org: str, *, until: datetime) -> dict[str, datetime]:
    """Newcomers whose first local day ended by `until`, oldest first, a chunk at a time."""
    rows = session.execute(
        select(PointsPendingInvite.invitee, PointsPendingInvite.due_at)
        .where(PointsPendingInvite.org == org, PointsPendingInvite.due_at <= until)
        .order_by(PointsPendingInvite.due_at, PointsPendingInvite.invitee)
        .limit(CHUNK)
    )
    return {invitee: due_at for invitee, due_at in rows}


def due_invites(
    session: Session, org: str, due: Mapping[str, datetime], *, settings: Mapping[str, Any]
) -> DueInvites:
    """The credits among these newcomers that earn, each as of its due time: the newcomer is
    in the group, not kicked, not flagged, and was never credited before."""
    if not due:
        return DueInvites([], [])
    # What this unit of work applied must be seen: the session does not flush by itself.
    session.flush()
    newcomers = session.execute(
        select(Member.id, Member.first_group, Member.first_join_key, Member.first_joined_at,
               Member.first_inviter, Member.first_via_code)
        .where(Member.org == org, Member.id.in_(due))
    ).all()  # fmt: skip
    codes = {
        record.code: InviteCode(record.code, record.owner, record.channel)
        for record in session.scalars(select(InviteCodeRecord).where(
            InviteCodeRecord.org == org,
            InviteCodeRecord.code.in_({m.first_via_code for m in newcomers if m.first_via_code}),
        ))
    }  # fmt: skip
    candidates = {code.owner for code in codes.values()} | {
        member.first_inviter for member in newcomers if member.first_inviter
    }
    keys = {
        member: key
        for member, key in session.execute(
            select(Member.id, Member.first_join_key).where(
                Member.org == org, Member.id.in_(candidates)
            )
        )
        if key is not None
    }
    credits = [
        credit
        for member in newcomers
        if member.first_group and member.first_join_key and member.first_joined_at
        and (credit := credit_for(
            FirstJoin(member.id, member.first_group, member.first_join_key,
                      member.first_joined_at, member.first_inviter, member.first_via_code),
            codes=codes, first_join_keys=keys,
        ))
    ]  # fmt: skip
    credited = set(session.scalars(select(PointsLot.id).where(
        PointsLot.org == org, PointsLot.id.in_([f"invite:{c.invitee}" for c in credits])
    )))  # fmt: skip
    # Only the credits' own members: the org's every flagged member would be read each batch.
    flagged = flagged_among(
        session, org, {c.invitee for c in credits} | {c.inviter for c in credits}
    )
    barred = flagged | staff_and_crew(session, org, settings)
    stays: dict[str, list[Stay]] = defaultdict(list)
    credited_in = {(c.invitee, c.group) for c in credits}
    for row in session.execute(
        select(Membership.member_id, Membership.group_id, Membership.joined_at,
               Membership.left_at, Membership.left_reason)
        .where(Membership.org == org, Membership.member_id.in_([c.invitee for c in credits]))
    ):  # fmt: skip
        if (row.member_id, row.group_id) in credited_in:
            stays[row.member_id].append(Stay(row.joined_at, row.left_at, row.left_reason))
    effective = [
        (credit, due[credit.invitee])
        for credit in credits
        if f"invite:{credit.invitee}" not in credited and credit.inviter not in barred
        and standing_at(stays[credit.invitee], at=due[credit.invitee],
                        is_flagged=credit.invitee in flagged) is Standing.EFFECTIVE
    ]  # fmt: skip
    return DueInvites(invitees=list(due), credits=effective)


def invite_earnings(
    due: DueInvites,
    *,
    rule: EarningRule,
    timezone: str,
    earned_before: Mapping[tuple[str, date], int],
) -> list[Earning]:
    """Invite points for the due credits, within each inviter's daily cap; `earned_before` has
    what an inviter already earned by invites on a local day."""
    earnings: list[Earning] = []
    added: dict[tuple[str, date], int] = defaultdict(int)
    for credit, at in sorted(due.credits, key=lambda pair: (pair[1], pair[0].at, pair[0].invitee)):
        day = local_day(at, timezone)
        so_far = earned_before.get((credit.inviter, day), 0) + added[(credit.inviter, day)]
        points = earned(rule, earned_today_by_kind=so_far)
        if points > 0:
            added[(credit.inviter, day)] += points
            earnings.append(Earning(
                member=credit.inviter, points=points, key=f"invite:{credit.invitee}", at=at,
                reason=f"invited {credit.invitee}", kind=EarnKind.INVITE.value, group=credit.group,
            ))  # fmt: skip
    return earnings


def settle_pending(session: Session, org: str, invitees: Collection[str]) -> None:
    if invitees:
        session.execute(delete(PointsPendingInvite).where(
            PointsPendingInvite.org == org, PointsPendingInvite.invitee.in_(sorted(invitees))
        ))  # fmt: skip


def credit_due_invites(context: Context, org: str) -> set[str]:
    """Credit every inviter whose newcomers are due by now (keys of the lots booked)."""
    policy = policy_of(context, org)
    timezone = context.tenant(org).timezone
    booked: set[str] = set()
    settings = context.tenant(org).settings
    while pending := pending_due(context.session, org, until=context.now):
        due = due_invites(context.session, org, pending, settings=settings)
        lock_members(context.session, org, due.inviters)
        days = {local_day(at, timezone) for _, at in due.credits}
        tallies = tallies_of(context.session, org, [
            (inviter, day, EarnKind.INVITE.value) for inviter in due.inviters for day in days
        ])  # fmt: skip
        earnings = invite_earnings(
            due, rule=policy.rules[EarnKind.INVITE], timezone=timezone,
            earned_before={(member, day): points for (member, day, _), points in tallies.items()},
        )  # fmt: skip
        booked |= book_earnings(context, org, earnings, policy=policy)
        settle_pending(context.session, org, due.invitees)
    return booked


def barred_among(
    session: Session,
    org: str,
    members: Collection[str],
    *,
    settings: Mapping[str, Any],
    with_flagged: bool = True,
) -> frozenset[str]:
    """Those of the members who earn nothing: staff, the atmosphere crew, the audit's flagged."""
    wanted = set(members)
    # Staff and crew are few: read them whole rather than probe for every member.
    barred = staff_and_crew(session, org, settings).intersection(wanted)
    if with_flagged:
        barred |= flagged_among(session, org, wanted)
    return frozenset(barred)


def staff_and_crew(session: Session, org: str, settings: Mapping[str, Any]) -> frozenset[str]:
    staff = set(session.scalars(select(Staff.id).where(Staff.org == org)))
    return frozenset(staff | audit_policy(settings).crew)
