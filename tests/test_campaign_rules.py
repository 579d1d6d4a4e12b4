"""Budgets, quiet hours and resume, decided without a database or a clock."""

from datetime import UTC, datetime, timedelta

import pytest

from shequn.campaign.playbook import load_playbook
from shequn.campaign.rules import (
    Budget,
    RunStatus,
    SendDecision,
    SendOutcome,
    budget_of,
    decide_send,
    next_status,
    on_resume,
    parse_quiet_hours,
    quiet_until,
)
from shequn.kit.time import TimeError

SHANGHAI = "Asia/Shanghai"


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+08:00")


def send_at(
    now: str,
    *,
    due: str | None = None,
    messages: int = 0,
    posts: int = 0,
    engine_posts: int = 0,
    essential: bool = False,
) -> SendDecision:
    """`posts` the campaign's, `engine_posts` the engine's other posts (welcomes …) that day."""
    return decide_send(
        due_at=beijing(due or now), now=beijing(now), timezone=SHANGHAI, budget=Budget(),
        messages_today=messages, posts_today=posts, group_posts_today=posts + engine_posts,
        essential=essential,
    )  # fmt: skip


def test_a_post_in_the_evening_goes_out() -> None:
    assert send_at("2026-11-08T20:30").outcome is SendOutcome.SEND


def test_a_post_at_23_30_waits_for_08_00_next_morning() -> None:
    decision = send_at("2026-11-08T23:30")
    assert decision.outcome is SendOutcome.DEFER
    assert decision.until == beijing("2026-11-09T08:00")
    assert decision.reason == "quiet hours 23:00-08:00: deferred to 11-09 08:00"


def test_a_post_after_midnight_waits_for_08_00_the_same_morning() -> None:
    assert send_at("2026-11-09T01:15").until == beijing("2026-11-09T08:00")
    assert send_at("2026-11-09T08:00").outcome is SendOutcome.SEND


def test_quiet_hours_within_one_day_and_none_at_all() -> None:
    lunch = Budget(quiet=parse_quiet_hours("12:00-13:30"))
    assert quiet_until(beijing("2026-11-09T12:10"), lunch, SHANGHAI) == beijing("2026-11-09T13:30")
    assert quiet_until(beijing("2026-11-09T13:30"), lunch, SHANGHAI) is None
    assert quiet_until(beijing("2026-11-09T03:00"), Budget(quiet=None), SHANGHAI) is None


def test_the_operator_post_budget_drops_the_post_over_it() -> None:
    decision = send_at("2026-11-08T20:30", posts=10)
    assert decision.outcome is SendOutcome.DROP
    assert decision.reason == "post budget spent: 10 of 10 posts today"
    assert send_at("2026-11-08T20:30", posts=9).outcome is SendOutcome.SEND


def test_a_group_at_200_messages_today_gets_no_more_posts() -> None:
    decision = send_at("2026-11-08T20:30", messages=195, posts=5)
    assert decision.outcome is SendOutcome.DROP
    assert decision.reason == "message budget spent: 200 of 200 messages today"
    assert send_at("2026-11-08T20:30", messages=194, posts=5).outcome is SendOutcome.SEND


def test_the_engines_own_posts_count_against_the_message_budget_but_not_the_post_cap() -> None:
    decision = send_at("2026-11-08T20:30", messages=150, posts=5, engine_posts=45)
    assert decision.outcome is SendOutcome.DROP
    assert decision.reason == "message budget spent: 200 of 200 messages today"
    assert send_at("2026-11-08T20:30", messages=0, posts=9, engine_posts=150).outcome is (
        SendOutcome.SEND
    )
    assert send_at("2026-11-08T20:30", messages=150, posts=5, engine_posts=45, essential=True) == (
        SendDecision(SendOutcome.SEND)
    )


def test_the_evenings_event_goes_out_however_much_members_chatted_but_not_past_the_post_cap() -> (
    None
):
    assert send_at("2026-11-08T20:30", messages=238, posts=2, essential=True).outcome is (
        SendOutcome.SEND
    )
    capped = send_at("2026-11-08T20:30", messages=238, posts=10, essential=True)
    assert capped.reason == "post budget spent: 10 of 10 posts today"


def test_a_post_more_than_two_hours_late_is_skipped() -> None:
    decision = send_at("2026-11-08T22:31", due="2026-11-08T20:30")
    assert decision.outcome is SendOutcome.SKIP
    assert decision.reason.startswith("too late: due 11-08 20:30, now 11-08 22:31")
    assert send_at("2026-11-08T22:30", due="2026-11-08T20:30").outcome is SendOutcome.SEND


def test_the_org_settings_set_the_budget() -> None:
    budget = budget_of({"campaign": {"daily_posts": 3, "quiet_hours": "22:00-07:30"}})
    assert budget == Budget(daily_messages=200, daily_posts=3, quiet=((22, 0), (7, 30)))
    assert budget_of({}) == Budget()
    assert budget_of({"campaign": {"quiet_hours": "off"}}).quiet is None
    with pytest.raises(TimeError):
        parse_quiet_hours("23:00")


def test_resume_runs_state_steps_and_fresh_posts_and_skips_stale_posts() -> None:
    playbook, _source = load_playbook("double11")
    now = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    stale = now - timedelta(hours=3)
    fresh = now - timedelta(minutes=30)
    budget = Budget()
    assert on_resume(playbook.step("d3-evening"), due_at=stale, now=now, budget=budget) == (
        f"missed while paused (due {stale.isoformat()})"
    )
    assert on_resume(playbook.step("d3-lottery"), due_at=stale, now=now, budget=budget)
    assert on_resume(playbook.step("d3-evening"), due_at=fresh, now=now, budget=budget) is None
    assert on_resume(playbook.step("d5-price"), due_at=stale, now=now, budget=budget) is None
    assert on_resume(playbook.step("d4-notice"), due_at=stale, now=now, budget=budget) is None


def test_a_run_moves_only_as_the_table_allows() -> None:
    assert next_status(RunStatus.RUNNING, "pause") is RunStatus.PAUSED
    assert next_status(RunStatus.PAUSED, "resume") is RunStatus.RUNNING
    assert next_status(RunStatus.PAUSED, "cancel") is RunStatus.CANCELLED
    assert next_status(RunStatus.RUNNING, "resume") is None
    assert next_status(RunStatus.CANCELLED, "resume") is None
