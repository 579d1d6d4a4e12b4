"""`shequn product …`, `shequn coupon …`, `shequn groupbuy …`, `shequn bargain …`,
`shequn assist …` and `shequn report attribution`: the shop's side of the community."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from shequn.analytics.rules import NO_GROUP_LABEL, RangeError, days_of, parse_day
from shequn.analytics.service import org_timezone
from shequn.cli.common import DbOption, JsonOption, console, fail, opened
from shequn.cli.invite import OrgOption
from shequn.commerce.mechanics import add_deal as add_group_buy
from shequn.commerce.mechanics import (
    assist_bargain,
    assist_json,
    bargain_json,
    click_share,
    help_assist,
    open_assist,
    open_bargain,
    open_team,
    share_order,
    team_view,
)
from shequn.commerce.mechanics import join_team as join_group_buy
from shequn.commerce.models import Bargain
from shequn.commerce.report import AttributionBy, attribution_report
from shequn.commerce.rules import CommerceRuleError, CouponKind, Tier, parse_discount
from shequn.commerce.service import (
    REFERRAL_SETTING,
    CommerceNotFound,
    CommerceRefusal,
    add_product,
    add_template,
    coupon_json,
    coupons_of,
    drop_coupons,
    issue_coupon,
    products_of,
    schedule_price,
    template_json,
    template_of,
    templates_of,
)
from shequn.engine.context import Context
from shequn.kit.money import AmountError, format_amount, parse_amount
from shequn.kit.time import TimeError, local_day, parse_clock, parse_instant, utc_now, zone
from shequn.member.models import Member
from shequn.org.changes import record_config_change, record_staff_action
from shequn.org.models import Org
from shequn.org.service import UnknownOrg, save_org

product_app = typer.Typer(
    help="Products (商品) and their scheduled price changes (定时改价).", no_args_is_help=True
)
coupon_app = typer.Typer(
    help="Coupons (优惠券): templates, issuing, shares, old-brings-new.", no_args_is_help=True
)
groupbuy_app = typer.Typer(help="Group-buys (拼团): offers, teams, joins.", no_args_is_help=True)
bargain_app = typer.Typer(help="Bargains (砍价): friends cut the price.", no_args_is_help=True)
assist_app = typer.Typer(
    help="Assist tasks (助力): friends help, the member earns a coupon.", no_args_is_help=True
)

Refused = (CommerceNotFound, CommerceRefusal, UnknownOrg, AmountError, TimeError,
           CommerceRuleError)  # fmt: skip
MemberOption = Annotated[str, typer.Option("--member", help="The member's platform id.")]
HoursOption = Annotated[int, typer.Option(help="Hours until the deadline.")]
KeyOption = Annotated[
    str | None, typer.Option(help="A retry with the same key returns the first result.")
]


@contextmanager
def unit_of_work(db: str | None, org: str | None) -> Iterator[tuple[Context, str]]:
    """One transaction: committed when the command succeeds, rolled back when it fails."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            yield context, org_id
            context.flush()
        except Refused as error:
            fail(str(error))


def money(option: str, text: str) -> int:
    try:
        return parse_amount(text)
    except AmountError as error:
        fail(f"{option}: {error}")


def parse_moment(option: str, text: str, timezone: str, *, end_of_day: bool = False) -> datetime:
    """An ISO time with its offset, or the org's local "YYYY-MM-DD HH:MM" / "YYYY-MM-DD"
    (00:00 of that day; with `end_of_day`, 00:00 of the next)."""
    text = text.strip()
    if "T" in text:
        try:
            return parse_instant(text)
        except TimeError as error:
            fail(f"{option}: {error}")
    day_text, _, clock = text.partition(" ")
    try:
        day = parse_day(option, day_text)
        hour, minute = parse_clock(clock.strip()) if clock.strip() else (0, 0)
    except (RangeError, TimeError) as error:
        fail(f"{option}: {error}")
    if end_of_day and not clock.strip():
        day += timedelta(days=1)
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone(timezone))
    return local.astimezone(UTC)


def show(payload: Any, as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        print(json.dumps(payload, ensure_ascii=False))
    else:
        render()


@product_app.command("add")
def product_add(
    sku: Annotated[str, typer.Argument(help="The shop's SKU.")],
    name: Annotated[str, typer.Argument(help="The product's name.")],
    price: Annotated[str | None, typer.Option(help="Its price from now on, e.g. 599.00.")] = None,
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Add a product (or rename one), with its price from now on (添加商品)."""
    with unit_of_work(db, org) as (context, org_id):
        add_product(context, org=org_id, sku=sku, name=name)
        detail: dict[str, object] = {"name": name}
        if price is not None:
            amount = money("--price", price)
            schedule_price(context, org=org_id, sku=sku, price=amount, effective_at=context.now,
                           cause=f"cli:{sku}:{context.now.isoformat()}")  # fmt: skip
            detail["price"] = format_amount(amount)
        record_staff_action(context.session, org_id, "product_added", sku, detail)
    console.print(f"product 商品 {sku} {name}" + (f" ¥{price}" if price else ""))


@product_app.command("price")
def product_price(
    sku: Annotated[str, typer.Argument(help="The product's SKU.")],
    price: Annotated[str, typer.Argument(help="The new price, e.g. 9999.00 or 599.00.")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help='From when: "2020-11-11" (00:00 local), "2020-11-11 20:30" in the org\'s time '
            "zone, or ISO 8601 with an offset. Default: now.",
        ),
    ] = None,
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Schedule a price change in the org's time zone (定时改价); the same change twice is one."""
    amount = money("PRICE", price)
    with unit_of_work(db, org) as (context, org_id):
        timezone = context.tenant(org_id).timezone
        when = context.now if at is None else parse_moment("--at", at, timezone)
        schedule_price(context, org=org_id, sku=sku, price=amount, effective_at=when,
                       cause=f"cli:{sku}:{when.isoformat()}:{amount}")  # fmt: skip
        record_staff_action(context.session, org_id, "price_scheduled", sku,
                            {"price": format_amount(amount),
                             "from": when.astimezone(zone(timezone)).isoformat()})  # fmt: skip
    local = when.astimezone(zone(timezone))
    console.print(f"{sku}: ¥{format_amount(amount)} from 自 {local:%Y-%m-%d %H:%M} ({timezone})")


@product_app.command("list")
def product_list(
    at: Annotated[
        str | None, typer.Option("--at", help="Prices at this time (default: now).")
    ] = None,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Products with their price now (or --at) and their whole schedule (商品列表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        try:
            timezone = org_timezone(session, org_id)
        except UnknownOrg as error:
            fail(str(error))
        when = utc_now() if at is None else parse_moment("--at", at, timezone)
        views = products_of(session, org_id, at=when)
    rows = [view.as_json(timezone) for view in views]

    def render() -> None:
        table = Table("sku", "name 名称", "price 现价", "schedule 价格计划")
        for row in rows:
            plan = ", ".join(f"{p['from'][:16]} ¥{p['price']}" for p in row["schedule"])
            table.add_row(row["sku"], row["name"], row["price"] or "—", plan)
        console.print(table)

    show(rows, as_json, render)


@coupon_app.command("template")
def coupon_template(
    template: Annotated[str, typer.Argument(help="The template's id, e.g. c100.")],
    name: Annotated[str, typer.Option(help="What members read, e.g. 无门槛券.")],
    off: Annotated[str | None, typer.Option("--off", help="Amount off, e.g. 100.00.")] = None,
    threshold: Annotated[
        str, typer.Option("--min", help="Spend from which --off applies (满), e.g. 300.00.")
    ] = "0",
    discount: Annotated[
        str | None, typer.Option("--discount", help="A discount in 折, e.g. 4.5 (pay 45%).")
    ] = None,
    valid_from: Annotated[str | None, typer.Option("--from", help="Valid from (local).")] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Valid until (local; a bare date includes that day)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Coupons per member (default: any).")] = None,
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Define a coupon: --off 100 (无门槛), --off 50 --min 300 (满300减50), or --discount 4.5."""
    if (off is None) == (discount is None):
        fail("give either --off or --discount")
    with unit_of_work(db, org) as (context, org_id):
        timezone = context.tenant(org_id).timezone
        row = add_template(
            context, org=org_id, template=template, name=name,
            kind=CouponKind.DISCOUNT if discount is not None else CouponKind.AMOUNT_OFF,
            amount_off=0 if off is None else money("--off", off),
            threshold=money("--min", threshold),
            rate=parse_discount(discount) if discount is not None else 1000,
            valid_from=None if valid_from is None else parse_moment("--from", valid_from, timezone),
            valid_until=None if until is None else parse_moment("--until", until, timezone,
                                                                 end_of_day=True),
            per_member_limit=limit,
        )  # fmt: skip
        view = template_json(row)
    console.print(f"coupon template 券模板 {template}: {view['name']} {view['terms']}")


@coupon_app.command("templates")
def coupon_templates(
    db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """Coupon templates (券模板列表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        rows = [template_json(row) for row in
                templates_of(session, org or shequn.settings.default_org)]  # fmt: skip

    def render() -> None:
        table = Table(
            "template 模板", "name 名称", "terms 面额", "valid until 有效期至", "limit 限领"
        )
        for row in rows:
            table.add_row(row["template"], row["name"], row["terms"],
                          (row["valid_until"] or "—")[:16], str(row["limit"] or "—"))  # fmt: skip
        console.print(table)

    show(rows, as_json, render)


@coupon_app.command("issue")
def coupon_issue(
    template: Annotated[str, typer.Argument(help="The coupon template.")],
    member: Annotated[str | None, typer.Option(help="One member (a reward).")] = None,
    group: Annotated[
        str | None, typer.Option(help="Every current member of this group (a drop).")
    ] = None,
    cause: Annotated[
        str | None,
        typer.Option(help="Why; issuing again for the same cause gives nothing more "
                     "(default: operator:<local day>)."),
    ] = None,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Issue coupons to a member, or drop one to each member of a group (发券)."""
    if (member is None) == (group is None):
        fail("give either --member or --group")
    with unit_of_work(db, org) as (context, org_id):
        timezone = context.tenant(org_id).timezone
        why = cause or f"operator:{local_day(context.now, timezone)}"
        if member is not None:
            if context.session.get(Member, (org_id, member)) is None:
                fail(f"--member: {member!r} is not a known member of org {org_id!r}")
            code = issue_coupon(context, org=org_id, member=member, template=template, cause=why)
            result: dict[str, Any] = {"member": member, "code": code}
        else:
            assert group is not None
            count = drop_coupons(context, org=org_id, group=group, template=template, cause=why)
            result = {"group": group, "issued": count}

    def render() -> None:
        if "code" in result:
            code = result["code"]
            console.print(f"{member}: {code}" if code else
                          f"{member}: refused, at the per-member limit 已达限领")  # fmt: skip
        else:
            console.print(f"group 群 {group}: {result['issued']} coupons issued 张已发放")

    show(result, as_json, render)


@coupon_app.command("list")
def coupon_list(
    member: Annotated[str | None, typer.Option(help="Only this member's coupons.")] = None,
    template: Annotated[str | None, typer.Option(help="Only this template.")] = None,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issued coupons with their status (券列表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        rows = [coupon_json(coupon) for coupon in
                coupons_of(session, org or shequn.settings.default_org, member=member,
                           template=template)]  # fmt: skip

    def render() -> None:
        table = Table("code 券码", "member 成员", "template 模板", "terms 面额", "status 状态",
                      "order 订单")  # fmt: skip
        for row in rows:
            table.add_row(row["code"], row["member"], row["template"], row["terms"],
                          row["status"], row["order"] or "—")  # fmt: skip
        console.print(table)

    show(rows, as_json, render)


@coupon_app.command("referral")
def coupon_referral(
    template: Annotated[
        str | None, typer.Argument(help="Template a first inviter earns; omit with --off.")
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop old-brings-new rewards.")] = False,
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Old brings new (老带新): a member's first inviter gets this coupon at their first order."""
    if (template is None) != off:
        fail("give a TEMPLATE, or --off")
    with unit_of_work(db, org) as (context, org_id):
        if template is not None:
            template_of(context.session, org_id, template)
        current = context.session.get(Org, org_id)
        assert current is not None
        record_config_change(context.session, org_id, {REFERRAL_SETTING: template})
        save_org(context.session, org_id, name=None, timezone=current.timezone,
                 settings={REFERRAL_SETTING: template}, now=context.now)  # fmt: skip
    console.print(f"old-brings-new 老带新: {template or 'off 关闭'}")


@coupon_app.command("share")
def coupon_share(
    order: Annotated[str, typer.Argument(help="The paid order being shared.")],
    template: Annotated[str, typer.Option(help="An amount-off template (its threshold holds).")],
    low: Annotated[str, typer.Option("--min", help="Smallest amount, e.g. 5.00.")],
    high: Annotated[str, typer.Option("--max", help="Largest amount, e.g. 20.00.")],
    clicks: Annotated[int, typer.Option(help="Friends who can get one.")] = 10,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """A fission coupon share after an order (分享券): the buyer gets one of a random amount."""
    with unit_of_work(db, org) as (context, org_id):
        result = share_order(context, org=org_id, order=order, template=template,
                             low=money("--min", low), high=money("--max", high),
                             clicks=clicks).as_json()  # fmt: skip
    show(result, as_json, lambda: console.print(
        f"share 分享 {result['share']}: {result['member']} ¥{result['amount']} {result['code']}"
    ))  # fmt: skip


@coupon_app.command("click")
def coupon_click(
    share: Annotated[str, typer.Argument(help="The share's id.")],
    member: MemberOption,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """A friend opens a share and gets a coupon of a random amount (领取分享券)."""
    with unit_of_work(db, org) as (context, org_id):
        result = click_share(context, org=org_id, share=share, member=member).as_json()
    show(result, as_json, lambda: console.print(
        f"{member}: ¥{result['amount']} {result['code'] or 'refused, at the limit 已达限领'}"
    ))  # fmt: skip


def parse_tier(text: str) -> Tier:
    size, sep, price = text.partition(":")
    if not sep or not size.strip().isdigit():
        fail(f"--tier: {text!r} is not SIZE:PRICE like 3:99.00")
    return Tier(int(size), money("--tier", price))


@groupbuy_app.command("add")
def groupbuy_add(
    deal: Annotated[str, typer.Argument(help="The group-buy's id.")],
    sku: Annotated[str, typer.Option(help="The product.")],
    tier: Annotated[list[str], typer.Option(help="SIZE:PRICE, repeated: 3:99.00 --tier 5:79.00.")],
    hours: HoursOption = 24,
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Offer a group-buy: teams of each tier's size within --hours buy at its price (拼团)."""
    tiers = [parse_tier(text) for text in tier]
    with unit_of_work(db, org) as (context, org_id):
        add_group_buy(context, org=org_id, deal=deal, sku=sku, tiers=tiers, hours=hours)
    plan = ", ".join(f"{t.size}人 ¥{format_amount(t.price)}" for t in tiers)
    console.print(f"group-buy 拼团 {deal} ({sku}): {plan}, {hours}h")


def _print_team(view: dict[str, Any]) -> None:
    console.print(
        f"team 团 {view['team']} ({view['deal']}): {view['status']}, "
        f"{view['size']} people 人" + (f", ¥{view['price']}" if view["price"] else "")
    )
    for member in view["members"]:
        console.print(
            f"  {member['member']} paid 付 ¥{member['paid']} refund 退 ¥{member['refund']}"
        )


@groupbuy_app.command("open")
def groupbuy_open(
    deal: Annotated[str, typer.Argument(help="The group-buy.")],
    member: MemberOption,
    order: Annotated[str | None, typer.Option(help="The leader's payment order.")] = None,
    key: KeyOption = None,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """A member opens a team (开团) and is its first member."""
    with unit_of_work(db, org) as (context, org_id):
        team = open_team(context, org=org_id, deal=deal, leader=member, order=order, key=key)
        context.session.flush()
        view = team_view(context, org_id, team.id)
    show(view, as_json, lambda: _print_team(view))


@groupbuy_app.command("join")
def groupbuy_join(
    team: Annotated[str, typer.Argument(help="The team's id.")],
    member: MemberOption,
    order: Annotated[str | None, typer.Option(help="The member's payment order.")] = None,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """A member joins a team (参团); the largest tier filled closes it at once."""
    with unit_of_work(db, org) as (context, org_id):
        join_group_buy(context, org=org_id, team=team, member=member, order=order)
        context.session.flush()
        view = team_view(context, org_id, team)
    show(view, as_json, lambda: _print_team(view))


@groupbuy_app.command("show")
def groupbuy_show(
    team: Annotated[str, typer.Argument(help="The team's id.")],
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """A team, its members and what each paid and gets back."""
    with unit_of_work(db, org) as (context, org_id):
        view = team_view(context, org_id, team)
    show(view, as_json, lambda: _print_team(view))


def _print_bargain(view: dict[str, Any]) -> None:
    console.print(f"bargain 砍价 {view['bargain']} ({view['sku']}, {view['member']}): "
                  f"¥{view['start']} → ¥{view['price']} (target 目标 ¥{view['target']}), "
                  f"{view['status']}")  # fmt: skip


@bargain_app.command("open")
def bargain_open(
    member: MemberOption,
    sku: Annotated[str, typer.Option(help="The product.")],
    start: Annotated[str, typer.Option(help="The price before any cut, e.g. 600.00.")],
    target: Annotated[str, typer.Option(help="The price once every assist is in.")],
    assists: Annotated[int, typer.Option(help="Friends' cuts needed.")],
    hours: HoursOption = 24,
    seed: Annotated[str | None, typer.Option(help="Seed of the cuts (default: the id).")] = None,
    key: KeyOption = None,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open a bargain (发起砍价): N friends' cuts sum exactly to start − target."""
    with unit_of_work(db, org) as (context, org_id):
        row = open_bargain(context, org=org_id, member=member, sku=sku,
                           start_price=money("--start", start),
                           target_price=money("--target", target), assists=assists,
                           hours=hours, seed=seed, key=key)  # fmt: skip
        view = bargain_json(row)
    show(view, as_json, lambda: _print_bargain(view))


@bargain_app.command("assist")
def bargain_assist(
    bargain: Annotated[str, typer.Argument(help="The bargain's id.")],
    friend: Annotated[str, typer.Option(help="The friend who cuts.")],
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """A friend's one cut (帮砍一刀); a second try by the same friend cuts nothing more."""
    with unit_of_work(db, org) as (context, org_id):
        result = assist_bargain(context, org=org_id, bargain=bargain, friend=friend).as_json()
    show(result, as_json, lambda: console.print(
        f"{friend}: −¥{result['cut']} → ¥{result['price']} ({result['status']})"
    ))  # fmt: skip


@bargain_app.command("show")
def bargain_show(
    bargain: Annotated[str, typer.Argument(help="The bargain's id.")],
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    with unit_of_work(db, org) as (context, org_id):
        row = context.session.get(Bargain, (org_id, bargain))
        if row is None:
            raise CommerceNotFound("bargain", bargain, org_id)
        view = bargain_json(row)
    show(view, as_json, lambda: _print_bargain(view))


@assist_app.command("open")
def assist_open(
    member: MemberOption,
    template: Annotated[str, typer.Option(help="The coupon template earned.")],
    friends: Annotated[int, typer.Option(help="Friends' helps needed.")],
    hours: HoursOption = 24,
    key: KeyOption = None,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open an assist task (发起助力): --friends helps earn a coupon."""
    with unit_of_work(db, org) as (context, org_id):
        view = assist_json(open_assist(context, org=org_id, member=member, template=template,
                                       needed=friends, hours=hours, key=key))  # fmt: skip
    show(view, as_json, lambda: console.print(
        f"assist 助力 {view['task']}: {view['helped']}/{view['needed']} ({view['status']})"
    ))  # fmt: skip


@assist_app.command("help")
def assist_help(
    task: Annotated[str, typer.Argument(help="The assist task's id.")],
    friend: Annotated[str, typer.Option(help="The friend who helps.")],
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """A friend's one help (助力一次); the last one needed issues the coupon."""
    with unit_of_work(db, org) as (context, org_id):
        view = assist_json(help_assist(context, org=org_id, task=task, friend=friend))
    show(view, as_json, lambda: console.print(
        f"assist 助力 {view['task']}: {view['helped']}/{view['needed']} ({view['status']})"
        + (f" coupon 券 {view['coupon']}" if view["coupon"] else "")
    ))  # fmt: skip


def report_attribution(
    since: Annotated[
        str | None, typer.Option("--from", help="First local day, YYYY-MM-DD (default: all).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Last local day, YYYY-MM-DD, included.")
    ] = None,
    by: Annotated[AttributionBy, typer.Option(help="What to sum sales by.")] = AttributionBy.GROUP,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Paid orders by group, store, staff, puller, inviter, channel or campaign, net of refunds
    (销售归因)."""
    first: date | None = None
    last: date | None = None
    try:
        first = None if since is None else parse_day("--from", since)
        last = None if until is None else parse_day("--to", until)
        if first is not None and last is not None:
            days_of(first, last)
    except RangeError as error:
        fail(str(error))
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        try:
            timezone = org_timezone(session, org_id)
        except UnknownOrg as error:
            fail(str(error))
        rows = attribution_report(session, org_id, by=by, timezone=timezone, first=first,
                                  last=last)  # fmt: skip
    if as_json:
        print(json.dumps([row.as_json(by) for row in rows], ensure_ascii=False))
        return
    table = Table(by.value, "orders 订单", "buyers 买家", "GMV", "refunded 退款", "net 净额")
    for row in rows:
        table.add_row(row.key or NO_GROUP_LABEL, str(row.orders), str(row.buyers),
                      format_amount(row.gmv), format_amount(row.refunded),
                      format_amount(row.net))  # fmt: skip
    console.print(table)
