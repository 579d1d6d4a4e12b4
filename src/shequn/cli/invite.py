"""`shequn invite …` and `shequn report invites`: personal invite codes and who brought whom."""

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from shequn.cli.common import DbOption, JsonOption, console, fail, opened
from shequn.invite.livecode import add_pool_group, create_live_code, route_next
from shequn.invite.models import InviteCodeRecord
from shequn.invite.service import (
    InviteQuery,
    count_invites_as_of,
    create_invite_code,
    summarize_fission_of,
)
from shequn.kit.time import TimeError, parse_instant, utc_now

invite_app = typer.Typer(
    help="Invite codes (邀请码): one per member and channel.", no_args_is_help=True
)
report_app = typer.Typer(help="Reports (报表).", no_args_is_help=True)

OrgOption = Annotated[str | None, typer.Option(help="Org (default: the default org).")]
SinceOption = Annotated[
    str | None, typer.Option("--from", help="First joins from (ISO 8601 with offset).")
]
UntilOption = Annotated[
    str | None, typer.Option("--to", help="First joins up to (ISO 8601 with offset).")
]


def instant(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except TimeError as error:
        fail(f"{option}: {error}")


@invite_app.command("create")
def invite_create(
    owner: Annotated[str, typer.Option(help="The member (or staff) the code credits.")],
    db: DbOption = None,
    org: OrgOption = None,
    group: Annotated[str | None, typer.Option(help="The group the code brings people to.")] = None,
    channel: Annotated[
        str, typer.Option(help="Acquisition channel: poster, moments, douban, store-qr, kol:NAME …")
    ] = "poster",
    code: Annotated[
        str | None, typer.Option(help="Use this code instead of a made-up one.")
    ] = None,
    link: Annotated[
        str | None,
        typer.Option(
            help="The platform's join URL for this code (Telegram invite link, WeCom QR)."
        ),
    ] = None,
) -> None:
    """Create a personal invite code (创建邀请码); prints the code."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        shequn.registry.tenancy.ensure(session, [org_id], utc_now())
        try:
            record = create_invite_code(
                session, org_id, owner=owner, group=group, channel=channel, code=code,
                now=utc_now(), link=link,
            )  # fmt: skip
        except ValueError as error:
            fail(str(error))
    print(record.code)


@invite_app.command("list")
def invite_list(
    db: DbOption = None,
    org: OrgOption = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's codes.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List invite codes (邀请码列表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        query = select(InviteCodeRecord).where(InviteCodeRecord.org == org_id)
        if owner is not None:
            query = query.where(InviteCodeRecord.owner == owner)
        rows = session.scalars(query.order_by(InviteCodeRecord.owner, InviteCodeRecord.code)).all()
    listed = [
        {
            "code": row.code,
            "owner": row.owner,
            "group": row.group_id,
            "channel": row.channel,
            "link": row.link,
        }
        for row in rows
    ]
    if as_json:
        print(json.dumps(listed, ensure_ascii=False))
        return
    table = Table("code", "owner", "group", "channel", "link")
    for item in listed:
        table.add_row(
            item["code"], item["owner"], item["group"] or "", item["channel"], item["link"] or ""
        )
    console.print(table)


@report_app.command("invites")
def report_invites(
    db: DbOption = None,
    org: OrgOption = None,
    group: Annotated[str | None, typer.Option(help="Only invites into this group.")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    at: Annotated[str | None, typer.Option(help="Count as of this time (default: now).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Effective invites per inviter (有效拉新): A pulls 10 in, 3 leave, the count is 7."""
    query = InviteQuery(
        at=instant("--at", at) or utc_now(),
        group=group,
        since=instant("--from", since),
        until=instant("--to", until),
    )
    with opened(db) as shequn, shequn.sessions() as session:
        counts = count_invites_as_of(session, org or shequn.settings.default_org, query)
    if as_json:
        print(json.dumps([count.as_json() for count in counts], ensure_ascii=False))
        return
    table = Table(
        "inviter 邀请人",
        "invited 邀请",
        "effective 有效",
        "left 退群",
        "kicked 被踢",
        "flagged 可疑",
    )
    for count in counts:
        table.add_row(
            count.inviter, str(count.invited), str(count.effective), str(count.left),
            str(count.kicked), str(count.flagged),
        )  # fmt: skip
    console.print(table)


@report_app.command("fission")
def report_fission(
    db: DbOption = None,
    org: OrgOption = None,
    group: Annotated[
        str | None, typer.Option(help="Only members who first joined this group.")
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: JsonOption = False,
) -> None:
    """The invite tree (裂变): K-factor, depth, generations and acquisition channels."""
    with opened(db) as shequn, shequn.sessions() as session:
        summary = summarize_fission_of(
            session, org or shequn.settings.default_org, group=group,
            since=instant("--from", since), until=instant("--to", until),
        )  # fmt: skip
    if as_json:
        print(json.dumps(summary.as_json(), ensure_ascii=False))
        return
    console.print(
        f"members 成员 {summary.members} · credited 被邀请 {summary.credited} · "
        f"inviters 邀请人 {summary.inviters} · K-factor {summary.k_factor} · depth 层级 {summary.depth}"
    )
    table = Table("channel 渠道", "members 成员")
    for channel, count in summary.channels.items():
        table.add_row(channel, str(count))
    console.print(table)


livecode_app = typer.Typer(
    help="Live codes (活码): one QR that fills a pool of groups in order.", no_args_is_help=True
)


@livecode_app.command("create")
def livecode_create(
    code: Annotated[str, typer.Argument(help="The live code, e.g. lc-double11.")],
    groups: Annotated[str, typer.Option(help="Pool groups in the order they fill: g1,g2,g3.")],
    db: DbOption = None,
    org: OrgOption = None,
    margin: Annotated[int, typer.Option(min=0, help="Seats kept free below capacity.")] = 10,
    daily_cap: Annotated[
        int | None, typer.Option(min=1, help="Newcomers one group takes per local day.")
    ] = None,
) -> None:
    """Create a live code over a pool of groups (创建活码)."""
    pool = [group.strip() for group in groups.split(",") if group.strip()]
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            create_live_code(
                session, org_id, code=code, groups=pool, margin=margin, daily_cap=daily_cap,
                context=context,
            )  # fmt: skip
        except ValueError as error:
            fail(str(error))
    console.print(f"live code 活码 {code}: {' → '.join(pool)}")


@livecode_app.command("add-group")
def livecode_add_group(
    code: Annotated[str, typer.Argument(help="The live code.")],
    group: Annotated[str, typer.Argument(help="The group to add at the end of the pool.")],
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Add a newly opened group to a live code's pool (活码加群)."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        try:
            record = add_pool_group(session, org or shequn.settings.default_org, code, group)
        except (LookupError, ValueError) as error:
            fail(str(error))
    console.print(f"live code 活码 {code}: {' → '.join(record.groups)}")


@livecode_app.command("next")
def livecode_next(
    code: Annotated[str, typer.Argument(help="The live code.")],
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Which group the next newcomer goes to; raises an operator task when all are full."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            route = route_next(context, org_id, code)
        except LookupError as error:
            fail(str(error))
        context.flush()
    if as_json:
        print(json.dumps({"group": route.group, "task": route.task}))
    elif route.group is not None:
        console.print(route.group)
    else:
        console.print(f"every group is full 群都满了: operator task {route.task} (shequn outbox)")
