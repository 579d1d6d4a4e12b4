"""Campaign runs under the scheduler with a simulated clock, on SQLite and PostgreSQL."""

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select

from shequn.campaign.handlers import STEP_JOB
from shequn.campaign.models import CampaignRun, CampaignStep
from shequn.campaign.playbook import load_playbook, parse_playbook
from shequn.campaign.service import change_run, start_campaign, steps_of
from shequn.commerce.models import Coupon
from shequn.commerce.rules import CouponKind
from shequn.commerce.service import add_product, add_template, price_schedule
from shequn.engine.models import ActionRecord, ActionStatus, JobRecord
from shequn.engine.scheduler import run_due_jobs
from shequn.lottery.models import DrawRecord
from shequn.org.service import save_org
from shequn.points.models import PointsGroup
from shequn.wiring import Shequn
from tests.conftest import event, ingest, state_of

GROUPS = {"old-1": ["old"], "old-2": ["old"], "new-3": ["new"], "new-4": ["new"]}


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+08:00")


def seed_groups(shequn: Shequn, groups: dict[str, list[str]], *, org: str = "demo") -> None:
    events: list[dict[str, Any]] = []
    for group, tags in groups.items():
        events.append(event(f"g-{group}", "group.upserted", "2026-11-01T10:00",
                            {"group": group, "name": f"{group}群", "tags": tags}, org=org))  # fmt: skip
        for n in range(3):
            events.append(event(f"j-{group}-{n}", "member.joined", "2026-11-01T11:00",
                                {"group": group, "member": f"{group}-m{n}"}, org=org))  # fmt: skip
    assert ingest(shequn, events).accepted == len(events)


def start(
    shequn: Shequn, playbook_text: str | None, *, first: date, now: datetime,
    groups: list[str] | None = None, org: str = "demo",
) -> str:  # fmt: skip
    if playbook_text is None:
        playbook, source = load_playbook("double11")
    else:
        playbook, source = parse_playbook(playbook_text), playbook_text
    with shequn.sessions.begin() as session:
        context = shequn.context(session, org, now=now)
        run, _steps = start_campaign(context, org, playbook, source, start=first, groups=groups)
        context.flush()
        return run.id


def statuses(shequn: Shequn, run_id: str, *, org: str = "demo") -> dict[tuple[str, str], str]:
    with shequn.sessions() as session:
        return {(r.group_id, r.step_id): r.status for r in steps_of(session, org, run_id)}


def campaign_actions(shequn: Shequn) -> list[ActionRecord]:
    with shequn.sessions() as session:
        return list(
            session.scalars(
                select(ActionRecord)
                .where(ActionRecord.cause.like("campaign:%"))
                .order_by(ActionRecord.created_at, ActionRecord.group_id, ActionRecord.cause)
            )
        )


def command(shequn: Shequn, run_id: str, name: str, now: datetime) -> None:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=now)
        change_run(context, "demo", run_id, name)
        context.flush()


def tick(shequn: Shequn, when: datetime) -> None:
    run_due_jobs(shequn.sessions, shequn.registry, now=when)


def test_double11_runs_five_days_in_two_old_and_two_new_groups(shequn: Shequn) -> None:
    seed_groups(shequn, GROUPS)
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=beijing("2026-11-06T12:00"))
        add_product(context, org="demo", sku="d11-dress", name="连衣裙")
        add_template(context, org="demo", template="no-threshold-100", name="双11无门槛券",
                     kind=CouponKind.AMOUNT_OFF, amount_off=10000)  # fmt: skip
        context.flush()
    run_id = start(shequn, None, first=date(2026, 11, 7), now=beijing("2026-11-06T12:00"))
    assert run_id == "double11-20261107"
    with shequn.sessions() as session:
        moments = sorted({row.next_at for row in steps_of(session, "demo", run_id)})
    for moment in moments:
        tick(shequn, moment)
    tick(shequn, beijing("2026-11-12T00:00"))

    final = statuses(shequn, run_id)
    assert len(final) == 89
    assert Counter(final.values()) == {"done": 89}
    actions = campaign_actions(shequn)
    kinds = Counter((a.kind, a.group_id) for a in actions)
    # Old groups post 15 times and new ones 17; only new groups are renamed; both get notices.
    assert kinds[("send_message", "old-1")] == 15
    assert kinds[("send_message", "new-3")] == 17
    assert kinds[("rename_group", "new-4")] == 1
    assert kinds[("rename_group", "old-1")] == 0
    assert kinds[("set_notice", "new-3")] == 2
    assert kinds[("set_notice", "old-2")] == 1
    repeat = next(a for a in actions if a.group_id == "new-3" and "d2-repeat" in a.cause)
    assert repeat.payload == {
        "text": "今晚抽连衣裙!请大家在群里发一句「今晚8:30,群内抽奖」,发了才能参与哦。",
        "mentions": [], "format": "text", "deadline": "2026-11-08T15:00:00+08:00",
    }  # fmt: skip
    assert repeat.created_at == beijing("2026-11-08T15:00")
    shop = next(a for a in actions if a.group_id == "new-4" and "d2-shop" in a.cause)
    assert shop.payload["format"] == "mini_program"
    assert shop.payload["mini_program"] == {
        "app": "shop", "path": "pages/double11/index", "title": "先逛逛,加购物车:价格 11 日 0 点揭晓"
    }  # fmt: skip
    nth = next(a for a in actions if a.group_id == "old-1" and "d2-nth-like" in a.cause)
    assert nth.payload["mention_all"] is True
    assert nth.payload["deadline"] == "2026-11-08T20:30:00+08:00"
    rename = next(a for a in actions if a.kind == "rename_group" and a.group_id == "new-3")
    assert rename.payload == {"name": "new-3群·双11"}
    every_post_has_a_deadline = all("deadline" in a.payload for a in actions
                                     if a.kind == "send_message")  # fmt: skip
    assert every_post_has_a_deadline

    with shequn.sessions() as session:
        draws = session.scalars(
            select(DrawRecord).order_by(DrawRecord.due_at, DrawRecord.group_id)
        ).all()
        assert [(d.group_id, d.freeze_text) for d in draws[:2]] == [
            ("new-3", "2026-11-08T20:30:00+08:00"), ("new-4", "2026-11-08T20:30:00+08:00")
        ]  # fmt: skip
        assert len(draws) == 10
        coupons = session.scalars(select(Coupon.member).order_by(Coupon.member)).all()
        assert coupons == [f"new-{g}-m{n}" for g in (3, 4) for n in range(3)]
        schedule = price_schedule(session, "demo", "d11-dress")
        assert [(p.effective_at, p.price) for p in schedule] == [
            (beijing("2026-11-11T00:00"), 60000)
        ]
        switches = session.scalars(select(PointsGroup).order_by(PointsGroup.group_id)).all()
        # Opened on day 2 and left open: the daily sign-in habit outlives the campaign.
        assert [(s.group_id, s.is_sign_in_open) for s in switches] == [
            ("new-3", True), ("new-4", True), ("old-1", True), ("old-2", True)
        ]  # fmt: skip


SMALL = """\
name: small
days: 2
steps:
  - id: morning
    day: 1
    at: "10:00"
    kind: message
    text: 早上好 {{ group }}
  - id: late
    day: 1
    at: "11:00"
    kind: tease
    text: 晚上见
  - id: rename
    day: 1
    at: "11:30"
    kind: rename
    name: "{{ group }}·双11"
  - id: night
    day: 1
    at: "23:30"
    kind: message
    text: 晚安 {{ members }} 位群友
  - id: tomorrow
    day: 2
    at: "15:00"
    kind: message
    text: 明天见
"""


def test_a_post_in_quiet_hours_is_deferred_to_the_morning_and_logged(shequn: Shequn) -> None:
    seed_groups(shequn, {"g1": []})
    run_id = start(shequn, SMALL, first=date(2026, 11, 7), now=beijing("2026-11-07T09:00"))
    tick(shequn, beijing("2026-11-07T23:30"))
    with shequn.sessions() as session:
        night = session.get(CampaignStep, ("demo", run_id, "night", "g1"))
        assert night is not None
        assert (night.status, night.next_at) == ("deferred", beijing("2026-11-08T08:00"))
        assert night.reason == "quiet hours 23:00-08:00: deferred to 11-08 08:00"
    tick(shequn, beijing("2026-11-08T08:00"))
    with shequn.sessions() as session:
        night = session.get(CampaignStep, ("demo", run_id, "night", "g1"))
        assert night is not None
        assert night.status == "done"
        assert [entry["status"] for entry in night.log] == ["deferred", "done"]
    sent = [a for a in campaign_actions(shequn) if "night" in a.cause]
    assert [(a.payload["text"], a.payload["deadline"]) for a in sent] == [
        ("晚安 3 位群友", "2026-11-08T08:00:00+08:00")
    ]


def test_posts_over_the_daily_post_budget_are_dropped_with_the_reason(shequn: Shequn) -> None:
    seed_groups(shequn, {"g1": []})
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai",
                 settings={"campaign": {"daily_posts": 1}}, now=beijing("2026-11-07T09:00"))  # fmt: skip
    run_id = start(shequn, SMALL, first=date(2026, 11, 7), now=beijing("2026-11-07T09:00"))
    tick(shequn, beijing("2026-11-07T10:00"))
    tick(shequn, beijing("2026-11-07T11:00"))
    with shequn.sessions() as session:
        late = session.get(CampaignStep, ("demo", run_id, "late", "g1"))
        assert late is not None
        assert (late.status, late.reason) == ("dropped", "post budget spent: 1 of 1 posts today")
    tick(shequn, beijing("2026-11-07T11:30"))
    # A rename is no post: the budget does not hold it back.
    assert statuses(shequn, run_id)[("g1", "rename")] == "done"


def test_members_chatter_counts_against_the_message_budget(shequn: Shequn) -> None:
    seed_groups(shequn, {"g1": []})
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai",
                 settings={"campaign": {"daily_messages": 4}}, now=beijing("2026-11-07T09:00"))  # fmt: skip
    chatter = [event(f"m{n}", "message.posted", f"2026-11-07T09:1{n}",
                     {"group": "g1", "member": "g1-m0", "message": f"m{n}", "kind": "text",
                      "text": "hi"}) for n in range(4)]  # fmt: skip
    ingest(shequn, chatter)
    run_id = start(shequn, SMALL, first=date(2026, 11, 7), now=beijing("2026-11-07T09:30"))
    tick(shequn, beijing("2026-11-07T10:00"))
    with shequn.sessions() as session:
        morning = session.get(CampaignStep, ("demo", run_id, "morning", "g1"))
        assert morning is not None
        assert (morning.status, morning.reason) == (
            "dropped", "message budget spent: 4 of 4 messages today",
        )  # fmt: skip


def test_a_group_whose_welcomes_used_the_budget_drops_a_non_essential_post(
    shequn: Shequn,
) -> None:
    seed_groups(shequn, {"g1": []})
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai",
                 settings={"campaign": {"daily_messages": 4}, "welcome_text": "欢迎 {nickname}!",
                           "welcome_max_mentions": 1}, now=beijing("2026-11-07T09:00"))  # fmt: skip
    joins = [event(f"j{n}", "member.joined", f"2026-11-07T09:10:0{n}",
                   {"group": "g1", "member": f"new-{n}"}) for n in range(3)]  # fmt: skip
    chatter = event("m0", "message.posted", "2026-11-07T09:20",
                    {"group": "g1", "member": "new-0", "message": "m0", "kind": "text"})  # fmt: skip
    ingest(shequn, [*joins, chatter])
    run_id = start(shequn, SMALL, first=date(2026, 11, 7), now=beijing("2026-11-07T09:30"))
    tick(shequn, beijing("2026-11-07T09:11"))
    with shequn.sessions() as session:
        welcomes = session.scalars(
            select(ActionRecord.group_id).where(ActionRecord.cause.like("job:%"))
        ).all()
        assert welcomes == ["g1", "g1", "g1"]

    tick(shequn, beijing("2026-11-07T10:00"))

    with shequn.sessions() as session:
        morning = session.get(CampaignStep, ("demo", run_id, "morning", "g1"))
        assert morning is not None
        # One member's message and three welcomes: the budget of 4 is spent.
        assert (morning.status, morning.reason) == (
            "dropped", "message budget spent: 4 of 4 messages today",
        )  # fmt: skip
    assert campaign_actions(shequn) == []


def test_a_welcome_that_failed_never_reached_the_group_and_uses_no_budget(
    shequn: Shequn,
) -> None:
    seed_groups(shequn, {"g1": []})
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai",
                 settings={"campaign": {"daily_messages": 1}, "welcome_text": "欢迎 {nickname}!"},
                 now=beijing("2026-11-07T09:00"))  # fmt: skip
    ingest(shequn, [event("j0", "member.joined", "2026-11-07T09:10", {"group": "g1",
                                                                       "member": "new-0"})])  # fmt: skip
    run_id = start(shequn, SMALL, first=date(2026, 11, 7), now=beijing("2026-11-07T09:30"))
    tick(shequn, beijing("2026-11-07T09:11"))
    with shequn.sessions.begin() as session:
        welcome = session.scalars(select(ActionRecord)).one()
        welcome.status = ActionStatus.FAILED

    tick(shequn, beijing("2026-11-07T10:00"))

    assert statuses(shequn, run_id)[("g1", "morning")] == "done"


def test_pause_holds_steps_resume_catches_up_and_cancel_stops_the_rest(shequn: Shequn) -> None:
    seed_groups(shequn, {"g1": []})
    run_id = start(shequn, SMALL, first=date(2026, 11, 7), now=beijing("2026-11-07T09:00"))
    command(shequn, run_id, "pause", beijing("2026-11-07T09:30"))
    tick(shequn, beijing("2026-11-07T11:45"))
    held = statuses(shequn, run_id)
    assert [held[("g1", s)] for s in ("morning", "late", "rename")] == ["held"] * 3
    assert campaign_actions(shequn) == []
    command(shequn, run_id, "resume", beijing("2026-11-07T12:30"))
    tick(shequn, beijing("2026-11-07T12:30"))
    resumed = statuses(shequn, run_id)
    assert [resumed[("g1", s)] for s in ("morning", "late", "rename")] == [
        "skipped", "done", "done",
    ]  # fmt: skip
    with shequn.sessions() as session:
        morning = session.get(CampaignStep, ("demo", run_id, "morning", "g1"))
        assert morning is not None
        assert morning.reason == "missed while paused (due 2026-11-07T02:00:00+00:00)"
    assert [a.cause for a in campaign_actions(shequn)] == [
        f"campaign:{run_id}:late",
        f"campaign:{run_id}:rename",
    ]
    command(shequn, run_id, "cancel", beijing("2026-11-07T13:00"))
    tick(shequn, beijing("2026-11-08T16:00"))
    final = statuses(shequn, run_id)
    assert (final[("g1", "night")], final[("g1", "tomorrow")]) == ("cancelled", "cancelled")
    assert len(campaign_actions(shequn)) == 2


def test_running_a_step_job_twice_changes_nothing(shequn: Shequn) -> None:
    seed_groups(shequn, {"g1": []})
    run_id = start(shequn, SMALL, first=date(2026, 11, 7), now=beijing("2026-11-07T09:00"))
    tick(shequn, beijing("2026-11-07T10:00"))
    before = state_of(shequn)
    with shequn.sessions() as session:
        actions_before = session.scalar(select(func.count()).select_from(ActionRecord))
        jobs = session.scalars(select(JobRecord).where(JobRecord.status == "done")).all()
    assert len(jobs) == 1
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=beijing("2026-11-07T10:05"))
        STEP_JOB.run(context, jobs[0])
        context.flush()
    with shequn.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ActionRecord)) == actions_before
        run = session.get(CampaignRun, ("demo", run_id))
        assert run is not None
        assert run.status == "running"
    assert state_of(shequn) == before
    assert statuses(shequn, run_id)[("g1", "morning")] == "done"


def test_an_org_in_berlin_posts_at_20_30_berlin_time(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        save_org(session, "eu", name=None, timezone="Europe/Berlin", settings=None,
                 now=datetime(2026, 11, 1, tzinfo=UTC))  # fmt: skip
    seed_groups(shequn, {"b1": ["old"]}, org="eu")
    run_id = start(shequn, None, first=date(2026, 11, 7), now=datetime(2026, 11, 6, tzinfo=UTC),
                   org="eu")  # fmt: skip
    with shequn.sessions() as session:
        board = session.get(CampaignStep, ("eu", run_id, "d1-board", "b1"))
        assert board is not None
        assert board.due_at == datetime(2026, 11, 7, 19, 30, tzinfo=UTC)
    tick(shequn, datetime(2026, 11, 7, 19, 29, tzinfo=UTC))
    assert statuses(shequn, run_id, org="eu")[("b1", "d1-board")] == "planned"
    tick(shequn, datetime(2026, 11, 7, 19, 30, tzinfo=UTC))
    sent = [a for a in campaign_actions(shequn) if "d1-board" in a.cause]
    assert [a.payload["deadline"] for a in sent] == ["2026-11-07T20:30:00+01:00"]


def test_steps_already_past_when_the_campaign_starts_are_skipped(shequn: Shequn) -> None:
    seed_groups(shequn, {"g1": []})
    run_id = start(shequn, SMALL, first=date(2026, 11, 7), now=beijing("2026-11-07T10:30"))
    with shequn.sessions() as session:
        morning = session.get(CampaignStep, ("demo", run_id, "morning", "g1"))
        assert morning is not None
        assert (morning.status, morning.reason) == (
            "skipped",
            "its time had passed when the campaign started",
        )
        jobs = session.scalar(select(func.count()).select_from(JobRecord))
    assert jobs == 4


FAILING = """\
name: failing
days: 1
steps:
  - id: price
    day: 1
    at: "00:00"
    kind: price
    sku: no-such-sku
    price: "600.00"
"""


def test_a_step_that_cannot_be_carried_out_is_recorded_as_failed(shequn: Shequn) -> None:
    seed_groups(shequn, {"g1": []})
    run_id = start(shequn, FAILING, first=date(2026, 11, 11), now=beijing("2026-11-10T09:00"))
    tick(shequn, beijing("2026-11-11T00:00"))
    with shequn.sessions() as session:
        rows = {r.step_id: (r.status, r.reason) for r in steps_of(session, "demo", run_id)}
    assert rows == {
        "price": ("failed", "CommerceNotFound: product 'no-such-sku' does not exist in org 'demo'"),
    }  # fmt: skip
