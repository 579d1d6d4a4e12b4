"""`shequn lottery …`: scheduled, rule-bound draws anyone can check."""

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.cli.common import DbOption, JsonOption, console, fail, opened
from shequn.cli.invite import OrgOption, instant
from shequn.kit.fonts import FontMissing, find_cjk_font
from shequn.kit.money import format_amount
from shequn.kit.time import TimeError, parse_clock, utc_now, zone
from shequn.lottery.certificate import render_certificate
from shequn.lottery.models import (
    DrawRecord,
    FulfilmentStatus,
    LotteryRecord,
    LotteryWin,
)
from shequn.lottery.proof import verify
from shequn.lottery.service import (
    LotteryError,
    UnknownDraw,
    create_lottery,
    draw_now,
    draw_summary,
    parse_prize,
    settle_nth_like,
    verify_draw,
)
from shequn.member.service import nicknames

lottery_app = typer.Typer(
    help="Lotteries (抽奖): scheduled draws with a commitment anyone can verify.",
    no_args_is_help=True,
)


@lottery_app.command("create")
def lottery_create(
    lottery: Annotated[str, typer.Argument(help="Lottery id, e.g. d11-nightly.")],
    groups: Annotated[str, typer.Option(help="Groups that draw: g1,g2 (one draw each).")],
    at: Annotated[str, typer.Option(help='First draw, local time of the org: "2026-11-07 20:30".')],
    prize: Annotated[
        list[str], typer.Option(help="NAME:COUNT[:COST], e.g. 连衣裙:1:199.00; repeat.")
    ],
    db: DbOption = None,
    org: OrgOption = None,
    days: Annotated[int, typer.Option(help="Draw on this many days, same local time.")] = 1,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    rules: Annotated[
        str | None,
        typer.Option(help="The rules in words, as announced (bound into the commitment)."),
    ] = None,
    keyword: Annotated[
        str | None,
        typer.Option(help="Only members who post this line enter, e.g. 今晚8:30,群内抽奖."),
    ] = None,
    keyword_from: Annotated[
        str, typer.Option(help="The line counts from this local time of the draw's day.")
    ] = "00:00",
    joined_before: Annotated[
        str | None, typer.Option(help="Only members who joined before (ISO 8601 with offset).")
    ] = None,
    active_today: Annotated[
        bool, typer.Option(help="Only members who posted or reacted that day.")
    ] = False,
    min_members: Annotated[
        int, typer.Option(help="Draw only once the group has this many members (0: always).")
    ] = 0,
    win_limit_days: Annotated[int, typer.Option(help="One win per member per N days.")] = 3,
    min_points: Annotated[int, typer.Option(help="Only members with at least N points.")] = 0,
    signed_in: Annotated[
        bool, typer.Option("--signed-in", help="Only members who signed in (签到) that day.")
    ] = False,
    weight_by_points: Annotated[
        bool, typer.Option(help="More points, more chances: weight = balance (at least 1).")
    ] = False,
    include_staff: Annotated[bool, typer.Option(help="Let staff enter too.")] = False,
    lang: Annotated[Literal["zh", "en"], typer.Option(help="Language of its posts.")] = "zh",
) -> None:
    """Schedule a lottery (创建抽奖): one committed draw per group and day."""
    try:
        prizes = [parse_prize(text) for text in prize]
        parse_clock(keyword_from)
    except (LotteryError, TimeError) as error:
        fail(str(error))
    if win_limit_days < 0 or min_members < 0 or min_points < 0:
        fail("--win-limit-days, --min-members and --min-points must be 0 or more")
    cutoff = instant("--joined-before", joined_before)
    pool = [group.strip() for group in groups.split(",") if group.strip()]
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        first = _local(at, context.tenant(org_id).timezone)
        prize_words = "、".join(f"{p.name}×{p.count}" for p in prizes)
        described = rules or (
            f"{prize_words};每人 {win_limit_days} 天内最多中奖 1 次"
            if lang == "zh"
            else f"{prize_words}; one win per member per {win_limit_days} days"
        )
        eligibility: dict[str, Any] = {
            "keyword": keyword, "keyword_from": keyword_from,
            "joined_before": cutoff.isoformat() if cutoff else None,
            "require_active_today": active_today, "include_staff": include_staff,
            "win_window_days": win_limit_days, "max_wins": 1, "min_members": min_members,
            "min_points": min_points, "require_sign_in": signed_in,
            "weight_by_points": weight_by_points,
        }  # fmt: skip
        try:
            draws = create_lottery(
                context, org_id, lottery_id=lottery, name=name or lottery, groups=pool,
                first=first, days=days, prizes=prizes, rules_text=described,
                eligibility=eligibility, lang=lang,
            )  # fmt: skip
        except LotteryError as error:
            fail(str(error))
        context.flush()
    table = Table("draw 抽奖编号", "group 群", "at 时间", "commitment 承诺码")
    for record in draws:
        table.add_row(record.id, record.group_id, record.freeze_text, record.commitment)
    console.print(table)


def _local(text: str, timezone: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=zone(timezone))
    except ValueError:
        fail(f'--at: {text!r} is not a local time like "2026-11-07 20:30"')


@lottery_app.command("list")
def lottery_list(db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False) -> None:
    """Lotteries and their draws (抽奖列表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        draws = session.scalars(
            select(DrawRecord)
            .where(DrawRecord.org == org_id)
            .order_by(DrawRecord.due_at, DrawRecord.id)
        ).all()
        rows = [draw_summary(record, {}) for record in draws]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("draw 抽奖编号", "lottery", "group 群", "at 时间", "status 状态", "entrants 人数")
    for row in rows:
        table.add_row(row["draw"], row["lottery"], row["group"], row["freeze_at"], row["status"],
                      "" if row["entrant_count"] is None else str(row["entrant_count"]))  # fmt: skip
    console.print(table)


@lottery_app.command("draw")
def lottery_draw(
    draw_id: Annotated[str, typer.Argument(help="Draw id (from lottery create / list).")],
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draw now if it is due and not drawn yet (抽奖), then print the result."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id, now=utc_now())
        try:
            result = draw_now(context, org_id, draw_id)
        except (UnknownDraw, LotteryError) as error:
            fail(str(error))
        context.flush()
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    console.print(f"draw 抽奖 {draw_id}: {result['status']}, {result['entrant_count']} entrants 人")
    for winner in result["winners"]:
        console.print(
            f"  {winner['rank']}. {winner['nickname'] or winner['member']} — {winner['prize']}"
        )
    if result["skip_reason"]:
        console.print(f"  skipped 未开奖: {result['skip_reason']}")
    console.print(f"  commitment 承诺码 {result['commitment']}\n  seed 种子 {result['seed']}")


@lottery_app.command("verify")
def lottery_verify(
    draw_id: Annotated[
        str | None, typer.Argument(help="Draw id; or give --file with a published record.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="A published draw record (JSON) to check on its own.")
    ] = None,
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute the winners from the published record (验证抽奖); exit 1 if anything differs."""
    if (draw_id is None) == (file is None):
        fail("give a DRAW_ID or --file, not both")
    if file is not None:
        try:
            published = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            fail(f"--file: {file} is not a readable JSON record ({error})")
        if not isinstance(published, dict):
            fail(f"--file: {file} holds no JSON object")
        problems = list(verify(published).problems)
        result: dict[str, Any] = {"draw": None, "record": published}
    else:
        with opened(db) as shequn, shequn.sessions() as session:
            org_id = org or shequn.settings.default_org
            try:
                record, problems = verify_draw(session, org_id, draw_id or "")
            except (UnknownDraw, LotteryError) as error:
                fail(str(error))
            result = {"draw": record.id, "record": record.published}
    record_json = result["record"]
    out = {
        "draw": result["draw"],
        "ok": not problems,
        "problems": problems,
        "entrant_count": len(record_json.get("entrants", [])),
        "commitment": record_json.get("commitment"),
        "seed": record_json.get("seed"),
        "winners": record_json.get("winners", []),
    }
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        for problem in problems:
            console.print(f"[red]✗[/] {problem}", highlight=False)
        console.print("VERIFIED 验证通过" if not problems else "NOT VERIFIED 验证失败")
    if problems:
        raise typer.Exit(1)


@lottery_app.command("winners")
def lottery_winners(
    db: DbOption = None,
    org: OrgOption = None,
    member: Annotated[str | None, typer.Option(help="Only this member's wins.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Wins and their fulfilment (中奖记录): pending, claimed, shipped."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        query = select(LotteryWin).where(LotteryWin.org == org_id)
        if member is not None:
            query = query.where(LotteryWin.member_id == member)
        wins = session.scalars(
            query.order_by(LotteryWin.won_at, LotteryWin.draw_id, LotteryWin.rank)
        ).all()
        rows = [
            {"draw": w.draw_id, "rank": w.rank, "member": w.member_id, "prize": w.prize,
             "cost": format_amount(w.cost), "won_at": w.won_at.isoformat(), "code": w.code,
             "status": w.status}
            for w in wins
        ]  # fmt: skip
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("code 验证码", "member 会员", "prize 奖品", "won 中奖时间", "status 状态")
    for row in rows:
        table.add_row(*(str(row[key]) for key in ("code", "member", "prize", "won_at", "status")))
    console.print(table)


def _win(session: Session, org: str, code: str) -> LotteryWin:
    win = session.scalars(
        select(LotteryWin).where(LotteryWin.org == org, LotteryWin.code == code)
    ).first()
    if win is None:
        fail(f"no win with code {code!r} in this org")
    return win


@lottery_app.command("fulfil")
def lottery_fulfil(
    code: Annotated[str, typer.Argument(help="The win's verification code.")],
    status: Annotated[FulfilmentStatus, typer.Argument(help="claimed or shipped.")],
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Mark a prize claimed or shipped (兑奖/发货)."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        win = _win(session, org_id, code)
        win.status, win.status_at = str(status), utc_now()
    console.print(f"{code}: {status}")


@lottery_app.command("certificate")
def lottery_certificate(
    code: Annotated[str, typer.Argument(help="The win's verification code.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The PNG file to write.")],
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Draw a winner's certificate (奖状): name, prize, date and verification code."""
    try:
        fonts = find_cjk_font()
    except (FontMissing, FileNotFoundError) as error:
        fail(str(error))
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        win = _win(session, org_id, code)
        draw_record = session.get(DrawRecord, win.draw_id)
        lottery = (
            None if draw_record is None
            else session.get(LotteryRecord, (org_id, draw_record.lottery))
        )  # fmt: skip
        name = nicknames(session, org_id, [win.member_id]).get(win.member_id, win.member_id)
        local = datetime.fromisoformat(draw_record.freeze_text) if draw_record else win.won_at
    png = render_certificate(
        winner=name, prize=win.prize, lottery=lottery.name if lottery else win.draw_id,
        day=local.date(), code=win.code, fonts=fonts,
    )  # fmt: skip
    try:
        output.write_bytes(png)
    except OSError as error:
        fail(f"-o: cannot write {output}: {error}")
    console.print(f"certificate 奖状 {output}")


@lottery_app.command("nth-like")
def lottery_nth_like(
    group: Annotated[str, typer.Option(help="The group the post is in.")],
    message: Annotated[str, typer.Option(help="The post's message id.")],
    n: Annotated[int, typer.Option("--n", min=1, help="The like that wins, e.g. 8.")],
    deadline: Annotated[str, typer.Option(help="When likes stop counting (ISO 8601 with offset).")],
    prize: Annotated[str, typer.Option(help="NAME[:1[:COST]], e.g. 连衣裙:1:199.00.")],
    db: DbOption = None,
    org: OrgOption = None,
    every: Annotated[bool, typer.Option(help="Every Nth like wins: N, 2N, 3N …")] = False,
    lang: Annotated[Literal["zh", "en"], typer.Option(help="Language of the result post.")] = "zh",
    as_json: JsonOption = False,
) -> None:
    """ "The Nth like wins" (第 N 个赞): count the post's likes at the deadline and post winners."""
    until = instant("--deadline", deadline)
    assert until is not None
    try:
        spec = parse_prize(prize if ":" in prize else f"{prize}:1")
    except LotteryError as error:
        fail(str(error))
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            wins = settle_nth_like(context, org_id, group=group, message=message, n=n,
                                   every=every, deadline=until, prize=spec, lang=lang)  # fmt: skip
        except LotteryError as error:
            fail(str(error))
        context.flush()
    rows = [{"position": w.position, "member": w.member, "at": w.at.isoformat()} for w in wins]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        console.print(f"#{row['position']}: {row['member']} ({row['at']})")
    if not rows:
        console.print(f"fewer than {n} likes 点赞不足")
