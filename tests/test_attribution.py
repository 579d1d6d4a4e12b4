"""Order attribution on both databases: every paid order goes to a group (the one it names,
else the buyer's most recently active one), its store and owner, the staff who pulled the buyer
in, their first inviter, channel and fission campaign; refunds, partial and full, reverse it."""

import json
from datetime import datetime
from typing import Any

import typer
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.cli.commerce import report_attribution
from shequn.commerce.models import OrderAttribution
from shequn.engine.rebuild import rebuild
from shequn.fission.rules import GrantMode, RewardKind, Tier
from shequn.fission.service import create_campaign
from shequn.kit.time import utc_now
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()
COLUMNS = ("group_id", "group_source", "store", "owner", "puller", "inviter", "channel",
           "campaign", "amount", "refunded")  # fmt: skip


def group(n: int, group_id: str, store: str, owner: str) -> dict[str, Any]:
    data = {"group": group_id, "name": group_id, "store": store, "owner": owner}
    return event(f"g{n}", "group.upserted", "2020-11-01T09:00:00", data)


def joined(
    n: int, at: str, group_id: str, member: str, inviter: str | None = None
) -> dict[str, Any]:
    data = {"group": group_id, "member": member, "inviter": inviter}
    return event(f"join-{n}", "member.joined", at, data)


def said(n: int, at: str, group_id: str, member: str) -> dict[str, Any]:
    data = {"group": group_id, "member": member, "message": f"m{n}", "kind": "text"}
    return event(f"msg-{n}", "message.posted", at, data)


def paid(n: int, at: str, member: str, amount: str, **extra: str) -> dict[str, Any]:
    data = {"order": f"o{n}", "member": member, "amount": amount,
            "items": [{"sku": "dress", "qty": 1, "unit_price": amount}], **extra}  # fmt: skip
    return event(f"pay-{n}", "order.paid", at, data, source="shop")


def refunded(n: int, at: str, order: str, amount: str | None = None) -> dict[str, Any]:
    data = {"order": order} if amount is None else {"order": order, "amount": amount}
    return event(f"refund-{n}", "order.refunded", at, data, source="shop")


def seed_campaign(shequn: Shequn) -> None:
    """Day 1's fission in new-3, 2020-11-07 all day (Beijing)."""
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        create_campaign(
            context, "demo", campaign_id="d11-fission", name="双11裂变", groups=["new-3"],
            starts_at=datetime.fromisoformat("2020-11-07T00:00:00+08:00"),
            ends_at=datetime.fromisoformat("2020-11-08T00:00:00+08:00"),
            tiers=[Tier(3, RewardKind.COUPON, "¥20 券", 2000)], mode=GrantMode.ON_REACH,
        )  # fmt: skip
        context.flush()


def community(shequn: Shequn) -> None:
    """old-1 (store st1, owner s1) and new-3 (store st2, owner s2). u1 is an old fan; u1
    brought u2 into new-3 during the fission, from Douban; s2 pulled u5 in; u2 later talks in
    old-1."""
    seed_campaign(shequn)
    ingest(shequn, [
        group(1, "old-1", "st1", "s1"), group(2, "new-3", "st2", "s2"),
        joined(1, "2020-11-01T10:00:00", "old-1", "u1"),
        event("p2", "member.upserted", "2020-11-07T09:00:00",
              {"member": "u2", "nickname": "小美", "channel": "douban"}),
        joined(2, "2020-11-07T10:00:00", "new-3", "u2", inviter="u1"),
        joined(3, "2020-11-09T10:00:00", "new-3", "u5", inviter="s2"),
        said(1, "2020-11-09T12:00:00", "new-3", "u2"),
        joined(4, "2020-11-10T10:00:00", "old-1", "u2", inviter="u1"),
        said(2, "2020-11-10T12:00:00", "old-1", "u2"),
        said(3, "2020-11-10T13:00:00", "old-1", "u1"),
    ])  # fmt: skip


def attributions(shequn: Shequn) -> dict[str, tuple[Any, ...]]:
    with shequn.sessions() as session:
        rows = session.scalars(select(OrderAttribution).order_by(OrderAttribution.order_id))
        return {row.order_id: tuple(getattr(row, name) for name in COLUMNS) for row in rows}


def test_each_paid_order_is_credited_to_its_group_store_owner_puller_inviter_channel_campaign(
    shequn: Shequn,
) -> None:
    community(shequn)
    ingest(shequn, [
        paid(1, "2020-11-11T20:31:00", "u2", "600.00", group="new-3"),
        paid(2, "2020-11-11T20:32:00", "u2", "270.00"),
        paid(3, "2020-11-11T20:33:00", "u5", "600.00", staff="s9"),
        paid(4, "2020-11-11T20:34:00", "u1", "600.00", store="flagship", staff="s1"),
        paid(5, "2020-11-11T20:35:00", "stranger", "99.00"),
    ])  # fmt: skip
    assert attributions(shequn) == {
        # Named group; u2 came in the fission from Douban, brought by u1.
        "o1": ("new-3", "explicit", "st2", "s2", None, "u1", "douban", "d11-fission", 60000, 0),
        # No group named: old-1 is where u2 was last active; still the fission's member.
        "o2": ("old-1", "last_active", "st1", "s1", None, "u1", "douban", "d11-fission", 27000, 0),
        # Pulled in by staff s2 (after the fission ended): s2 is the puller, not the order's s9.
        "o3": ("new-3", "last_active", "st2", "s2", "s2", "s2", None, None, 60000, 0),
        # The order's own store wins over the group's; the salesperson it names is the puller.
        "o4": ("old-1", "last_active", "flagship", "s1", "s1", None, None, None, 60000, 0),
        "o5": (None, "none", None, None, None, None, None, None, 9900, 0),
    }


def test_refunds_reverse_the_attribution_partially_then_fully_and_may_come_first(
    shequn: Shequn,
) -> None:
    community(shequn)
    ingest(shequn, [
        paid(1, "2020-11-11T20:31:00", "u2", "1200.00", group="new-3"),
        refunded(1, "2020-11-12T10:00:00", "o1", "600.00"),
        # A refund the shop sent before its order.
        refunded(2, "2020-11-11T20:40:00", "o2", "100.00"),
    ])  # fmt: skip
    assert attributions(shequn)["o1"][-2:] == (120000, 60000)
    ingest(shequn, [paid(2, "2020-11-11T20:32:00", "u1", "600.00")])
    assert attributions(shequn)["o2"][-2:] == (60000, 10000)
    ingest(shequn, [
        refunded(3, "2020-11-13T10:00:00", "o1"),
        refunded(4, "2020-11-13T10:00:00", "o2", "600.00"),
    ])  # fmt: skip
    assert {order: row[-2:] for order, row in attributions(shequn).items()} == {
        "o1": (120000, 120000),
        "o2": (60000, 60000),
    }


def test_a_corrected_order_is_attributed_again_and_a_rebuild_keeps_what_was_decided(
    shequn: Shequn,
) -> None:
    community(shequn)
    ingest(shequn, [paid(1, "2020-11-11T20:31:00", "u2", "600.00")])
    assert attributions(shequn)["o1"][:2] == ("old-1", "last_active")
    correction = paid(1, "2020-11-11T20:31:30", "u2", "500.00", group="new-3")
    ingest(shequn, [{**correction, "id": "pay-1-corrected"}])
    stale = paid(1, "2020-11-11T20:30:00", "u2", "700.00")
    ingest(shequn, [{**stale, "id": "pay-1-stale"}])
    before = attributions(shequn)
    assert before == {
        "o1": ("new-3", "explicit", "st2", "s2", None, "u1", "douban", "d11-fission", 50000, 0),
    }
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert attributions(shequn) == before


def report(shequn: Shequn, *args: str) -> Any:
    app = typer.Typer()
    app.command()(report_attribution)
    result = runner.invoke(app, [*args, "--org", "demo", "--db", shequn.settings.database_url])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_report_attribution_sums_orders_buyers_gmv_and_refunds_by_what_was_asked(
    shequn: Shequn,
) -> None:
    community(shequn)
    ingest(shequn, [
        paid(1, "2020-11-11T20:31:00", "u2", "600.00", group="new-3"),
        paid(2, "2020-11-11T20:32:00", "u2", "270.00"),
        paid(3, "2020-11-11T20:33:00", "u5", "600.00"),
        paid(4, "2020-11-12T00:10:00", "u1", "600.00"),
        refunded(1, "2020-11-12T10:00:00", "o1", "100.00"),
    ])  # fmt: skip
    assert report(shequn, "--by", "group", "--json") == [
        {"group": "new-3", "orders": 2, "buyers": 2, "gmv": "1200.00", "refunded": "100.00",
         "net": "1100.00"},
        {"group": "old-1", "orders": 2, "buyers": 2, "gmv": "870.00", "refunded": "0.00",
         "net": "870.00"},
    ]  # fmt: skip
    # 2020-11-11 local: u1's order at 00:10 on the 12th is left out.
    assert report(shequn, "--by", "campaign", "--from", "2020-11-11", "--to", "2020-11-11",
                  "--json") == [
        {"campaign": "d11-fission", "orders": 2, "buyers": 1, "gmv": "870.00",
         "refunded": "100.00", "net": "770.00"},
        {"campaign": None, "orders": 1, "buyers": 1, "gmv": "600.00", "refunded": "0.00",
         "net": "600.00"},
    ]  # fmt: skip
    assert [row["staff"] for row in report(shequn, "--by", "staff", "--json")] == ["s2", "s1"]
