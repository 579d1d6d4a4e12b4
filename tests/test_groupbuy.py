"""Group-buys (拼团) on both databases: a team that fills its largest tier succeeds at once, a
team at its deadline succeeds at the tier it reached or fails, and every refund owed becomes an
operator task; joins are idempotent; the CLI speaks JSON."""

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.cli.commerce import groupbuy_app, product_app
from shequn.commerce.mechanics import add_deal, join_team, open_team, team_view
from shequn.commerce.rules import Tier
from shequn.commerce.service import CommerceRefusal, add_product
from shequn.engine.action import ActionKind
from shequn.engine.context import Context
from shequn.engine.models import ActionRecord, JobRecord, JobStatus
from shequn.engine.scheduler import run_due_jobs
from shequn.wiring import Shequn

runner = CliRunner()
T = TypeVar("T")
OPENED = datetime.fromisoformat("2020-11-11T10:00:00+08:00")


def run(shequn: Shequn, use: Callable[[Context], T], now: datetime = OPENED) -> T:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=now)
        result = use(context)
        context.flush()
    return result


def offer(context: Context) -> None:
    add_product(context, org="demo", sku="dress", name="真丝连衣裙")
    add_deal(context, org="demo", deal="d11-team", sku="dress",
             tiers=[Tier(3, 9900), Tier(5, 7900)], hours=24)  # fmt: skip


def team_of(shequn: Shequn, members: list[str], *, minutes: int = 10) -> str:
    """The first member opens a team, the others join a few minutes apart."""
    run(shequn, offer)
    team = run(shequn, lambda c: open_team(c, org="demo", deal="d11-team", leader=members[0],
                                           order=f"pay-{members[0]}")).id  # fmt: skip
    for n, member in enumerate(members[1:], start=1):
        run(shequn, lambda c, m=member: join_team(c, org="demo", team=team, member=m,
                                                  order=f"pay-{m}"),
            now=OPENED + timedelta(minutes=minutes * n))  # fmt: skip
    return team


def view(shequn: Shequn, team: str) -> dict[str, Any]:
    return run(shequn, lambda c: team_view(c, "demo", team))


def refund_tasks(shequn: Shequn) -> list[tuple[str | None, str, str | None]]:
    with shequn.sessions() as session:
        tasks = session.scalars(
            select(ActionRecord)
            .where(ActionRecord.kind == ActionKind.CREATE_TASK)
            .order_by(ActionRecord.member_id)
        )
        return [(t.member_id, t.payload["refund"], t.payload["order"]) for t in tasks]


def test_a_team_that_fills_its_largest_tier_succeeds_at_once_and_each_gets_20_back(
    shequn: Shequn,
) -> None:
    team = team_of(shequn, ["u1", "u2", "u3", "u4", "u5"])
    shown = view(shequn, team)
    assert (shown["status"], shown["size"], shown["price"]) == ("succeeded", 5, "79.00")
    assert [(m["member"], m["paid"], m["refund"]) for m in shown["members"]] == [
        (member, "99.00", "20.00") for member in ("u1", "u2", "u3", "u4", "u5")
    ]
    assert refund_tasks(shequn) == [
        (m, "20.00", f"pay-{m}") for m in ("u1", "u2", "u3", "u4", "u5")
    ]
    with pytest.raises(CommerceRefusal, match="already succeeded"):
        run(shequn, lambda c: join_team(c, org="demo", team=team, member="u6"))


def test_at_its_deadline_a_team_of_4_succeeds_at_the_3_person_price(shequn: Shequn) -> None:
    team = team_of(shequn, ["u1", "u2", "u3", "u4"])
    assert view(shequn, team)["status"] == "open"
    runs = run_due_jobs(shequn.sessions, shequn.registry, now=OPENED + timedelta(hours=24))
    assert [(r.kind, r.status) for r in runs] == [("commerce.deadline", JobStatus.DONE)]
    shown = view(shequn, team)
    assert (shown["status"], shown["size"], shown["price"]) == ("succeeded", 4, "99.00")
    assert refund_tasks(shequn) == []


def test_a_team_short_at_its_deadline_fails_and_everyone_is_refunded_in_full_once(
    shequn: Shequn,
) -> None:
    team = team_of(shequn, ["u1", "u2"])
    deadline = OPENED + timedelta(hours=24)
    with pytest.raises(CommerceRefusal, match="deadline"):
        run(shequn, lambda c: join_team(c, org="demo", team=team, member="u3"), now=deadline)
    run_due_jobs(shequn.sessions, shequn.registry, now=deadline + timedelta(minutes=5))
    run_due_jobs(shequn.sessions, shequn.registry, now=deadline + timedelta(hours=1))
    assert view(shequn, team)["status"] == "failed"
    assert refund_tasks(shequn) == [("u1", "99.00", "pay-u1"), ("u2", "99.00", "pay-u2")]
    with shequn.sessions() as session:
        told = session.scalars(
            select(ActionRecord.payload).where(
                ActionRecord.kind == ActionKind.SEND_DIRECT_MESSAGE, ActionRecord.member_id == "u2"
            )
        ).all()
        jobs = session.scalars(select(JobRecord.status)).all()
    assert ["未在时限内成团(2/3 人)" in text["text"] for text in told] == [True]
    assert jobs == [JobStatus.DONE]


def test_joining_twice_counts_once(shequn: Shequn) -> None:
    team = team_of(shequn, ["u1", "u2", "u2"])
    assert view(shequn, team)["size"] == 2


def cli(shequn: Shequn, app: Any, *args: str) -> Any:
    return runner.invoke(app, [*args, "--org", "demo", "--db", shequn.settings.database_url])


def test_the_cli_offers_opens_joins_and_shows_a_team_and_refuses_bad_tiers(
    shequn: Shequn,
) -> None:
    assert cli(shequn, product_app, "add", "dress", "真丝连衣裙", "--price", "600").exit_code == 0
    for tiers, message in (
        (["5:79", "3:99"], "a larger team must pay strictly less"),
        (["3-99"], "is not SIZE:PRICE"),
        (["3:9.999"], "--tier"),
    ):
        bad = cli(shequn, groupbuy_app, "add", "d11", "--sku", "dress",
                  *[arg for tier in tiers for arg in ("--tier", tier)])  # fmt: skip
        assert bad.exit_code == 1
        assert message in bad.stderr
    added = cli(shequn, groupbuy_app, "add", "d11", "--sku", "dress", "--tier", "2:99",
                "--tier", "3:79", "--hours", "2")  # fmt: skip
    assert added.exit_code == 0, added.output
    opened = json.loads(cli(shequn, groupbuy_app, "open", "d11", "--member", "u1", "--key",
                            "k1", "--json").stdout)  # fmt: skip
    again = json.loads(cli(shequn, groupbuy_app, "open", "d11", "--member", "u1", "--key",
                           "k1", "--json").stdout)  # fmt: skip
    assert again["team"] == opened["team"]
    joined = json.loads(cli(shequn, groupbuy_app, "join", opened["team"], "--member", "u2",
                            "--json").stdout)  # fmt: skip
    assert (joined["status"], joined["size"], joined["price"]) == ("open", 2, None)
    last = cli(shequn, groupbuy_app, "join", opened["team"], "--member", "u3", "--json")
    assert json.loads(last.stdout)["price"] == "79.00"
    shown = json.loads(cli(shequn, groupbuy_app, "show", opened["team"], "--json").stdout)
    assert [(m["member"], m["refund"]) for m in shown["members"]] == [
        ("u1", "20.00"), ("u2", "20.00"), ("u3", "20.00"),
    ]  # fmt: skip
    missing = cli(shequn, groupbuy_app, "join", "nope", "--member", "u4")
    assert "group-buy team 'nope' does not exist" in missing.stderr
