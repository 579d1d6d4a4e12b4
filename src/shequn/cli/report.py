"""`shequn report groups | funnel | channels | heatmap | lifecycle | roi`: the log's figures."""

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Annotated, TypeVar

import typer
from rich import box
from rich.table import Table
from sqlalchemy.orm import Session

from shequn.analytics.heatmap import HEATMAP_COLUMNS, HOURS, WEEKDAYS, Heatmap
from shequn.analytics.insights import report_heatmap, report_lifecycle
from shequn.analytics.lifecycle import LIFECYCLE_COLUMNS, GroupStage, to_revive
from shequn.analytics.roi import ROI_COLUMNS, report_roi
from shequn.analytics.rules import (
    COLUMNS,
    HORIZONS,
    NO_GROUP_LABEL,
    ChannelCohort,
    Funnel,
    RangeError,
    days_of,
    parse_day,
    ratio,
    round_half_up,
)
from shequn.analytics.service import (
    UnknownGroup,
    log_days,
    org_timezone,
    report_channels,
    report_funnel,
    report_group_days,
)
from shequn.cli.common import DbOption, JsonOption, console, fail, opened
from shequn.cli.invite import OrgOption, report_app
from shequn.kit.money import format_amount
from shequn.kit.spreadsheet import write_csv
from shequn.kit.time import local_day, utc_now
from shequn.org.service import UnknownOrg

FromDay = Annotated[
    str, typer.Option("--from", help="First local day, YYYY-MM-DD in the org's time zone.")
]
ToDay = Annotated[str, typer.Option("--to", help="Last local day, YYYY-MM-DD, included.")]
GroupFilter = Annotated[str | None, typer.Option(help="Only this group.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets (输出 CSV).")]

T = TypeVar("T")


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


# The terminal view keeps the figures operators scan for; --csv and --json carry every column.
DAY_HEADERS = (
    "members\n成员", "joins\n入群", "leaves\n退群", "kicked\n踢出", "exit\n退群率",
    "msgs\n消息", "active\n活跃", "DAU\n日活", "orders\n订单", "buyers\n买家", "GMV",
    "refunds\n退款", "conv.\n转化",
)  # fmt: skip
FUNNEL_COLUMNS = (
    "group", "from", "to", "members", "active", "buyers", "active_rate", "conversion",
    "active_conversion",
)  # fmt: skip
CHANNEL_COLUMNS = (
    "channel", "members", "buyers", "conversion", "gmv",
    *(f"d{days}_{figure}" for days in HORIZONS
      for figure in ("stayed", "active", "stayed_rate", "active_rate")),
)  # fmt: skip
WEEKDAY_NAMES = ("Mon 一", "Tue 二", "Wed 三", "Thu 四", "Fri 五", "Sat 六", "Sun 日")


def output_of(as_json: bool, as_csv: bool) -> Output:
    if as_json and as_csv:
        fail("--json and --csv: choose one")
    return Output.JSON if as_json else Output.CSV if as_csv else Output.TABLE


def day_range(since: str, until: str) -> tuple[date, date]:
    try:
        first, last = parse_day("--from", since), parse_day("--to", until)
        days_of(first, last)
    except RangeError as error:
        fail(str(error))
    return first, last


@contextmanager
def refusing_unknowns() -> Iterator[None]:
    """An unknown org, group or day stops the command with its own message, nothing printed."""
    try:
        yield
    except (UnknownOrg, UnknownGroup, RangeError) as error:
        fail(str(error))


def computed(db: str | None, org: str | None, compute: Callable[[Session, str], T]) -> T:
    """Opens the store read-only for one report and hands `compute` the org to report on."""
    with opened(db) as shequn, shequn.sessions() as session, refusing_unknowns():
        return compute(session, org or shequn.settings.default_org)


def printed(output: Output, rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> bool:
    """Prints JSON or CSV rows and says so; the table view is each command's own."""
    if output is Output.JSON:
        print(json.dumps(list(rows), ensure_ascii=False))
    elif output is Output.CSV:
        write_csv(sys.stdout, columns, rows)
    return output is not Output.TABLE


def percent(value: Decimal | None) -> str:
    """36.7% as operators say it; the JSON keeps 4 decimals of the fraction."""
    return "—" if value is None else f"{round_half_up(Fraction(value) * 100, 1)}%"


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
    output = output_of(as_json, as_csv)
    first, last = day_range(since, until)
    rows = computed(db, org, lambda session, org_id: report_group_days(
        session, org_id, first=first, last=last, group=group))  # fmt: skip
    if printed(output, [row.as_json() for row in rows], COLUMNS):
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
    since: Annotated[
        str | None, typer.Option("--from", help="First local day (default: the log's first).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Last local day, included (default: the log's last).")
    ] = None,
    db: DbOption = None,
    org: OrgOption = None,
    group: GroupFilter = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Members at the end → active in the range → buyers in the range (转化漏斗)."""
    output = output_of(as_json, as_csv)

    def compute(session: Session, org_id: str) -> tuple[date, date, Funnel]:
        # Without dates: the whole range of the log.
        span = log_days(session, org_id)
        first, last = day_range(since or span[0].isoformat(), until or span[1].isoformat())
        return first, last, report_funnel(session, org_id, first=first, last=last, group=group)

    first, last, funnel = computed(db, org, compute)
    if output is Output.JSON:
        print(json.dumps(funnel.as_json(), ensure_ascii=False))
        return
    if printed(output, [funnel.as_json()], FUNNEL_COLUMNS):
        return
    console.print(
        f"{funnel.group or 'all groups 全部群'} {first} → {last}: "
        f"members 成员 {funnel.members} → active 活跃 {funnel.active} "
        f"({percent(ratio(funnel.active, funnel.members))}) → buyers 买家 {funnel.buyers} "
        f"(conversion 转化 {percent(ratio(funnel.buyers, funnel.members))}, "
        f"{percent(ratio(funnel.buyers, funnel.active))} of active)",
        highlight=False,
    )


def channel_row(cohort: ChannelCohort) -> dict[str, object]:
    """A cohort flattened for a spreadsheet: d1_stayed, d1_active, d1_stayed_rate, …"""
    nested = cohort.as_json()
    flat = {key: value for key, value in nested.items() if key != "retention"}
    for days in HORIZONS:
        kept = cohort.retention[days]
        figures = {} if kept is None else kept.as_json()
        for figure in ("stayed", "active", "stayed_rate", "active_rate"):
            flat[f"d{days}_{figure}"] = figures.get(figure)
    return flat


@report_app.command("channels")
def report_channels_command(
    since: FromDay,
    until: ToDay,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Newcomers of the range per acquisition channel: retention, buyers, GMV (渠道质量)."""
    output = output_of(as_json, as_csv)
    first, last = day_range(since, until)
    cohorts = computed(db, org, lambda session, org_id: report_channels(
        session, org_id, first=first, last=last, now=utc_now()))  # fmt: skip
    if output is Output.JSON:
        print(json.dumps([cohort.as_json() for cohort in cohorts], ensure_ascii=False))
        return
    if printed(output, [channel_row(cohort) for cohort in cohorts], CHANNEL_COLUMNS):
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


@report_app.command("heatmap")
def report_heatmap_command(
    since: FromDay,
    until: ToDay,
    db: DbOption = None,
    org: OrgOption = None,
    group: GroupFilter = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Messages and reactions per local weekday × hour, and the best posting times (活跃热力图)."""
    output = output_of(as_json, as_csv)
    first, last = day_range(since, until)
    heatmap = computed(db, org, lambda session, org_id: report_heatmap(
        session, org_id, first=first, last=last, group=group))  # fmt: skip
    if output is Output.JSON:
        print(json.dumps(heatmap.as_json(), ensure_ascii=False))
        return
    if printed(output, [cell.as_json() for cell in heatmap.cells], HEATMAP_COLUMNS):
        return
    print_heatmap(heatmap)


def print_heatmap(heatmap: Heatmap) -> None:
    table = Table("", *(f"{hour:02d}" for hour in range(HOURS)), box=box.SIMPLE_HEAD,
                  title=f"{heatmap.group or 'all groups 全部群'} {heatmap.first} → "
                        f"{heatmap.last} ({heatmap.timezone})")  # fmt: skip
    for weekday in range(1, WEEKDAYS + 1):
        table.add_row(
            WEEKDAY_NAMES[weekday - 1],
            *(str(heatmap.cell(weekday, hour).interactions or "·") for hour in range(HOURS)),
        )
    console.print(table)
    best = ", ".join(
        f"{b.time} ({percent(ratio(b.interactions, b.total))})" for b in heatmap.best_times()
    )
    console.print(f"best posting times 建议发布时间: {best or '—'}", highlight=False)


@report_app.command("lifecycle")
def report_lifecycle_command(
    db: DbOption = None,
    org: OrgOption = None,
    on: Annotated[
        str | None, typer.Option("--on", help="Local day to judge, YYYY-MM-DD (default: today).")
    ] = None,
    dead: Annotated[
        bool, typer.Option("--dead", help="Only the dead groups to revive (待激活死群).")
    ] = False,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Each group's stage: new, growing, mature, declining, dead (社群生命周期)."""
    output = output_of(as_json, as_csv)
    with refusing_unknowns():
        day = None if on is None else parse_day("--on", on)

    def judged(session: Session, org_id: str) -> list[GroupStage]:
        today = day or local_day(utc_now(), org_timezone(session, org_id))
        return report_lifecycle(session, org_id, on=today)

    stages = computed(db, org, judged)
    if dead:
        stages = to_revive(stages)
    if printed(output, [stage.as_json() for stage in stages], LIFECYCLE_COLUMNS):
        return
    table = Table("group 群", "store 门店", "stage 阶段", "age 天数", "members 成员",
                  "28d ago 28天前", "DAU 7d", "DAU prior", "msgs 7d 消息", box=box.SIMPLE_HEAD)  # fmt: skip
    for stage in stages:
        shown = stage.as_json()
        table.add_row(
            f"{stage.name} ({stage.trend.group})", stage.store or "", str(stage.stage),
            str(shown["age_days"]), str(stage.trend.members), str(stage.trend.members_before),
            percent(ratio(stage.trend.recent.active, stage.trend.recent.member_days)),
            percent(ratio(stage.trend.prior.active, stage.trend.prior.member_days)),
            str(stage.trend.recent.messages),
        )  # fmt: skip
    console.print(table)


@report_app.command("roi")
def report_roi_command(
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Each fission campaign's attributed GMV against prize, gift and coupon cost (活动 ROI)."""
    output = output_of(as_json, as_csv)
    returns = computed(db, org, lambda session, org_id: report_roi(session, org_id))
    if printed(output, [found.as_json() for found in returns], ROI_COLUMNS):
        return
    table = Table("campaign 活动", "orders 订单", "net GMV 净成交", "prizes 奖品", "gifts 礼品",
                  "coupons 券", "cost 成本", "ROI", box=box.SIMPLE_HEAD)  # fmt: skip
    for found in returns:
        table.add_row(
            f"{found.campaign.name} ({found.campaign.id})", str(found.orders),
            format_amount(found.net_gmv), format_amount(found.prize_cost),
            format_amount(found.gift_cost), format_amount(found.coupon_cost),
            format_amount(found.cost), percent(ratio(found.net_gmv - found.cost, found.cost)),
        )  # fmt: skip
    console.print(table)
