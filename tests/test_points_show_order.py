"""'Show your order' (晒单) points, sign-in closed per group, and the paged history and
balances over HTTP."""

import json
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.points import points_app
from shequn.kit.time import utc_now
from shequn.org.service import create_token
from shequn.points.service import set_sign_in_open
from shequn.wiring import Shequn
from tests.conftest import event, ingest
from tests.test_points_service import (
    assert_ledger_holds,
    balances,
    configure,
    entries,
    paid,
    said,
)

runner = CliRunner()


def image(n: int, member: str, at: str, group: str = "g1") -> dict[str, Any]:
    data = {"group": group, "member": member, "message": f"img{n}", "kind": "image"}
    return event(f"img-{n}", "message.posted", at, data)


def refunded(order: str, at: str, amount: str | None = None) -> dict[str, Any]:
    data = {"order": order} if amount is None else {"order": order, "amount": amount}
    return event(f"refund-{order}-{at}", "order.refunded", at, data)


def shown(shequn: Shequn, member: str) -> list[tuple[str, int, str]]:
    return [row for row in entries(shequn, member) if "show_order:" in row[2]]


def test_an_image_after_a_paid_order_earns_once_per_order_within_its_days(
    shequn: Shequn,
) -> None:
    configure(shequn, points_message=0, points_order_per_yuan=0)
    ingest(shequn, [
        paid("o1", "u1", "2026-03-01T12:00:00", "599.00"),
        image(1, "u1", "2026-03-07T20:00:00"),  # 6 days after o1: shows it
        image(2, "u1", "2026-03-08T20:00:00"),  # o1 already shown, no other order
        paid("o2", "u1", "2026-03-08T21:00:00", "99.00"),
        image(3, "u1", "2026-03-09T09:00:00"),  # shows o2
        image(4, "u2", "2026-03-09T09:00:00"),  # no order at all
        paid("o3", "u3", "2026-03-01T12:00:00", "99.00"),
        image(5, "u3", "2026-03-08T12:00:01"),  # 7 days and a second: too late
        said(6, "u1", "2026-03-09T10:00:00", "衣服很好看"),  # text is not an image
    ])  # fmt: skip
    assert shown(shequn, "u1") == [("earn", 20, "show_order:o1"), ("earn", 20, "show_order:o2")]
    assert balances(shequn) == {"u1": 40}
    # Re-delivered, nothing more.
    ingest(shequn, [image(1, "u1", "2026-03-07T20:00:00"), image(3, "u1", "2026-03-09T09:00:00")])
    assert balances(shequn) == {"u1": 40}
    assert_ledger_holds(shequn)


def test_show_order_points_have_their_own_daily_cap_and_a_capped_order_can_be_shown_later(
    shequn: Shequn,
) -> None:
    configure(shequn, points_message=0, points_order_per_yuan=0, points_show_order_days=3)
    ingest(shequn, [
        paid("o1", "u1", "2026-03-07T09:00:00", "10.00"),
        paid("o2", "u1", "2026-03-07T10:00:00", "10.00"),
        image(1, "u1", "2026-03-07T11:00:00"),  # the latest order, o2
        image(2, "u1", "2026-03-07T12:00:00"),  # o1, but the day's 20 are earned
        image(3, "u1", "2026-03-08T08:00:00"),  # o1, the next day
    ])  # fmt: skip
    assert shown(shequn, "u1") == [("earn", 20, "show_order:o2"), ("earn", 20, "show_order:o1")]


def test_a_refunded_order_shows_nothing_and_a_refund_after_showing_takes_the_points_back(
    shequn: Shequn,
) -> None:
    configure(shequn, points_message=0, points_order_per_yuan=0)
    ingest(shequn, [
        paid("o1", "u1", "2026-03-07T09:00:00", "100.00"),
        refunded("o1", "2026-03-07T10:00:00"),
        image(1, "u1", "2026-03-07T11:00:00"),
        paid("o2", "u2", "2026-03-07T09:00:00", "100.00"),
        image(2, "u2", "2026-03-07T11:00:00"),
    ])  # fmt: skip
    assert shown(shequn, "u1") == []
    assert balances(shequn) == {"u2": 20}
    ingest(shequn, [refunded("o2", "2026-03-08T10:00:00", "100.00")])
    assert shown(shequn, "u2")[-1] == ("revoke", -20, "revoke:show_order:o2")
    assert balances(shequn) == {}
    assert_ledger_holds(shequn)


def test_sign_in_closed_in_a_group_earns_nothing_there_until_it_opens_again(
    shequn: Shequn,
) -> None:
    configure(shequn, points_message=0)
    ingest(shequn, [said(1, "u0", "2026-03-06T08:00:00", "hi", group="g2")])
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        set_sign_in_open(context, org="demo", group="g1", is_open=False)
        context.flush()
    ingest(shequn, [
        said(2, "u1", "2026-03-07T08:00:00", "签到"),
        said(3, "u2", "2026-03-07T08:00:00", "签到", group="g2"),
    ])  # fmt: skip
    assert balances(shequn) == {"u2": 5}
    result = runner.invoke(points_app, ["sign-in", "g1", "--open", "--org", "demo", "--db",
                                        shequn.settings.database_url])  # fmt: skip
    assert result.exit_code == 0, result.output
    ingest(shequn, [said(4, "u1", "2026-03-07T09:00:00", "签到")])
    assert balances(shequn) == {"u1": 5, "u2": 5}
    unknown = runner.invoke(points_app, ["sign-in", "g404", "--close", "--org", "demo", "--db",
                                         shequn.settings.database_url])  # fmt: skip
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "error: group: 'g404' is not known in this org\n",
    )


def test_history_and_balances_come_a_page_at_a_time_over_http(shequn: Shequn) -> None:
    ingest(shequn, [said(n, "u1", f"2026-03-07T10:{n:02d}:00", f"hi {n}") for n in range(5)]
           + [said(10, "u2", "2026-03-07T11:00:00", "签到"),
              said(11, "u3", "2026-03-07T11:00:00", "hi")])  # fmt: skip
    with shequn.sessions.begin() as session:
        token = create_token(session, "demo", name="test", now=utc_now())
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(shequn, run_worker=False)) as client:
        page = client.get("/api/v1/points/u1/history?limit=2&offset=3", headers=headers)
        assert page.headers["X-Total-Count"] == "5"
        assert [(row["points"], row["balance"]) for row in page.json()] == [(1, 4), (1, 5)]
        assert len(client.get("/api/v1/points/u1/history", headers=headers).json()) == 5
        balances_page = client.get("/api/v1/points?limit=2", headers=headers).json()
        assert balances_page == {"total": 3, "limit": 2, "offset": 0, "items": [
            {"member": "u1", "balance": 5}, {"member": "u2", "balance": 5}]}  # fmt: skip
        rest = client.get("/api/v1/points?limit=2&offset=2", headers=headers).json()
        assert rest["items"] == [{"member": "u3", "balance": 1}]
        too_many = client.get("/api/v1/points?limit=1001", headers=headers)
        assert too_many.status_code == 422


def test_the_history_command_pages_and_refuses_a_bad_page(shequn: Shequn) -> None:
    ingest(shequn, [said(n, "u1", f"2026-03-07T10:{n:02d}:00", f"hi {n}") for n in range(4)])
    db = shequn.settings.database_url
    page = runner.invoke(points_app, ["history", "u1", "--limit", "1", "--offset", "2", "--json",
                                      "--org", "demo", "--db", db])  # fmt: skip
    assert [(row["points"], row["balance"]) for row in json.loads(page.stdout)] == [(1, 3)]
    bad = runner.invoke(points_app, ["history", "u1", "--offset", "-1", "--org", "demo",
                                     "--db", db])  # fmt: skip
    assert (bad.exit_code, bad.stderr) == (
        1, "error: offset must be 0 or more and limit 1 or more\n",
    )  # fmt: skip
