"""`shequn telegram …`, `shequn wecom …` and `shequn tasks …`: connecting the real platforms."""

import json
import time
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from shequn.cli.common import DbOption, JsonOption, console, errors, fail, opened
from shequn.connectors.models import JoinDecision
from shequn.connectors.platforms import telegram_connector, wecom_connector
from shequn.connectors.telegram.bot import ALLOWED_UPDATES, TelegramConnector, TelegramError
from shequn.connectors.telegram.intake import invite_link_for, poll_once, summary_json
from shequn.connectors.telegram.requests import SETTING as JOIN_REQUESTS_SETTING
from shequn.connectors.telegram.requests import (
    NoWaitingRequest,
    answer_by_hand,
    join_request_json,
    parse_mode,
    waiting_requests,
)
from shequn.connectors.wecom.client import MAX_JOIN_WAY_CHATS, WeComError, WeComUnavailable
from shequn.connectors.wecom.intake import join_way_for
from shequn.engine.models import ActionRecord, ActionStatus
from shequn.engine.worker import Worker
from shequn.invite.livecode import UnknownLiveCode
from shequn.invite.models import LiveCodeRecord
from shequn.kit.time import utc_now
from shequn.org.changes import record_config_change
from shequn.org.models import Org
from shequn.wiring import Shequn

telegram_app = typer.Typer(help="Telegram groups (电报群): polling, webhook, invite links.",
                           no_args_is_help=True)  # fmt: skip
wecom_app = typer.Typer(help="WeCom customer groups (企业微信客户群): join ways.",
                        no_args_is_help=True)  # fmt: skip
tasks_app = typer.Typer(
    help="Operator tasks (人工任务): what WeCom needs an employee to do or confirm.",
    no_args_is_help=True,
)

TELEGRAM_WEBHOOK_PATH = "/telegram/webhook"
RETRY_PAUSE = 3.0
OrgOption = Annotated[str | None, typer.Option(help="Org (default: the platform's org).")]


def telegram_of(shequn: Shequn) -> TelegramConnector:
    """The Telegram connector, or a clear stop when the bot is not set up."""
    connector = telegram_connector(shequn)
    if connector is None:
        fail("Telegram is not set up: set SHEQUN_TELEGRAM_BOT_TOKEN (from BotFather)")
    return connector


def telegram_org_of(shequn: Shequn, org: str | None) -> str:
    """The org a Telegram command acts for: --org, else SHEQUN_TELEGRAM_ORG, else the default."""
    return org or shequn.settings.telegram_org or shequn.settings.default_org


@telegram_app.command("poll")
def telegram_poll(
    db: DbOption = None,
    once: Annotated[bool, typer.Option("--once", help="One getUpdates round, then stop.")] = False,
    timeout: Annotated[
        int, typer.Option(min=0, max=50, help="Seconds Telegram holds each poll open.")
    ] = 30,
    send: Annotated[
        bool, typer.Option(help="Also run the worker: jobs and the outbox, as serve does.")
    ] = True,
) -> None:
    """Take updates by long polling, for a laptop without a public URL (长轮询)."""
    with opened(db, show_actions=True) as shequn:
        connector = telegram_of(shequn)
        if shequn.settings.telegram_mode != "polling":
            fail("SHEQUN_TELEGRAM_MODE is webhook: set it to polling to poll (Telegram sends "
                 "updates one way only)")  # fmt: skip
        bot, bot_id = connector.bot, connector.bot.bot_id or 0
        worker = Worker(shequn.sessions, shequn.registry, console=console) if send else None
        offset: int | None = None
        try:
            # getUpdates is refused while a webhook is set.
            bot.delete_webhook()
            if worker is not None and not once:
                worker.start()
            console.print(f"polling for {', '.join(ALLOWED_UPDATES)} · Ctrl-C stops")
            while True:
                try:
                    taken, offset = poll_once(
                        shequn, bot, offset=offset, timeout=0 if once else timeout, bot_id=bot_id
                    )
                except TelegramError as error:
                    if once or not error.retryable:
                        fail(str(error))
                    # A network blip or a 5xx: try again shortly rather than spin.
                    errors.print(f"[yellow]telegram: {error}[/]", highlight=False)
                    time.sleep(RETRY_PAUSE)
                    continue
                counts = summary_json(taken)
                if once:
                    if offset is not None:
                        # Confirms what was taken; what this call returns stays for next time.
                        bot.get_updates(offset=offset, timeout=0, limit=1)
                    print(json.dumps(counts, ensure_ascii=False))
                    return
                if counts["accepted"] or counts["rejected"]:
                    console.print(
                        f"accepted {counts['accepted']} · duplicates {counts['duplicates']} · "
                        f"rejected {len(counts['rejected'])}"
                    )
        except KeyboardInterrupt:
            console.print("stopped")
        except TelegramError as error:
            fail(str(error))
        finally:
            if worker is not None and not once:
                worker.stop()


@telegram_app.command("webhook")
def telegram_webhook(db: DbOption = None) -> None:
    """Point the bot at SHEQUN_PUBLIC_URL/telegram/webhook with the secret (设置回调)."""
    with opened(db) as shequn:
        connector = telegram_of(shequn)
        settings = shequn.settings
        if settings.telegram_mode != "webhook":
            fail("SHEQUN_TELEGRAM_MODE is polling: set it to webhook first")
        url = f"{settings.public_url.rstrip('/')}{TELEGRAM_WEBHOOK_PATH}"
        if not url.startswith("https://"):
            fail(f"Telegram delivers only to https URLs; SHEQUN_PUBLIC_URL gives {url}")
        try:
            connector.bot.set_webhook(url, secret_token=settings.telegram_webhook_secret)
        except TelegramError as error:
            fail(str(error))
    console.print(f"Telegram now delivers {', '.join(ALLOWED_UPDATES)} to {url}")


@telegram_app.command("link")
def telegram_link(
    group: Annotated[str, typer.Option(help="The Telegram group's chat id (-100…).")],
    member: Annotated[str, typer.Option(help="The member the link credits.")],
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """The member's own invite link into a group, made by the bot once (专属邀请链接)."""
    with opened(db) as shequn:
        connector = telegram_of(shequn)
        org_id = telegram_org_of(shequn, org)
        try:
            with shequn.sessions.begin() as session:
                shequn.registry.tenancy.ensure(session, [org_id], utc_now())
                record = invite_link_for(
                    session, connector.bot, org_id, group=group, member=member, now=utc_now()
                )
                code, link = record.code, record.link
        except (TelegramError, ValueError) as error:
            fail(f"group {group}, member {member}: {error}")
    if as_json:
        print(json.dumps({"code": code, "link": link, "group": group, "member": member}))
        return
    console.print(f"{member} · code {code} · {link}", highlight=False)


@telegram_app.command("join-requests")
def telegram_join_requests(
    mode: Annotated[str, typer.Argument(metavar="MODE", help="ignore, approve or screen.")],
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """How join requests are answered: ignore, approve all, or screen with the audit (入群申请)."""
    try:
        chosen = parse_mode(mode)
    except ValueError as error:
        fail(str(error))
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = telegram_org_of(shequn, org)
        shequn.registry.tenancy.ensure(session, [org_id], utc_now())
        record = session.get(Org, org_id)
        if record is None:
            fail(f"org {org_id!r} could not be created")
        record_config_change(session, org_id, {JOIN_REQUESTS_SETTING: chosen})
        record.settings = {**record.settings, JOIN_REQUESTS_SETTING: chosen}
    console.print(f"org {org_id}: {JOIN_REQUESTS_SETTING} = {chosen}", highlight=False)


@telegram_app.command("requests")
def telegram_requests(
    db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """Join requests the audit left for a person, oldest first (待审核的入群申请)."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = telegram_org_of(shequn, org)
        rows = [join_request_json(row) for row in waiting_requests(session, org_id)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        console.print("no join request waits 没有待审核的入群申请")
        return
    table = Table("group", "member", "nickname", "bio", "score", "requested 申请时间")
    for row in rows:
        table.add_row(row["group"], row["member"], row["nickname"], row["bio"] or "",
                      str(row["score"]), row["requested_at"])  # fmt: skip
    console.print(table)


@telegram_app.command("answer")
def telegram_answer(
    decision: Annotated[str, typer.Argument(metavar="approve|decline")],
    group: Annotated[str, typer.Option(help="The Telegram group's chat id (-100…).")],
    member: Annotated[str, typer.Option(help="The requester's user id.")],
    by: Annotated[str, typer.Option(help="Who answers, as the record keeps it.")] = "operator",
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Approve or decline a join request left for review (审核入群申请)."""
    answers = {"approve": JoinDecision.APPROVED, "decline": JoinDecision.DECLINED}
    if decision not in answers:
        fail(f"decision: {decision!r} is not approve or decline")
    with opened(db) as shequn:
        connector = telegram_of(shequn)
        org_id = telegram_org_of(shequn, org)
        try:
            with shequn.sessions.begin() as session:
                answer_by_hand(session, connector.bot, org_id, group=group, member=member,
                               decision=answers[decision], by=by, now=utc_now())  # fmt: skip
        except (TelegramError, NoWaitingRequest) as error:
            fail(f"group {group}, member {member}: {error}")
    console.print(f"{answers[decision]} 已处理 · group {group} · member {member}", highlight=False)


@wecom_app.callback()
def wecom_commands() -> None:
    """WeCom customer groups (企业微信客户群)."""


@wecom_app.command("joinway")
def wecom_joinway(
    referrer: Annotated[str, typer.Option(help="The member or staff newcomers are credited to.")],
    db: DbOption = None,
    group: Annotated[
        list[str] | None, typer.Option(help="A WeCom group chat_id; repeat for up to 5.")
    ] = None,
    livecode: Annotated[
        str | None, typer.Option(help="Take the groups from this live code's pool (first 5).")
    ] = None,
    auto_create_room: Annotated[
        bool, typer.Option(help="Let WeCom open a new group when all are full.")
    ] = True,
    room_name: Annotated[
        str | None, typer.Option(help="Name stem of groups WeCom opens (auto_create_room).")
    ] = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """The referrer's own group QR code: a join way whose state is their invite code (加群方式)."""
    with opened(db) as shequn:
        connector = wecom_connector(shequn)
        if connector is None:
            fail("WeCom is not set up: set SHEQUN_WECOM_CORP_ID, SHEQUN_WECOM_SECRET, "
                 "SHEQUN_WECOM_TOKEN and SHEQUN_WECOM_ENCODING_AES_KEY")  # fmt: skip
        org_id = org or shequn.settings.wecom_org or shequn.settings.default_org
        try:
            with shequn.sessions.begin() as session:
                shequn.registry.tenancy.ensure(session, [org_id], utc_now())
                groups = list(group or [])
                if livecode is not None:
                    pool = session.get(LiveCodeRecord, (org_id, livecode))
                    if pool is None:
                        raise UnknownLiveCode(livecode)
                    groups += [g for g in pool.groups if g not in groups]
                if not groups:
                    fail("give --group (up to 5) or --livecode")
                record = join_way_for(
                    session,
                    connector,
                    org_id,
                    referrer=referrer,
                    groups=groups[:MAX_JOIN_WAY_CHATS],
                    now=utc_now(),
                    auto_create_room=auto_create_room,
                    room_base_name=room_name,
                )
                code, link = record.code, record.link
        except (WeComError, WeComUnavailable, ValueError, LookupError) as error:
            fail(f"referrer {referrer}: {error}")
    if as_json:
        print(json.dumps({"code": code, "qr_code": link, "referrer": referrer}))
        return
    console.print(f"{referrer} · state {code} · QR {link}", highlight=False)


@tasks_app.command("list")
def tasks_list(db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False) -> None:
    """Tasks waiting for a person, oldest first (待办任务)."""
    with opened(db) as shequn, shequn.sessions() as session:
        query = select(ActionRecord).where(ActionRecord.status == ActionStatus.AWAITING)
        if org is not None:
            query = query.where(ActionRecord.org == org)
        rows = session.scalars(query.order_by(ActionRecord.created_at, ActionRecord.id)).all()
    if as_json:
        print(json.dumps([row.as_json() for row in rows], ensure_ascii=False))
        return
    if not rows:
        console.print("no task waits 没有待办任务")
        return
    table = Table("id", "kind", "group", "member", "task 任务", "deadline 截止")
    for row in rows:
        task = row.payload.get("task") or {}
        reason = f" ({task['reason']})" if task.get("reason") else ""
        table.add_row(
            row.id,
            row.kind,
            row.group_id or "",
            row.member_id or "",
            f"{task.get('zh', '')} / {task.get('en', '')}{reason}",
            str(task.get("deadline", "")),
        )
    console.print(table)


@tasks_app.command("done")
def tasks_done(
    action_id: Annotated[str, typer.Argument(metavar="ID", help="The task's id, as list shows.")],
    db: DbOption = None,
) -> None:
    """Mark a task done by hand (标记完成)."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        record = session.get(ActionRecord, action_id, with_for_update=True)
        if record is None:
            fail(f"no action {action_id!r} in the outbox")
        if record.status != ActionStatus.AWAITING:
            fail(f"action {action_id} is {record.status}, not awaiting: nothing to mark done")
        now = utc_now()
        record.status = ActionStatus.SENT
        record.done_at = now
        record.next_attempt_at = now
    console.print(f"done 已完成 {action_id}", highlight=False)
