"""The community simulator: contract events, the seed's campaign in figures, cause and effect."""

import dataclasses
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.analytics.service import report_funnel, report_group_days
from shequn.audit.rules import AuditContext, ProfileFacts, Verdict, score_profile
from shequn.audit.service import decide
from shequn.cli.main import app
from shequn.commerce.models import Coupon, CouponUse
from shequn.commerce.rules import CouponKind
from shequn.commerce.service import add_template, drop_coupons
from shequn.config import Settings
from shequn.contract import PAYLOADS
from shequn.engine.dispatch import dispatch_due
from shequn.engine.event import Rejection, parse_event
from shequn.engine.intake import decode_json_lines
from shequn.engine.models import ActionRecord
from shequn.kit.money import parse_amount
from shequn.kit.time import utc_now, zone
from shequn.member.models import Membership
from shequn.simulate import Drop, Request, ScenarioError, World, load_scenario, scaled, with_days
from shequn.simulate.connector import SimulatorConnector
from shequn.simulate.scenarios import double11
from shequn.wiring import Shequn, open_shequn
from tests.conftest import empty_store

Event = dict[str, Any]
SHANGHAI = zone("Asia/Shanghai")
CAMPAIGN = (date(2020, 11, 7), date(2020, 11, 11))
runner = CliRunner()


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of the seed's campaign: day 1 is 2020-11-07, in Shanghai."""
    return datetime(2020, 11, 6 + day, hour, minute, tzinfo=SHANGHAI)


def ingest_events(shequn: Shequn, events: list[Event]) -> int:
    lines = (json.dumps(event, ensure_ascii=False).encode() for event in events)
    summary = shequn.intake(origin="test").ingest(decode_json_lines(lines))
    assert summary.rejected == []
    return summary.accepted


def open_store(url: str) -> Iterator[Shequn]:
    # Simulated logs run to thousands of events: batches of 1,000, not the shared fixture's 3.
    opened = open_shequn(Settings(database_url=url, action_log="", batch_size=1000))
    empty_store(opened)
    yield opened
    empty_store(opened)
    opened.close()


@pytest.fixture
def store(db_url: str) -> Iterator[Shequn]:
    yield from open_store(db_url)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Shequn]:
    # SQLite only: the calibration run ingests ~12,000 events, which on PostgreSQL alone takes
    # longer than this whole file may; the reports count the same way on both backends
    # (tests/test_analytics.py runs them on each).
    yield from open_store(f"sqlite:///{tmp_path / 'shequn.db'}")


@pytest.fixture(scope="module")
def campaign() -> list[Event]:
    return list(World(double11(), seed=1).events())


def of_type(events: list[Event], kind: str) -> list[Event]:
    return [event for event in events if event["type"] == kind]


def in_campaign(event: Event) -> bool:
    return event["at"] >= "2020-11-07"


# The contract


def test_every_event_is_a_valid_contract_event_in_time_order(campaign: list[Event]) -> None:
    rejected = [
        parsed
        for parsed in (
            parse_event(json.loads(json.dumps(event)), payloads=PAYLOADS, default_org="demo")
            for event in campaign
        )
        if isinstance(parsed, Rejection)
    ]
    assert rejected == []
    stamps = [datetime.fromisoformat(event["at"]) for event in campaign]
    assert stamps == sorted(stamps)
    assert len({(event["source"], event["id"]) for event in campaign}) == len(campaign)
    assert {event["type"] for event in campaign} >= {
        "group.upserted", "member.upserted", "member.joined", "member.left", "message.posted",
        "reaction.added", "order.paid",
    }  # fmt: skip


def test_the_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    one_day = with_days(double11(), 1)
    first = list(World(one_day, seed=7).events())
    assert first == list(World(one_day, seed=7).events())
    assert first != list(World(one_day, seed=8).events())


def test_advancing_in_steps_gives_the_same_events_as_running_at_once() -> None:
    one_day = with_days(double11(), 1)
    stepped = World(one_day, seed=4)
    moments = [local(1, 0) + (local(1, 0) - local(0, 0)) * k / 37 for k in range(1, 38)]
    in_steps = [event for moment in moments for event in stepped.advance(moment)]
    assert in_steps == list(World(one_day, seed=4).events())
    assert stepped.finished


def test_members_have_chinese_and_english_nicknames_genders_and_channels(
    campaign: list[Event],
) -> None:
    profiles = [event["data"] for event in of_type(campaign, "member.upserted")]
    nicknames = [profile["nickname"] for profile in profiles]
    assert any(name.isascii() and name[0].isalpha() for name in nicknames)
    assert any("\u4e00" <= char <= "\u9fff" for name in nicknames for char in name)
    genders = Counter(profile["gender"] for profile in profiles)
    assert genders["female"] > 0.8 * len(profiles)
    assert genders["male"] > 0
    assert {"store", "taobao", "moments", "poster", "referral"} <= {p["channel"] for p in profiles}


# The seed's campaign


def test_double11_lands_on_the_seeds_figures_by_shequns_own_reports(
    sqlite_store: Shequn, campaign: list[Event]
) -> None:
    ingest_events(sqlite_store, campaign)
    with sqlite_store.sessions() as session:
        funnel = report_funnel(session, "demo", first=CAMPAIGN[0], last=CAMPAIGN[1])
        days = report_group_days(session, "demo", first=CAMPAIGN[0], last=CAMPAIGN[1])
    items = sum(day.sales.items for day in days)
    gmv = Decimal(sum(day.sales.gmv for day in days)) / 100
    # Seed 000: 1,870 members, 36.7% paying, 2.5 items per buyer at ¥600, GMV ¥1.03M.
    assert funnel.members == pytest.approx(1870, rel=0.05)
    assert funnel.buyers / funnel.members == pytest.approx(0.367, abs=0.03)
    assert items / funnel.buyers == pytest.approx(2.5, abs=0.3)
    assert gmv / items == pytest.approx(Decimal(600), rel=Decimal("0.1"))
    assert gmv == pytest.approx(Decimal(1_030_000), rel=Decimal("0.1"))
    # Not everyone speaks: a campaign's good groups count 70-80% active over its days.
    assert 0.55 < funnel.active / funnel.members < 0.85


def members_by_hour(events: list[Event], groups: tuple[str, ...]) -> dict[str, int]:
    """The most members each group had at once."""
    now: Counter[str] = Counter()
    most: Counter[str] = Counter()
    for event in events:
        group = event["data"].get("group")
        if group not in groups:
            continue
        if event["type"] == "member.joined":
            now[group] += 1
            most[group] = max(most[group], now[group])
        elif event["type"] == "member.left":
            now[group] -= 1
    return dict(most)


def newcomers_on_day_one(events: list[Event]) -> int:
    return sum(
        1
        for event in of_type(events, "member.joined")
        if event["data"]["group"] in ("new-3", "new-4") and "inviter" in event["data"]
    )


def test_a_poster_fission_stalls_under_300_newcomers_from_1000_fans() -> None:
    poster = double11().fission[0]
    events = list(World(dataclasses.replace(with_days(double11(), 1), fission=(poster,))).events())
    # Seed 000: new group 3 ≈ 170, new group 4 ≈ 100, fewer than 300 together, then a stall.
    assert 180 <= newcomers_on_day_one(events) < 300
    late = [e for e in of_type(events, "member.joined") if e["at"] >= "2020-11-07T18:00"]
    assert len(late) < 10
    most = members_by_hour(events, ("new-3", "new-4"))
    assert most["new-3"] > most["new-4"]
    assert max(most.values()) < 250


def test_counting_invites_as_bait_fills_both_new_groups_within_day_one(
    campaign: list[Event],
) -> None:
    day_one = [event for event in campaign if event["at"] < "2020-11-08"]
    assert members_by_hour(day_one, ("new-3", "new-4")) == {"new-3": 500, "new-4": 500}
    # Each newcomer names an inviter; generations go beyond the old fans (a cascade).
    inviters = {
        e["data"]["inviter"] for e in of_type(day_one, "member.joined") if "inviter" in e["data"]
    }
    newcomers = {
        e["data"]["member"]
        for e in of_type(day_one, "member.joined")
        if e["data"]["group"] in ("new-3", "new-4")
    }
    assert inviters & newcomers


def test_messages_peak_morning_noon_and_evening_about_200_a_day_in_a_lively_group(
    campaign: list[Event],
) -> None:
    posts = [e for e in of_type(campaign, "message.posted") if in_campaign(e)]
    hours = Counter(int(event["at"][11:13]) for event in posts)
    assert hours[8] > 3 * hours[3]
    assert hours[8] > hours[10]
    assert hours[12] > max(hours[10], hours[15])
    assert hours[20] + hours[21] == max(hours[h] + hours[h + 1] for h in range(23))
    daily = Counter(event["at"][:10] for event in posts if event["data"]["group"] == "old-1")
    # Days 2-4 (warm-up): about 200 a day; the campaign's evenings and sign-ins add some.
    for day in ("2020-11-08", "2020-11-09", "2020-11-10"):
        assert 150 <= daily[day] <= 320, (day, daily[day])
    assert sum(1 for e in posts if "签到" in e["data"].get("text", "")) > 300
    assert sum(1 for e in posts if e["data"].get("text") == "今晚8:30,群内抽奖") > 50
    assert of_type(campaign, "reaction.added")


def test_newcomers_leave_most_in_their_first_days(campaign: list[Event]) -> None:
    newcomers = {
        e["data"]["member"]
        for e in of_type(campaign, "member.joined")
        if e["data"]["group"] in ("new-3", "new-4")
    }
    leaves = Counter(
        e["at"][:10] for e in of_type(campaign, "member.left") if e["data"]["member"] in newcomers
    )
    assert leaves["2020-11-07"] + leaves["2020-11-08"] > 2 * (
        leaves["2020-11-10"] + leaves["2020-11-11"]
    )


def test_a_message_flood_drives_members_out() -> None:
    base = with_days(double11(), 2)

    def leaves(flood_per_hour: int) -> int:
        activity = dataclasses.replace(
            base.activity, flood_per_hour=flood_per_hour, flood_leave=0.03
        )
        scenario = dataclasses.replace(base, activity=activity)
        return len(of_type(list(World(scenario, seed=3).events()), "member.left"))

    assert leaves(flood_per_hour=40) > leaves(flood_per_hour=100_000) + 60


def test_fake_accounts_carry_the_audit_signals_and_real_ones_mostly_pass(
    campaign: list[Event],
) -> None:
    world = World(with_days(double11(), 1), seed=1)
    profiles = [e["data"] for e in of_type(list(world.events()), "member.upserted")]
    female_brand = AuditContext(audience="female")

    def assessed(profile: dict[str, Any]) -> Verdict:
        facts = ProfileFacts(
            nickname=profile["nickname"],
            gender=profile["gender"],
            signature=profile.get("signature"),
            avatar_flags=frozenset(profile.get("avatar", {}).get("flags", ())),
            album_flags=frozenset(profile.get("album", {}).get("flags", ())),
        )
        return score_profile(facts, context=female_brand).verdict

    fakes = [assessed(p) for p in profiles if world.is_fake(p["member"])]
    real = [assessed(p) for p in profiles if not world.is_fake(p["member"])]
    # Seed 000's attempt 2 drew invite-count gamers; the old fans carry a few.
    assert 30 <= len(fakes) <= 0.08 * len(profiles)
    assert Verdict.PASS not in fakes
    assert fakes.count(Verdict.KICK) > len(fakes) / 2
    assert real.count(Verdict.PASS) > 0.95 * len(real)
    flags = {flag for p in profiles for flag in p.get("avatar", {}).get("flags", [])}
    flags |= {flag for p in profiles for flag in p.get("album", {}).get("flags", [])}
    assert flags == {"stock_photo", "payment_screenshots"}
    adverts = [e for e in of_type(campaign, "message.posted") if world.is_fake(e["data"]["member"])]
    assert adverts


def test_the_fake_rate_is_a_scenario_parameter() -> None:
    base = scaled(load_scenario("brand-10k"), 0.01)
    scenario = dataclasses.replace(base, fakes=dataclasses.replace(base.fakes, share=0.2))
    world = World(scenario, seed=2)
    events = list(world.advance(world.start))
    members = {e["data"]["member"] for e in of_type(events, "member.joined")}
    share = sum(world.is_fake(member) for member in members) / len(members)
    assert share == pytest.approx(0.2, abs=0.03)


def test_orders_are_exact_money_in_fen(campaign: list[Event]) -> None:
    orders = [event["data"] for event in of_type(campaign, "order.paid")]
    coupons = 0
    for order in orders:
        total = sum(item["qty"] * parse_amount(item["unit_price"]) for item in order["items"])
        off = 10000 if order.get("coupon") == "no-threshold-100" else 0
        coupons += off > 0
        assert parse_amount(order["amount"]) == total - off
        assert order["amount"] == f"{Decimal(order['amount']):.2f}"
        assert (order["store"], order["staff"] in ("op-1", "op-2")) == ("flagship", True)
    assert coupons > 50
    # Day 5 is the sale: most orders come in the 20:30 rush.
    rush = [e for e in of_type(campaign, "order.paid") if e["at"] >= "2020-11-11T20:30"]
    assert len(rush) > 0.6 * len(orders)
    assert all(e["at"] >= "2020-11-11" for e in of_type(campaign, "order.paid"))


# brand-10k


def test_brand_10k_streams_without_building_its_day_in_memory() -> None:
    events = World(load_scenario("brand-10k"), seed=1).events()
    assert isinstance(events, Iterator)
    first = list(itertools.islice(events, 2000))
    assert len(first) == 2000
    assert sum(1 for event in first if event["type"] == "group.upserted") > 600


def test_brand_10k_scaled_down_has_its_stores_groups_and_a_day_of_traffic() -> None:
    world = World(scaled(load_scenario("brand-10k"), 0.01), seed=4)
    events = list(world.events())
    groups = [e["data"] for e in of_type(events, "group.upserted")]
    assert len(groups) == 100
    assert len({group["store"] for group in groups}) == 3
    assert all(
        not isinstance(parse_event(e, payloads=PAYLOADS, default_org="x"), Rejection)
        for e in events[::50]
    )
    day = [event for event in events if event["at"] >= "2026-11-02"]
    kinds = Counter(event["type"] for event in day)
    # A day of 10,000 groups is ~2M events: at 1/100, ~20,000 including the groups' history.
    assert 15_000 < len(events) < 26_000
    assert kinds["message.posted"] > 5_000
    assert kinds["reaction.added"] > 1_000
    assert min(kinds["order.paid"], kinds["member.joined"], kinds["member.left"]) > 5


# The simulator as a connector


def test_a_kick_in_the_outbox_makes_the_member_leave_in_the_simulators_next_events(
    store: Shequn,
) -> None:
    scenario = with_days(double11(), 1)
    world = World(scenario, seed=5)
    before = list(world.advance(local(1, 16)))
    fake = next(m for m in world.members_of("new-3") if world.is_fake(m))
    groups = sorted(g for g in world.group_ids() if fake in world.members_of(g))
    needed = [
        e
        for e in before
        if e["type"] == "group.upserted"
        or (e["data"].get("member") == fake and e["type"] in ("member.upserted", "member.joined"))
    ]
    ingest_events(store, needed)
    with store.sessions.begin() as session:
        context = store.context(session, "demo")
        assert decide(context, "demo", fake, "kick", by="小王").kicked_from == groups
        context.flush()
    store.registry.connectors["simulator"] = SimulatorConnector(world)
    assert dispatch_due(store.sessions, store.registry, now=utc_now()) == {"sent": len(groups)}

    after = list(world.advance(local(1, 16, 10)))
    leaves = [e for e in of_type(after, "member.left") if e["data"]["member"] == fake]
    owners = {"new-3": "op-1", "new-4": "op-2"}
    assert sorted((e["data"] for e in leaves), key=lambda data: data["group"]) == [
        {"group": group, "member": fake, "reason": "kicked", "by": owners[group]}
        for group in groups
    ]
    assert all(fake not in world.members_of(group) for group in groups)
    assert {(r.request.kind, r.effect) for r in world.received} == {("kick_member", "kick")}
    ingest_events(store, leaves)
    with store.sessions() as session:
        stints = session.scalars(select(Membership).where(Membership.member_id == fake)).all()
        actions = session.scalars(select(ActionRecord).order_by(ActionRecord.id)).all()
    assert [stint.left_reason for stint in stints] == ["kicked"] * len(groups)

    # The same seed and the same actions at the same moment: the same world afterwards.
    again = World(scenario, seed=5)
    assert list(again.advance(local(1, 16))) == before
    for action in sorted(actions, key=lambda a: [r.request.id for r in world.received].index(a.id)):
        SimulatorConnector(again).perform(action)
    assert list(again.advance(local(1, 16, 10))) == after


def evening_posts(world: World, group: str, day: int) -> int:
    events = world.advance(local(day, 23, 59))
    evening = local(day, 19).isoformat()
    return sum(
        1
        for e in of_type(list(events), "message.posted")
        if e["data"]["group"] == group and e["at"] >= evening
    )


def test_a_lottery_announcement_raises_that_evenings_activity_and_its_keyword_is_said() -> None:
    scenario = with_days(double11(), 3)
    plain, announced = World(scenario, seed=9), World(scenario, seed=9)
    for world in (plain, announced):
        list(world.advance(local(2, 12)))
    text = "今晚 20:30「双11福利」抽奖:新款一件。发送「我要新款」即可参与。"
    announced.receive(Request(id="a-1", kind="send_message", group="old-2", text=text))
    quiet, busy = evening_posts(plain, "old-2", 2), evening_posts(announced, "old-2", 2)
    assert busy > 1.5 * quiet
    said = [r for r in announced.received if r.effect == "lottery"]
    assert len(said) == 1


def test_a_keyword_lottery_gets_members_saying_the_keyword() -> None:
    world = World(with_days(double11(), 3), seed=9)
    list(world.advance(local(2, 12)))
    text = "今晚 20:30「双11福利」抽奖:新款一件。发送「我要新款」即可参与。"
    world.receive(Request(id="a-1", kind="send_message", group="old-2", text=text))
    posts = of_type(list(world.advance(local(2, 23))), "message.posted")
    assert sum(1 for e in posts if e["data"].get("text") == "我要新款") > 20


def test_a_coupon_from_shequn_raises_conversion_in_its_group() -> None:
    def buyers(with_coupon: bool) -> int:
        world = World(double11(), seed=11)
        list(world.advance(local(4, 20)))
        if with_coupon:
            text = "送大家一张50元优惠券,明天下单直接抵扣"
            world.receive(Request(id="c-1", kind="send_message", group="new-4", text=text))
        events = list(world.events())
        return len(
            {
                e["data"]["member"]
                for e in of_type(events, "order.paid")
                if e["data"]["group"] == "new-4"
            }
        )

    assert buyers(with_coupon=True) > 1.15 * buyers(with_coupon=False)


def test_an_action_delivered_twice_changes_the_world_once() -> None:
    world = World(with_days(double11(), 1), seed=2)
    list(world.advance(local(1, 18)))
    member = world.members_of("old-1")[5]
    for _ in range(2):
        world.receive(Request(id="k-1", kind="kick_member", group="old-1", member=member))
    leaves = [
        e
        for e in of_type(list(world.advance(local(1, 19))), "member.left")
        if e["data"]["member"] == member
    ]
    assert len(leaves) == 1
    assert [r.effect for r in world.received] == ["kick", "duplicate"]


def test_warned_advertisers_fall_silent_and_a_rename_is_reported() -> None:
    world = World(with_days(double11(), 2), seed=6)
    list(world.advance(local(1, 20)))
    fakes = [m for g in world.group_ids() for m in world.members_of(g) if world.is_fake(m)]
    for number, member in enumerate(fakes):
        world.receive(Request(id=f"w-{number}", kind="warn_member", member=member))
    world.receive(Request(id="r-1", kind="rename_group", group="new-3", name="新三群·一起变美"))
    later = list(world.events())
    assert not [e for e in of_type(later, "message.posted") if e["data"]["member"] in fakes]
    [renamed] = of_type(later, "group.upserted")
    assert renamed["data"]["name"] == "新三群·一起变美"


# Scenario files and the command line


def test_a_scenario_file_can_start_from_a_built_in_and_change_a_few_fields(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rehearsal.toml"
    path.write_text(
        'base = "double11"\norg = "rehearsal"\ndays = 2\n\n[activity]\nmessages_per_day = 40.0\n',
        encoding="utf-8",
    )
    scenario = load_scenario(str(path))
    assert (scenario.org, scenario.days, scenario.activity.messages_per_day) == (
        "rehearsal",
        2,
        40.0,
    )
    assert scenario.activity.sign_in_share == double11().activity.sign_in_share
    assert scenario.groups == double11().groups


def test_a_scenario_file_with_a_mistake_is_refused_by_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"base": "double11", "activty": {}}), encoding="utf-8")
    with pytest.raises(ScenarioError, match="activty: unknown field"):
        load_scenario(str(path))
    path.write_text(
        json.dumps(
            {
                "name": "x",
                "org": "o",
                "start": "2020-11-07",
                "days": 1,
                "groups": [{"id": "g", "name": "G", "owner": "s", "capacity": "big"}],
            }
        )
    )
    with pytest.raises(ScenarioError, match=r"groups\[0\]\.capacity: expected a whole number"):
        load_scenario(str(path))


def tiny_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(
        json.dumps({
            "name": "tiny", "org": "shop", "start": "2026-03-02", "days": 1, "prologue_days": 3,
            "groups": [{"id": "g1", "name": "小店福利群", "owner": "boss", "members": 40,
                        "buy_rate": 0.2}],
            "commerce": {"daily_buy_rate": 0.05},
        }),
        encoding="utf-8",
    )  # fmt: skip
    return path


def test_simulate_writes_json_lines_that_shequn_ingests_without_rejections(
    store: Shequn, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    done = runner.invoke(
        app,
        ["simulate", "--scenario", str(tiny_scenario(tmp_path)), "--seed", "3", "--out", str(out)],
    )
    assert done.exit_code == 0, done.output
    assert "wrote" in done.stderr
    ingested = runner.invoke(
        app, ["ingest", str(out), "--json", "--db", store.settings.database_url]
    )
    summary = json.loads(ingested.stdout)
    assert summary["rejected"] == []
    assert summary["accepted"] == len(out.read_text().splitlines())
    to_stdout = runner.invoke(
        app, ["simulate", "--scenario", str(tiny_scenario(tmp_path)), "--seed", "3"]
    )
    assert to_stdout.stdout == out.read_text(encoding="utf-8")


def test_simulate_paces_output_at_the_given_speed(tmp_path: Path) -> None:
    scenario = str(tiny_scenario(tmp_path))
    started = time.monotonic()
    paced = runner.invoke(app, ["simulate", "--scenario", scenario, "--speed", str(86_400 * 4)])
    elapsed = time.monotonic() - started
    assert paced.exit_code == 0, paced.output
    # A simulated day at 4 days a second: a quarter of a second, the same events.
    assert 0.2 < elapsed < 5
    assert paced.stdout == runner.invoke(app, ["simulate", "--scenario", scenario]).stdout


def test_simulate_refuses_an_unknown_scenario_and_a_scale_without_a_fleet() -> None:
    unknown = runner.invoke(app, ["simulate", "--scenario", "double12"])
    assert unknown.exit_code == 1
    assert "double12" in unknown.stderr
    assert "double11" in unknown.stderr
    no_fleet = runner.invoke(app, ["simulate", "--scenario", "double11", "--scale", "0.5"])
    assert no_fleet.exit_code == 1
    assert "no fleet" in no_fleet.stderr


def test_simulate_days_cuts_the_run(tmp_path: Path) -> None:
    out = tmp_path / "day.jsonl"
    done = runner.invoke(app, ["simulate", "--scenario", "double11", "--days", "1", "-o", str(out)])
    assert done.exit_code == 0, done.output
    last = json.loads(out.read_text(encoding="utf-8").splitlines()[-1])
    assert last["at"] < "2020-11-08"


def test_buyers_pay_with_the_coupon_shequn_dropped_to_each_of_them(store: Shequn) -> None:
    world = World(double11(), seed=7)
    before = list(world.advance(local(4, 20)))
    in_new_4 = {
        e["data"]["member"]
        for e in before
        if e["type"] == "member.joined" and e["data"]["group"] == "new-4"
    }
    needed = [
        e
        for e in before
        if e["type"] == "group.upserted"
        or (e["type"] in ("member.upserted", "member.joined", "member.left")
            and e["data"]["member"] in in_new_4)
    ]  # fmt: skip
    ingest_events(store, needed)
    with store.sessions.begin() as session:
        context = store.context(session, "demo", now=local(4, 20))
        add_template(context, org="demo", template="no-threshold-100", name="双11无门槛券",
                     kind=CouponKind.AMOUNT_OFF, amount_off=10000)  # fmt: skip
        issued = drop_coupons(context, org="demo", group="new-4", template="no-threshold-100",
                              cause="d4-coupons")  # fmt: skip
        context.flush()
    assert issued > 300
    store.registry.connectors["simulator"] = SimulatorConnector(world)
    dispatch_due(store.sessions, store.registry, now=utc_now())

    orders = [
        e for e in of_type(list(world.advance(local(5, 23, 59))), "order.paid")
        if e["data"]["group"] == "new-4"
    ]  # fmt: skip
    drops = [r for r in world.received if r.request.coupon is not None]
    assert [(r.request.coupon, r.effect) for r in drops] == [
        (Drop("no-threshold-100", "d4-coupons", amount_off=10000, threshold=0), "coupon")
    ]
    paid_with = [e for e in orders if "coupon" in e["data"]]
    assert len(paid_with) > 50
    for order in paid_with:
        data = order["data"]
        gross = sum(parse_amount(i["unit_price"]) * i["qty"] for i in data["items"])
        assert parse_amount(data["amount"]) == gross - 10000
    ingest_events(store, orders)
    with store.sessions() as session:
        uses = session.scalars(select(CouponUse)).all()
        coupons = {c.code: c for c in session.scalars(select(Coupon))}
    # Every code a buyer paid with is theirs, issued by the drop, and now redeemed for ¥100.
    assert len(uses) == len(paid_with)
    assert {(u.outcome, u.value) for u in uses} == {("redeemed", 10000)}
    assert all(coupons[u.code].member == u.member for u in uses)
    assert {coupons[u.code].status for u in uses} == {"redeemed"}
