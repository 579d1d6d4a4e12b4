"""Fission tiers that pay points: the tier syntax that says so, and the ledger paid once per
grant, nothing to staff or the crew, and taken back when the inviter is flagged."""

import json

import pytest
from typer.testing import CliRunner

from shequn.cli.fission import fission_app
from shequn.fission.rules import GrantMode, RewardKind, Tier, parse_tier, tiers_of
from shequn.fission.service import create_campaign
from shequn.wiring import Shequn
from tests.conftest import event, ingest
from tests.test_fission import END, START, grants, pulls, run_jobs
from tests.test_points_service import assert_ledger_holds, balances, configure, entries

runner = CliRunner()
POINTS_50 = Tier(3, RewardKind.POINTS, "50 积分", 0, 50)
DRESS_AND_30 = Tier(5, RewardKind.GIFT, "连衣裙", 19900, 30)


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        ("3:points:50", POINTS_50),
        ("5:gift:连衣裙:199.00:30", DRESS_AND_30),
        ("3:points:签到大礼包:0:50", Tier(3, RewardKind.POINTS, "签到大礼包", 0, 50)),
        # The old syntax keeps its meaning: a reward, no points paid.
        ("3:coupon:¥20券:20.00", Tier(3, RewardKind.COUPON, "¥20券", 2000, 0)),
        ("3:points:积分礼:5.00", Tier(3, RewardKind.POINTS, "积分礼", 500, 0)),
    ],
)
def test_a_tier_can_say_how_many_points_it_pays(text: str, tier: Tier) -> None:
    assert parse_tier(text) == tier
    assert tiers_of([parse_tier(text).as_json()]) == [tier]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("3:points:0", "the points must be a whole number of 1 or more"),
        ("3:points:lots", "the points must be a whole number of 1 or more"),
        ("3:gift:连衣裙:199.00:-5", "the points must be a whole number of 1 or more"),
        ("3:coupon:50", "or COUNT:KIND:NAME:COST:N to pay N points too"),
        ("3:gift:a:1:2:3", "write COUNT:KIND:NAME:COST"),
    ],
)
def test_a_bad_points_tier_is_refused_with_its_reason(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_tier(text)


def test_a_campaign_stored_before_tiers_had_points_pays_none() -> None:
    stored = [{"count": 3, "kind": "coupon", "name": "¥20 券", "cost": 2000}]
    assert tiers_of(stored) == [Tier(3, RewardKind.COUPON, "¥20 券", 2000)]
    assert Tier(3, RewardKind.COUPON, "¥20 券", 2000).as_json() == stored[0]


def points_campaign(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=START)
        create_campaign(context, "demo", campaign_id="d11", name="双11裂变", groups=["new-3"],
                        starts_at=START, ends_at=END, tiers=[POINTS_50, DRESS_AND_30],
                        mode=GrantMode.ON_REACH)  # fmt: skip
        context.flush()


def fission_entries(shequn: Shequn, member: str) -> list[tuple[str, int]]:
    return [(kind, points) for kind, points, key in entries(shequn, member) if "fission:" in key]


def test_reaching_a_points_tier_pays_the_ledger_once_and_a_flag_takes_it_back(
    shequn: Shequn,
) -> None:
    points_campaign(shequn)
    ingest(shequn, pulls("A", 5))
    run_jobs(shequn, at="2020-11-07T10:10:00+08:00")
    assert [(inviter, tier) for inviter, tier, _, _ in grants(shequn)] == [("A", 3), ("A", 5)]
    assert fission_entries(shequn, "A") == [("earn", 50), ("earn", 30)]
    # Recounts and the final settlement grant nothing twice, so pay nothing twice.
    ingest(shequn, pulls("A", 6)[5:])
    run_jobs(shequn, at="2020-11-08T00:10:00+08:00")
    assert fission_entries(shequn, "A") == [("earn", 50), ("earn", 30)]
    assert balances(shequn)["A"] == 80
    stock = {"url": "https://img.example/stock.jpg", "flags": ["stock_photo"]}
    ingest(shequn, [event("p-A", "member.upserted", "2020-11-08T09:00:00",
                          {"member": "A", "nickname": "A00微商货源", "avatar": stock})])  # fmt: skip
    assert sorted(fission_entries(shequn, "A")) == [
        ("earn", 30), ("earn", 50), ("revoke", -50), ("revoke", -30),
    ]  # fmt: skip
    assert "A" not in balances(shequn)
    assert_ledger_holds(shequn)


def test_the_crew_is_granted_the_tier_but_paid_no_points(shequn: Shequn) -> None:
    configure(shequn, audit_crew=["A"])
    points_campaign(shequn)
    ingest(shequn, pulls("A", 3))
    run_jobs(shequn, at="2020-11-07T10:10:00+08:00")
    assert [(inviter, tier) for inviter, tier, _, _ in grants(shequn)] == [("A", 3)]
    assert fission_entries(shequn, "A") == []


def test_the_rewards_command_shows_the_points_of_each_grant(shequn: Shequn) -> None:
    db = shequn.settings.database_url
    made = runner.invoke(fission_app, [
        "create", "d11", "--org", "demo", "--groups", "new-3",
        "--from", "2020-11-07T00:00:00+08:00", "--to", "2020-11-07T23:59:59+08:00",
        "--tier", "3:points:50", "--tier", "5:gift:连衣裙:199.00:30", "--db", db,
    ])  # fmt: skip
    assert made.exit_code == 0, made.output
    ingest(shequn, pulls("A", 3))
    run_jobs(shequn, at="2020-11-07T10:10:00+08:00")
    rewards = runner.invoke(fission_app, ["rewards", "d11", "--org", "demo", "--json", "--db", db])
    assert [(r["tier"], r["kind"], r["name"], r["cost"], r["points"])
            for r in json.loads(rewards.stdout)] == [(3, "points", "50 积分", "0.00", 50)]  # fmt: skip
    bad = runner.invoke(fission_app, ["create", "d12", "--org", "demo", "--from",
                                      "2020-11-07T00:00:00+08:00", "--to",
                                      "2020-11-08T00:00:00+08:00", "--tier", "3:points:0",
                                      "--db", db])  # fmt: skip
    assert bad.exit_code == 1
    assert "the points must be a whole number of 1 or more" in bad.stderr
