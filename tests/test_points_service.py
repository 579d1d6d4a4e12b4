"""Points in the engine: sign-ins, capped earnings, revocations, expiry, the mall, boards,
reports and KOCs, on both databases; and 16 concurrent redemptions on PostgreSQL."""

import json
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.main import app
from shequn.engine.models import ActionRecord, JobRecord
from shequn.engine.rebuild import rebuild
from shequn.engine.scheduler import run_due_jobs
from shequn.kit.ids import stable_id
from shequn.kit.time import utc_now
from shequn.org.service import create_token, save_org
from shequn.points.ledger import Entry, EntryKind, InsufficientPoints
from shequn.points.models import (
    MallItem,
    PointsBalance,
    PointsEntry,
    PointsLot,
    PointsReply,
    PointsSignIn,
)
from shequn.points.rules import Period, board
from shequn.points.service import (
    LimitReached,
    OutOfStock,
    add_item,
    adjust_points,
    expire_points,
    points_board,
    redeem,
    settle_redemption,
)
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(moment: datetime) -> str:
    """A Beijing wall-clock time as `event()` takes it."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S")


def said(
    n: int, member: str, at: str, text: str | None = None, group: str = "g1"
) -> dict[str, Any]:
    data = {"group": group, "member": member, "message": f"m{n}", "kind": "text", "text": text}
    return event(f"msg-{n}", "message.posted", at, data)


def liked(n: int, member: str, at: str, group: str = "g1") -> dict[str, Any]:
    data = {"group": group, "member": member, "message": "m0"}
    return event(f"like-{n}", "reaction.added", at, data)


def paid(
    order: str, member: str, at: str, amount: str, event_id: str | None = None
) -> dict[str, Any]:
    data = {"order": order, "member": member, "group": "g1", "amount": amount,
            "items": [{"sku": "dress", "qty": 1, "unit_price": amount}]}  # fmt: skip
    return event(event_id or f"paid-{order}", "order.paid", at, data)


def joined(member: str, at: str, inviter: str | None = None, group: str = "g1") -> dict[str, Any]:
    data = {"group": group, "member": member, "inviter": inviter}
    return event(f"join-{member}-{at}", "member.joined", at, data)


def left(member: str, at: str, reason: str = "kicked", group: str = "g1") -> dict[str, Any]:
    data = {"group": group, "member": member, "reason": reason}
    return event(f"left-{member}-{at}", "member.left", at, data)


def configure(shequn: Shequn, **settings: Any) -> None:
    with shequn.sessions.begin() as session:
        shequn.registry.tenancy.ensure(session, ["demo"], utc_now())
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=settings,
                 now=utc_now())  # fmt: skip


def balances(shequn: Shequn) -> dict[str, int]:
    with shequn.sessions() as session:
        rows = session.scalars(select(PointsBalance).where(PointsBalance.balance != 0))
        return {row.member: row.balance for row in rows}


def entries(shequn: Shequn, member: str | None = None) -> list[tuple[str, int, str]]:
    """(kind, points, key) in the order they were written."""
    with shequn.sessions() as session:
        query = select(PointsEntry).order_by(PointsEntry.id)
        if member is not None:
            query = query.where(PointsEntry.member == member)
        return [(row.kind, row.amount, row.key) for row in session.scalars(query)]


def assert_ledger_holds(shequn: Shequn) -> None:
    """Every balance is the sum of the member's entries and of their lots' remaining, >= 0."""
    with shequn.sessions() as session:
        by_entries = session.execute(
            select(PointsEntry.member, func.sum(PointsEntry.amount)).group_by(PointsEntry.member)
        ).all()
        by_lots = session.execute(
            select(PointsLot.member, func.sum(PointsLot.remaining)).group_by(PointsLot.member)
        ).all()
    summed = {member: int(total) for member, total in by_entries if total}
    assert summed == {member: int(total) for member, total in by_lots if total}
    assert summed == balances(shequn)
    assert all(total > 0 for total in summed.values())


def cli(shequn: Shequn, *args: str) -> Any:
    return runner.invoke(app, [*args, "--org", "demo", "--db", shequn.settings.database_url])


def test_a_sign_in_counts_once_per_local_day_and_2359_and_0001_are_two_days(
    shequn: Shequn,
) -> None:
    ingest(shequn, [
        said(1, "u1", "2026-03-07T23:59:00", "签到"),
        said(2, "u1", "2026-03-07T23:59:30", "打卡"),
        said(3, "u1", "2026-03-08T00:01:00", "/signin"),
        said(4, "u2", "2026-03-08T09:00:00", " ＳＩＧＮ打卡 "),
        said(5, "u2", "2026-03-08T09:01:00", "我签到了"),
    ])  # fmt: skip
    with shequn.sessions() as session:
        days = session.execute(
            select(PointsSignIn.member, PointsSignIn.day, PointsSignIn.streak)
            .order_by(PointsSignIn.member, PointsSignIn.day)
        ).all()  # fmt: skip
    assert [tuple(row) for row in days] == [
        ("u1", date(2026, 3, 7), 1), ("u1", date(2026, 3, 8), 2),
    ]  # fmt: skip
    # "我签到了" is chatter, not a sign-in: one message point.
    assert entries(shequn) == [
        ("earn", 5, "signin:u1:2026-03-07"),
        ("earn", 5, "signin:u1:2026-03-08"),
        ("earn", 1, "message:telegram:msg-4"),
        ("earn", 1, "message:telegram:msg-5"),
    ]
    assert balances(shequn) == {"u1": 10, "u2": 2}
    assert_ledger_holds(shequn)


def test_the_seventh_day_of_a_streak_earns_the_bonus_and_a_missed_day_starts_over(
    shequn: Shequn,
) -> None:
    days = [*range(1, 8), 9]
    ingest(shequn, [said(day, "u1", f"2026-03-{day:02d}T08:00:00", "签到") for day in days])
    assert [points for _, points, _ in entries(shequn)] == [5, 5, 15, 5, 5, 5, 35, 5]
    assert balances(shequn) == {"u1": 80}


def test_redelivered_events_never_earn_twice(shequn: Shequn) -> None:
    log = [
        said(1, "u1", "2026-03-07T08:00:00", "签到"),
        said(2, "u1", "2026-03-07T08:01:00", "早上好"),
        liked(1, "u2", "2026-03-07T08:02:00"),
        paid("o1", "u2", "2026-03-07T09:00:00", "99.90"),
        said(3, "u2", "2026-03-07T09:05:00", "签到"),
    ]
    ingest(shequn, log, batch_size=3)
    first = (entries(shequn), balances(shequn))
    assert first[1] == {"u1": 6, "u2": 1 + 99 + 5}
    # The same events again, in other batches; then a second sign-in the same day and the
    # order sent again as a correction under a new event id.
    summary = ingest(shequn, [*log[3:], *log[:3]], batch_size=2)
    assert (summary.accepted, summary.duplicates) == (0, 5)
    ingest(shequn, [said(9, "u1", "2026-03-07T20:00:00", "签到"),
                    paid("o1", "u2", "2026-03-07T09:00:00", "199.90", event_id="paid-o1-fix")])  # fmt: skip
    assert (entries(shequn), balances(shequn)) == first
    # The ledger is operator state: a rebuild replays projections only, and earns nothing.
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert (entries(shequn), balances(shequn)) == first
    assert_ledger_holds(shequn)


def test_chatter_and_likes_stop_at_their_daily_caps_and_orders_earn_per_yuan(
    shequn: Shequn,
) -> None:
    log = [said(n, "u1", f"2026-03-07T10:{n:02d}:00", f"hi {n}") for n in range(12)]
    log += [liked(n, "u1", f"2026-03-07T11:{n:02d}:00") for n in range(7)]
    log += [said(20, "u1", "2026-03-08T00:00:00", "new day")]
    log += [paid("o1", "u2", "2026-03-07T12:00:00", "123.45")]
    ingest(shequn, log)
    kinds: dict[str, int] = {}
    for kind, points, key in entries(shequn, "u1"):
        assert kind == "earn"
        word = key.split(":")[0]
        kinds[word] = kinds.get(word, 0) + points
    assert kinds == {"message": 11, "reaction": 5}
    assert balances(shequn) == {"u1": 16, "u2": 123}
    configure(shequn, points_message_cap=None, points_reaction=0)
    ingest(shequn, [said(30 + n, "u1", f"2026-03-09T10:{n:02d}:00", "hi") for n in range(12)]
           + [liked(30, "u1", "2026-03-09T11:00:00")])  # fmt: skip
    assert balances(shequn)["u1"] == 16 + 12


def test_a_batch_of_chatter_books_a_lot_per_message_and_one_expiry_job_per_local_day(
    shequn: Shequn,
) -> None:
    log = [said(1, "u1", "2026-03-07T09:00:00", "a"), said(2, "u2", "2026-03-07T10:00:00", "b"),
           said(3, "u1", "2026-03-07T23:59:00", "c"), said(4, "u1", "2026-03-08T00:01:00", "d")]
    ingest(shequn, log)
    ingest(shequn, log)
    first = datetime(2027, 3, 7, tzinfo=SHANGHAI).astimezone(UTC)
    second = datetime(2027, 3, 8, tzinfo=SHANGHAI).astimezone(UTC)
    with shequn.sessions() as session:
        lots = session.execute(
            select(PointsLot.id, PointsLot.member, PointsLot.earned, PointsLot.remaining,
                   PointsLot.expires_at).order_by(PointsLot.id)
        ).all()  # fmt: skip
        jobs = session.scalars(
            select(JobRecord.id).where(JobRecord.kind == "points.expire").order_by(JobRecord.id)
        ).all()
    assert [tuple(lot) for lot in lots] == [
        ("message:telegram:msg-1", "u1", 1, 1, first),
        ("message:telegram:msg-2", "u2", 1, 1, first),
        ("message:telegram:msg-3", "u1", 1, 1, first),
        ("message:telegram:msg-4", "u1", 1, 1, second),
    ]
    assert jobs == sorted(
        stable_id("points-expire", "demo", moment.isoformat()) for moment in (first, second)
    )
    assert entries(shequn) == [("earn", 1, f"message:telegram:msg-{n}") for n in (1, 2, 3, 4)]
    assert balances(shequn) == {"u1": 3, "u2": 1}
    assert_ledger_holds(shequn)


def test_a_kick_takes_back_what_the_member_had_and_the_audit_flagged_earn_nothing(
    shequn: Shequn,
) -> None:
    ingest(shequn, [
        joined("u1", "2026-03-07T08:00:00"),
        said(1, "u1", "2026-03-07T08:01:00", "签到"),
        said(2, "u1", "2026-03-07T08:02:00", "hello"),
        left("u1", "2026-03-07T09:00:00"),
        # Re-added at night: what they earn from here on is theirs.
        joined("u1", "2026-03-07T22:00:00"),
        said(3, "u1", "2026-03-07T22:01:00", "thanks"),
    ])  # fmt: skip
    assert entries(shequn, "u1") == [
        ("earn", 5, "signin:u1:2026-03-07"),
        ("earn", 1, "message:telegram:msg-2"),
        ("earn", 1, "message:telegram:msg-3"),
        ("revoke", -5, "revoke:signin:u1:2026-03-07"),
        ("revoke", -1, "revoke:message:telegram:msg-2"),
    ]
    assert balances(shequn) == {"u1": 1}
    stock = {"url": "https://img.example/stock.jpg", "flags": ["stock_photo"]}
    fake = event("p-u9", "member.upserted", "2026-03-07T10:00:00",
                 {"member": "u9", "nickname": "A00微商货源", "avatar": stock})  # fmt: skip
    ingest(shequn, [fake, said(4, "u9", "2026-03-07T10:01:00", "签到"),
                    said(5, "u9", "2026-03-07T10:02:00", "加我微信")])  # fmt: skip
    assert entries(shequn, "u9") == []
    configure(shequn, points_revoke_on_kick=False)
    ingest(
        shequn, [said(6, "u2", "2026-03-07T11:00:00", "签到"), left("u2", "2026-03-07T12:00:00")]
    )
    assert balances(shequn) == {"u1": 1, "u2": 5}
    assert_ledger_holds(shequn)


def test_a_member_flagged_later_loses_their_points_at_the_rescore(shequn: Shequn) -> None:
    ingest(shequn, [said(1, "u9", "2026-03-07T08:00:00", "签到")])
    assert balances(shequn) == {"u9": 5}
    stock = {"url": "https://img.example/stock.jpg", "flags": ["stock_photo"]}
    ingest(shequn, [event("p-u9", "member.upserted", "2026-03-07T10:00:00",
                          {"member": "u9", "nickname": "A00微商货源", "avatar": stock})])  # fmt: skip
    assert balances(shequn) == {}
    assert entries(shequn, "u9")[-1] == ("revoke", -5, "revoke:signin:u9:2026-03-07")


def test_a_flagged_member_cleared_in_a_batch_earns_from_then_on_as_a_rebuild_says(
    shequn: Shequn,
) -> None:
    stock = {"url": "https://img.example/stock.jpg", "flags": ["stock_photo"]}
    ingest(shequn, [event("p-u9", "member.upserted", "2026-03-07T10:00:00",
                          {"member": "u9", "nickname": "A00微商货源", "avatar": stock}),
                    said(1, "u9", "2026-03-07T10:01:00", "hello")])  # fmt: skip
    assert entries(shequn, "u9") == []
    # The next batch clears the profile first: the message after it earns, as the audit's
    # case stands at that message, not as it stood before the batch.
    ingest(shequn, [event("p-u9b", "member.upserted", "2026-03-07T11:00:00",
                          {"member": "u9", "nickname": "小王",
                           "avatar": {"url": "https://img.example/me.jpg"}}),
                    said(2, "u9", "2026-03-07T11:01:00", "hello again")])  # fmt: skip
    live = entries(shequn, "u9")
    assert live == [("earn", 1, "message:telegram:msg-2")]
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert entries(shequn, "u9") == live


def test_the_expiry_job_writes_compensating_entries_once(shequn: Shequn) -> None:
    ingest(shequn, [said(1, "u1", "2025-01-15T08:00:00", "签到"),
                    said(2, "u1", "2025-01-16T08:00:00", "签到")])  # fmt: skip
    # Earned on 15 Jan 2025: spendable through 14 Jan 2026, expired at 00:00 on the 15th and
    # taken by the job at 00:05.
    due = datetime(2026, 1, 15, 0, 5, tzinfo=SHANGHAI)
    expiry = datetime(2026, 1, 15, tzinfo=SHANGHAI).astimezone(UTC)
    with shequn.sessions() as session:
        job = session.get(JobRecord, stable_id("points-expire", "demo", expiry.isoformat()))
        assert job is not None
        assert (job.kind, job.due_at) == ("points.expire", due.astimezone(UTC))
    runs = run_due_jobs(shequn.sessions, shequn.registry, now=due, limit=1000)
    assert [(run.kind, run.status) for run in runs if run.kind == "points.expire"] == [
        ("points.expire", "done")
    ]
    assert entries(shequn, "u1")[-1] == ("expire", -5, "expire:signin:u1:2025-01-15")
    assert balances(shequn) == {"u1": 5}
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=due + timedelta(hours=1))
        again = expire_points(context, "demo")
        context.flush()
    assert (again.lots, again.points) == (0, 0)
    assert len(entries(shequn, "u1")) == 3
    assert_ledger_holds(shequn)


def recent(days: float = 1) -> str:
    return local(utc_now() - timedelta(days=days))


def item(shequn: Shequn, sku: str, *, price: int, stock: int, limit: int | None = None) -> None:
    with shequn.sessions.begin() as session:
        shequn.registry.tenancy.ensure(session, ["demo"], utc_now())
        add_item(session, "demo", sku, name=sku, kind="gift", price=price, stock=stock,
                 limit=limit, now=utc_now())  # fmt: skip


def grant(shequn: Shequn, member: str, points: int) -> None:
    data = {
        "group": "g1",
        "member": member,
        "message": f"hi-{member}",
        "kind": "text",
        "text": "hi",
    }
    ingest(shequn, [event(f"hello-{member}", "message.posted", recent(), data)])
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        adjust_points(context, "demo", member, points - 1, reason="welcome gift", by="小王")
        context.flush()


def stock_of(shequn: Shequn, sku: str) -> int:
    with shequn.sessions() as session:
        found = session.get(MallItem, ("demo", sku))
        assert found is not None
        return found.stock


def test_a_redemption_holds_points_and_stock_then_is_fulfilled_or_cancelled(
    shequn: Shequn,
) -> None:
    grant(shequn, "u1", 100)
    added = cli(shequn, "mall", "item", "add", "mug", "--name", "定制马克杯", "--kind", "gift",
                "--price", "30", "--stock", "2")  # fmt: skip
    assert added.exit_code == 0, added.output
    first = cli(shequn, "mall", "redeem", "u1", "mug", "--json")
    assert first.exit_code == 0, first.output
    held = json.loads(first.stdout)
    assert (held["status"], held["points"], held["balance"]) == ("held", 30, 70)
    assert stock_of(shequn, "mug") == 1
    second = json.loads(cli(shequn, "mall", "redeem", "u1", "mug", "--json").stdout)
    assert stock_of(shequn, "mug") == 0
    sold_out = cli(shequn, "mall", "redeem", "u1", "mug", "--json")
    assert sold_out.exit_code == 1
    assert "mall item 'mug' is out of stock" in sold_out.stderr
    assert cli(shequn, "mall", "fulfil", held["redemption"], "--by", "小王").exit_code == 0
    cancelled = cli(shequn, "mall", "cancel", second["redemption"])
    assert cancelled.exit_code == 0, cancelled.output
    assert balances(shequn) == {"u1": 70}
    assert stock_of(shequn, "mug") == 1
    # Settling twice the same way changes nothing; the other way is refused.
    assert cli(shequn, "mall", "cancel", second["redemption"]).exit_code == 0
    refused = cli(shequn, "mall", "fulfil", second["redemption"])
    assert refused.exit_code == 1
    assert "was cancelled" in refused.stderr
    assert cli(shequn, "mall", "cancel", held["redemption"]).exit_code == 1
    assert balances(shequn) == {"u1": 70}
    assert stock_of(shequn, "mug") == 1
    report = json.loads(cli(shequn, "report", "points", "--json").stdout)
    assert report == [{"member": "u1", "balance": 70, "earned": 1, "spent": 30, "expired": 0}]
    assert_ledger_holds(shequn)


def test_the_per_member_limit_counts_held_and_fulfilled_redemptions(shequn: Shequn) -> None:
    grant(shequn, "u1", 100)
    item(shequn, "tea", price=10, stock=10, limit=1)
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        first = redeem(context, "demo", "u1", "tea")
    with (
        pytest.raises(LimitReached, match="limit reached: 1 of 'tea' per member"),
        shequn.sessions.begin() as session,
    ):
        redeem(shequn.context(session, "demo"), "demo", "u1", "tea")
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        settle_redemption(context, "demo", first.id, fulfilled=False, by="小王")
        redeem(context, "demo", "u1", "tea")
    assert balances(shequn) == {"u1": 90}
    assert stock_of(shequn, "tea") == 9


def test_bad_input_is_refused_by_name_and_nothing_changes(shequn: Shequn) -> None:
    grant(shequn, "u1", 20)
    item(shequn, "mug", price=30, stock=1)
    before = (entries(shequn), balances(shequn), stock_of(shequn, "mug"))
    cases = [
        (("points", "adjust", "u404", "+5", "--reason", "x", "--by", "me"),
         "member 'u404' is not known in this org"),
        (("points", "adjust", "u1", "lots", "--reason", "x", "--by", "me"),
         "points: 'lots' is not a whole number like +50 or -20"),
        (("points", "adjust", "u1", "-50", "--reason", "oops", "--by", "me"),
         "50 points wanted, 20 spendable"),
        (("points", "adjust", "u1", "+5", "--reason", " ", "--by", "me"), "--reason"),
        (("points", "adjust", "u1", "expire:x", "--reason", "x", "--by", "me"), "points:"),
        (("points", "balance", "u404"), "member 'u404' is not known"),
        (("points", "board", "--period", "month"), "--period: 'month' is not one of day, week, all"),
        (("points", "board", "--group", "g404"), "group 'g404' is not known"),
        (("points", "board", "--top", "0"), "--top: 0 must be 1 or more"),
        (("mall", "item", "add", "car", "--name", "车", "--kind", "car", "--price", "5",
          "--stock", "1"), "--kind: 'car' is not one of gift, coupon, service"),
        (("mall", "item", "add", "pen", "--name", "笔", "--kind", "gift", "--price", "0",
          "--stock", "1"), "--price: 0 must be 1 point or more"),
        (("mall", "item", "add", "mug", "--name", "杯", "--kind", "gift", "--price", "5",
          "--stock", "1"), "sku: 'mug' already exists"),
        (("mall", "redeem", "u1", "sofa"), "mall item 'sofa' does not exist"),
        (("mall", "redeem", "u1", "mug"), "insufficient points: 30 points wanted, 20 spendable"),
        (("mall", "cancel", "r-nope"), "redemption 'r-nope' does not exist"),
        (("report", "points", "--group", "g404"), "group 'g404' is not known"),
        (("koc", "--json", "--csv"), "--json and --csv: choose one"),
        (("points", "configure", "--message-cap", "lots"), "--message-cap: 'lots'"),
        (("points", "configure", "--sign-in-bonus", "9:5"), "points_sign_in_bonuses"),
        (("points", "configure", "--lang", "fr"), "points_lang: 'fr' is not zh or en"),
    ]  # fmt: skip
    for args, message in cases:
        result = cli(shequn, *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
    assert (entries(shequn), balances(shequn), stock_of(shequn, "mug")) == before


def test_report_points_prints_exactly_balance_earned_spent_and_expired(shequn: Shequn) -> None:
    ingest(shequn, [paid("o1", "u1", recent(), "150.00"),
                    said(1, "u2", "2025-01-15T08:00:00", "签到")])  # fmt: skip
    item(shequn, "mug", price=30, stock=5)
    assert cli(shequn, "mall", "redeem", "u1", "mug").exit_code == 0
    assert cli(shequn, "points", "expire").exit_code == 0
    result = cli(shequn, "report", "points", "--json")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        '[{"member": "u1", "balance": 120, "earned": 150, "spent": 30, "expired": 0}, '
        '{"member": "u2", "balance": 0, "earned": 5, "spent": 0, "expired": 5}]\n'
    )
    ingest(shequn, [joined("u1", recent(0.5), group="g2")])
    only = json.loads(cli(shequn, "report", "points", "--group", "g2", "--json").stdout)
    assert only == [{"member": "u1", "balance": 120, "earned": 150, "spent": 30, "expired": 0}]


def test_boards_count_what_the_rules_count_per_group_and_period(shequn: Shequn) -> None:
    ingest(shequn, [
        said(1, "u1", "2026-03-02T08:00:00", "签到"),
        said(2, "u2", "2026-03-03T08:00:00", "签到", group="g2"),
        said(3, "u2", "2026-03-03T08:01:00", "hi", group="g2"),
        said(4, "u3", "2026-03-04T08:00:00", "签到"),
        liked(1, "u3", "2026-03-04T08:01:00"),
        said(5, "u1", "2026-03-09T08:00:00", "签到"),
        left("u3", "2026-03-09T09:00:00"),
    ])  # fmt: skip
    at = datetime(2026, 3, 4, 20, 0, tzinfo=SHANGHAI)
    with shequn.sessions() as session:
        ledger = [
            Entry(r.key, r.member, EntryKind(r.kind), r.amount, r.at, r.lot, r.reason)
            for r in session.scalars(select(PointsEntry).order_by(PointsEntry.id))
        ]
        for period in Period:
            shown = points_board(session, "demo", period=period, at=at, timezone="Asia/Shanghai")
            assert [(row.member, row.points) for row in shown] == board(
                ledger, period=period, at=at, timezone="Asia/Shanghai"
            )
        week = points_board(session, "demo", period=Period.WEEK, at=at, timezone="Asia/Shanghai")
        in_g2 = points_board(session, "demo", period=Period.ALL, at=at, timezone="Asia/Shanghai",
                             group="g2")  # fmt: skip
    # u3's points were revoked by the kick: off the board. A tie goes to who got there first.
    assert [(r.rank, r.member, r.points) for r in week] == [(1, "u2", 6), (2, "u1", 5)]
    assert [(r.member, r.points) for r in in_g2] == [("u2", 6)]


def test_chat_commands_in_one_window_get_one_reply(shequn: Shequn) -> None:
    ingest(shequn, [
        said(1, "u1", "2026-03-07T08:00:01", "签到"),
        said(2, "u2", "2026-03-07T08:00:20", "签到"),
        said(3, "u1", "2026-03-07T08:00:30", "签到"),
        said(4, "u3", "2026-03-07T08:00:40", "积分"),
        said(5, "u2", "2026-03-07T08:00:50", "/rank@shequn_bot"),
        said(6, "u1", "2026-03-07T08:01:10", "/points"),
        said(7, "u1", "2026-03-07T08:01:20", "签到"),
        event("p-u1", "member.upserted", "2026-03-07T07:00:00", {"member": "u1", "nickname": "小美"}),
    ])  # fmt: skip
    window_end = datetime(2026, 3, 7, 8, 1, tzinfo=SHANGHAI)
    with shequn.sessions() as session:
        jobs = session.scalars(select(JobRecord).where(JobRecord.kind == "points.reply")).all()
    assert sorted(job.due_at for job in jobs) == [
        window_end.astimezone(UTC),
        (window_end + timedelta(minutes=1)).astimezone(UTC),
    ]
    run_due_jobs(shequn.sessions, shequn.registry, now=window_end + timedelta(minutes=2))
    with shequn.sessions() as session:
        replies = session.scalars(
            select(ActionRecord).where(ActionRecord.cause.startswith("job:"))
            .order_by(ActionRecord.created_at, ActionRecord.id)
        ).all()  # fmt: skip
        assert session.scalars(select(PointsReply)).all() == []
    texts = sorted((reply.payload["text"], tuple(reply.payload["mentions"])) for reply in replies)
    # One message per group and minute; a member asking twice in it is answered once.
    assert texts == [
        ("小美 当前积分 5\n小美 今天已签到,连续 1 天", ("u1",)),
        ("小美 签到成功 +5 积分,连续 1 天\n"
         "u2 签到成功 +5 积分,连续 1 天\n"
         "u3 当前积分 0\n"
         "u2 本周排名第 2(5 积分)\n"
         "本周积分榜:1. 小美 5 · 2. u2 5", ("u1", "u2", "u3")),
    ]  # fmt: skip


def test_an_inviter_earns_for_each_newcomer_still_in_after_their_first_day(
    shequn: Shequn,
) -> None:
    ingest(shequn, [
        joined("A", "2026-03-06T08:00:00"),
        joined("u2", "2026-03-07T10:00:00", inviter="A"),
        joined("u3", "2026-03-07T10:05:00", inviter="A"),
        left("u3", "2026-03-07T10:30:00", reason="quit"),
        joined("u4", "2026-03-07T23:59:00", inviter="u2"),
    ])  # fmt: skip
    # The newcomers' first day is not over in the log yet: nobody is credited.
    assert balances(shequn) == {}
    ingest(shequn, [said(1, "u9", "2026-03-08T00:30:00", "早")])
    assert balances(shequn) == {"A": 20, "u2": 20, "u9": 1}
    assert entries(shequn, "A") == [("earn", 20, "invite:u2")]
    # With no events after a newcomer's first day, the daily job (or `points expire`) settles.
    ingest(shequn, [joined("u5", "2026-03-09T10:00:00", inviter="A")])
    expired = cli(shequn, "points", "expire", "--json")
    assert json.loads(expired.stdout) == {"lots": 0, "expired": 0, "revoked": 0, "invites": 1}
    assert cli(shequn, "points", "expire", "--json").stdout.strip().endswith('"invites": 0}')
    # A kick ends the credit for good: the inviter's points for that newcomer go.
    ingest(shequn, [left("u4", "2026-03-10T10:00:00")])
    assert balances(shequn) == {"A": 40, "u9": 1}
    assert entries(shequn, "u2")[-1] == ("revoke", -20, "revoke:invite:u4")
    assert_ledger_holds(shequn)


def test_koc_ranks_members_with_the_figures_behind_each_rank(shequn: Shequn) -> None:
    ingest(shequn, [
        joined("A", recent(5)), joined("B", recent(5)), joined("C", recent(5)),
        joined("u1", recent(4), inviter="A"), joined("u2", recent(4), inviter="A"),
        paid("o1", "B", recent(3), "600.00"), paid("o2", "B", recent(3), "100.00"),
        said(1, "C", recent(2), "签到"),
    ])  # fmt: skip
    result = cli(shequn, "koc", "--top", "2", "--json")
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.stdout)
    assert [(row["rank"], row["member"]) for row in ranked] == [(1, "B"), (2, "A")]
    assert {k: v for k, v in ranked[0].items() if k not in ("score", "percentiles")} == {
        "rank": 1, "member": "B", "nickname": None, "points_90d": 700,
        "effective_invites": 0, "orders": 2, "gmv": "700.00",
    }  # fmt: skip
    assert ranked[1]["effective_invites"] == 2
    table = cli(shequn, "koc", "--csv").stdout.splitlines()
    assert table[0] == ("rank,member,nickname,score,points_90d,effective_invites,orders,gmv,"
                        "points_pct,invites_pct,orders_pct,gmv_pct")  # fmt: skip
    assert len(table) == 1 + 5


def test_the_api_shows_points_and_redeems_with_409_naming_the_reason(shequn: Shequn) -> None:
    grant(shequn, "u1", 40)
    item(shequn, "mug", price=30, stock=1)
    item(shequn, "pen", price=5, stock=5, limit=1)
    with shequn.sessions.begin() as session:
        token = create_token(session, "demo", name="test", now=utc_now())
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(shequn, run_worker=False)) as client:
        shown = client.get("/api/v1/points/u1", headers=headers).json()
        assert (shown["balance"], shown["spendable"], len(shown["lots"])) == (40, 40, 2)
        assert client.get("/api/v1/points/u404", headers=headers).status_code == 404
        assert [i["sku"] for i in client.get("/api/v1/mall/items", headers=headers).json()] == [
            "mug", "pen",
        ]  # fmt: skip
        made = client.post("/api/v1/mall/redemptions", headers=headers,
                           json={"member": "u1", "sku": "mug", "key": "order-1"})  # fmt: skip
        assert made.status_code == 201, made.text
        assert (made.json()["status"], made.json()["balance"]) == ("held", 10)
        retried = client.post("/api/v1/mall/redemptions", headers=headers,
                              json={"member": "u1", "sku": "mug", "key": "order-1"})  # fmt: skip
        assert retried.json()["redemption"] == made.json()["redemption"]
        refusals = [
            ({"member": "u1", "sku": "mug"}, "out_of_stock"),
            ({"member": "u1", "sku": "pen"}, None),
            ({"member": "u1", "sku": "pen"}, "limit_reached"),
        ]
        for body, reason in refusals:
            answer = client.post("/api/v1/mall/redemptions", headers=headers, json=body)
            if reason is None:
                assert answer.status_code == 201
            else:
                assert answer.status_code == 409
                assert answer.json()["detail"]["reason"] == reason
        item(shequn, "hat", price=30, stock=1)
        poor = client.post("/api/v1/mall/redemptions", headers=headers,
                           json={"member": "u1", "sku": "hat"})  # fmt: skip
        assert (poor.status_code, poor.json()["detail"]) == (409, {
            "reason": "insufficient_points", "message": "30 points wanted, 5 spendable"})  # fmt: skip
        history = client.get("/api/v1/points/u1/history", headers=headers).json()
        assert [row["balance"] for row in history] == [1, 40, 39, 10, 5]
        assert client.get("/api/v1/points/u1").status_code == 401


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_16_concurrent_redemptions_against_one_balance_never_overspend_or_oversell(
    shequn: Shequn,
) -> None:
    grant(shequn, "u1", 100)
    grant(shequn, "u2", 100)
    item(shequn, "mug", price=30, stock=100)
    item(shequn, "pin", price=5, stock=3)
    outcomes: list[str] = []

    def run(member: str, sku: str) -> None:
        outcomes.clear()
        start = threading.Barrier(16)

        def attempt() -> None:
            start.wait()
            try:
                with shequn.sessions.begin() as session:
                    redeem(shequn.context(session, "demo"), "demo", member, sku)
                outcomes.append("ok")
            except (InsufficientPoints, OutOfStock) as error:
                outcomes.append(type(error).__name__)

        threads = [threading.Thread(target=attempt) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # The balance runs out first: floor(100 / 30) succeed.
    run("u1", "mug")
    assert sorted(outcomes) == ["InsufficientPoints"] * 13 + ["ok"] * 3
    assert stock_of(shequn, "mug") == 97
    # The stock runs out first: never sold beyond it.
    run("u2", "pin")
    assert sorted(outcomes) == ["OutOfStock"] * 13 + ["ok"] * 3
    assert stock_of(shequn, "pin") == 0
    assert balances(shequn) == {"u1": 10, "u2": 85}
    assert_ledger_holds(shequn)
