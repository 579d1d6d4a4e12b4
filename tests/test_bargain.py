"""Bargains (砍价) and assist tasks (助力) on both databases: friends' cuts sum exactly to the
target, one per friend; the last help needed completes; the deadline closes what is open."""

import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.cli.commerce import assist_app, bargain_app
from shequn.commerce.mechanics import assist_bargain, help_assist, open_assist, open_bargain
from shequn.commerce.models import Bargain, Coupon, FriendHelp
from shequn.commerce.rules import CouponKind, split_cut
from shequn.commerce.service import CommerceRefusal, add_product, add_template
from shequn.engine.action import ActionKind
from shequn.engine.context import Context
from shequn.engine.models import ActionRecord
from shequn.engine.scheduler import run_due_jobs
from shequn.wiring import Shequn

runner = CliRunner()
T = TypeVar("T")
OPENED = datetime.fromisoformat("2020-11-10T20:30:00+08:00")
FRIENDS = ["f1", "f2", "f3", "f4", "f5"]


def run(shequn: Shequn, use: Callable[[Context], T], now: datetime = OPENED) -> T:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=now)
        result = use(context)
        context.flush()
    return result


def bargain_600_to_270(shequn: Shequn) -> Bargain:
    """The seed's ¥600 dress, cut to its 4.5折 price of ¥270 by five friends."""
    run(shequn, lambda c: add_product(c, org="demo", sku="dress", name="真丝连衣裙"))
    return run(shequn, lambda c: open_bargain(c, org="demo", member="u1", sku="dress",
                                              start_price=60000, target_price=27000, assists=5,
                                              hours=24, seed="d11"))  # fmt: skip


def test_five_friends_cut_600_to_exactly_270_with_the_seeds_cuts(shequn: Shequn) -> None:
    bargain = bargain_600_to_270(shequn)
    cuts = [run(shequn, lambda c, f=f: assist_bargain(c, org="demo", bargain=bargain.id,
                                                      friend=f)) for f in FRIENDS]  # fmt: skip
    assert tuple(cut.amount for cut in cuts) == split_cut(33000, 5, "d11")
    assert sum(cut.amount for cut in cuts) == 33000
    assert [cut.number for cut in cuts] == [1, 2, 3, 4, 5]
    assert (cuts[-1].price, cuts[-1].status) == (27000, "succeeded")
    assert [cut.status for cut in cuts[:-1]] == ["open"] * 4
    with shequn.sessions() as session:
        told = session.scalars(
            select(ActionRecord.payload).where(
                ActionRecord.kind == ActionKind.SEND_DIRECT_MESSAGE, ActionRecord.member_id == "u1"
            )
        ).all()
    assert len(told) == 5
    assert any("砍价成功!现价 ¥270.00" in payload["text"] for payload in told)


def test_one_cut_per_friend_none_by_the_member_and_none_after_success(shequn: Shequn) -> None:
    bargain = bargain_600_to_270(shequn)
    first = run(shequn, lambda c: assist_bargain(c, org="demo", bargain=bargain.id, friend="f1"))
    again = run(shequn, lambda c: assist_bargain(c, org="demo", bargain=bargain.id, friend="f1"))
    assert again == first
    with pytest.raises(CommerceRefusal, match="their own bargain"):
        run(shequn, lambda c: assist_bargain(c, org="demo", bargain=bargain.id, friend="u1"))
    for friend in FRIENDS[1:]:
        run(shequn, lambda c, f=friend: assist_bargain(c, org="demo", bargain=bargain.id,
                                                       friend=f))  # fmt: skip
    with pytest.raises(CommerceRefusal, match="already succeeded"):
        run(shequn, lambda c: assist_bargain(c, org="demo", bargain=bargain.id, friend="f6"))
    with shequn.sessions() as session:
        stored = session.get(Bargain, ("demo", bargain.id))
        assert stored is not None
        assert (stored.cut, stored.status) == (33000, "succeeded")


def test_a_bargain_still_open_at_its_deadline_expires_with_what_was_cut(shequn: Shequn) -> None:
    bargain = bargain_600_to_270(shequn)
    cut = run(shequn, lambda c: assist_bargain(c, org="demo", bargain=bargain.id, friend="f1"))
    run_due_jobs(shequn.sessions, shequn.registry, now=OPENED + timedelta(hours=24))
    with shequn.sessions() as session:
        stored = session.get(Bargain, ("demo", bargain.id))
        assert stored is not None
        assert (stored.cut, stored.status) == (cut.amount, "expired")
    with pytest.raises(CommerceRefusal, match="already expired"):
        run(shequn, lambda c: assist_bargain(c, org="demo", bargain=bargain.id, friend="f2"))


def test_cuts_that_cannot_each_take_a_fen_are_refused(shequn: Shequn) -> None:
    run(shequn, lambda c: add_product(c, org="demo", sku="pin", name="胸针"))
    with pytest.raises(CommerceRefusal, match="--assists"):
        run(shequn, lambda c: open_bargain(c, org="demo", member="u1", sku="pin", start_price=102,
                                           target_price=100, assists=3, hours=1))  # fmt: skip


def assist_task(shequn: Shequn) -> str:
    def setup(context: Context) -> str:
        add_template(context, org="demo", template="c100", name="无门槛券",
                     kind=CouponKind.AMOUNT_OFF, amount_off=10000)  # fmt: skip
        return open_assist(context, org="demo", member="u1", template="c100", needed=3,
                           hours=24).id  # fmt: skip

    return run(shequn, setup)


def test_three_friends_helping_earn_the_member_a_100_coupon_once(shequn: Shequn) -> None:
    task = assist_task(shequn)
    for friend in ("f1", "f2", "f2", "f3"):
        done = run(shequn, lambda c, f=friend: help_assist(c, org="demo", task=task, friend=f))
    assert (done.helped, done.status) == (3, "succeeded")
    with shequn.sessions() as session:
        coupons = session.execute(select(Coupon.code, Coupon.member, Coupon.amount_off)).all()
    assert [tuple(row) for row in coupons] == [(done.coupon, "u1", 10000)]
    with pytest.raises(CommerceRefusal, match="already succeeded"):
        run(shequn, lambda c: help_assist(c, org="demo", task=task, friend="f4"))


def test_an_assist_task_short_at_its_deadline_expires_without_a_coupon(shequn: Shequn) -> None:
    task = assist_task(shequn)
    run(shequn, lambda c: help_assist(c, org="demo", task=task, friend="f1"))
    run_due_jobs(shequn.sessions, shequn.registry, now=OPENED + timedelta(days=2))
    with shequn.sessions() as session:
        assert session.scalars(select(Coupon)).all() == []
    closed = run(shequn, lambda c: help_assist(c, org="demo", task=task, friend="f1"))
    assert (closed.helped, closed.status) == (1, "expired")


def cli(shequn: Shequn, app: Any, *args: str) -> Any:
    return runner.invoke(app, [*args, "--org", "demo", "--db", shequn.settings.database_url])


def test_the_cli_opens_a_bargain_takes_cuts_and_shows_it(shequn: Shequn) -> None:
    run(shequn, lambda c: add_product(c, org="demo", sku="dress", name="真丝连衣裙"))
    opened = cli(shequn, bargain_app, "open", "--member", "u1", "--sku", "dress", "--start",
                 "600", "--target", "270", "--assists", "2", "--seed", "s", "--json")  # fmt: skip
    bargain = json.loads(opened.stdout)
    assert (bargain["start"], bargain["price"], bargain["status"]) == ("600.00", "600.00", "open")
    first, second = split_cut(33000, 2, "s")
    cut = json.loads(cli(shequn, bargain_app, "assist", bargain["bargain"], "--friend", "f1",
                         "--json").stdout)  # fmt: skip
    assert cut == {"friend": "f1", "number": 1, "cut": f"{first / 100:.2f}",
                   "price": f"{(60000 - first) / 100:.2f}", "status": "open"}  # fmt: skip
    cli(shequn, bargain_app, "assist", bargain["bargain"], "--friend", "f2")
    shown = json.loads(cli(shequn, bargain_app, "show", bargain["bargain"], "--json").stdout)
    assert (shown["price"], shown["cut"], shown["status"]) == ("270.00", "330.00", "succeeded")
    assert first + second == 33000
    bad = cli(shequn, bargain_app, "open", "--member", "u1", "--sku", "dress", "--start",
              "270", "--target", "600", "--assists", "2")  # fmt: skip
    assert (bad.exit_code, "--target must lie below --start" in bad.stderr) == (1, True)
    missing = cli(shequn, assist_app, "open", "--member", "u1", "--template", "nope",
                  "--friends", "3")  # fmt: skip
    assert "coupon template 'nope' does not exist" in missing.stderr


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_8_friends_cutting_at_once_take_each_cut_once_and_sum_exactly(shequn: Shequn) -> None:
    run(shequn, lambda c: add_product(c, org="demo", sku="dress", name="真丝连衣裙"))
    bargain = run(shequn, lambda c: open_bargain(c, org="demo", member="u1", sku="dress",
                                                 start_price=60000, target_price=27000,
                                                 assists=6, hours=24, seed="rush"))  # fmt: skip
    start = threading.Barrier(8)
    refused: list[str] = []

    def cut(friend: str) -> None:
        start.wait()
        try:
            run(shequn, lambda c: assist_bargain(c, org="demo", bargain=bargain.id, friend=friend))
        except CommerceRefusal as error:
            refused.append(error.reason)

    threads = [threading.Thread(target=cut, args=(f"f{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with shequn.sessions() as session:
        helps = session.execute(
            select(FriendHelp.number, FriendHelp.amount)
            .where(FriendHelp.target == bargain.id)
            .order_by(FriendHelp.number)
        ).all()
        stored = session.get(Bargain, ("demo", bargain.id))
        assert stored is not None
    assert refused == ["closed", "closed"]
    assert [tuple(row) for row in helps] == list(
        zip(range(1, 7), split_cut(33000, 6, "rush"), strict=True)
    )
    assert (stored.cut, stored.status) == (33000, "succeeded")
