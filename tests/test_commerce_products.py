"""Products and their price schedules on both databases: the seed's ¥9,999 placeholder turns into
the sale price at local midnight of the org's own time zone; set_price is idempotent per cause."""

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from shequn.cli.commerce import product_app
from shequn.commerce.models import PriceChange
from shequn.commerce.rules import price_at
from shequn.commerce.service import add_product, price_schedule, set_price
from shequn.kit.time import utc_now
from shequn.org.service import save_org
from shequn.wiring import Shequn

runner = CliRunner()


def cli(shequn: Shequn, org: str, *args: str) -> Any:
    result = runner.invoke(product_app, [*args, "--org", org, "--db", shequn.settings.database_url])
    assert result.exit_code == 0, result.output
    return result


def price_list(shequn: Shequn, org: str, at: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(cli(shequn, org, "list", "--at", at, "--json").stdout)
    return listed


def orgs(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        for org, timezone in (("shanghai", "Asia/Shanghai"), ("berlin", "Europe/Berlin")):
            save_org(session, org, name=None, timezone=timezone, settings=None, now=utc_now())


def test_the_placeholder_gives_way_to_the_sale_price_at_each_orgs_own_midnight(
    shequn: Shequn,
) -> None:
    orgs(shequn)
    for org in ("shanghai", "berlin"):
        cli(shequn, org, "add", "dress", "真丝连衣裙")
        cli(shequn, org, "price", "dress", "9999", "--at", "2020-11-07")
        cli(shequn, org, "price", "dress", "600.00", "--at", "2020-11-11")
    # 2020-11-10 23:30 UTC: already the 11th in Shanghai (since 16:00 UTC) and in Berlin
    # (since 23:00 UTC); at 22:30 UTC Berlin still shows the placeholder.
    assert [row["price"] for row in price_list(shequn, "shanghai", "2020-11-10T16:00:00Z")] == [
        "600.00"
    ]
    assert [row["price"] for row in price_list(shequn, "berlin", "2020-11-10T22:59:00Z")] == [
        "9999.00"
    ]
    berlin = price_list(shequn, "berlin", "2020-11-10T23:00:00Z")
    assert berlin == [
        {
            "sku": "dress",
            "name": "真丝连衣裙",
            "price": "600.00",
            "schedule": [
                {"from": "2020-11-07T00:00:00+01:00", "price": "9999.00"},
                {"from": "2020-11-11T00:00:00+01:00", "price": "600.00"},
            ],
        }
    ]
    # Before its first price a product has none.
    assert price_list(shequn, "berlin", "2020-11-06 23:59")[0]["price"] is None


def test_scheduling_the_same_change_twice_keeps_one(shequn: Shequn) -> None:
    orgs(shequn)
    cli(shequn, "shanghai", "add", "dress", "真丝连衣裙")
    cli(shequn, "shanghai", "price", "dress", "600", "--at", "2020-11-11 00:00")
    cli(shequn, "shanghai", "price", "dress", "600", "--at", "2020-11-11")
    with shequn.sessions() as session:
        assert len(session.scalars(select(PriceChange)).all()) == 1


def test_set_price_takes_effect_at_the_contexts_now_once_per_cause(shequn: Shequn) -> None:
    now = datetime.fromisoformat("2020-11-11T00:00:00+08:00")
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=now)
        add_product(context, org="demo", sku="dress", name="真丝连衣裙")
        set_price(context, org="demo", sku="dress", price=60000, cause="playbook:day5")
        set_price(context, org="demo", sku="dress", price=60000, cause="playbook:day5")
        context.flush()
    with shequn.sessions() as session:
        schedule = price_schedule(session, "demo", "dress")
    assert [(point.effective_at, point.price) for point in schedule] == [(now, 60000)]
    assert price_at(schedule, now) == 60000


def test_bad_product_input_is_refused_by_name_and_changes_nothing(shequn: Shequn) -> None:
    orgs(shequn)
    db = ["--org", "shanghai", "--db", shequn.settings.database_url]
    cases = [
        (["price", "nope", "600"], "product 'nope' does not exist"),
        (["add", "dress", "裙", "--price", "6.001"], "--price"),
        (["price", "dress", "abc"], "PRICE"),
        (["price", "dress", "600", "--at", "2020-11-11 25:00"], "--at"),
        (["price", "dress", "600", "--at", "2020-11-11T00:00:00"], "--at"),
    ]
    for args, message in cases:
        result = runner.invoke(product_app, [*args, *db])
        assert result.exit_code == 1, args
        assert message in result.stderr, (args, result.stderr)
    assert json.loads(cli(shequn, "shanghai", "list", "--json").stdout) == []
