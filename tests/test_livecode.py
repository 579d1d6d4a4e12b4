"""Live codes (活码): a pool fills in order, and asks for a new group when every one is full."""

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.main import app
from shequn.engine.models import ActionRecord
from shequn.invite.livecode import add_pool_group, create_live_code, route_next
from shequn.invite.rules import PoolGroup, route_newcomer
from shequn.kit.time import parse_instant, utc_now
from shequn.org.service import create_token, save_org
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()
NOON = parse_instant("2020-11-07T12:00:00+08:00")


def pool_of_three(shequn: Shequn) -> None:
    ingest(shequn, [
        event(f"g-{n}", "group.upserted", "2020-11-07T08:00:00",
              {"group": f"new-{n}", "name": f"新{n}群", "capacity": 500})
        for n in (1, 2, 3)
    ])  # fmt: skip
    with shequn.sessions.begin() as session:
        create_live_code(session, "demo", code="lc-1111", groups=["new-1", "new-2", "new-3"],
                         margin=10, daily_cap=None, context=shequn.context(session, "demo"))  # fmt: skip


def fill(shequn: Shequn, group: str, count: int, *, start: int = 0) -> None:
    ingest(shequn, [
        event(f"j-{group}-{n}", "member.joined", "2020-11-07T09:00:00",
              {"group": group, "member": f"{group}-u{n}", "via": {"kind": "live_code", "code": "lc-1111"}})
        for n in range(start, start + count)
    ], batch_size=500)  # fmt: skip


def next_group(shequn: Shequn) -> tuple[str | None, str | None]:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=NOON)
        route = route_next(context, "demo", "lc-1111")
        context.flush()
    return route.group, route.task


def tasks(shequn: Shequn) -> list[dict[str, Any]]:
    with shequn.sessions() as session:
        rows = session.scalars(select(ActionRecord).where(ActionRecord.kind == "create_task"))
        return [row.payload for row in rows]


def test_a_pool_of_three_groups_of_500_with_margin_10_fills_in_order_and_asks_for_a_4th(
    shequn: Shequn,
) -> None:
    pool_of_three(shequn)
    assert next_group(shequn) == ("new-1", None)
    fill(shequn, "new-1", 489)
    assert next_group(shequn) == ("new-1", None)  # 489 of 500: one seat left above the margin
    fill(shequn, "new-1", 1, start=489)
    assert next_group(shequn) == ("new-2", None)
    fill(shequn, "new-2", 490)
    assert next_group(shequn) == ("new-3", None)
    fill(shequn, "new-3", 490)
    group, task = next_group(shequn)
    assert group is None
    assert task is not None
    [payload] = [p for p in tasks(shequn) if p.get("live_code") == "lc-1111"]
    assert payload["group_number"] == 4
    assert payload["title"]["zh"] == "活码 lc-1111 的 3 个群都满了:请开第 4 个群并加入活码。"
    # Asking again raises no second task; once the 4th group is added, newcomers go there.
    assert next_group(shequn) == (None, task)
    assert len([p for p in tasks(shequn) if "live_code" in p]) == 1
    # Each group also raised its own "nearly full" task as it reached 490.
    assert [p["member_count"] for p in tasks(shequn) if "member_count" in p] == [490, 490, 490]
    with shequn.sessions.begin() as session:
        add_pool_group(session, "demo", "lc-1111", "new-4")
    assert next_group(shequn) == ("new-4", None)


def test_a_group_that_left_room_takes_newcomers_again(shequn: Shequn) -> None:
    pool_of_three(shequn)
    fill(shequn, "new-1", 490)
    ingest(shequn, [event("l-1", "member.left", "2020-11-07T10:00:00",
                          {"group": "new-1", "member": "new-1-u0", "reason": "quit"})])  # fmt: skip
    assert next_group(shequn) == ("new-1", None)


def test_a_daily_cap_moves_newcomers_on_for_the_rest_of_the_day() -> None:
    pool = [PoolGroup("new-1", member_count=50, capacity=500, joins_today=200),
            PoolGroup("new-2", member_count=10, capacity=500, joins_today=0)]  # fmt: skip
    assert route_newcomer(pool, margin=10, daily_cap=200) == "new-2"
    assert route_newcomer(pool, margin=10, daily_cap=None) == "new-1"


def test_a_dismissed_group_takes_nobody() -> None:
    pool = [PoolGroup("old", 0, 500, 0, is_open=False), PoolGroup("new", 0, 500, 0)]
    assert route_newcomer(pool) == "new"


def test_livecode_commands_create_route_and_extend(shequn: Shequn) -> None:
    db = shequn.settings.database_url
    made = runner.invoke(app, ["livecode", "create", "lc-x", "--groups", "g1,g2", "--org", "demo",
                               "--db", db])  # fmt: skip
    assert made.exit_code == 0, made.output
    routed = runner.invoke(app, ["livecode", "next", "lc-x", "--org", "demo", "--json", "--db", db])
    assert json.loads(routed.stdout) == {"group": "g1", "task": None}
    twice = runner.invoke(app, ["livecode", "add-group", "lc-x", "g2", "--org", "demo", "--db", db])
    assert twice.exit_code == 1
    assert "group 'g2' is already in live code 'lc-x'" in twice.stderr
    unknown = runner.invoke(app, ["livecode", "next", "lc-nope", "--org", "demo", "--db", db])
    assert unknown.exit_code == 1
    assert "live code 'lc-nope' does not exist" in unknown.stderr


def test_the_api_routes_a_newcomer(shequn: Shequn) -> None:
    pool_of_three(shequn)
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=None, now=utc_now())
        token = create_token(session, "demo", name="test", now=utc_now())
    with TestClient(create_app(shequn, run_worker=False)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/v1/livecodes/lc-1111/next", headers=headers).json() == {
            "group": "new-1",
            "task": None,
        }
        assert client.post("/api/v1/livecodes/nope/next", headers=headers).status_code == 404
