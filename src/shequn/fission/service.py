"""Fission campaigns: define them, and grant each tier of effective invites exactly once."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.engine.action import Action, ActionKind
from shequn.engine.context import Context, Job
from shequn.fission.models import CampaignRecord, InviterProgress, RewardGrant
from shequn.fission.rules import (
    POSTER_WORDS,
    PROGRESS_WORDS,
    GrantMode,
    PosterText,
    RewardKind,
    Tier,
    Told,
    board_text,
    campaign_welcome,
    is_progress_due,
    poster_lines,
    progress_line,
    tier_changes,
    tiers_of,
)
from shequn.group.models import Group
from shequn.invite.rules import InviterCount
from shequn.invite.service import CODE_PATTERN, InviteQuery, count_invites_as_of, personal_code
from shequn.kit.ids import stable_id
from shequn.kit.money import format_amount
from shequn.kit.time import daily_instants, parse_clock
from shequn.member.models import Member
from shequn.member.service import nicknames
from shequn.points.service import Earning, barred_among, book_earnings, policy_of

CHECK = "fission.check"
SETTLE = "fission.settle"
BOARD = "fission.board"
MAX_MENTIONS = 20
# The daily tally a tier's points are counted under: uncapped, like invite points.
FISSION_POINTS = "fission"
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
    lang: str = "zh",
    progress_minutes: int = 30,
    board_at: str | None = None,
    board_top: int = 10,
    welcome_text: str | None = None,
) -> CampaignRecord:
    session = context.session
    if not CODE_PATTERN.match(campaign_id):
        raise ValueError(f"campaign: {campaign_id!r} may only hold letters, digits and _ . : -")
    if ends_at <= starts_at:
        raise ValueError("--to must come after --from")
    counts = [tier.count for tier in tiers]
    if not tiers or len(set(counts)) != len(counts):
        raise ValueError("give one or more --tier, each with a different count")
    if lang not in PROGRESS_WORDS:
        raise ValueError(f"--lang: {lang!r} is not one of {', '.join(PROGRESS_WORDS)}")
    if progress_minutes < 0 or board_top < 1:
        raise ValueError("--progress-every must be 0 or more and --board-top 1 or more")
    clock = parse_clock(board_at) if board_at is not None else None
    if session.get(CampaignRecord, (org, campaign_id)) is not None:
        raise ValueError(f"campaign {campaign_id!r} already exists in this org")
    record = CampaignRecord(
        org=org, id=campaign_id, name=name or campaign_id, groups=list(groups),
        starts_at=starts_at, ends_at=ends_at,
        tiers=[tier.as_json() for tier in sorted(tiers, key=lambda tier: tier.count)],
        mode=str(mode), lang=lang, progress_minutes=progress_minutes, board_at=board_at,
        board_top=board_top, welcome_text=welcome_text, created_at=context.now,
    )  # fmt: skip
    session.add(record)
    session.flush()
    if clock is not None:
        timezone = context.tenant(org).timezone
        for due in daily_instants(starts_at, ends_at, hour=clock[0], minute=clock[1],
                                  timezone=timezone):  # fmt: skip
            context.schedule(
                Job(
                    id=stable_id("fission-board", org, campaign_id, due.isoformat()),
                    org=org,
                    kind=BOARD,
                    due_at=due,
                    payload={"campaign": campaign_id},
                )
            )
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


def welcome_of(context: Context, org: str, group: str, at: datetime) -> str | None:
    """The welcome of the first campaign running in `group` at `at`, if it has one."""
    for campaign in active_campaigns(context, org):
        running = campaign.starts_at <= at <= campaign.ends_at
        if running and (not campaign.groups or group in campaign.groups):
            if campaign.welcome_text == "":
                return None
            return campaign_welcome(campaign.welcome_text, campaign=campaign.name,
                                    tiers=tiers_of(campaign.tiers), lang=campaign.lang)  # fmt: skip
    return None


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
    counts = campaign_counts(session, campaign, at=at)
    earnings: list[Earning] = []
    for count in counts:
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
            if tier.points > 0:
                earnings.append(Earning(
                    member=count.inviter, points=tier.points, key=f"fission:{grant.id}", at=at,
                    reason=f"campaign {campaign.id}: {tier.count} effective invites",
                    kind=FISSION_POINTS, group=count.latest_group,
                ))  # fmt: skip
        for tier in changes.flag:
            grant = held[tier.count]
            # A recount of an earlier moment (a replayed job) says nothing about a later grant.
            if grant.flagged_at is None and at > grant.granted_at:
                grant.flagged_at = at
    pay_tier_points(context, campaign.org, earnings)
    tell_progress(context, campaign, counts, at=at)
    session.flush()


def pay_tier_points(context: Context, org: str, earnings: list[Earning]) -> None:
    """Book tiers' points in the ledger, once per grant (the grant names the entry). Staff, the
    atmosphere crew and flagged inviters are granted the tier but paid nothing, as with invite
    points; points paid to an inviter flagged later are revoked with the rest of theirs."""
    if not earnings:
        return
    barred = barred_among(context.session, org, {earning.member for earning in earnings},
                          settings=context.tenant(org).settings)  # fmt: skip
    paid = [earning for earning in earnings if earning.member not in barred]
    book_earnings(context, org, paid, policy=policy_of(context, org))


def tell_progress(
    context: Context, campaign: CampaignRecord, counts: list[InviterCount], *, at: datetime
) -> None:
    """@-mention inviters whose effective count rose, at most once per interval each; those due
    in one group share a message."""
    if campaign.progress_minutes <= 0:
        return
    session = context.session
    interval = timedelta(minutes=campaign.progress_minutes)
    told = {
        row.inviter: row
        for row in session.scalars(
            select(InviterProgress).where(
                InviterProgress.org == campaign.org, InviterProgress.campaign == campaign.id
            )
        )
    }
    due_by_group: dict[str, list[InviterCount]] = defaultdict(list)
    for count in counts:
        last = told.get(count.inviter)
        before = None if last is None else Told(effective=last.effective, at=last.told_at)
        if count.latest_group is not None and is_progress_due(
            count.effective, before, now=at, interval=interval
        ):
            due_by_group[count.latest_group].append(count)
    tiers = tiers_of(campaign.tiers)
    names = nicknames(
        session, campaign.org, [c.inviter for due in due_by_group.values() for c in due]
    )
    for group_id, due in sorted(due_by_group.items()):
        group = session.get(Group, (campaign.org, group_id))
        for start in range(0, len(due), MAX_MENTIONS):
            chunk = due[start : start + MAX_MENTIONS]
            lines = [
                progress_line(
                    names.get(c.inviter, c.inviter), c.effective, tiers, lang=campaign.lang
                )
                for c in chunk
            ]
            context.emit(
                Action(
                    id=stable_id(
                        "fission-progress",
                        campaign.org,
                        campaign.id,
                        group_id,
                        *(f"{c.inviter}={c.effective}" for c in chunk),
                    ),
                    org=campaign.org,
                    kind=ActionKind.SEND_MESSAGE,
                    cause=f"campaign:{campaign.id}",
                    platform=None if group is None else group.platform,
                    group=group_id,
                    payload={"text": "\n".join(lines), "mentions": [c.inviter for c in chunk]},
                )
            )
        for count in due:
            row = told.get(count.inviter)
            if row is None:
                session.add(InviterProgress(org=campaign.org, campaign=campaign.id,
                                            inviter=count.inviter, effective=count.effective,
                                            told_at=at))  # fmt: skip
            else:
                row.effective, row.told_at = count.effective, at


def post_board(context: Context, campaign: CampaignRecord, *, at: datetime, job_id: str) -> None:
    """The leaderboard, top N by effective invites, into each of the campaign's groups (or,
    for an org-wide campaign, each group its newcomers went to)."""
    session = context.session
    counts = [count for count in campaign_counts(session, campaign, at=at) if count.effective > 0]
    top = counts[: campaign.board_top]
    names = nicknames(session, campaign.org, [count.inviter for count in top])
    text = board_text(
        campaign.name,
        [(names.get(count.inviter, count.inviter), count.effective) for count in top],
        lang=campaign.lang,
    )
    targets = campaign.groups or sorted({c.latest_group for c in counts if c.latest_group})
    for group_id in targets:
        group = session.get(Group, (campaign.org, group_id))
        if group is None or group.dismissed_at is not None:
            continue
        context.emit(
            Action(
                id=stable_id("fission-board", job_id, group_id),
                org=campaign.org,
                kind=ActionKind.SEND_MESSAGE,
                cause=f"job:{job_id}",
                platform=group.platform,
                group=group_id,
                payload={"text": text, "mentions": []},
            )
        )


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
