"""`shequn fission …`: campaigns with tiered rewards, their grants and their leaderboard."""

import json
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from shequn.cli.common import DbOption, JsonOption, console, fail, opened
from shequn.cli.invite import OrgOption, instant
from shequn.fission.models import CampaignRecord, RewardGrant
from shequn.fission.rules import GrantMode, parse_tier, tiers_of
from shequn.fission.service import campaign_counts, create_campaign
from shequn.kit.money import format_amount
from shequn.kit.time import utc_now
from shequn.org.changes import record_staff_action

fission_app = typer.Typer(
    help="Fission campaigns (裂变活动): tiers of effective invites and their rewards.",
    no_args_is_help=True,
)


@fission_app.command("create")
def fission_create(
    campaign: Annotated[str, typer.Argument(help="Campaign id, e.g. double11-fission.")],
    since: Annotated[str, typer.Option("--from", help="Start (ISO 8601 with offset).")],
    until: Annotated[str, typer.Option("--to", help="End (ISO 8601 with offset).")],
    tier: Annotated[
        list[str],
        typer.Option(
            help="COUNT:KIND:NAME:COST, e.g. 3:coupon:¥20券:20.00; COUNT:points:N, e.g. "
            "7:points:200 (paid into the points ledger); COUNT:KIND:NAME:COST:N adds N points; "
            "repeat."
        ),
    ],
    db: DbOption = None,
    org: OrgOption = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    groups: Annotated[str, typer.Option(help="Groups that count: g1,g2 (default: all).")] = "",
    mode: Annotated[
        GrantMode, typer.Option(help="reach: grant when reached; end: grant at the end.")
    ] = GrantMode.ON_REACH,
    lang: Annotated[str, typer.Option(help="Language of its posts: zh or en.")] = "zh",
    progress_every: Annotated[
        int, typer.Option(help="Tell an inviter their progress at most every N minutes; 0: never.")
    ] = 30,
    board_at: Annotated[
        str | None, typer.Option(help="Post the leaderboard daily at this local time, e.g. 20:00.")
    ] = None,
    board_top: Annotated[int, typer.Option(help="Inviters on the posted leaderboard.")] = 10,
    welcome: Annotated[
        str | None,
        typer.Option(
            help="Welcome for newcomers of its groups: {nickname} {group} {campaign} {tiers} "
            "(default: a built-in one in --lang)."
        ),
    ] = None,
    no_welcome: Annotated[
        bool, typer.Option("--no-welcome", help="Keep the org's own welcome instead.")
    ] = False,
) -> None:
    """Create a fission campaign (创建裂变活动)."""
    starts_at, ends_at = instant("--from", since), instant("--to", until)
    assert starts_at is not None
    assert ends_at is not None
    try:
        tiers = [parse_tier(text) for text in tier]
    except ValueError as error:
        fail(f"--tier: {error}")
    pool = [group.strip() for group in groups.split(",") if group.strip()]
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            create_campaign(
                context, org_id, campaign_id=campaign, name=name or campaign, groups=pool,
                starts_at=starts_at, ends_at=ends_at, tiers=tiers, mode=mode, lang=lang,
                progress_minutes=progress_every, board_at=board_at, board_top=board_top,
                welcome_text="" if no_welcome else welcome,
            )  # fmt: skip
        except ValueError as error:
            fail(str(error))
        record_staff_action(session, org_id, "fission_created", campaign, {
            "groups": pool, "from": starts_at.isoformat(), "to": ends_at.isoformat(),
            "tiers": [tier.as_json() for tier in tiers], "mode": str(mode),
        })  # fmt: skip
        context.flush()
    console.print(f"campaign 活动 {campaign}: {len(tiers)} tiers, {mode} mode")


@fission_app.command("rewards")
def fission_rewards(
    campaign: Annotated[str, typer.Argument(help="Campaign id.")],
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rewards granted in a campaign (已发奖励); flagged ones lost effective invites since."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        grants = session.scalars(
            select(RewardGrant)
            .where(RewardGrant.org == org_id, RewardGrant.campaign == campaign)
            .order_by(RewardGrant.inviter, RewardGrant.tier)
        ).all()
        record = session.get(CampaignRecord, (org_id, campaign))
        points = {t.count: t.points for t in tiers_of(record.tiers)} if record is not None else {}
    rows = [
        {
            "inviter": grant.inviter,
            "tier": grant.tier,
            "kind": grant.kind,
            "name": grant.name,
            "cost": format_amount(grant.cost),
            "points": points.get(grant.tier, 0),
            "count_at_grant": grant.count_at_grant,
            "granted_at": grant.granted_at.isoformat(),
            "flagged": grant.flagged_at is not None,
        }
        for grant in grants
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("inviter 邀请人", "tier 档位", "reward 奖励", "cost 成本", "flagged 待核")
    for row in rows:
        table.add_row(
            str(row["inviter"]), str(row["tier"]), f"{row['kind']}: {row['name']}",
            f"¥{row['cost']}", "yes" if row["flagged"] else "",
        )  # fmt: skip
    console.print(table)


@fission_app.command("board")
def fission_board(
    campaign: Annotated[str, typer.Argument(help="Campaign id.")],
    db: DbOption = None,
    org: OrgOption = None,
    top: Annotated[int, typer.Option(min=1, help="How many inviters.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The campaign's leaderboard (排行榜): effective invites, ties to who got there first."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        record = session.get(CampaignRecord, (org_id, campaign))
        if record is None:
            fail(f"campaign {campaign!r} does not exist")
        counts = campaign_counts(session, record, at=utc_now())[:top]
    if as_json:
        print(json.dumps([count.as_json() for count in counts], ensure_ascii=False))
        return
    table = Table("#", "inviter 邀请人", "effective 有效", "invited 邀请")
    for rank, count in enumerate(counts, start=1):
        table.add_row(str(rank), count.inviter, str(count.effective), str(count.invited))
    console.print(table)
