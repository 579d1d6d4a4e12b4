"""Quizzes (有奖问答): the question posted when it opens, each member's right answer paid once
within the daily cap, the answer and the count posted at the close; over the CLI and HTTP."""

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner, Result

from shequn.app import create_app
from shequn.cli.quiz import quiz_app
from shequn.engine.models import ActionRecord
from shequn.engine.scheduler import run_due_jobs
from shequn.kit.time import parse_instant, utc_now
from shequn.org.service import create_token
from shequn.points.models import PointsQuiz, PointsQuizAnswer
from shequn.points.quiz import start_quiz
from shequn.points.rules import (
    EarnKind,
    PaidOrder,
    Quiz,
    order_to_show,
    quiz_answer_text,
    quiz_question_text,
)
from shequn.points.service import check_points_settings
from shequn.wiring import Shequn
from tests.conftest import empty_store, event, ingest
from tests.test_points_service import (
    assert_ledger_holds,
    balances,
    configure,
    entries,
    local,
    said,
)

QUESTION = "设计师的家乡是哪座城市?"
runner = CliRunner()


def at(clock: str, day: str = "2026-03-07") -> datetime:
    return parse_instant(f"{day}T{clock}:00+08:00")


def group_exists(shequn: Shequn, group: str = "g1") -> None:
    data = {"group": group, "name": "双11老粉1群"}
    ingest(shequn, [event(f"grp-{group}", "group.upserted", "2026-03-01T08:00:00", data)])


def quiz(
    shequn: Shequn,
    *,
    now: str = "19:55",
    opens: str = "20:00",
    closes: str = "20:30",
    day: str = "2026-03-07",
) -> str:
    return quiz_between(
        shequn, now=at(now, day), opens_at=at(opens, day), closes_at=at(closes, day)
    )


def quiz_between(shequn: Shequn, *, now: datetime, opens_at: datetime, closes_at: datetime) -> str:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=now)
        record = start_quiz(context, "demo", group="g1", question=QUESTION,
                            answers=["杭州", "Hangzhou"], opens_at=opens_at,
                            closes_at=closes_at)  # fmt: skip
        context.flush()
        return record.id


def run_jobs(shequn: Shequn, clock: str, day: str = "2026-03-07") -> None:
    run_due_jobs(shequn.sessions, shequn.registry, now=at(clock, day), limit=10_000)


def posts(shequn: Shequn) -> list[str]:
    with shequn.sessions() as session:
        rows = session.scalars(
            select(ActionRecord)
            .where(ActionRecord.cause.startswith("quiz:"))
            .order_by(ActionRecord.created_at, ActionRecord.id)
        )
        return [row.payload["text"] for row in rows]


def quiz_cli(shequn: Shequn, *args: str) -> Result:
    return runner.invoke(quiz_app, [*args, "--org", "demo", "--db", shequn.settings.database_url])


def quiz_entries(shequn: Shequn) -> list[tuple[str, int, str]]:
    return [row for row in entries(shequn) if row[2].startswith("quiz:")]


def answer(n: int, member: str, clock: str, text: str) -> dict[str, Any]:
    return said(100 + n, member, f"2026-03-07T{clock}:00", text)


EVENING = [
    answer(1, "u4", "19:59", "杭州"),  # before it opens
    answer(2, "u1", "20:01", "杭州"),
    answer(3, "u1", "20:02", "Hangzhou"),  # right again: paid once
    answer(4, "u2", "20:03", "上海"),
    answer(5, "u3", "20:05", " ＨＡＮＧＺＨＯＵ。"),
    answer(6, "u5", "20:30", "杭州"),  # as it closes: too late
]


def test_a_quiz_posts_its_question_pays_each_right_answer_once_and_closes_with_the_count(
    shequn: Shequn,
) -> None:
    group_exists(shequn)
    quiz_id = quiz(shequn)
    assert posts(shequn) == []
    run_jobs(shequn, "20:00")
    assert posts(shequn) == [
        f"【有奖问答】{QUESTION}\n03-07 20:30 前在群里回复答案,答对得 10 积分!"
    ]
    ingest(shequn, EVENING)
    run_jobs(shequn, "20:31")
    assert posts(shequn)[1] == f"【答案揭晓】{QUESTION}\n答案:杭州 / Hangzhou\n共 2 人答对。"
    assert quiz_entries(shequn) == [
        ("earn", 10, f"quiz:{quiz_id}:u1"),
        ("earn", 10, f"quiz:{quiz_id}:u3"),
    ]
    # Every message earns its chatter point as well; a right answer earns the quiz's 10 on top.
    assert balances(shequn) == {"u1": 12, "u2": 1, "u3": 11, "u4": 1, "u5": 1}
    # Delivered again, in other batches: nothing more is earned and nothing more posted.
    ingest(shequn, [answer(7, "u1", "20:10", "杭州"), *reversed(EVENING)], batch_size=2)
    run_jobs(shequn, "21:00")
    assert len(posts(shequn)) == 2
    assert len(quiz_entries(shequn)) == 2
    assert balances(shequn)["u1"] == 13
    assert_ledger_holds(shequn)


def test_quiz_points_stop_at_the_daily_quiz_cap_but_a_right_answer_still_counts(
    shequn: Shequn,
) -> None:
    configure(shequn, points_quiz_cap=15, points_message=0)
    group_exists(shequn)
    first = quiz(shequn, now="18:00", opens="19:00", closes="19:30")
    second = quiz(shequn, opens="20:00", closes="20:30")
    ingest(shequn, [answer(1, "u1", "19:10", "杭州"), answer(2, "u1", "20:10", "杭州")])
    assert quiz_entries(shequn) == [
        ("earn", 10, f"quiz:{first}:u1"),
        ("earn", 5, f"quiz:{second}:u1"),
    ]
    # A new local day, a new cap.
    third = quiz(shequn, now="07:00", opens="08:00", closes="08:30", day="2026-03-08")
    ingest(shequn, [said(200, "u1", "2026-03-08T08:01:00", "hangzhou")])
    assert quiz_entries(shequn)[-1] == ("earn", 10, f"quiz:{third}:u1")
    with shequn.sessions() as session:
        counted = session.execute(
            select(PointsQuizAnswer.quiz, PointsQuizAnswer.points).order_by(PointsQuizAnswer.at)
        ).all()
    assert [tuple(row) for row in counted] == [(first, 10), (second, 5), (third, 10)]


def test_flagged_members_and_staff_answer_but_earn_nothing(shequn: Shequn) -> None:
    configure(shequn, audit_crew=["crew1"])
    group_exists(shequn)
    quiz(shequn)
    stock = {"url": "https://img.example/stock.jpg", "flags": ["stock_photo"]}
    fake = event("p-u9", "member.upserted", "2026-03-07T10:00:00",
                 {"member": "u9", "nickname": "A00微商货源", "avatar": stock})  # fmt: skip
    ingest(shequn, [fake, answer(1, "u9", "20:01", "杭州"), answer(2, "crew1", "20:02", "杭州")])
    assert quiz_entries(shequn) == []


def test_an_early_close_posts_the_answer_and_later_answers_do_not_earn(shequn: Shequn) -> None:
    group_exists(shequn)
    now = utc_now()
    quiz_id = quiz_between(shequn, now=now - timedelta(minutes=11),
                           opens_at=now - timedelta(minutes=10),
                           closes_at=now + timedelta(minutes=20))  # fmt: skip
    ingest(shequn, [said(1, "u1", local(now - timedelta(minutes=5)), "杭州")])
    closed = quiz_cli(shequn, "close", quiz_id, "--json")
    assert closed.exit_code == 0, closed.output
    shown = json.loads(closed.stdout)
    assert (shown["status"], shown["correct"]) == ("closed", 1)
    assert posts(shequn)[-1].endswith("共 1 人答对。")
    ingest(shequn, [said(2, "u2", local(now + timedelta(minutes=5)), "杭州")])
    assert [key for _, _, key in quiz_entries(shequn)] == [f"quiz:{quiz_id}:u1"]
    again = quiz_cli(shequn, "close", quiz_id, "--json")
    assert json.loads(again.stdout)["correct"] == 1
    assert quiz_cli(shequn, "close", "q-404").exit_code == 1


def test_quiz_commands_start_list_and_refuse_bad_input_storing_nothing(shequn: Shequn) -> None:
    group_exists(shequn)
    started = quiz_cli(shequn, "start", "--group", "g1", "--question", "Where?",
                  "--answer", "Hangzhou", "--answer", "杭州", "--points", "20", "--minutes",
                  "30", "--lang", "en", "--json")  # fmt: skip
    assert started.exit_code == 0, started.output
    shown = json.loads(started.stdout)
    assert (shown["status"], shown["points"], shown["answers"]) == (
        "open",
        20,
        ["Hangzhou", "杭州"],
    )
    assert posts(shequn)[0].startswith("Quiz: Where?\nReply in the group by ")
    assert posts(shequn)[0].endswith(": a right answer earns 20 points!")
    refused = [
        (["--group", "g404", "--answer", "a", "--minutes", "5"], "'g404' is not a group"),
        (["--group", "g1", "--answer", "?!", "--minutes", "5"], "letters or digits"),
        (["--group", "g1", "--answer", "a"], "give --until or --minutes"),
        (["--group", "g1", "--answer", "a", "--minutes", "5", "--points", "0"], "1 point or more"),
        (
            [
                "--group",
                "g1",
                "--answer",
                "a",
                "--from",
                "2020-01-01T00:00:00+08:00",
                "--until",
                "2020-01-01T01:00:00+08:00",
            ],
            "is already past",
        ),
        (["--group", "g1", "--answer", "a", "--minutes", "5", "--lang", "fr"], "'fr' is not one"),
    ]
    for args, error in refused:
        result = quiz_cli(shequn, "start", "--question", "Q?", *args)
        assert result.exit_code == 1, args
        assert error in result.stderr, (args, result.stderr)
    listed = quiz_cli(shequn, "list", "--json")
    assert [(row["question"], row["correct"]) for row in json.loads(listed.stdout)] == [
        ("Where?", 0)
    ]


def test_quizzes_over_http_start_list_and_close(shequn: Shequn) -> None:
    group_exists(shequn)
    with shequn.sessions.begin() as session:
        token = create_token(session, "demo", name="test", now=utc_now())
    headers = {"Authorization": f"Bearer {token}"}
    body = {"group": "g1", "question": QUESTION, "answers": ["杭州"], "minutes": 20}
    with TestClient(create_app(shequn, run_worker=False)) as client:
        made = client.post("/api/v1/quizzes", headers=headers, json=body)
        assert made.status_code == 201, made.text
        assert (made.json()["status"], made.json()["points"]) == ("open", 10)
        listed = client.get("/api/v1/quizzes", headers=headers).json()
        assert [row["quiz"] for row in listed] == [made.json()["quiz"]]
        both = client.post("/api/v1/quizzes", headers=headers, json={**body, "closes_at": "x"})
        assert both.status_code == 422
        unknown = client.post("/api/v1/quizzes", headers=headers, json={**body, "group": "g9"})
        assert (unknown.status_code, unknown.json()["detail"]) == (
            422, "--group: 'g9' is not a group of this org",
        )  # fmt: skip
        closed = client.post(f"/api/v1/quizzes/{made.json()['quiz']}/close", headers=headers)
        assert (closed.status_code, closed.json()["status"]) == (200, "closed")
        assert client.post("/api/v1/quizzes/q-404/close", headers=headers).status_code == 404
    with shequn.sessions() as session:
        assert len(session.scalars(select(PointsQuiz)).all()) == 1


# One evening's answers: u1 and u4 are right twice, u2 on the second try, u3 too late.
DELIVERIES = [
    answer(1, "u1", "20:01", "杭州"),
    answer(2, "u1", "20:02", "hangzhou"),
    answer(3, "u2", "20:03", "上海"),
    answer(4, "u2", "20:04", "杭州"),
    answer(5, "u3", "20:31", "杭州"),
    answer(6, "u4", "20:05", "HANGZHOU"),
    answer(7, "u4", "20:06", "杭州"),
]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.permutations(range(len(DELIVERIES))),
    repeats=st.lists(st.integers(0, len(DELIVERIES) - 1), max_size=4),
    batch_size=st.integers(1, 4),
)
def test_a_quiz_pays_each_member_at_most_once_whatever_the_order_of_deliveries(
    shequn: Shequn, order: list[int], repeats: list[int], batch_size: int
) -> None:
    empty_store(shequn)
    group_exists(shequn)
    quiz_id = quiz(shequn)
    log = [DELIVERIES[i] for i in order] + [DELIVERIES[i] for i in repeats]
    ingest(shequn, log, batch_size=batch_size)
    assert sorted(quiz_entries(shequn)) == [
        ("earn", 10, f"quiz:{quiz_id}:{member}") for member in ("u1", "u2", "u4")
    ]
    assert_ledger_holds(shequn)


def test_the_question_and_answer_posts_read_in_the_orgs_time_and_language() -> None:
    rule = Quiz(QUESTION, ("杭州", "Hangzhou"), at("20:00"), at("20:30"))
    assert quiz_question_text(rule, points=10, timezone="Asia/Shanghai", lang="en") == (
        f"Quiz: {QUESTION}\nReply in the group by 03-07 20:30: a right answer earns 10 points!"
    )
    assert quiz_answer_text(rule, correct=0, lang="en") == (
        f"Quiz answer: {QUESTION}\nAnswer: 杭州 / Hangzhou\n0 answered right."
    )


PAID = [PaidOrder("o1", at("12:00", "2026-03-01")), PaidOrder("o2", at("21:00", "2026-03-08"))]


@pytest.mark.parametrize(
    ("posted", "shown", "order"),
    [
        (at("20:00", "2026-03-07"), set(), "o1"),  # 6 days after o1
        (at("12:00", "2026-03-08"), set(), "o1"),  # exactly 7 days after
        (at("12:01", "2026-03-08"), set(), None),  # a minute too late
        (at("09:00", "2026-03-09"), set(), "o2"),  # the latest first
        (at("09:00", "2026-03-09"), {"o2"}, None),  # o1 is too old by then
        (at("11:00", "2026-02-28"), set(), None),  # before any order
    ],
)
def test_an_image_shows_the_latest_order_paid_in_the_days_before_and_not_shown_yet(
    posted: datetime, shown: set[str], order: str | None
) -> None:
    assert order_to_show(PAID, at=posted, days=7, shown=shown) == order


@pytest.mark.parametrize(
    ("settings_", "error"),
    [
        ({"points_show_order_days": 0}, "points_show_order_days: 0 is not 1-365 days"),
        ({"points_quiz_cap": -1}, "points_quiz_cap: -1 is not a whole number"),
        ({"points_show_order": "20"}, "points_show_order: '20' is not a whole number"),
    ],
)
def test_quiz_and_show_order_settings_are_checked_by_name(
    settings_: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        check_points_settings(settings_)
    policy = check_points_settings({"points_quiz": 15, "points_show_order_cap": 40})
    assert (policy.rules[EarnKind.QUIZ].points, policy.rules[EarnKind.QUIZ].daily_cap) == (15, 30)
    assert policy.rules[EarnKind.SHOW_ORDER].daily_cap == 40
    assert policy.show_order_days == 7
