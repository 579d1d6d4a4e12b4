"""Fission campaigns: define them, and grant each tier of effective invites exactly once."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.engine.action import Action, ActionKind
from shequn.engine.context import Context, Job
from shequn.fission.models import CampaignRecord, RewardGrant
from shequn.fission.poster import PosterText
from shequn.fission.rules import (
    POSTER_WORDS,
    GrantMode,
    RewardKind,
    Tier,
    poster_lines,
    tier_changes,
    tiers_of,
)
from shequn.invite.rules import InviterCount
from shequn.invite.service import CODE_PATTERN, InviteQuery, count_invites_as_of, personal_code
from shequn.kit.ids import stable_id
from shequn.kit.money import format_amount
from shequn.member.models import Member

CHECK = "fission.check"
SETTLE = "fission.settle"
# Joins and leaves within a minute share one recount.
CHECK_WINDOW = timedelta(seconds=60)


def create_campaign(
    context: Context,
    org: str,
    *,
    campaign_id: str,
    name: str,
    groups: list[str],
    starts_at: datetime,
    ends_at: datetime,
    tiers: list[Tier],
    mode: GrantMode,
) -> CampaignRecord:
    session = context.session
    if not CODE_PATTERN.match(campaign_id):
        raise ValueError(f"campaign: {campaign_id!r} may only hold letters, digits and _ . : -")
    if ends_at <= starts_at:
        raise ValueError("--to must come after --from")
    counts = [tier.count for tier in tiers]
    if not tiers or len(set(counts)) != len(counts):
        raise ValueError("give one or more --tier, each with a different count")
    if session.get(CampaignRecord, (org, campaign_id)) is not None:
        raise ValueError(f"campaign {campaign_id!r} already exists in this org")
    record = CampaignRecord(
        org=org, id=campaign_id, name=name or campaign_id, groups=list(groups),
        starts_at=starts_at, ends_at=ends_at,
        tiers=[tier.as_json() for tier in sorted(tiers, key=lambda tier: tier.count)],
        mode=str(mode), created_at=context.now,
    )  # fmt: skip
    session.add(record)
    session.flush()
    # The final count: grants in end mode, a last check in reach mode.
    context.schedule(
        Job(
            id=stable_id("fission-settle", org, campaign_id),
            org=org,
            kind=SETTLE,
            due_at=ends_at,
            payload={"campaign": campaign_id},
        )
    )
    return record


def active_campaigns(context: Context, org: str) -> list[CampaignRecord]:
    return context.memo(
        ("fission-campaigns", org),
        lambda: list(
            context.session.scalars(select(CampaignRecord).where(CampaignRecord.org == org))
        ),
    )


def schedule_check(context: Context, campaign: CampaignRecord, at: datetime) -> None:
    """Recount the campaign at the end of the minute this join or leave falls in."""
    seconds = CHECK_WINDOW.total_seconds()
    start = datetime.fromtimestamp(at.timestamp() // seconds * seconds, tz=at.tzinfo)
    due = min(start + CHECK_WINDOW, campaign.ends_at)
    context.schedule(
        Job(
            id=stable_id("fission-check", campaign.org, campaign.id, start.isoformat()),
            org=campaign.org,
            kind=CHECK,
            due_at=due,
            payload={"campaign": campaign.id, "at": due.isoformat()},
        )
    )


def campaign_counts(
    session: Session, campaign: CampaignRecord, *, at: datetime
) -> list[InviterCount]:
    query = InviteQuery(
        at=min(at, campaign.ends_at), since=campaign.starts_at, until=campaign.ends_at,
        groups=frozenset(campaign.groups),
    )  # fmt: skip
    return count_invites_as_of(session, campaign.org, query)


def settle(context: Context, campaign: CampaignRecord, *, at: datetime, final: bool) -> None:
    """Grant every tier reached and not yet granted (in end mode only when final), and flag
    granted tiers whose count has since fallen."""
    session = context.session
    tiers = tiers_of(campaign.tiers)
    grants: dict[str, dict[int, RewardGrant]] = defaultdict(dict)
    for grant in session.scalars(
        select(RewardGrant).where(
            RewardGrant.org == campaign.org, RewardGrant.campaign == campaign.id
        )
    ):
        grants[grant.inviter][grant.tier] = grant
    may_grant = campaign.mode == GrantMode.ON_REACH or final
    for count in campaign_counts(session, campaign, at=at):
        held = grants[count.inviter]
        changes = tier_changes(tiers, effective=count.effective, granted=set(held))
        for tier in changes.grant if may_grant else ():
            grant = RewardGrant(
                id=stable_id("grant", campaign.org, campaign.id, count.inviter, tier.count),
                org=campaign.org, campaign=campaign.id, inviter=count.inviter, tier=tier.count,
                kind=str(tier.kind), name=tier.name, cost=tier.cost,
                count_at_grant=count.effective, granted_at=at, flagged_at=None,
            )  # fmt: skip
            session.add(grant)
            held[tier.count] = grant
            if tier.kind is RewardKind.GIFT:
                context.emit(gift_task(campaign, count.inviter, tier, grant.id))
        for tier in changes.flag:
            grant = held[tier.count]
            # A recount of an earlier moment (a replayed job) says nothing about a later grant.
            if grant.flagged_at is None and at > grant.granted_at:
                grant.flagged_at = at
    session.flush()


def gift_task(campaign: CampaignRecord, inviter: str, tier: Tier, grant_id: str) -> Action:
    cost = format_amount(tier.cost)
    return Action(
        id=stable_id("gift", grant_id),
        org=campaign.org,
        kind=ActionKind.CREATE_TASK,
        cause=f"grant:{grant_id}",
        member=inviter,
        payload={
            "title": {
                "zh": f"活动「{campaign.name}」:给 {inviter} 寄出礼品「{tier.name}」(成本 ¥{cost})。",
                "en": f"Campaign “{campaign.name}”: send the gift “{tier.name}” to {inviter} "
                f"(cost ¥{cost}).",
            },
            "grant": grant_id,
        },
    )


class UnknownCampaign(LookupError):
    def __init__(self, campaign: str) -> None:
        super().__init__(f"campaign {campaign!r} does not exist in this org")


@dataclass(frozen=True)
class PosterPlan:
    text: PosterText
    code: str
    link: str


def plan_poster(
    session: Session,
    org: str,
    *,
    member: str,
    campaign: str,
    lang: str,
    public_url: str,
    now: datetime,
) -> PosterPlan:
    """What goes on a member's poster; gives them a personal poster code on first use."""
    record = session.get(CampaignRecord, (org, campaign))
    if record is None:
        raise UnknownCampaign(campaign)
    profile = session.get(Member, (org, member))
    if profile is None:
        raise LookupError(f"member {member!r} is not known in this org")
    # A campaign over several groups sends newcomers to its first; a live code does better.
    target = record.groups[0] if record.groups else None
    code = personal_code(session, org, owner=member, group=target, channel="poster", now=now)
    link = code.link or f"{public_url.rstrip('/')}/j/{org}/{code.code}"
    text = PosterText(
        headline=record.name,
        nickname=profile.nickname or member,
        lines=poster_lines(tiers_of(record.tiers), lang=lang),
        call=POSTER_WORDS[lang]["call"],
    )
    return PosterPlan(text=text, code=code.code, link=link)
