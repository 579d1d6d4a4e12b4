"""Coupons in the engine, on both databases: drops to a group, rewards, per-member limits,
redemption on order.paid in the stacking order, refusals with reasons, refunds that restore,
old-brings-new, fission coupon shares, and the CLI."""

import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.audit.service import decide
from shequn.cli.commerce import coupon_app
from shequn.commerce.mechanics import click_share, share_order
from shequn.commerce.models import Coupon, CouponUse, Order
from shequn.commerce.rules import CouponKind
from shequn.commerce.service import (
    CommerceRefusal,
    add_template,
    drop_coupons,
    issue_coupon,
)
from shequn.engine.action import ActionKind
from shequn.engine.context import Context
from shequn.engine.models import ActionRecord
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()
T = TypeVar("T")
DROP_AT = datetime.fromisoformat("2020-11-08T20:00:00+08:00")
VALID_UNTIL = datetime.fromisoformat("2020-11-12T00:00:00+08:00")


def run(shequn: Shequn, use: Callable[[Context], T], now: datetime = DROP_AT) -> T:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=now)
        result = use(context)
        context.flush()
    return result


def joined(
    n: int, member: str, *, inviter: str | None = None, group: str = "new-3"
) -> dict[str, Any]:
    data = {"group": group, "member": member, "inviter": inviter}
    return event(f"join-{n}", "member.joined", f"2020-11-07T10:{n:02d}:00", data)


def community(shequn: Shequn) -> None:
    """new-3 (owner s1): u1 brought u2 and u3; u4 came and left; u5 was pulled in by s1."""
    ingest(shequn, [
        event("g1", "group.upserted", "2020-11-07T09:00:00",
              {"group": "new-3", "name": "新群3", "store": "st1", "owner": "s1"}),
        joined(1, "u1"), joined(2, "u2", inviter="u1"), joined(3, "u3", inviter="u1"),
        joined(4, "u4"), joined(5, "u5", inviter="s1"),
        event("left-4", "member.left", "2020-11-07T11:00:00",
              {"group": "new-3", "member": "u4", "reason": "quit"}),
    ])  # fmt: skip


def templates(context: Context, *, limit: int | None = None) -> None:
    add_template(context, org="demo", template="c100", name="无门槛券",
                 kind=CouponKind.AMOUNT_OFF, amount_off=10000, valid_until=VALID_UNTIL,
                 per_member_limit=limit)  # fmt: skip
    add_template(context, org="demo", template="d45", name="全场4.5折",
                 kind=CouponKind.DISCOUNT, rate=450, valid_until=VALID_UNTIL)  # fmt: skip
    add_template(context, org="demo", template="c300", name="满300减50",
                 kind=CouponKind.AMOUNT_OFF, amount_off=5000, threshold=30000,
                 valid_until=VALID_UNTIL)  # fmt: skip


def paid(n: int, member: str, at: str, *, coupon: str | None = None, qty: int = 1,
         amount: str | None = None) -> dict[str, Any]:  # fmt: skip
    data: dict[str, Any] = {
        "order": f"o{n}", "member": member,
        "items": [{"sku": "dress", "qty": qty, "unit_price": "600.00"}],
        "amount": amount or f"{600 * qty}.00",
    }  # fmt: skip
    if coupon is not None:
        data["coupon"] = coupon
    return event(f"pay-{n}", "order.paid", at, data, source="shop")


def coupon_codes(shequn: Shequn, member: str) -> dict[str, str]:
    with shequn.sessions() as session:
        rows = session.scalars(select(Coupon).where(Coupon.member == member))
        return {row.template: row.code for row in rows}


def uses(shequn: Shequn, order: str) -> list[tuple[str, str, str | None, int]]:
    with shequn.sessions() as session:
        rows = session.scalars(
            select(CouponUse).where(CouponUse.order_id == order).order_by(CouponUse.value.desc())
        )
        return [(row.code, row.outcome, row.reason, row.value) for row in rows]


def statuses(shequn: Shequn) -> dict[str, tuple[str, str | None]]:
    with shequn.sessions() as session:
        return {row.code: (row.status, row.order_id) for row in session.scalars(select(Coupon))}


def test_a_drop_gives_each_current_member_one_coupon_except_the_flagged_and_once_per_cause(
    shequn: Shequn,
) -> None:
    community(shequn)
    run(shequn, templates)
    run(shequn, lambda context: decide(context, "demo", "u3", "kick", by="op"))
    drop = lambda context: drop_coupons(  # noqa: E731
        context, org="demo", group="new-3", template="c100", cause="day2-drop"
    )
    assert run(shequn, drop) == 3
    assert run(shequn, drop) == 0
    with shequn.sessions() as session:
        holders = sorted(session.scalars(select(Coupon.member).where(Coupon.template == "c100")))
        posts = session.scalars(
            select(ActionRecord).where(ActionRecord.kind == ActionKind.SEND_MESSAGE)
        ).all()
    assert holders == ["u1", "u2", "u5"]
    assert len(posts) == 1
    assert posts[0].group_id == "new-3"
    assert "3" in posts[0].payload["text"]
    assert "无门槛券" in posts[0].payload["text"]


def test_the_per_member_limit_refuses_a_second_reward_and_skips_holders_in_a_drop(
    shequn: Shequn,
) -> None:
    community(shequn)
    run(shequn, lambda context: templates(context, limit=1))
    first = run(shequn, lambda c: issue_coupon(c, org="demo", member="u1", template="c100",
                                               cause="fission:tier1"))  # fmt: skip
    again = run(shequn, lambda c: issue_coupon(c, org="demo", member="u1", template="c100",
                                               cause="fission:tier1"))  # fmt: skip
    refused = run(shequn, lambda c: issue_coupon(c, org="demo", member="u1", template="c100",
                                                 cause="mall:r1"))  # fmt: skip
    assert first is not None
    assert again == first
    assert refused is None
    assert run(shequn, lambda c: drop_coupons(c, org="demo", group="new-3", template="c100",
                                              cause="drop"))  == 3  # fmt: skip
    with shequn.sessions() as session:
        dms = session.scalars(
            select(ActionRecord).where(ActionRecord.kind == ActionKind.SEND_DIRECT_MESSAGE)
        ).all()
    assert [(dm.member_id, first in dm.payload["text"]) for dm in dms] == [("u1", True)]


def test_an_expired_template_issues_nothing(shequn: Shequn) -> None:
    community(shequn)
    run(shequn, templates)
    with pytest.raises(CommerceRefusal, match="expired"):
        run(shequn, lambda c: drop_coupons(c, org="demo", group="new-3", template="c100",
                                           cause="late"), now=VALID_UNTIL)  # fmt: skip
    assert statuses(shequn) == {}


def test_an_order_paid_entirely_by_coupon_keeps_the_coupon_used(shequn: Shequn) -> None:
    community(shequn)
    run(shequn, templates)
    run(shequn, lambda c: issue_coupon(c, org="demo", member="u1", template="c100", cause="day2"))
    code = coupon_codes(shequn, "u1")["c100"]
    # Nothing was paid and nothing refunded: the coupon is spent, not given back.
    ingest(shequn, [paid(1, "u1", "2020-11-11T20:31:00", coupon=code, amount="0.00")])
    assert statuses(shequn) == {code: ("redeemed", "o1")}
    ingest(shequn, [event("refund-1", "order.refunded", "2020-11-11T21:00:00", {"order": "o1"},
                          source="shop")])  # fmt: skip
    assert statuses(shequn) == {code: ("issued", None)}


def test_45_discount_and_100_off_stack_on_a_600_dress_to_170(shequn: Shequn) -> None:
    community(shequn)
    run(shequn, templates)
    for template in ("c100", "d45"):
        run(shequn, lambda c, t=template: issue_coupon(c, org="demo", member="u1", template=t,
                                                       cause="day2"))  # fmt: skip
    codes = coupon_codes(shequn, "u1")
    ingest(shequn, [paid(1, "u1", "2020-11-11T20:31:00", coupon=f"{codes['c100']},{codes['d45']}",
                         amount="170.00")])  # fmt: skip
    assert uses(shequn, "o1") == [
        (codes["d45"], "redeemed", None, 33000),
        (codes["c100"], "redeemed", None, 10000),
    ]
    assert statuses(shequn) == {codes["c100"]: ("redeemed", "o1"),
                                codes["d45"]: ("redeemed", "o1")}  # fmt: skip


def test_a_coupon_not_issued_to_the_buyer_used_expired_or_below_its_threshold_is_refused_and_the_order_counts(
    shequn: Shequn,
) -> None:
    community(shequn)
    run(shequn, templates)
    for member, template in (("u1", "c100"), ("u2", "c100"), ("u1", "d45"), ("u1", "c300")):
        run(shequn, lambda c, m=member, t=template: issue_coupon(
            c, org="demo", member=m, template=t, cause="day2"))  # fmt: skip
    mine, theirs = coupon_codes(shequn, "u1"), coupon_codes(shequn, "u2")
    ingest(shequn, [
        paid(1, "u1", "2020-11-11T20:31:00", coupon=f"{theirs['c100']}+nope", amount="600.00"),
        paid(2, "u1", "2020-11-11T20:32:00", coupon=mine["c100"], amount="500.00"),
        paid(3, "u1", "2020-11-11T20:33:00", coupon=mine["c100"], amount="600.00"),
        paid(4, "u1", "2020-11-11T20:34:00", coupon=f"{mine['d45']} {mine['c300']}",
             amount="270.00"),
        paid(5, "u2", "2020-11-12T00:00:00", coupon=theirs["c100"], amount="600.00"),
    ])  # fmt: skip
    assert sorted(uses(shequn, "o1")) == sorted(
        [(theirs["c100"], "refused", "not_yours", 0), ("nope", "refused", "not_issued", 0)]
    )
    assert uses(shequn, "o2") == [(mine["c100"], "redeemed", None, 10000)]
    assert uses(shequn, "o3") == [(mine["c100"], "refused", "used", 0)]
    assert uses(shequn, "o4") == [
        (mine["d45"], "redeemed", None, 33000),
        (mine["c300"], "refused", "below_threshold", 0),
    ]
    assert uses(shequn, "o5") == [(theirs["c100"], "refused", "expired", 0)]
    with shequn.sessions() as session:
        assert len(session.scalars(select(Order)).all()) == 5


def test_a_full_refund_within_validity_gives_the_coupons_back_and_a_partial_one_does_not(
    shequn: Shequn,
) -> None:
    community(shequn)
    run(shequn, templates)
    for member in ("u1", "u2"):
        run(shequn, lambda c, m=member: issue_coupon(c, org="demo", member=m, template="c100",
                                                     cause="day2"))  # fmt: skip
    one, two = coupon_codes(shequn, "u1")["c100"], coupon_codes(shequn, "u2")["c100"]
    ingest(shequn, [
        paid(1, "u1", "2020-11-11T20:31:00", coupon=one, qty=2, amount="1100.00"),
        paid(2, "u2", "2020-11-11T20:32:00", coupon=two, qty=2, amount="1100.00"),
        event("ref-1", "order.refunded", "2020-11-11T21:00:00", {"order": "o1"}, source="shop"),
        event("ref-2", "order.refunded", "2020-11-11T21:00:00",
              {"order": "o2", "amount": "600.00"}, source="shop"),
    ])  # fmt: skip
    assert statuses(shequn) == {one: ("issued", None), two: ("redeemed", "o2")}
    # The rest of o2 comes back after the coupon expired: it stays used.
    ingest(shequn, [event("ref-3", "order.refunded", "2020-11-12T09:00:00",
                          {"order": "o2", "amount": "500.00"}, source="shop")])  # fmt: skip
    assert statuses(shequn) == {one: ("issued", None), two: ("redeemed", "o2")}
    # The restored coupon can be used again.
    ingest(shequn, [paid(3, "u1", "2020-11-11T22:00:00", coupon=one, amount="500.00")])
    assert uses(shequn, "o3") == [(one, "redeemed", None, 10000)]


def test_a_redelivered_order_redeems_nothing_twice(shequn: Shequn) -> None:
    community(shequn)
    run(shequn, templates)
    run(shequn, lambda c: issue_coupon(c, org="demo", member="u1", template="c100", cause="d"))
    code = coupon_codes(shequn, "u1")["c100"]
    order = paid(1, "u1", "2020-11-11T20:31:00", coupon=code, amount="500.00")
    ingest(shequn, [order])
    summary = ingest(shequn, [order])
    assert summary.duplicates == 1
    assert uses(shequn, "o1") == [(code, "redeemed", None, 10000)]


def test_old_brings_new_rewards_the_first_inviter_once_at_the_invitees_first_order(
    shequn: Shequn,
) -> None:
    community(shequn)
    run(shequn, templates)
    result = runner.invoke(coupon_app, ["referral", "c300", "--org", "demo", "--db",
                                        shequn.settings.database_url])  # fmt: skip
    assert result.exit_code == 0, result.output
    ingest(shequn, [
        paid(1, "u2", "2020-11-11T20:31:00"),
        paid(2, "u2", "2020-11-11T21:31:00"),
        paid(3, "u3", "2020-11-11T20:40:00"),
        # u5 was pulled in by staff s1: staff earn sales credit, not coupons.
        paid(4, "u5", "2020-11-11T20:41:00"),
    ])  # fmt: skip
    with shequn.sessions() as session:
        rewards = session.execute(
            select(Coupon.member, Coupon.template, Coupon.cause).order_by(Coupon.cause)
        ).all()
    assert [tuple(row) for row in rewards] == [
        ("u1", "c300", "referral:u2"),
        ("u1", "c300", "referral:u3"),
    ]


def refunded(n: int, order: str, at: str, amount: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"order": order}
    if amount is not None:
        data["amount"] = amount
    return event(f"refund-{n}", "order.refunded", at, data, source="shop")


def referral_of(shequn: Shequn, invitee: str) -> tuple[str, str] | None:
    with shequn.sessions() as session:
        row = session.scalars(select(Coupon).where(Coupon.cause == f"referral:{invitee}")).first()
        return None if row is None else (row.member, row.status)


def with_referral(shequn: Shequn) -> None:
    community(shequn)
    run(shequn, templates)
    result = runner.invoke(coupon_app, ["referral", "c300", "--org", "demo", "--db",
                                        shequn.settings.database_url])  # fmt: skip
    assert result.exit_code == 0, result.output


def test_a_buy_and_full_refund_revokes_the_unused_referral_coupon_and_a_kept_order_restores_it(
    shequn: Shequn,
) -> None:
    with_referral(shequn)
    ingest(shequn, [paid(1, "u2", "2020-11-11T20:31:00")])
    assert referral_of(shequn, "u2") == ("u1", "issued")
    ingest(shequn, [refunded(1, "o1", "2020-11-11T21:00:00")])
    assert referral_of(shequn, "u2") == ("u1", "revoked")
    # u1 tries the revoked coupon anyway: refused with its reason; the order still counts.
    code = coupon_codes(shequn, "u1")["c300"]
    ingest(shequn, [paid(2, "u1", "2020-11-11T21:10:00", coupon=code)])
    assert uses(shequn, "o2") == [(code, "refused", "revoked", 0)]
    # u2 buys again and keeps it: the reward comes back, the same coupon.
    ingest(shequn, [paid(3, "u2", "2020-11-11T21:30:00")])
    assert referral_of(shequn, "u2") == ("u1", "issued")
    assert coupon_codes(shequn, "u1") == {"c300": code}


def test_a_partial_refund_or_another_kept_order_keeps_the_referral_coupon(
    shequn: Shequn,
) -> None:
    with_referral(shequn)
    ingest(shequn, [
        paid(1, "u2", "2020-11-11T20:31:00", qty=2),
        refunded(1, "o1", "2020-11-11T21:00:00", amount="600.00"),
        paid(2, "u3", "2020-11-11T20:40:00"),
        paid(3, "u3", "2020-11-11T20:50:00"),
        refunded(2, "o2", "2020-11-11T21:00:00"),
    ])  # fmt: skip
    assert referral_of(shequn, "u2") == ("u1", "issued")
    assert referral_of(shequn, "u3") == ("u1", "issued")


def test_a_referral_coupon_already_spent_stays_spent_after_the_invitees_refund(
    shequn: Shequn,
) -> None:
    with_referral(shequn)
    ingest(shequn, [paid(1, "u2", "2020-11-11T20:31:00")])
    code = coupon_codes(shequn, "u1")["c300"]
    ingest(shequn, [
        paid(2, "u1", "2020-11-11T20:45:00", coupon=code, amount="550.00"),
        refunded(1, "o1", "2020-11-11T21:00:00"),
    ])  # fmt: skip
    assert referral_of(shequn, "u2") == ("u1", "redeemed")
    assert uses(shequn, "o2") == [(code, "redeemed", None, 5000)]


@pytest.mark.parametrize("refund_first", [True, False])
def test_an_order_refunded_in_full_leaves_a_revoked_referral_whichever_arrives_first(
    shequn: Shequn, refund_first: bool
) -> None:
    with_referral(shequn)
    order, refund = paid(1, "u2", "2020-11-11T20:31:00"), refunded(1, "o1", "2020-11-11T21:00:00")
    for one in [refund, order] if refund_first else [order, refund]:
        ingest(shequn, [one])
    assert referral_of(shequn, "u2") == ("u1", "revoked")
    with shequn.sessions() as session:
        told = session.scalars(select(ActionRecord.id).where(ActionRecord.member_id == "u1"))
        # Refunded before it was known, the reward was never announced.
        assert len(told.all()) == (0 if refund_first else 1)


def test_a_fission_share_gives_the_buyer_and_each_clicker_a_random_amount_in_range(
    shequn: Shequn,
) -> None:
    community(shequn)
    run(shequn, templates)
    ingest(shequn, [paid(1, "u1", "2020-11-11T20:31:00")])
    share = lambda c: share_order(c, org="demo", order="o1", template="c100",  # noqa: E731
                                  low=500, high=2000, clicks=2)  # fmt: skip
    mine = run(shequn, share)
    assert run(shequn, share) == mine
    friends = [run(shequn, lambda c, m=m: click_share(c, org="demo", share=mine.share, member=m))
               for m in ("u2", "u3")]  # fmt: skip
    assert (
        run(shequn, lambda c: click_share(c, org="demo", share=mine.share, member="u2"))
        == (friends[0])
    )
    with pytest.raises(CommerceRefusal, match="all 2 coupons are taken"):
        run(shequn, lambda c: click_share(c, org="demo", share=mine.share, member="u5"))
    with shequn.sessions() as session:
        held = {row.member: row.amount_off for row in session.scalars(select(Coupon))}
    assert held == {"u1": mine.amount, "u2": friends[0].amount, "u3": friends[1].amount}
    assert all(500 <= amount <= 2000 for amount in held.values())


def cli(shequn: Shequn, *args: str) -> Any:
    return runner.invoke(coupon_app, [*args, "--org", "demo", "--db", shequn.settings.database_url])


def test_the_cli_defines_templates_issues_drops_and_lists_coupons(shequn: Shequn) -> None:
    community(shequn)
    assert cli(shequn, "template", "c100", "--name", "无门槛券", "--off", "100",
               "--until", "2099-11-11").exit_code == 0  # fmt: skip
    assert cli(shequn, "template", "d45", "--name", "4.5折", "--discount", "4.5").exit_code == 0
    listed = json.loads(cli(shequn, "templates", "--json").stdout)
    assert [(t["template"], t["terms"], t["valid_until"]) for t in listed] == [
        ("c100", "¥100.00 off", "2099-11-11T16:00:00+00:00"),
        ("d45", "4.5折", None),
    ]
    dropped = cli(shequn, "issue", "c100", "--group", "new-3", "--cause", "day2", "--json")
    assert json.loads(dropped.stdout) == {"group": "new-3", "issued": 4}
    given = json.loads(cli(shequn, "issue", "d45", "--member", "u1", "--json").stdout)
    coupons = json.loads(cli(shequn, "list", "--member", "u1", "--json").stdout)
    assert [(c["template"], c["status"]) for c in coupons] == [
        ("c100", "issued"),
        ("d45", "issued"),
    ]
    assert coupons[1]["code"] == given["code"]


def test_bad_coupon_input_is_refused_by_name_and_changes_nothing(shequn: Shequn) -> None:
    community(shequn)
    cases = [
        (
            ["template", "x", "--name", "x", "--off", "1", "--discount", "4.5"],
            "--off or --discount",
        ),
        (["template", "x", "--name", "x", "--discount", "12"], "between 0 and 10"),
        (["template", "x", "--name", "x", "--off", "1.005"], "--off"),
        (["template", "x", "--name", "x", "--off", "5", "--until", "2020-13-01"], "--until"),
        (["issue", "nope", "--member", "u1"], "coupon template 'nope' does not exist"),
        (["issue", "x", "--member", "u1", "--group", "new-3"], "--member or --group"),
        (["issue", "x", "--member", "u404"], "--member: 'u404' is not a known member"),
        (["referral", "nope"], "coupon template 'nope'"),
        (["click", "nope", "--member", "u1"], "share 'nope' does not exist"),
    ]
    for args, message in cases:
        result = cli(shequn, *args)
        assert result.exit_code == 1, args
        assert message in result.stderr, (args, result.stderr)
    assert statuses(shequn) == {}
    assert json.loads(cli(shequn, "templates", "--json").stdout) == []


def test_eight_concurrent_rewards_of_a_limited_coupon_issue_it_once(shequn: Shequn) -> None:
    community(shequn)
    run(shequn, lambda c: templates(c, limit=1))
    start = threading.Barrier(8)
    codes: list[str | None] = []

    def reward(cause: str) -> None:
        start.wait()
        with shequn.sessions.begin() as session:
            context = shequn.context(session, "demo", now=DROP_AT)
            codes.append(issue_coupon(context, org="demo", member="u1", template="c100",
                                      cause=cause))  # fmt: skip
            context.flush()

    # Eight friends' assists finish at once, each a different cause for the same coupon.
    threads = [threading.Thread(target=reward, args=(f"assist-{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(code is not None for code in codes) == 1
    assert len(coupon_codes(shequn, "u1")) == 1
