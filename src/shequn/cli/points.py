"""`shequn points …`, `shequn mall …`, `shequn koc` and `shequn report points`: balances, the
ledger's history, corrections, expiry, boards, the points mall and the choice of KOCs."""

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from shequn.cli.common import DbOption, JsonOption, console, fail, opened
from shequn.cli.invite import OrgOption, report_app
from shequn.group.models import Group
from shequn.kit.spreadsheet import write_csv
from shequn.kit.time import utc_now
from shequn.member.service import nicknames
from shequn.org.changes import record_config_change, record_staff_action
from shequn.org.models import Org
from shequn.org.service import save_org
from shequn.points.ledger import InsufficientPoints, PointsError, UnknownReservation
from shequn.points.models import MallRedemption
from shequn.points.rules import Period
from shequn.points.service import (
    MallRefusal,
    UnknownGroup,
    UnknownItem,
    UnknownMember,
    UnknownRedemption,
    add_item,
    adjust_points,
    balance_of,
    check_points_settings,
    expire_points,
    history_of,
    item_json,
    items_of,
    koc_ranking,
    points_board,
    redeem,
    redemption_json,
    report_points,
    set_item,
    set_sign_in_open,
    settle_redemption,
)

points_app = typer.Typer(
    help="Points (积分): balances, history, corrections, expiry and boards.", no_args_is_help=True
)
mall_app = typer.Typer(
    help="The points mall (积分商城): items and redemptions.", no_args_is_help=True
)
item_app = typer.Typer(help="Mall items (商品).", no_args_is_help=True)
mall_app.add_typer(item_app, name="item")

MemberArgument = Annotated[str, typer.Argument(help="The member's platform id.")]
Refused = (
    UnknownMember, UnknownItem, UnknownRedemption, UnknownGroup, UnknownReservation, PointsError,
    MallRefusal, ValueError,
)  # fmt: skip


def _org(org: str | None, default: str) -> str:
    return org or default


@points_app.command("balance")
def points_balance(
    member: MemberArgument, db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """A member's balance and the lots it is made of (积分余额)."""
    with opened(db) as shequn, shequn.sessions() as session:
        try:
            view = balance_of(
                session, _org(org, shequn.settings.default_org), member, now=utc_now()
            )
        except Refused as error:
            fail(str(error))
    if as_json:
        print(json.dumps(view.as_json(), ensure_ascii=False))
        return
    console.print(f"{member}: balance 余额 {view.balance} · spendable 可用 {view.spendable}")
    table = Table("lot 批次", "earned 获得", "remaining 剩余", "earned at", "expires 过期")
    for lot in view.lots:
        table.add_row(lot.id, str(lot.earned), str(lot.remaining), f"{lot.earned_at:%Y-%m-%d}",
                      f"{lot.expires_at:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    console.print(table)


@points_app.command("history")
def points_history(
    member: MemberArgument,
    db: DbOption = None,
    org: OrgOption = None,
    limit: Annotated[
        int | None, typer.Option(help="Show at most N entries (default: all).")
    ] = None,
    offset: Annotated[int, typer.Option(help="Skip the first N entries.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Every movement of a member's points, with the balance after each (积分明细)."""
    with opened(db) as shequn, shequn.sessions() as session:
        try:
            rows = history_of(session, _org(org, shequn.settings.default_org), member,
                              limit=limit, offset=offset)  # fmt: skip
        except Refused as error:
            fail(str(error))
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("at 时间 (UTC)", "kind 类型", "points 积分", "balance 余额", "reason 原因")
    for row in rows:
        table.add_row(str(row["at"])[:19], str(row["kind"]), f"{row['points']:+d}",
                      str(row["balance"]), str(row["reason"]))  # fmt: skip
    console.print(table)


@points_app.command("sign-in")
def points_sign_in(
    group: Annotated[str, typer.Argument(help="The group.")],
    is_open: Annotated[
        bool, typer.Option("--open/--close", help="Open or close sign-in (签到) there.")
    ],
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Open or close sign-in in a group; while closed, sign-in keywords there earn nothing."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = _org(org, shequn.settings.default_org)
        if session.get(Group, (org_id, group)) is None:
            fail(f"group: {group!r} is not known in this org")
        context = shequn.context(session, org_id)
        set_sign_in_open(context, org=org_id, group=group, is_open=is_open)
        context.flush()
    console.print(f"sign-in 签到 in {group}: {'open 开启' if is_open else 'closed 关闭'}")


def _signed(text: str) -> int:
    body = text[1:] if text[:1] in "+-" else text
    if not body.isdigit():
        fail(f"points: {text!r} is not a whole number like +50 or -20")
    return int(text)


@points_app.command("adjust", context_settings={"ignore_unknown_options": True})
def points_adjust(
    member: MemberArgument,
    points: Annotated[str, typer.Argument(help="+N adds, -N takes away.", show_default=False)],
    reason: Annotated[str, typer.Option(help="Why, kept with the entry.")],
    by: Annotated[str, typer.Option(help="Who corrects (recorded with the entry).")],
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Correct a balance with a new entry, never an edit (积分调整)."""
    amount = _signed(points)
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = _org(org, shequn.settings.default_org)
        context = shequn.context(session, org_id)
        try:
            adjust_points(context, org_id, member, amount, reason=reason, by=by)
            context.flush()
            balance = balance_of(session, org_id, member, now=context.now).balance
        except Refused as error:
            fail(str(error))
    console.print(f"adjusted 已调整 {member} {amount:+d} → balance 余额 {balance}")


@points_app.command("expire")
def points_expire(db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False) -> None:
    """Run the expiry now: points whose time is up, and flagged members' points (积分过期)."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = _org(org, shequn.settings.default_org)
        context = shequn.context(session, org_id)
        expired = expire_points(context, org_id)
        context.flush()
    shown = {"lots": expired.lots, "expired": expired.points, "revoked": expired.revoked,
             "invites": expired.invites}  # fmt: skip
    if as_json:
        print(json.dumps(shown))
        return
    console.print(f"expired 已过期 {expired.points} points from {expired.lots} lots · "
                  f"revoked 已收回 {expired.revoked} · invites credited 邀请积分 {expired.invites}")  # fmt: skip


def _period(text: str) -> Period:
    if text not in tuple(Period):
        fail(f"--period: {text!r} is not one of {', '.join(Period)}")
    return Period(text)


def _top(top: int) -> int:
    if top < 1:
        fail(f"--top: {top} must be 1 or more")
    return top


@points_app.command("board")
def points_board_command(
    db: DbOption = None,
    org: OrgOption = None,
    group: Annotated[
        str | None, typer.Option(help="One group's board (default: the org's).")
    ] = None,
    period: Annotated[str, typer.Option(help="day, week (from Monday) or all.")] = "week",
    top: Annotated[int, typer.Option(help="How many places.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Points earned in the period, most first (积分排行)."""
    chosen, places = _period(period), _top(top)
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = _org(org, shequn.settings.default_org)
        timezone = shequn.context(session, org_id).tenant(org_id).timezone
        try:
            rows = points_board(session, org_id, period=chosen, at=utc_now(), timezone=timezone,
                                group=group, top=places)  # fmt: skip
        except Refused as error:
            fail(str(error))
        names = nicknames(session, org_id, [row.member for row in rows])
    shown = [{"rank": r.rank, "member": r.member, "nickname": names.get(r.member),
              "points": r.points} for r in rows]  # fmt: skip
    if as_json:
        print(json.dumps(shown, ensure_ascii=False))
        return
    table = Table("#", "member 成员", "nickname 昵称", "points 积分")
    for row in shown:
        table.add_row(str(row["rank"]), str(row["member"]), str(row["nickname"] or ""),
                      str(row["points"]))  # fmt: skip
    console.print(table)


def _cap(name: str, text: str | None) -> tuple[bool, int | None]:
    """(given, value) of a cap option: a whole number, or "none" for no cap."""
    if text is None:
        return False, None
    if text.strip().lower() == "none":
        return True, None
    if not text.strip().isdigit():
        fail(f"{name}: {text!r} is not a whole number or none")
    return True, int(text)


def _bonuses(texts: list[str] | None) -> dict[str, int] | None:
    if not texts:
        return None
    bonuses: dict[str, int] = {}
    for text in texts:
        day, sep, points = text.partition(":")
        if not sep or not day.strip().isdigit() or not points.strip().isdigit():
            fail(f"--sign-in-bonus: {text!r} is not DAY:POINTS, e.g. 7:30")
        bonuses[str(int(day))] = int(points)
    return bonuses


@points_app.command("configure")
def points_configure(
    db: DbOption = None,
    org: OrgOption = None,
    expiry_months: Annotated[
        int | None, typer.Option(help="Points last this many months (12).")
    ] = None,
    sign_in_keywords: Annotated[
        str | None, typer.Option(help="Sign-in words: 签到,打卡,/signin.")
    ] = None,
    sign_in_base: Annotated[int | None, typer.Option(help="Points a sign-in earns (5).")] = None,
    sign_in_bonus: Annotated[
        list[str] | None, typer.Option(help="DAY:POINTS streak bonus; repeat (3:10, 7:30).")
    ] = None,
    sign_in_cycle: Annotated[
        int | None, typer.Option(help="Bonuses come round every N days (7; 0: once).")
    ] = None,
    message: Annotated[int | None, typer.Option(help="Points per message (1).")] = None,
    message_cap: Annotated[
        str | None, typer.Option(help="Daily cap for messages (10; none).")
    ] = None,
    reaction: Annotated[int | None, typer.Option(help="Points per reaction (1).")] = None,
    reaction_cap: Annotated[
        str | None, typer.Option(help="Daily cap for reactions (5; none).")
    ] = None,
    order_per_yuan: Annotated[int | None, typer.Option(help="Points per yuan paid (1).")] = None,
    order_cap: Annotated[str | None, typer.Option(help="Daily cap for orders (none).")] = None,
    invite: Annotated[int | None, typer.Option(help="Points per effective invite (20).")] = None,
    invite_cap: Annotated[str | None, typer.Option(help="Daily cap for invites (none).")] = None,
    revoke_on_kick: Annotated[
        bool | None,
        typer.Option(
            "--revoke-on-kick/--keep-on-kick", help="A kick takes the member's points back."
        ),
    ] = None,
    revoke_flagged: Annotated[
        bool | None,
        typer.Option(
            "--revoke-flagged/--keep-flagged", help="Audit-flagged members lose their points."
        ),
    ] = None,
    replies: Annotated[
        bool | None,
        typer.Option("--replies/--no-replies", help="Answer 签到, 积分 and 排行 in the group."),
    ] = None,
    reply_window: Annotated[
        int | None, typer.Option(help="Seconds of requests answered in one message (60).")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="Language of the replies: zh or en.")] = None,
    board_period: Annotated[
        str | None, typer.Option(help="Board the 排行 reply shows: day, week, all.")
    ] = None,
    board_top: Annotated[int | None, typer.Option(help="Places in the 排行 reply (10).")] = None,
) -> None:
    """Set the org's points rules (积分规则); prints the settings in force."""
    changes: dict[str, Any] = {
        "points_expiry_months": expiry_months, "points_sign_in_base": sign_in_base,
        "points_sign_in_bonuses": _bonuses(sign_in_bonus), "points_message": message,
        "points_reaction": reaction, "points_order_per_yuan": order_per_yuan,
        "points_invite": invite, "points_revoke_on_kick": revoke_on_kick,
        "points_revoke_flagged": revoke_flagged, "points_replies": replies,
        "points_reply_window_seconds": reply_window, "points_lang": lang,
        "points_board_period": board_period, "points_board_top": board_top,
    }  # fmt: skip
    changes = {name: value for name, value in changes.items() if value is not None}
    if sign_in_keywords is not None:
        changes["points_sign_in_keywords"] = [w.strip() for w in sign_in_keywords.split(",")]
    if sign_in_cycle is not None:
        changes["points_sign_in_cycle"] = sign_in_cycle or None
    for stem, text in (("message", message_cap), ("reaction", reaction_cap),
                       ("order", order_cap), ("invite", invite_cap)):  # fmt: skip
        given, cap = _cap(f"--{stem}-cap", text)
        if given:
            changes[f"points_{stem}_cap"] = cap
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = _org(org, shequn.settings.default_org)
        shequn.registry.tenancy.ensure(session, [org_id], utc_now())
        current = session.get(Org, org_id)
        assert current is not None
        merged = {**current.settings, **changes}
        try:
            check_points_settings(merged)
        except ValueError as error:
            fail(str(error))
        record_config_change(session, org_id, changes)
        save_org(session, org_id, name=None, timezone=current.timezone, settings=changes,
                 now=utc_now())  # fmt: skip
        shown = {name: value for name, value in merged.items() if name.startswith("points_")}
    print(json.dumps(shown, ensure_ascii=False))


@item_app.command("add")
def item_add(
    sku: Annotated[str, typer.Argument(help="The item's code, e.g. mug-1.")],
    name: Annotated[str, typer.Option(help="What members see, e.g. 定制马克杯.")],
    kind: Annotated[str, typer.Option(help="gift, coupon or service.")],
    price: Annotated[int, typer.Option(help="Price in points.")],
    stock: Annotated[int, typer.Option(help="How many there are.")],
    db: DbOption = None,
    org: OrgOption = None,
    limit: Annotated[int | None, typer.Option(help="Most per member (default: no limit).")] = None,
) -> None:
    """Put an item in the points mall (上架商品)."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = _org(org, shequn.settings.default_org)
        shequn.registry.tenancy.ensure(session, [org_id], utc_now())
        try:
            item = add_item(session, org_id, sku, name=name, kind=kind, price=price, stock=stock,
                            limit=limit, now=utc_now())  # fmt: skip
        except Refused as error:
            fail(str(error))
        shown = item_json(item)
        record_staff_action(session, org_id, "mall_item_added", sku, shown)
    print(json.dumps(shown, ensure_ascii=False))


@item_app.command("set")
def item_set(
    sku: Annotated[str, typer.Argument(help="The item's code.")],
    db: DbOption = None,
    org: OrgOption = None,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    price: Annotated[int | None, typer.Option(help="A new price in points.")] = None,
    stock: Annotated[int | None, typer.Option(help="The stock now (restocking).")] = None,
    limit: Annotated[int | None, typer.Option(help="Most per member.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="On offer or not.")
    ] = None,
) -> None:
    """Change an item: name, price, stock, limit, on offer (修改商品)."""
    given = {"name": name, "price": price, "stock": stock, "limit": limit, "active": active}
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = _org(org, shequn.settings.default_org)
        try:
            changes = {k: v for k, v in given.items() if v is not None}
            item = set_item(session, org_id, sku, changes=changes)
        except Refused as error:
            fail(str(error))
        shown = item_json(item)
        record_staff_action(session, org_id, "mall_item_changed", sku, changes)
    print(json.dumps(shown, ensure_ascii=False))


@mall_app.command("items")
def mall_items(db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False) -> None:
    """The mall's items (商品列表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        shown = [item_json(i) for i in items_of(session, _org(org, shequn.settings.default_org))]
    if as_json:
        print(json.dumps(shown, ensure_ascii=False))
        return
    table = Table(
        "sku", "name 名称", "kind 类型", "price 积分", "stock 库存", "limit 限兑", "active"
    )
    for item in shown:
        cells = [item[c] for c in ("sku", "name", "kind", "price", "stock")]
        shown_limit, on_offer = item["limit"] or "—", "yes" if item["active"] else "no"
        table.add_row(*(str(cell) for cell in cells), str(shown_limit), on_offer)
    console.print(table)


def _print_redemption(redemption: MallRedemption, balance: int, *, as_json: bool) -> None:
    shown = redemption_json(redemption, balance=balance)
    if as_json:
        print(json.dumps(shown, ensure_ascii=False))
        return
    line = (f"{redemption.status} {redemption.id}: {redemption.member} · {redemption.sku} · "
            f"{redemption.points} points · balance 余额 {balance}")  # fmt: skip
    console.print(line, highlight=False)


@mall_app.command("redeem")
def mall_redeem(
    member: MemberArgument,
    sku: Annotated[str, typer.Argument(help="The item's code.")],
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Redeem an item: its points and one of its stock are held at once (兑换)."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = _org(org, shequn.settings.default_org)
        context = shequn.context(session, org_id)
        try:
            redemption = redeem(context, org_id, member, sku)
            context.flush()
            balance = balance_of(session, org_id, member, now=context.now).balance
        except InsufficientPoints as error:
            fail(f"insufficient points: {error}")
        except Refused as error:
            fail(str(error))
    _print_redemption(redemption, balance, as_json=as_json)


def _settle(
    db: str | None, org: str | None, redemption_id: str, *, fulfilled: bool, by: str
) -> None:
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = _org(org, shequn.settings.default_org)
        context = shequn.context(session, org_id)
        try:
            redemption = settle_redemption(context, org_id, redemption_id, fulfilled=fulfilled,
                                           by=by)  # fmt: skip
            context.flush()
            balance = balance_of(session, org_id, redemption.member, now=context.now).balance
        except Refused as error:
            fail(str(error))
    _print_redemption(redemption, balance, as_json=False)


ByOption = Annotated[str, typer.Option(help="Who settles it (recorded).")]
RedemptionArgument = Annotated[str, typer.Argument(help="The redemption id (r-…).")]


@mall_app.command("fulfil")
def mall_fulfil(
    redemption: RedemptionArgument, db: DbOption = None, org: OrgOption = None, by: ByOption = "cli"
) -> None:
    """The item went out: its points stay spent (已发放)."""
    _settle(db, org, redemption, fulfilled=True, by=by)


@mall_app.command("cancel")
def mall_cancel(
    redemption: RedemptionArgument, db: DbOption = None, org: OrgOption = None, by: ByOption = "cli"
) -> None:
    """Call a redemption off: its points and stock come back (取消兑换)."""
    _settle(db, org, redemption, fulfilled=False, by=by)


KOC_COLUMNS = ("rank", "member", "nickname", "score", "points_90d", "effective_invites", "orders",
               "gmv", "points_pct", "invites_pct", "orders_pct", "gmv_pct")  # fmt: skip


def koc(
    db: DbOption = None,
    org: OrgOption = None,
    top: Annotated[int, typer.Option(help="How many KOCs to pick.")] = 500,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Pick KOCs (关键意见消费者) by points, effective invites and purchases, with the figures."""
    places = _top(top)
    if as_json and as_csv:
        fail("--json and --csv: choose one")
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = _org(org, shequn.settings.default_org)
        rows = koc_ranking(session, org_id, now=utc_now(), top=places)
        names = nicknames(session, org_id, [row.facts.member for row in rows])
    shown = [row.as_json(names.get(row.facts.member)) for row in rows]
    if as_json:
        print(json.dumps(shown, ensure_ascii=False))
        return
    flat = [
        {**{k: v for k, v in item.items() if k != "percentiles"},
         **{f"{k}_pct": v for k, v in item["percentiles"].items()}}
        for item in shown
    ]  # fmt: skip
    if as_csv:
        write_csv(sys.stdout, KOC_COLUMNS, flat)
        return
    table = Table(*KOC_COLUMNS[:8])
    for item in flat:
        table.add_row(*("" if item[c] is None else str(item[c]) for c in KOC_COLUMNS[:8]))
    console.print(table)


@report_app.command("points")
def report_points_command(
    db: DbOption = None,
    org: OrgOption = None,
    group: Annotated[str | None, typer.Option(help="Only members in this group now.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Points per member: balance, earned, spent in the mall, expired (积分报表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        try:
            rows = report_points(session, _org(org, shequn.settings.default_org), group=group)
        except Refused as error:
            fail(str(error))
    if as_json:
        print(json.dumps([row.as_json() for row in rows], ensure_ascii=False))
        return
    table = Table("member 成员", "balance 余额", "earned 获得", "spent 兑换", "expired 过期")
    for row in rows:
        table.add_row(row.member, str(row.balance), str(row.earned), str(row.spent),
                      str(row.expired))  # fmt: skip
    console.print(table)
