"""`shequn`: the command line. Each command opens the store, calls services, prints with Rich."""

import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import select

from shequn.cli import report as _figures  # noqa: F401 - registers report groups/funnel/channels
from shequn.cli.audit import audit_app
from shequn.cli.campaign import campaign_app, playbook_app
from shequn.cli.commerce import (
    assist_app,
    bargain_app,
    coupon_app,
    groupbuy_app,
    product_app,
    report_attribution,
)
from shequn.cli.common import (
    EXIT_UNREADABLE,
    DbOption,
    JsonOption,
    console,
    errors,
    fail,
    opened,
)
from shequn.cli.connect import tasks_app, telegram_app, wecom_app
from shequn.cli.demo import demo
from shequn.cli.fission import fission_app
from shequn.cli.invite import invite_app, livecode_app, report_app
from shequn.cli.lottery import lottery_app
from shequn.cli.member import member_app
from shequn.cli.points import koc, mall_app, points_app  # also registers report points
from shequn.cli.poster import fonts_app, poster
from shequn.cli.quiz import quiz_app
from shequn.cli.simulate import simulate
from shequn.cli.staff import staff_app
from shequn.cli.webhook import webhook_app
from shequn.engine.dispatch import dispatch_due
from shequn.engine.intake import decode_json_lines
from shequn.engine.models import ActionRecord, ActionStatus, JobRecord, JobStatus
from shequn.engine.rebuild import count_events, rebuild
from shequn.engine.scheduler import run_due_jobs
from shequn.group.service import schedule_announcements
from shequn.kit.collector import settle_collector
from shequn.kit.time import TimeError, parse_instant, utc_now, zone
from shequn.member.phones import PhoneKeyError, sealing_key
from shequn.org.changes import (
    mint_token,
    process_user,
    record_config_change,
    recut_daily_figures,
    revoke_token,
)
from shequn.org.models import Org
from shequn.org.rules import SettingRefused, check_changes
from shequn.org.scopes import NAMES, ScopeError, parse_scopes, shown
from shequn.org.service import (
    TokenNameError,
    UnknownOrg,
    UnknownToken,
    create_first_token,
    save_org,
    tokens_of,
)

app = typer.Typer(
    help="shequn 社群: the engine for community commerce across chat groups.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def check_phone_key(context: typer.Context) -> None:
    # A bad SHEQUN_PHONE_KEY stops every command at start, not ingest at its first phone;
    # `staff` is spared, as `staff phone-key` is how a good key is made.
    if context.invoked_subcommand != "staff":
        try:
            sealing_key()
        except PhoneKeyError as error:
            fail(str(error), code=EXIT_UNREADABLE)


org_app = typer.Typer(help="Orgs (企业/品牌): tenants and their settings.", no_args_is_help=True)
token_app = typer.Typer(
    help="API tokens (接口令牌) for the HTTP API: create, list, revoke.", no_args_is_help=True
)
outbox_app = typer.Typer(help="The outbox (待发动作): actions decided, sent or failed.")
jobs_app = typer.Typer(help="Timed jobs (定时任务).")
schedule_app = typer.Typer(help="Schedule a timed job (安排定时任务).", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(token_app, name="token")
app.add_typer(outbox_app, name="outbox")
app.add_typer(jobs_app, name="jobs")
app.add_typer(schedule_app, name="schedule")
app.add_typer(invite_app, name="invite")
app.add_typer(report_app, name="report")
app.add_typer(livecode_app, name="livecode")
app.add_typer(fission_app, name="fission")
app.add_typer(audit_app, name="audit")
app.add_typer(fonts_app, name="fonts")
app.add_typer(lottery_app, name="lottery")
app.add_typer(staff_app, name="staff")
app.add_typer(member_app, name="member")
app.add_typer(webhook_app, name="webhook")
app.add_typer(telegram_app, name="telegram")
app.add_typer(wecom_app, name="wecom")
app.add_typer(tasks_app, name="tasks")
app.command("poster")(poster)
app.add_typer(points_app, name="points")
app.add_typer(mall_app, name="mall")
app.add_typer(quiz_app, name="quiz")
app.add_typer(playbook_app, name="playbook")
app.add_typer(campaign_app, name="campaign")
app.add_typer(product_app, name="product")
app.add_typer(coupon_app, name="coupon")
app.add_typer(groupbuy_app, name="groupbuy")
app.add_typer(bargain_app, name="bargain")
app.add_typer(assist_app, name="assist")
report_app.command("attribution")(report_attribution)
app.command("koc")(koc)
app.command("simulate")(simulate)
app.command("demo")(demo)


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the HTTP API and the background worker (启动服务)."""
    import uvicorn

    from shequn.app import create_app

    # Until a platform connector is wired up, the console shows what would have been sent.
    with opened(db, show_actions=True) as shequn:
        org_id = shequn.settings.default_org
        with shequn.sessions.begin() as session:
            shequn.registry.tenancy.ensure(session, [org_id], utc_now())
            token = create_first_token(session, org_id, now=utc_now())
        console.print(
            f"[bold]shequn 社群[/] on http://{host}:{port}  ·  database {shequn.settings.database_url}"
        )
        if token is not None:
            console.print(
                f"API token for org [bold]{org_id}[/] (shown once, 仅显示一次): [green]{token}[/]"
            )
        console.print(f"POST events to http://{host}:{port}/api/v1/events · API docs at /docs")
        uvicorn.run(create_app(shequn, console=console), host=host, port=port, log_level="info")


def _lines_with_progress(stream: IO[bytes], progress: Progress, task: TaskID) -> Iterator[bytes]:
    for line in stream:
        progress.advance(task, len(line))
        yield line


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="A JSON Lines file of events, or - for stdin.")],
    db: DbOption = None,
    as_json: JsonOption = False,
    org: Annotated[str | None, typer.Option(help="Org for events that name none.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Events per commit.")] = None,
) -> None:
    """Import events from a JSON Lines file (导入事件); bad lines are reported, the rest go in."""
    try:
        stream: IO[bytes] = sys.stdin.buffer if str(file) == "-" else file.open("rb")
        size = None if str(file) == "-" else file.stat().st_size
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror}", code=EXIT_UNREADABLE)
    with opened(db) as shequn, stream:
        intake = shequn.intake(origin="cli", default_org=org, batch_size=batch_size)
        progress = Progress(
            TextColumn("ingesting 导入"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=errors,
            disable=not errors.is_terminal,
        )
        with progress:
            task = progress.add_task("ingest", total=size)
            try:
                summary = intake.ingest(
                    decode_json_lines(_lines_with_progress(stream, progress, task))
                )
            except OSError as error:
                fail(f"reading {file} failed: {error.strerror}", code=EXIT_UNREADABLE)
    if as_json:
        print(json.dumps(summary.as_json(), ensure_ascii=False))
        return
    console.print(
        f"accepted 接收 [green]{summary.accepted}[/] · duplicates 重复 {summary.duplicates} · "
        f"rejected 拒绝 [red]{len(summary.rejected)}[/]"
    )
    for rejection in summary.rejected[:50]:
        console.print(
            f"  line {rejection.line} id {rejection.id}: {rejection.error}", highlight=False
        )
    if len(summary.rejected) > 50:
        console.print(f"  … and {len(summary.rejected) - 50} more (use --json for all)")


@app.command("rebuild")
def rebuild_command(db: DbOption = None) -> None:
    """Rebuild all state from the event log (从事件日志重建状态)."""
    with opened(db) as shequn:
        with shequn.sessions() as session:
            total = count_events(session)
        with Progress(console=errors, disable=not errors.is_terminal) as progress:
            task = progress.add_task("rebuilding 重建", total=total)
            with shequn.sessions.begin() as session:
                replayed = rebuild(
                    session,
                    shequn.registry,
                    now=utc_now(),
                    on_progress=lambda n: progress.advance(task, n),
                )
    console.print(f"replayed {replayed} events into fresh state (已重放)")


@org_app.command("create")
def org_create(
    org_id: Annotated[str, typer.Argument(metavar="ORG", help="Org id, e.g. demo.")],
    db: DbOption = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="IANA zone the org's days follow; a new org takes SHEQUN_TIMEZONE "
            "(Asia/Shanghai), an existing one keeps its own."
        ),
    ] = None,
    welcome_text: Annotated[
        str | None,
        typer.Option(
            help="Welcome newcomers with this text; {nickname} and {group} are filled in."
        ),
    ] = None,
    welcome_window: Annotated[
        int | None,
        typer.Option(min=1, help="Seconds of newcomers greeted together in one message (60)."),
    ] = None,
    welcome_max_mentions: Annotated[
        int | None, typer.Option(min=1, help="Most @-mentions in one welcome message (20).")
    ] = None,
    capacity_margin: Annotated[
        int | None,
        typer.Option(min=0, help="A task is raised when a group is this many short of full."),
    ] = None,
) -> None:
    """Create an org, or update an existing one (创建/更新企业)."""
    settings: dict[str, object] = {}
    if welcome_text is not None:
        settings["welcome_text"] = welcome_text
    if welcome_window is not None:
        settings["welcome_window_seconds"] = welcome_window
    if welcome_max_mentions is not None:
        settings["welcome_max_mentions"] = welcome_max_mentions
    if capacity_margin is not None:
        settings["capacity_margin"] = capacity_margin
    given = {**settings, **({"timezone": timezone} if timezone is not None else {}),
             **({"name": name} if name else {})}  # fmt: skip
    try:
        check_changes({}, given)
    except SettingRefused as error:
        fail(f"--{error.name.replace('_', '-')}: {error.reason}")
    with opened(db) as shequn, shequn.sessions.begin() as session:
        existing = session.get(Org, org_id)
        was = None if existing is None else existing.timezone
        chosen = timezone or was or shequn.settings.timezone
        record_config_change(session, org_id, {**settings, "timezone": chosen,
                                               **({"name": name} if name else {})})  # fmt: skip
        org, created = save_org(
            session, org_id, name=name, timezone=chosen, settings=settings, now=utc_now()
        )
        console.print(
            f"{'created 已创建' if created else 'updated 已更新'} org [bold]{org.id}[/] ({org.timezone})"
        )
        moved = was is not None and was != chosen
        with Progress(console=errors, disable=not (moved and errors.is_terminal)) as progress:
            task = progress.add_task("re-cutting days 按新时区重算", total=None)

            def advanced(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            recut = recut_daily_figures(session, org_id, was=was, timezone=chosen,
                                        on_progress=advanced)  # fmt: skip
        if recut:
            console.print(f"time zone {was} → {chosen}: re-cut daily figures 已按新时区重算")


@org_app.command("list")
def org_list(db: DbOption = None) -> None:
    """List orgs (企业列表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        table = Table("org", "name", "timezone", "settings")
        for org in session.scalars(select(Org).order_by(Org.id)):
            table.add_row(
                org.id, org.name, org.timezone, json.dumps(org.settings, ensure_ascii=False)
            )
        console.print(table)


@token_app.command("create")
def token_create(
    org: Annotated[str, typer.Option(help="The org the token writes for.")],
    db: DbOption = None,
    name: Annotated[str, typer.Option(help="A label to tell tokens apart.")] = "api",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help=f"What it may do, repeatable or comma-separated: {', '.join(NAMES)}; "
            "none given: all (权限范围)."
        ),
    ] = None,
) -> None:
    """Create an API token; it is printed once and only its hash is kept (创建令牌)."""
    try:
        scopes = parse_scopes(scope or [])
    except ScopeError as error:
        fail(f"--scope: {error}", code=2)
    with opened(db) as shequn, shequn.sessions.begin() as session:
        try:
            token = mint_token(session, org, name=name, scopes=scopes, by=process_user(),
                               now=utc_now())  # fmt: skip
        except TokenNameError as error:
            fail(f"--{error}", code=2)
        except UnknownOrg as error:
            fail(str(error))
    # The token alone on stdout, for scripts; what it may do on stderr.
    errors.print(f"scopes 权限: {', '.join(shown(scopes))}", highlight=False)
    print(token)


@token_app.command("list")
def token_list(
    org: Annotated[str, typer.Option(help="The org whose tokens to list.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The org's tokens: id, name, scopes, created (令牌列表); the tokens themselves are not kept."""
    with opened(db) as shequn, shequn.sessions() as session:
        if session.get(Org, org) is None:
            fail(str(UnknownOrg(org)))
        found = [(token.id, token.name, shown(token.scopes), token.created_at.isoformat())
                 for token in tokens_of(session, org)]  # fmt: skip
    if as_json:
        print(json.dumps([{"id": id_, "name": name, "scopes": scopes, "created_at": created}
                          for id_, name, scopes, created in found], ensure_ascii=False))  # fmt: skip
        return
    table = Table("id", "name", "scopes", "created_at")
    for id_, name, scopes, created in found:
        table.add_row(str(id_), name, ", ".join(scopes), created)
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The id `token list` shows.")],
    org: Annotated[str, typer.Option(help="The org the token belongs to.")],
    db: DbOption = None,
) -> None:
    """Revoke a token: it stops working at once (吊销令牌); logged in the staff log."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        try:
            revoked = revoke_token(session, org, token_id, by=process_user())
        except UnknownToken as error:
            fail(str(error))
    console.print(f"revoked 已吊销 token {token_id} ({revoked.name})", highlight=False)


@outbox_app.callback(invoke_without_command=True)
def outbox_list(
    context: typer.Context,
    db: DbOption = None,
    status: Annotated[ActionStatus | None, typer.Option(help="Only actions in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the outbox, newest first (待发动作)."""
    if context.invoked_subcommand is not None:
        return
    with opened(db) as shequn, shequn.sessions() as session:
        query = select(ActionRecord).order_by(ActionRecord.created_at.desc(), ActionRecord.id)
        if status is not None:
            query = query.where(ActionRecord.status == status)
        rows = session.scalars(query.limit(limit)).all()
    if as_json:
        print(json.dumps([row.as_json() for row in rows], ensure_ascii=False))
        return
    table = Table("id", "kind", "status", "group", "member", "payload", "attempts")
    for row in rows:
        table.add_row(
            row.id,
            row.kind,
            row.status,
            row.group_id or "",
            row.member_id or "",
            json.dumps(row.payload, ensure_ascii=False)[:80],
            str(row.attempts),
        )
    console.print(table)


@outbox_app.command("dispatch")
def outbox_dispatch(db: DbOption = None) -> None:
    """Send the due actions once through their connectors (发送待发动作)."""
    with opened(db) as shequn:
        tally = dispatch_due(shequn.sessions, shequn.registry, now=utc_now(), limit=10_000)
    console.print(
        " · ".join(f"{state} {count}" for state, count in sorted(tally.items())) or "nothing due"
    )


@jobs_app.callback(invoke_without_command=True)
def jobs_list(
    context: typer.Context,
    db: DbOption = None,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List timed jobs by due time (定时任务列表)."""
    if context.invoked_subcommand is not None:
        return
    with opened(db) as shequn, shequn.sessions() as session:
        query = select(JobRecord).order_by(JobRecord.due_at, JobRecord.id)
        if status is not None:
            query = query.where(JobRecord.status == status)
        rows = session.scalars(query).all()
    if as_json:
        print(json.dumps([row.as_json() for row in rows], ensure_ascii=False))
        return
    table = Table("id", "kind", "due (UTC)", "status", "note")
    for row in rows:
        table.add_row(row.id, row.kind, f"{row.due_at:%Y-%m-%d %H:%M}", row.status, row.note or "")
    console.print(table)


@jobs_app.command("run")
def jobs_run(db: DbOption = None) -> None:
    """Run the jobs that are due now, once (执行到期任务)."""
    with opened(db) as shequn:
        runs = run_due_jobs(shequn.sessions, shequn.registry, now=utc_now())
    for run in runs:
        console.print(f"{run.kind} {run.id}: {run.status}" + (f" ({run.note})" if run.note else ""))
    if not runs:
        console.print("nothing due")


def _local_instant(text: str, timezone: str) -> datetime:
    """'2026-11-11 20:30' in the org's zone, or a full ISO time with its own offset."""
    try:
        return parse_instant(text)
    except TimeError:
        pass
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"--at: {text!r} is not a time like 2026-11-11 20:30")
    return naive.replace(tzinfo=zone(timezone))


@schedule_app.command("announce")
def schedule_announce(
    group: Annotated[str, typer.Option(help="Group id.")],
    at: Annotated[str, typer.Option(help="Local time in the org's zone: '2026-11-11 20:30'.")],
    text: Annotated[str, typer.Option(help="What to post.")],
    db: DbOption = None,
    org: Annotated[str | None, typer.Option(help="Org (default: the default org).")] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="Repeat daily at the same time.")] = 1,
) -> None:
    """Post a message into a group at a set time, optionally every day (定时群发)."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        zone_name = context.tenant(org_id).timezone
        first = _local_instant(at, zone_name)
        jobs = schedule_announcements(
            context, org=org_id, group=group, first=first, days=days, text=text
        )
        context.flush()
    for job in jobs:
        local = job.due_at.astimezone(zone(zone_name))
        console.print(f"scheduled 已安排 {job.id} at {local:%Y-%m-%d %H:%M} {zone_name}")


def main() -> None:
    """The `shequn` command: the process settles its collector once its code is loaded."""
    settle_collector()
    app(prog_name="shequn")
