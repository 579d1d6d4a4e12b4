"""The dispatcher: a platform's "wait" is no failure, slow platforms hold back no one, tasks wait."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from shequn.engine.action import (
    MAX_ATTEMPTS,
    Action,
    ActionAwaiting,
    ActionFailed,
    ActionKind,
    after_attempt,
)
from shequn.engine.dispatch import dispatch_due
from shequn.engine.models import ActionRecord, ActionStatus
from shequn.wiring import Shequn

NOW = datetime(2020, 11, 7, 12, 30, tzinfo=UTC)
GROUP = "-1001987654321"


def decide(shequn: Shequn, *actions: Action) -> None:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=NOW)
        for action in actions:
            context.emit(action)
        context.flush()


def message(number: int, *, group: str = GROUP, platform: str = "telegram") -> Action:
    return Action(
        id=f"a{number}", org="demo", kind=ActionKind.SEND_MESSAGE, cause=f"test:{number}",
        platform=platform, group=group, payload={"text": f"第{number}条"},
    )  # fmt: skip


def record(shequn: Shequn, action_id: str) -> ActionRecord:
    with shequn.sessions() as session:
        found = session.get(ActionRecord, action_id)
        assert found is not None
        return found


class Platform:
    """A connector whose answers the test scripts: each call takes the next answer, or succeeds."""

    def __init__(self, name: str, answers: list[Exception] | None = None) -> None:
        self.name = name
        self.answers = answers or []
        self.performed: list[str] = []

    def perform(self, action: ActionRecord) -> None:
        self.performed.append(action.id)
        if self.answers:
            raise self.answers.pop(0)


def test_a_wait_spends_no_attempt_and_comes_back_when_the_platform_said() -> None:
    wait = ActionFailed.wait("429 Too Many Requests: retry after 7", timedelta(seconds=7))
    outcome = after_attempt(attempts=MAX_ATTEMPTS, now=NOW, failure=wait)
    assert (outcome.status, outcome.next_attempt_at, outcome.counts_attempt) == (
        ActionStatus.PENDING,
        NOW + timedelta(seconds=7),
        False,
    )


def test_waits_never_exhaust_the_attempts(shequn: Shequn) -> None:
    waits: list[Exception] = [
        ActionFailed.wait("flood", timedelta(seconds=3)) for _ in range(MAX_ATTEMPTS + 2)
    ]
    platform = Platform("telegram", waits)
    shequn.registry.connectors["telegram"] = platform
    decide(shequn, message(1))
    now = NOW
    for _ in range(MAX_ATTEMPTS + 2):
        assert dispatch_due(shequn.sessions, shequn.registry, now=now) == {"pending": 1}
        now += timedelta(seconds=3)
    assert dispatch_due(shequn.sessions, shequn.registry, now=now) == {"sent": 1}
    sent = record(shequn, "a1")
    assert (sent.status, sent.attempts, sent.last_error) == (ActionStatus.SENT, 1, None)


def test_a_waiting_group_puts_its_later_actions_back_untried(shequn: Shequn) -> None:
    platform = Platform("telegram", [ActionFailed.wait("flood", timedelta(seconds=9))])
    shequn.registry.connectors["telegram"] = platform
    decide(shequn, message(1), message(2), message(3, group="-1001000000002"))
    tally = dispatch_due(shequn.sessions, shequn.registry, now=NOW)
    assert tally == {"pending": 1, "deferred": 1, "sent": 1}
    # a2 shares a1's group: not called, and it keeps its place behind a1.
    assert platform.performed == ["a1", "a3"]
    later = [record(shequn, "a1"), record(shequn, "a2")]
    assert [(r.status, r.attempts, r.next_attempt_at) for r in later] == [
        (ActionStatus.PENDING, 0, NOW + timedelta(seconds=9)),
        (ActionStatus.PENDING, 0, NOW + timedelta(seconds=9)),
    ]


def test_a_real_failure_still_counts_and_backs_off(shequn: Shequn) -> None:
    platform = Platform("telegram", [ActionFailed("HTTP 502", retryable=True)])
    shequn.registry.connectors["telegram"] = platform
    decide(shequn, message(1))
    assert dispatch_due(shequn.sessions, shequn.registry, now=NOW) == {"pending": 1}
    failed_once = record(shequn, "a1")
    assert (failed_once.attempts, failed_once.next_attempt_at, failed_once.last_error) == (
        1,
        NOW + timedelta(seconds=5),
        "HTTP 502",
    )


class Slow:
    """Answers only once the other platform was served: a dispatcher that sent in one line
    would wait here for ever (here: 5 s, then the test fails)."""

    name = "wecom"

    def __init__(self, other_served: threading.Event) -> None:
        self.other_served = other_served
        self.saw_other_first = False

    def perform(self, action: ActionRecord) -> None:
        self.saw_other_first = self.other_served.wait(timeout=5)


class Quick:
    name = "telegram"

    def __init__(self, served: threading.Event) -> None:
        self.served = served

    def perform(self, action: ActionRecord) -> None:
        self.served.set()


def test_a_slow_platform_does_not_hold_back_another(shequn: Shequn) -> None:
    served = threading.Event()
    slow, quick = Slow(served), Quick(served)
    shequn.registry.connectors.update({"wecom": slow, "telegram": quick})
    # The slow platform's action is older, so a single line would try it first.
    decide(shequn, message(1, group="wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", platform="wecom"))
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=NOW + timedelta(seconds=1))
        context.emit(message(2))
        context.flush()
    tally = dispatch_due(shequn.sessions, shequn.registry, now=NOW + timedelta(seconds=1))
    assert tally == {"sent": 2}
    assert slow.saw_other_first


def test_only_the_named_connectors_actions_are_dispatched(shequn: Shequn) -> None:
    platform = Platform("telegram")
    shequn.registry.connectors["telegram"] = platform
    decide(shequn, message(1), message(2, platform="unknown-platform"))
    tally = dispatch_due(shequn.sessions, shequn.registry, now=NOW, connectors={"telegram"})
    assert (tally, platform.performed) == ({"sent": 1}, ["a1"])
    # The platform nobody connects falls to the log connector, in its own round.
    assert dispatch_due(shequn.sessions, shequn.registry, now=NOW, connectors={"log"}) == {
        "sent": 1
    }
    assert record(shequn, "a2").connector == "log"


class Desk:
    """A platform that needs a person: the first call hands a task over, a later one finds it done
    once `done` is set."""

    name = "wecom"

    def __init__(self) -> None:
        self.done = False

    def perform(self, action: ActionRecord) -> None:
        task: dict[str, Any] = {"kind": "by_hand", "zh": "移出成员", "en": "Remove the member"}
        if "task" not in action.payload or not self.done:
            raise ActionAwaiting(task, check_after=timedelta(minutes=5))


def test_a_task_awaits_a_person_and_is_checked_on_without_spending_attempts(
    shequn: Shequn,
) -> None:
    desk = Desk()
    shequn.registry.connectors["wecom"] = desk
    kick = Action(
        id="k1", org="demo", kind=ActionKind.KICK_MEMBER, cause="audit:1", platform="wecom",
        group="wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", member="wmAd", payload={"reason": "广告"},
    )  # fmt: skip
    decide(shequn, kick)
    assert dispatch_due(shequn.sessions, shequn.registry, now=NOW) == {"awaiting": 1}
    waiting = record(shequn, "k1")
    assert (waiting.status, waiting.attempts, waiting.next_attempt_at) == (
        ActionStatus.AWAITING,
        1,
        NOW + timedelta(minutes=5),
    )
    assert waiting.payload == {
        "reason": "广告",
        "task": {"kind": "by_hand", "zh": "移出成员", "en": "Remove the member"},
    }
    # Not due yet: nothing happens; due and still not done: it keeps waiting.
    assert dispatch_due(shequn.sessions, shequn.registry, now=NOW + timedelta(minutes=1)) == {}
    later = NOW + timedelta(minutes=5)
    assert dispatch_due(shequn.sessions, shequn.registry, now=later) == {"awaiting": 1}
    desk.done = True
    assert dispatch_due(shequn.sessions, shequn.registry, now=later + timedelta(minutes=5)) == {
        "sent": 1
    }
    with shequn.sessions() as session:
        statuses = session.execute(select(ActionRecord.status, ActionRecord.attempts)).all()
    assert [tuple(row) for row in statuses] == [(ActionStatus.SENT, 1)]
