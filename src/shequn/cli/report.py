"""`shequn report groups | funnel | channels`: daily figures per group, the funnel, channels."""

import csv
import json
import sys
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from shequn.analytics.rules import (
    COLUMNS,
    HORIZONS,
    NO_GROUP_LABEL,
    RangeError,
    days_of,
    parse_day,
    ratio,
    round_half_up,
)
from shequn.analytics.service import (
    UnknownGroup,
    report_channels,
    report_funnel,
    report_group_days,
)
from shequn.cli.common import DbOption, JsonOption, console, fail, opened
from shequn.cli.invite import OrgOption, report_app
from shequn.kit.money import format_amount
from shequn.kit.time import utc_now
from shequn.org.service import UnknownOrg

FromDay = Annotated[
    str, typer.Option("--from", help="First local day, YYYY-MM-DD in the org's time zone.")
]
ToDay = Annotated[str, typer.Option("--to", help="Last local day, YYYY-MM-DD, included.")]
GroupFilter = Annotated[str | None, typer.Option(help="Only this group.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets (输出 CSV).")]


# The terminal view keeps the figures operators scan for; --csv and --json carry every column.
DAY_HEADERS = (
    "members\n成员", "joins\n入群", "leaves\n退群", "kicked\n踢出", "exit\n退群率",
    "msgs\n消息", "active\n活跃", "DAU\n日活", "orders\n订单", "buyers\n买家", "GMV",
    "refunds\n退款", "conv.\n转化",
)  # fmt: skip


def day_range(since: str, until: str) -> tuple[date, date]:
    try:
        first, last = parse_day("--from", since), parse_day("--to", until)
        days_of(first, last)
    except RangeError as error:
        fail(str(error))
    return first, last


def percent(value: Decimal | None) -> str:
    """36.7% as operators say it; the JSON keeps 4 decimals of the fraction."""
    return "—" if value is None else f"{round_half_up(Fraction(value) * 100, 1)}%"


def csv_cell(value: object) -> str:
    # The same text the JSON has, so a spreadsheet and a script read the same figure.
    return "" if value is None else json.dumps(value) if isinstance(value, float) else str(value)


@report_app.command("groups")
def report_groups(
    since: FromDay,
    until: ToDay,
    db: DbOption = None,
    org: OrgOption = None,
    group: GroupFilter = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Per group and local day: members, exits, messages, DAU, orders, GMV, conversion (群日报)."""
    if as_json and as_csv:
        fail("--json and --csv: choose one")
    first, last = day_range(since, until)
    with opened(db) as shequn, shequn.sessions() as session:
        try:
            rows = report_group_days(
                session, org or shequn.settings.default_org, first=first, last=last, group=group
            )
        except (UnknownOrg, UnknownGroup) as error:
            fail(str(error))
    if as_json:
        print(json.dumps([row.as_json() for row in rows], ensure_ascii=False))
        return
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            figures = row.as_json()
            writer.writerow([csv_cell(figures[column]) for column in COLUMNS])
        return
    table = Table(box=box.SIMPLE_HEAD)
    # Names and dates stay whole on a narrow terminal; the figures give way first.
    widest = max((len(row.group or NO_GROUP_LABEL) for row in rows), default=6)
    table.add_column("group 群", no_wrap=True, min_width=min(widest, 24))
    table.add_column("day 日期", no_wrap=True, min_width=10)
    for header in DAY_HEADERS:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        sales = row.sales
        table.add_row(
            row.group or NO_GROUP_LABEL, row.day.isoformat(),
            f"{row.members_start}→{row.members_end}", str(row.joins), str(row.leaves),
            str(row.kicked), percent(row.exit_rate), str(row.traffic.messages),
            str(row.traffic.active), percent(row.dau_rate), str(sales.orders), str(sales.buyers),
            format_amount(sales.gmv), format_amount(row.refunds), percent(row.conversion),
        )  # fmt: skip
    console.print(table)


@report_app.command("funnel")
def report_funnel_command(
    since: FromDay,
    until: ToDay,
    db: DbOption = None,
    org: OrgOption = None,
    group: GroupFilter = None,
    as_json: JsonOption = False,
) -> None:
    """Members at the end → active in the range → buyers in the range (转化漏斗)."""
    first, last = day_range(since, until)
    with opened(db) as shequn, shequn.sessions() as session:
        try:
            funnel = report_funnel(
                session, org or shequn.settings.default_org, first=first, last=last, group=group
            )
        except (UnknownOrg, UnknownGroup) as error:
            fail(str(error))
    if as_json:
        print(json.dumps(funnel.as_json(), ensure_ascii=False))
        return
    console.print(
        f"{funnel.group or 'all groups 全部群'} {first} → {last}: "
        f"members 成员 {funnel.members} → active 活跃 {funnel.active} "
        f"({percent(ratio(funnel.active, funnel.members))}) → buyers 买家 {funnel.buyers} "
        f"(conversion 转化 {percent(ratio(funnel.buyers, funnel.members))}, "
        f"{percent(ratio(funnel.buyers, funnel.active))} of active)",
        highlight=False,
    )


@report_app.command("channels")
def report_channels_command(
    since: FromDay,
    until: ToDay,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Newcomers of the range per acquisition channel: retention, buyers, GMV (渠道质量)."""
    first, last = day_range(since, until)
    with opened(db) as shequn, shequn.sessions() as session:
        try:
            cohorts = report_channels(
                session, org or shequn.settings.default_org, first=first, last=last,
                now=utc_now(),
            )  # fmt: skip
        except UnknownOrg as error:
            fail(str(error))
    if as_json:
        print(json.dumps([cohort.as_json() for cohort in cohorts], ensure_ascii=False))
        return
    table = Table(
        "channel 渠道", "members 新成员",
        *(f"d{days} stayed/active 留存/活跃" for days in HORIZONS),
        "buyers 买家", "conversion 转化", "GMV",
    )  # fmt: skip
    for cohort in cohorts:
        kept = []
        for days in HORIZONS:
            retention = cohort.retention[days]
            kept.append(
                "—"
                if retention is None
                else f"{percent(ratio(retention.stayed, retention.members))} / "
                f"{percent(ratio(retention.active, retention.members))}"
            )
        table.add_row(
            cohort.channel, str(cohort.members), *kept, str(cohort.buyers),
            percent(ratio(cohort.buyers, cohort.members)), format_amount(cohort.gmv),
        )  # fmt: skip
    console.print(table)
