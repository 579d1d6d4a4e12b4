"""`shequn playbook …` and `shequn campaign …`: timed plans of group actions, checked, planned
and run by the scheduler."""

import json
from datetime import date
from typing import Annotated, Literal

import typer
from jinja2 import TemplateError
from rich.table import Table
from sqlalchemy import select

from shequn.campaign.models import CampaignRun
from shequn.campaign.playbook import BUILT_IN, Playbook, PlaybookError, load_playbook
from shequn.campaign.rules import BudgetError, budget_of, check_budget
from shequn.campaign.service import (
    CampaignError,
    UnknownRun,
    change_run,
    load_run,
    plan_rows,
    run_summary,
    start_campaign,
    step_json,
    steps_of,
)
from shequn.cli.common import DbOption, JsonOption, console, errors, fail, opened
from shequn.cli.invite import OrgOption
from shequn.org.changes import record_config_change
from shequn.org.service import save_org

playbook_app = typer.Typer(
    help="Playbooks (活动方案): timed plans of group actions, as YAML.", no_args_is_help=True
)
campaign_app = typer.Typer(
    help="Campaigns (活动): playbooks running under the scheduler.", no_args_is_help=True
)

FileArgument = Annotated[
    str, typer.Argument(help=f"A playbook YAML file, or a built-in one: {', '.join(BUILT_IN)}.")
]
StartOption = Annotated[
    str, typer.Option("--start", help="Day 1 of the campaign, the org's local date: 2026-11-07.")
]
GroupsOption = Annotated[
    str | None,
    typer.Option(help="Groups: g1,g2 (default: every group of the org that is not dismissed)."),
]
LangOption = Annotated[
    Literal["zh", "en"] | None,
    typer.Option(help="Language of the posts (default: the playbook's lang)."),
]


def _load(file: str) -> tuple[Playbook, str]:
    try:
        return load_playbook(file)
    except PlaybookError as error:
        for problem in error.problems:
            errors.print(f"[red]error:[/] {problem}", highlight=False)
        errors.print(
            f"{len(error.problems)} problem(s) 个问题; nothing was scheduled 未安排任何步骤"
        )
        raise typer.Exit(1) from None


def _start(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--start: {text!r} is not a date like 2026-11-07")


def _groups(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [group.strip() for group in text.split(",") if group.strip()] or None


@playbook_app.command("check")
def playbook_check(file: FileArgument) -> None:
    """Validate a playbook (检查方案): every problem with its line, nothing scheduled."""
    playbook, _source = _load(file)
    console.print(
        f"ok 通过: {playbook.name} — {playbook.days} days 天, {len(playbook.steps)} steps 步, "
        f"segments 分组 {', '.join(sorted(playbook.segments)) or '-'}"
    )


@playbook_app.command("plan")
def playbook_plan(
    file: FileArgument,
    start: StartOption,
    groups: GroupsOption = None,
    db: DbOption = None,
    org: OrgOption = None,
    lang: LangOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the full timeline per group (活动排期), a dry run: nothing is stored or sent."""
    playbook, _source = _load(file)
    first = _start(start)
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            rows = plan_rows(
                context, org_id, playbook, start=first, groups=_groups(groups), lang=lang
            )
        except (CampaignError, TemplateError) as error:
            fail(str(error))
        session.rollback()
    if as_json:
        print(json.dumps([row.as_json() for row in rows], ensure_ascii=False))
        return
    table = Table("group 群", "day 天", "at 时间", "step 步骤", "kind 类型", "text 内容")
    for row in rows:
        item = row.as_json()
        text = item["text"] or json.dumps(item["details"], ensure_ascii=False)
        if row.note:
            text += f"\n[yellow]{row.note}[/]"
        table.add_row(item["group"] or "(org 全部)", str(item["day"]), item["at"][:16],
                      item["step"], item["kind"], text)  # fmt: skip
    console.print(table)


@campaign_app.command("start")
def campaign_start(
    file: FileArgument,
    start: StartOption,
    groups: GroupsOption = None,
    db: DbOption = None,
    org: OrgOption = None,
    lang: LangOption = None,
    run_id: Annotated[
        str | None, typer.Option("--id", help="Campaign id (default: NAME-YYYYMMDD).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Store the campaign and schedule every step (开始活动)."""
    playbook, source = _load(file)
    first = _start(start)
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            run, steps = start_campaign(context, org_id, playbook, source, start=first,
                                        groups=_groups(groups), run_id=run_id, lang=lang)  # fmt: skip
        except CampaignError as error:
            fail(str(error))
        context.flush()
        summary = run_summary(run, steps)
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    scheduled = summary["steps"].get("planned", 0)
    console.print(
        f"campaign 活动 {summary['id']} started 已开始: {scheduled} steps scheduled 步已排期 "
        f"in {len(summary['groups'])} groups 个群 ({', '.join(summary['groups'])})"
    )
    for status, count in summary["steps"].items():
        if status != "planned":
            console.print(f"  {status}: {count}")


def _change(run_id: str, command: str, db: str | None, org: str | None) -> None:
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            run = change_run(context, org_id, run_id, command)
        except (CampaignError, UnknownRun) as error:
            fail(str(error))
        context.flush()
        status = run.status
    console.print(f"campaign 活动 {run_id}: {status}")


RunArgument = Annotated[str, typer.Argument(help="Campaign id (from campaign list).")]


@campaign_app.command("pause")
def campaign_pause(run_id: RunArgument, db: DbOption = None, org: OrgOption = None) -> None:
    """Pause (暂停): steps coming due are held until resume."""
    _change(run_id, "pause", db, org)


@campaign_app.command("resume")
def campaign_resume(run_id: RunArgument, db: DbOption = None, org: OrgOption = None) -> None:
    """Resume (继续): held steps run now; posts and lotteries over 2 hours late are skipped."""
    _change(run_id, "resume", db, org)


@campaign_app.command("cancel")
def campaign_cancel(run_id: RunArgument, db: DbOption = None, org: OrgOption = None) -> None:
    """Cancel (取消): every step still owed is cancelled; nothing more is sent."""
    _change(run_id, "cancel", db, org)


@campaign_app.command("list")
def campaign_list(db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False) -> None:
    """Campaigns and how many steps are in each status (活动列表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        runs = session.scalars(
            select(CampaignRun)
            .where(CampaignRun.org == org_id)
            .order_by(CampaignRun.start_date, CampaignRun.id)
        ).all()
        rows = [run_summary(run, steps_of(session, org_id, run.id)) for run in runs]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(
        "campaign 活动", "playbook 方案", "start 开始", "status 状态", "groups 群", "steps 步骤"
    )
    for row in rows:
        counts = ", ".join(f"{status} {count}" for status, count in row["steps"].items())
        table.add_row(row["id"], row["playbook"], row["start"], row["status"],
                      str(len(row["groups"])), counts)  # fmt: skip
    console.print(table)


@campaign_app.command("show")
def campaign_show(
    run_id: RunArgument, db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """The campaign's timeline with each step's status and why (活动时间线)."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        try:
            run = load_run(session, org_id, run_id)
        except UnknownRun as error:
            fail(str(error))
        steps = [step_json(row, run.timezone) for row in steps_of(session, org_id, run_id)]
        summary = run_summary(run, steps_of(session, org_id, run_id))
    if as_json:
        print(json.dumps({**summary, "timeline": steps}, ensure_ascii=False))
        return
    console.print(
        f"campaign 活动 {run_id} ({summary['playbook']}, from {summary['start']}, "
        f"{summary['timezone']}): {summary['status']}"
    )
    table = Table("at 时间", "group 群", "step 步骤", "kind 类型", "status 状态", "reason 说明")
    for step in steps:
        table.add_row(step["at"][:16], step["group"] or "(org 全部)", step["step"], step["kind"],
                      step["status"], step["reason"] or "")  # fmt: skip
    console.print(table)


@campaign_app.command("budget")
def campaign_budget(
    db: DbOption = None,
    org: OrgOption = None,
    daily_messages: Annotated[
        int | None, typer.Option(help="Messages per group and day, members' included (200).")
    ] = None,
    daily_posts: Annotated[
        int | None, typer.Option(help="Posts sent to a group per day (10).")
    ] = None,
    quiet_hours: Annotated[
        str | None, typer.Option(help='Local quiet hours, "23:00-08:00" (default), or "off".')
    ] = None,
) -> None:
    """Show or set the org's message budget and quiet hours (发送限额与免打扰)."""
    changes = {"daily_messages": daily_messages, "daily_posts": daily_posts,
               "quiet_hours": quiet_hours}  # fmt: skip
    given = {key: value for key, value in changes.items() if value is not None}
    try:
        check_budget(given)
    except BudgetError as error:
        fail(f"--{error.name.replace('_', '-')}: {error.reason}")
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        tenant = context.tenant(org_id)
        own = {**(tenant.settings.get("campaign") or {}), **given}
        if given:
            record_config_change(session, org_id, {"campaign": own})
            save_org(session, org_id, name=None, timezone=tenant.timezone,
                     settings={"campaign": own}, now=context.now)  # fmt: skip
        budget = budget_of({"campaign": own})
    quiet = (
        "off"
        if budget.quiet is None
        else "{:02d}:{:02d}-{:02d}:{:02d}".format(*budget.quiet[0], *budget.quiet[1])
    )
    console.print(
        f"org {org_id}: {budget.daily_messages} messages 条/group/day, "
        f"{budget.daily_posts} posts 次推送/group/day, quiet hours 免打扰 {quiet}"
    )
