"""Invite codes and invite counts: load the facts, let the rules decide."""

import re
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequn.audit.service import flagged_members, restored_stints
from shequn.invite.models import InviteCodeRecord, TreeNodeRecord
from shequn.invite.projection import place_code_joins
from shequn.invite.rules import (
    Credit,
    FirstJoin,
    FissionSummary,
    InviteCode,
    InviterCount,
    Standing,
    Stay,
    count_invites,
    credit_for,
    standing_at,
)
from shequn.member.models import Member, Membership

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
CHANNEL_PATTERN = re.compile(r"^\S{1,100}$")
LINK_PATTERN = re.compile(r"^https?://\S{1,1990}$")


class InviteCodeTaken(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(f"invite code {code!r} already exists in this org")


def create_invite_code(
    session: Session,
    org: str,
    *,
    owner: str,
    group: str | None,
    channel: str,
    code: str | None,
    now: datetime,
    link: str | None = None,
) -> InviteCodeRecord:
    """A personal code for `owner`; without an explicit code, one is made up that reads well."""
    if code is not None and not CODE_PATTERN.match(code):
        raise ValueError(f"code: {code!r} may only hold letters, digits and _ . : - (1-200)")
    if not CHANNEL_PATTERN.match(channel):
        raise ValueError(f"channel: {channel!r} must be one word of 1-100 characters")
    if link is not None and not LINK_PATTERN.match(link):
        raise ValueError(f"link: {link!r} must be an http(s) URL without spaces (up to 2000)")
    chosen = code or f"inv-{owner}-{secrets.token_hex(3)}"
    if session.get(InviteCodeRecord, (org, chosen)) is not None:
        raise InviteCodeTaken(chosen)
    record = InviteCodeRecord(
        org=org, code=chosen, owner=owner, group_id=group, channel=channel, link=link,
        created_at=now,
    )  # fmt: skip
    session.add(record)
    session.flush()
    place_code_joins(session, org, chosen)
    return record


def personal_code(
    session: Session, org: str, *, owner: str, group: str | None, channel: str, now: datetime
) -> InviteCodeRecord:
    """The owner's code for this group and channel: the oldest one, or a new one."""
    existing = session.scalars(
        select(InviteCodeRecord)
        .where(
            InviteCodeRecord.org == org,
            InviteCodeRecord.owner == owner,
            InviteCodeRecord.channel == channel,
            InviteCodeRecord.group_id.is_(None)
            if group is None
            else InviteCodeRecord.group_id == group,
        )
        .order_by(InviteCodeRecord.created_at, InviteCodeRecord.code)
        .limit(1)
    ).first()
    if existing is not None:
        return existing
    return create_invite_code(
        session, org, owner=owner, group=group, channel=channel, code=None, now=now
    )


@dataclass(frozen=True)
class InviteQuery:
    """Counts as of `at`, over credits whose first join falls in [since, until]."""

    at: datetime
    group: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # A campaign's group set (empty: any group).
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FissionFacts:
    """What the credit rules read: every member's first join, and the org's invite codes."""

    joins: list[FirstJoin]
    codes: dict[str, InviteCode]

    @property
    def credits(self) -> list[Credit]:
        keys = {join.member: join.key for join in self.joins}
        found = (credit_for(join, codes=self.codes, first_join_keys=keys) for join in self.joins)
        return [credit for credit in found if credit is not None]


def _invite_codes(session: Session, org: str) -> dict[str, InviteCode]:
    return {
        code: InviteCode(code=code, owner=owner, channel=channel)
        for code, owner, channel in session.execute(
            select(InviteCodeRecord.code, InviteCodeRecord.owner, InviteCodeRecord.channel).where(
                InviteCodeRecord.org == org
            )
        )
    }


def fission_facts(session: Session, org: str) -> FissionFacts:
    codes = _invite_codes(session, org)
    joins = [
        FirstJoin(
            member=member.id,
            group=member.first_group,
            key=member.first_join_key,
            at=member.first_joined_at,
            inviter=member.first_inviter,
            via_code=member.first_via_code,
        )
        for member in session.scalars(
            select(Member).where(Member.org == org, Member.first_join_key.is_not(None))
        )
        if member.first_group is not None
        and member.first_join_key is not None
        and member.first_joined_at is not None
    ]
    return FissionFacts(joins=joins, codes=codes)


def credits_of(session: Session, org: str) -> list[Credit]:
    """Every credit the org's log supports, by the credit rules."""
    return fission_facts(session, org).credits


def summarize_fission_of(
    session: Session,
    org: str,
    *,
    group: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> FissionSummary:
    """The invite tree of members whose first join falls in the window (and group).

    Each member's credit, generation and channel are kept at join (the invite tree
    projection), so the summary is two aggregates over the chosen members.
    """
    chosen = [
        TreeNodeRecord.org == org,
        *([TreeNodeRecord.group_id == group] if group is not None else []),
        *([TreeNodeRecord.joined_at >= since] if since is not None else []),
        *([TreeNodeRecord.joined_at <= until] if until is not None else []),
    ]
    generations: Counter[int] = Counter()
    channels: Counter[str] = Counter()
    credited = 0
    for generation, channel, is_credited, members in session.execute(
        select(
            TreeNodeRecord.generation, TreeNodeRecord.channel, TreeNodeRecord.is_credited,
            func.count(),
        )
        .where(*chosen)
        .group_by(TreeNodeRecord.generation, TreeNodeRecord.channel, TreeNodeRecord.is_credited)
    ):  # fmt: skip
        generations[generation] += members
        channels[channel] += members
        credited += members if is_credited else 0
    # Grouped rather than count(DISTINCT …): PostgreSQL sorts inside a DISTINCT aggregate, which
    # takes twice as long as grouping first.
    credited_inviters = (
        select(TreeNodeRecord.inviter)
        .where(*chosen, TreeNodeRecord.is_credited)
        .group_by(TreeNodeRecord.inviter)
        .subquery()
    )
    inviters = session.scalar(select(func.count()).select_from(credited_inviters))
    return FissionSummary(
        members=generations.total(),
        credited=credited,
        inviters=inviters or 0,
        depth=max(generations, default=0),
        generations=dict(sorted(generations.items())),
        channels=dict(sorted(channels.items(), key=lambda item: (-item[1], item[0]))),
    )


def count_invites_as_of(
    session: Session, org: str, query: InviteQuery, *, flagged: frozenset[str] | None = None
) -> list[InviterCount]:
    """Per inviter: invited, effective, left, kicked and flagged, as of `query.at`.

    `flagged` holds the members the audit marks fake; by default the audit's current verdicts
    and decisions, so every report, leaderboard and reward counts the same way.
    """
    if flagged is None:
        flagged = flagged_members(session, org)
    credits = [
        credit
        for credit in credits_of(session, org)
        if credit.at <= query.at
        and (query.group is None or credit.group == query.group)
        and (not query.groups or credit.group in query.groups)
        and (query.since is None or credit.at >= query.since)
        and (query.until is None or credit.at <= query.until)
    ]
    stays: dict[tuple[str, str], list[Stay]] = defaultdict(list)
    # A kick the operator undid (restore) ends the stay like any leave: a re-join counts again.
    forgiven = restored_stints(session, org)
    wanted = {(credit.group, credit.invitee) for credit in credits}
    groups = sorted({group for group, _ in wanted})
    for start in range(0, len(groups), 500):
        rows = session.scalars(
            select(Membership).where(
                Membership.org == org, Membership.group_id.in_(groups[start : start + 500])
            )
        )
        for row in rows:
            if (row.group_id, row.member_id) in wanted:
                undone = (row.group_id, row.member_id, row.stint) in forgiven
                reason = "restored" if undone else row.left_reason
                stays[(row.group_id, row.member_id)].append(
                    Stay(joined_at=row.joined_at, left_at=row.left_at, left_reason=reason)
                )
    judged: list[tuple[Credit, Standing]] = [
        (
            credit,
            standing_at(
                stays[(credit.group, credit.invitee)],
                at=query.at,
                is_flagged=credit.invitee in flagged,
            ),
        )
        for credit in credits
    ]
    return count_invites(judged)
