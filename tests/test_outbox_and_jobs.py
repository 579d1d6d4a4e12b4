"""Handlers decide actions into the outbox; the dispatcher and the scheduler carry them out."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shequn.engine.action import ActionFailed, after_attempt
from shequn.engine.context import Context, Job
from shequn.engine.dispatch import dispatch_due
from shequn.engine.models import ActionRecord, ActionStatus, JobRecord, JobStatus
from shequn.engine.rebuild import rebuild
from shequn.engine.registry import JobKind
from shequn.engine.scheduler import run_due_jobs
from shequn.kit.time import utc_now
from shequn.org.service import save_org
from shequn.wiring import Shequn
from tests.conftest import event, ingest

NOON = datetime(2020, 11, 7, 4, 0, tzinfo=UTC)


def configure(shequn: Shequn, **settings: object) -> None:
    with shequn.sessions.begin() as session:
        save_org(
            session,
            "demo",
            name="Demo",
            timezone="Asia/Shanghai",
            settings=dict(settings),
            now=NOON,
        )


def join(n: int, *, group: str = "new-3") -> dict[str, object]:
    return event(
        f"j-{n}",
        "member.joined",
        f"2020-11-07T10:{n:02d}:00",
        {"group": group, "member": f"u{n}", "inviter": "A"},
    )


def actions(shequn: Shequn) -> list[ActionRecord]:
    with shequn.sessions() as session:
        return list(
            session.scalars(select(ActionRecord).order_by(ActionRecord.cause, ActionRecord.id))
        )


# 10:10 in Shanghai: every welcome of the joins below (10:00-10:09) is due and under 10 min late.
WELCOME_TIME = datetime(2020, 11, 7, 2, 10, tzinfo=UTC)


def welcome(shequn: Shequn) -> list[ActionRecord]:
    run_due_jobs(shequn.sessions, shequn.registry, now=WELCOME_TIME)
    return [action for action in actions(shequn) if action.cause.startswith("job:")]


def test_a_newcomer_is_welcomed_by_name_with_a_mention(shequn: Shequn) -> None:
    configure(shequn, welcome_text="欢迎 @{nickname} 加入{group}!今晚8:30群内抽奖")
    group = {"group": "new-3", "name": "新3群"}
    profile = {"member": "u1", "nickname": "小美"}
    ingest(shequn, [
        event("g", "group.upserted", "2020-11-07T09:00:00", group),
        event("p", "member.upserted", "2020-11-07T09:59:00", profile),
        join(1),
    ])  # fmt: skip
    assert actions(shequn) == []  # nothing is posted before the window closes
    [action] = welcome(shequn)
    assert (action.kind, action.group_id, action.status, action.platform) == (
        "send_message", "new-3", ActionStatus.PENDING, "telegram",
    )  # fmt: skip
    assert action.payload == {"text": "欢迎 @小美 加入新3群!今晚8:30群内抽奖", "mentions": ["u1"]}


def newcomers_at(*times: str) -> list[dict[str, object]]:
    profiles = [
        event(
            f"p{n}", "member.upserted", "2020-11-07T09:00:00", {"member": f"u{n}", "nickname": name}
        )
        for n, name in enumerate(["小美", "小红", "小兰", "小青", "小白"])
    ]
    joins = [
        event(f"j{n}", "member.joined", f"2020-11-07T{at}", {"group": "new-3", "member": f"u{n}"})
        for n, at in enumerate(times)
    ]
    return [*profiles, *joins]


def test_newcomers_within_one_minute_share_one_welcome(shequn: Shequn) -> None:
    configure(shequn, welcome_text="欢迎 {nickname}!")
    ingest(shequn, newcomers_at("10:00:05", "10:00:20", "10:00:50", "10:01:10"))
    welcomes = welcome(shequn)
    assert [(a.payload["text"], a.payload["mentions"]) for a in welcomes] in (
        [("欢迎 小美、小红、小兰!", ["u0", "u1", "u2"]), ("欢迎 小青!", ["u3"])],
        [("欢迎 小青!", ["u3"]), ("欢迎 小美、小红、小兰!", ["u0", "u1", "u2"])],
    )


def test_a_welcome_mentions_at_most_the_orgs_limit_per_message(shequn: Shequn) -> None:
    configure(shequn, welcome_text="欢迎 {nickname}", welcome_max_mentions=2)
    ingest(shequn, newcomers_at("10:00:01", "10:00:02", "10:00:03", "10:00:04", "10:00:05"))
    assert sorted(a.payload["mentions"] for a in welcome(shequn)) == [
        ["u0", "u1"], ["u2", "u3"], ["u4"],
    ]  # fmt: skip


def test_someone_who_left_before_the_welcome_is_not_mentioned(shequn: Shequn) -> None:
    configure(shequn, welcome_text="欢迎 {nickname}")
    left = event("l0", "member.left", "2020-11-07T10:00:30",
                 {"group": "new-3", "member": "u0", "reason": "quit"})  # fmt: skip
    ingest(shequn, [*newcomers_at("10:00:05", "10:00:10"), left])
    assert [a.payload["mentions"] for a in welcome(shequn)] == [["u1"]]


def test_no_welcome_is_sent_without_a_configured_text(shequn: Shequn) -> None:
    ingest(shequn, [join(1)])
    assert welcome(shequn) == []


def test_a_redelivered_join_decides_nothing_twice(shequn: Shequn) -> None:
    configure(shequn, welcome_text="欢迎")
    ingest(shequn, [join(1)])
    ingest(shequn, [join(1), {**join(1), "id": "j-1-again"}])
    assert len(welcome(shequn)) == 1


def test_rebuild_decides_no_new_actions_or_jobs(shequn: Shequn) -> None:
    configure(shequn, welcome_text="欢迎")
    ingest(shequn, [join(1), join(2)])
    welcomed = [a.payload["mentions"] for a in welcome(shequn)]
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert [a.payload["mentions"] for a in welcome(shequn)] == welcomed == [["u1"], ["u2"]]
    assert len(jobs(shequn)) == 2


def test_a_group_short_of_its_margin_raises_one_operator_task(shequn: Shequn) -> None:
    configure(shequn, capacity_margin=2)
    group = event(
        "g",
        "group.upserted",
        "2020-11-07T09:00:00",
        {"group": "new-3", "name": "新3群", "capacity": 5},
    )
    ingest(shequn, [group, *[join(n) for n in range(5)]])
    [task] = actions(shequn)
    assert task.kind == "create_task"
    assert task.cause == "telegram:j-2"  # the third join: 3 of 5, two short of full
    assert task.payload["member_count"] == 3
    assert task.payload["title"]["zh"] == "群「新3群」已有 3/5 人,快满了:请准备新群。"


def test_the_dispatcher_sends_pending_actions_through_the_log_connector(shequn: Shequn) -> None:
    configure(shequn, welcome_text="欢迎")
    ingest(shequn, [join(1)])
    welcome(shequn)
    tally = dispatch_due(shequn.sessions, shequn.registry, now=utc_now())
    assert tally == {"sent": 1}
    [action] = actions(shequn)
    assert (action.status, action.attempts, action.connector) == (ActionStatus.SENT, 1, "log")
    assert dispatch_due(shequn.sessions, shequn.registry, now=utc_now()) == {}


class FlakyConnector:
    name = "telegram"

    def __init__(self, failures: list[ActionFailed]) -> None:
        self.failures = failures
        self.calls = 0

    def perform(self, action: ActionRecord) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


def test_a_rate_limited_action_is_retried_no_sooner_than_the_platform_asks(shequn: Shequn) -> None:
    configure(shequn, welcome_text="欢迎")
    ingest(shequn, [join(1)])
    welcome(shequn)
    connector = FlakyConnector(
        [ActionFailed("429", retryable=True, retry_after=timedelta(seconds=30))]
    )
    shequn.registry.connectors["telegram"] = connector
    now = utc_now()
    assert dispatch_due(shequn.sessions, shequn.registry, now=now) == {"pending": 1}
    assert dispatch_due(shequn.sessions, shequn.registry, now=now + timedelta(seconds=29)) == {}
    assert dispatch_due(shequn.sessions, shequn.registry, now=now + timedelta(seconds=30)) == {
        "sent": 1
    }
    assert connector.calls == 2


def test_a_permanent_failure_marks_the_action_failed_with_its_reason(shequn: Shequn) -> None:
    configure(shequn, welcome_text="欢迎")
    ingest(shequn, [join(1)])
    welcome(shequn)
    shequn.registry.connectors["telegram"] = FlakyConnector(
        [ActionFailed("bot was kicked from the group", retryable=False)]
    )
    assert dispatch_due(shequn.sessions, shequn.registry, now=utc_now()) == {"failed": 1}
    [action] = actions(shequn)
    assert (action.status, action.last_error) == (
        ActionStatus.FAILED,
        "bot was kicked from the group",
    )


@pytest.mark.parametrize(
    ("attempts", "retryable", "status", "wait"),
    [
        (1, True, ActionStatus.PENDING, timedelta(seconds=5)),
        (3, True, ActionStatus.PENDING, timedelta(seconds=20)),
        (6, True, ActionStatus.FAILED, timedelta(0)),
        (1, False, ActionStatus.FAILED, timedelta(0)),
    ],
)
def test_retries_back_off_and_give_up(
    attempts: int, retryable: bool, status: ActionStatus, wait: timedelta
) -> None:
    outcome = after_attempt(
        attempts=attempts, now=NOON, failure=ActionFailed("timeout", retryable=retryable)
    )
    assert (outcome.status, outcome.next_attempt_at - NOON) == (status, wait)


def schedule(shequn: Shequn, job_id: str, due: datetime, text: str = "今晚8:30,群内抽奖") -> None:
    with shequn.sessions.begin() as session:
        tenants = shequn.registry.tenancy.ensure(session, ["demo"], due)
        context = Context(session, registry=shequn.registry, tenants=tenants, now=due)
        context.schedule(
            Job(
                id=job_id,
                org="demo",
                kind="group.announce",
                due_at=due,
                payload={"group": "new-3", "text": text},
            )
        )
        context.flush()


def jobs(shequn: Shequn) -> list[JobRecord]:
    with shequn.sessions() as session:
        return list(session.scalars(select(JobRecord).order_by(JobRecord.id)))


def test_a_job_that_came_due_while_down_runs_once(shequn: Shequn) -> None:
    ingest(shequn, [join(1)])
    due = datetime(2020, 11, 7, 12, 30, tzinfo=UTC)  # 20:30 in Shanghai
    schedule(shequn, "teaser", due)
    restart = due + timedelta(minutes=10)
    [run] = run_due_jobs(shequn.sessions, shequn.registry, now=restart)
    assert run.status == JobStatus.DONE
    assert run_due_jobs(shequn.sessions, shequn.registry, now=restart + timedelta(minutes=1)) == []
    [announcement] = [a for a in actions(shequn) if a.cause == "job:teaser"]
    assert announcement.payload == {"text": "今晚8:30,群内抽奖", "mentions": []}


def test_a_job_too_late_to_make_sense_is_skipped_with_a_reason(shequn: Shequn) -> None:
    ingest(shequn, [join(1)])
    due = datetime(2020, 11, 7, 12, 30, tzinfo=UTC)
    schedule(shequn, "teaser", due)
    [run] = run_due_jobs(shequn.sessions, shequn.registry, now=due + timedelta(hours=3, minutes=5))
    assert run.status == JobStatus.SKIPPED
    assert run.note == (
        "too late: due 2020-11-07 12:30 UTC, 3h05m ago; group.announce runs at most 30m late"
    )
    assert [a for a in actions(shequn) if a.cause == "job:teaser"] == []


def test_a_job_not_yet_due_waits(shequn: Shequn) -> None:
    due = datetime(2020, 11, 7, 12, 30, tzinfo=UTC)
    schedule(shequn, "teaser", due)
    assert run_due_jobs(shequn.sessions, shequn.registry, now=due - timedelta(seconds=1)) == []
    assert [j.status for j in jobs(shequn)] == [JobStatus.PENDING]


def test_a_failing_job_is_recorded_and_does_not_stop_the_others(shequn: Shequn) -> None:
    def explode(context: Context, job: JobRecord) -> None:
        raise RuntimeError("price service unreachable")

    shequn.registry.job_kinds["test.explode"] = JobKind("test.explode", explode, max_lateness=None)
    due = datetime(2020, 11, 7, 12, 30, tzinfo=UTC)
    ingest(shequn, [join(1)])
    schedule(shequn, "teaser", due)
    with shequn.sessions.begin() as session:
        session.add(
            JobRecord(
                id="a-boom",
                org="demo",
                kind="test.explode",
                due_at=due,
                payload={},
                status=JobStatus.PENDING,
                created_at=due,
                ran_at=None,
                note=None,
            )
        )
    runs = run_due_jobs(shequn.sessions, shequn.registry, now=due)
    assert [(r.id, r.status, r.note) for r in runs] == [
        ("a-boom", JobStatus.FAILED, "RuntimeError: price service unreachable"),
        ("teaser", JobStatus.DONE, None),
    ]
