"""What operators change from the command line, beyond org settings, reaches the staff log."""

import getpass
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from shequn.cli.main import app
from shequn.org.models import StaffAuditEntry
from shequn.wiring import Shequn

runner = CliRunner()


def run(shequn: Shequn, *args: str) -> None:
    result = runner.invoke(app, [*args, "--org", "demo", "--db", shequn.settings.database_url])
    assert result.exit_code == 0, result.output


def logged(shequn: Shequn) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    with shequn.sessions() as session:
        rows = session.execute(
            select(StaffAuditEntry.username, StaffAuditEntry.action, StaffAuditEntry.target,
                   StaffAuditEntry.detail).order_by(StaffAuditEntry.id)
        ).all()  # fmt: skip
    return [(username, action, target, detail) for username, action, target, detail in rows]


def test_mall_items_products_prices_and_fission_campaigns_are_logged_with_who_and_what(
    shequn: Shequn,
) -> None:
    run(shequn, "mall", "item", "add", "mug-1", "--name", "定制马克杯", "--kind", "gift",
        "--price", "300", "--stock", "20")  # fmt: skip
    run(shequn, "mall", "item", "set", "mug-1", "--price", "250", "--inactive")
    run(shequn, "product", "add", "d11-dress", "双11连衣裙", "--price", "9999.00")
    run(shequn, "product", "price", "d11-dress", "599.00", "--at", "2020-11-11")
    run(shequn, "fission", "create", "d11", "--from", "2020-11-07T14:00:00+08:00",
        "--to", "2020-11-08T00:00:00+08:00", "--tier", "3:points:100", "--groups", "new-3")  # fmt: skip
    me = getpass.getuser()
    entries = logged(shequn)
    assert [(who, action, target) for who, action, target, _ in entries] == [
        (me, "mall_item_added", "mug-1"), (me, "mall_item_changed", "mug-1"),
        (me, "product_added", "d11-dress"), (me, "price_scheduled", "d11-dress"),
        (me, "fission_created", "d11"),
    ]  # fmt: skip
    details = [detail for *_, detail in entries]
    assert details[1] == {"price": 250, "active": False}
    assert details[2] == {"name": "双11连衣裙", "price": "9999.00"}
    assert details[3] == {"price": "599.00", "from": "2020-11-11T00:00:00+08:00"}
    assert details[4]["tiers"] == [{"count": 3, "kind": "points", "name": "100 积分", "cost": 0,
                                    "points": 100}]  # fmt: skip


def test_a_refused_change_logs_nothing(shequn: Shequn) -> None:
    result = runner.invoke(app, ["mall", "item", "set", "nope", "--price", "5", "--org", "demo",
                                 "--db", shequn.settings.database_url])  # fmt: skip
    assert result.exit_code != 0
    assert logged(shequn) == []
