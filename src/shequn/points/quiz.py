"""Quizzes (有奖问答): an operator asks a group a question with accepted answers and a window;
each member's first right answer in the window earns once, within the daily quiz cap; the close
posts the answer and how many had it right."""

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequn.engine.action import Action, ActionKind
from shequn.engine.context import CHUNK, Context, Job
from shequn.engine.models import JobRecord
from shequn.group.models import Group
from shequn.kit.ids import stable_id
from shequn.points.models import PointsQuiz, PointsQuizAnswer
from shequn.points.policy import policy_of
from shequn.points.rules import (
    QUIZ_WORDS,
    EarnKind,
    Quiz,
    quiz_answer_text,
    quiz_question_text,
)

QUIZ_OPEN_JOB = "points.quiz_open"
QUIZ_CLOSE_JOB = "points.quiz_close"
MAX_ANSWERS = 20


class UnknownQuiz(LookupError):
    def __init__(self, quiz: str) -> None:
        super().__init__(f"quiz {quiz!r} does not exist in this org")


def quiz_rule(record: PointsQuiz) -> Quiz:
    return Quiz(record.question, tuple(record.answers), record.opens_at, record.closes_at)


def _check(
    question: str, answers: list[str], points: int, opens_at: datetime, closes_at: datetime
) -> Quiz:
    if not question.strip() or len(question) > 1000:
        raise ValueError(f"--question: {question!r} must be 1-1000 characters")
    if not answers or len(answers) > MAX_ANSWERS:
        raise ValueError(f"--answer: give 1-{MAX_ANSWERS} accepted answers")
    for answer in answers:
        if not answer.strip() or len(answer) > 200:
            raise ValueError(f"--answer: {answer!r} must be 1-200 characters")
    if points < 1:
        raise ValueError(f"--points: {points} must be 1 point or more")
    try:
        return Quiz(question.strip(), tuple(a.strip() for a in answers), opens_at, closes_at)
    except ValueError as error:
        raise ValueError(f"--answer/--until: {error}") from None


def start_quiz(
    context: Context,
    org: str,
    *,
    group: str,
    question: str,
    answers: list[str],
    opens_at: datetime,
    closes_at: datetime,
    points: int | None = None,
    lang: str | None = None,
    by: str | None = None,
) -> PointsQuiz:
    """A quiz in a group: the question is posted when it opens and the answer when it closes.
    Starting the same question in the same group at the same time again returns the first."""
    policy = policy_of(context, org)
    points = policy.rules[EarnKind.QUIZ].points if points is None else points
    lang = policy.lang if lang is None else lang
    if lang not in QUIZ_WORDS:
        raise ValueError(f"--lang: {lang!r} is not one of {', '.join(QUIZ_WORDS)}")
    quiz = _check(question, answers, points, opens_at, closes_at)
    if closes_at <= context.now:
        raise ValueError(f"--until: {closes_at.isoformat()} is already past")
    found = context.session.get(Group, (org, group))
    if found is None or found.dismissed_at is not None:
        raise ValueError(f"--group: {group!r} is not a group of this org")
    quiz_id = stable_id("quiz", org, group, opens_at.isoformat(), quiz.question)
    earlier = context.session.get(PointsQuiz, (org, quiz_id))
    if earlier is not None:
        return earlier
    record = PointsQuiz(
        org=org, id=quiz_id, group_id=group, question=quiz.question, answers=list(quiz.answers),
        points=points, opens_at=opens_at, closes_at=closes_at, lang=lang, created_at=context.now,
        created_by=by, closed_at=None,
    )  # fmt: skip
    context.session.add(record)
    context.session.flush()
    if opens_at <= context.now:
        post_question(context, record)
    else:
        context.schedule(_job(QUIZ_OPEN_JOB, record, opens_at))
    context.schedule(_job(QUIZ_CLOSE_JOB, record, closes_at))
    return record


def _job(kind: str, record: PointsQuiz, due_at: datetime) -> Job:
    return Job(
        id=stable_id(kind, record.org, record.id),
        org=record.org,
        kind=kind,
        due_at=due_at,
        payload={"quiz": record.id},
    )


def _post(context: Context, record: PointsQuiz, what: str, text: str) -> None:
    group = context.session.get(Group, (record.org, record.group_id))
    if group is None or group.dismissed_at is not None:
        return
    context.emit(
        Action(
            id=stable_id(f"quiz-{what}", record.org, record.id),
            org=record.org,
            kind=ActionKind.SEND_MESSAGE,
            cause=f"quiz:{record.id}",
            platform=group.platform,
            group=record.group_id,
            payload={"text": text, "mentions": []},
        )
    )


def post_question(context: Context, record: PointsQuiz) -> None:
    timezone = context.tenant(record.org).timezone
    text = quiz_question_text(
        quiz_rule(record), points=record.points, timezone=timezone, lang=record.lang
    )
    _post(context, record, "question", text)


def quiz_of(session: Session, org: str, quiz_id: str) -> PointsQuiz:
    found = session.get(PointsQuiz, (org, quiz_id), populate_existing=True)
    if found is None:
        raise UnknownQuiz(quiz_id)
    return found


def close_quiz(context: Context, org: str, quiz_id: str) -> PointsQuiz:
    """Close a quiz now (or at its end, by the job): post the answer and the number of right
    answers. Closing a closed quiz changes nothing."""
    record = quiz_of(context.session, org, quiz_id)
    if record.closed_at is not None:
        return record
    if context.now < record.opens_at:
        raise ValueError(f"quiz {quiz_id!r} opens at {record.opens_at.isoformat()}: not yet open")
    # Answers that come in after an early close must not earn.
    record.closes_at = min(record.closes_at, context.now)
    record.closed_at = context.now
    context.session.flush()
    correct = correct_counts(context.session, org, [quiz_id])[quiz_id]
    _post(context, record, "answer", quiz_answer_text(quiz_rule(record), correct=correct,
                                                      lang=record.lang))  # fmt: skip
    return record


def correct_counts(session: Session, org: str, quizzes: Collection[str]) -> dict[str, int]:
    """How many members answered each quiz right (whatever the cap left them to earn)."""
    counts = dict.fromkeys(quizzes, 0)
    wanted = sorted(counts)
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(PointsQuizAnswer.quiz, func.count())
            .where(PointsQuizAnswer.org == org,
                   PointsQuizAnswer.quiz.in_(wanted[start : start + CHUNK]))
            .group_by(PointsQuizAnswer.quiz)
        )  # fmt: skip
        counts.update({quiz: int(count) for quiz, count in rows})
    return counts


def quizzes_of(session: Session, org: str, *, group: str | None = None) -> list[PointsQuiz]:
    """The org's quizzes, latest opening first."""
    query = select(PointsQuiz).where(PointsQuiz.org == org)
    if group is not None:
        query = query.where(PointsQuiz.group_id == group)
    return list(session.scalars(query.order_by(PointsQuiz.opens_at.desc(), PointsQuiz.id)))


def quiz_status(record: PointsQuiz, *, now: datetime) -> str:
    if record.closed_at is not None or now >= record.closes_at:
        return "closed"
    return "scheduled" if now < record.opens_at else "open"


def quiz_json(record: PointsQuiz, *, correct: int, now: datetime) -> dict[str, Any]:
    return {
        "quiz": record.id, "group": record.group_id, "question": record.question,
        "answers": list(record.answers), "points": record.points,
        "opens_at": record.opens_at.isoformat(), "closes_at": record.closes_at.isoformat(),
        "status": quiz_status(record, now=now), "correct": correct,
    }  # fmt: skip


def quizzes_in_window(
    session: Session, org: str, groups: Iterable[str], *, since: datetime, until: datetime
) -> dict[str, list[PointsQuiz]]:
    """Per group, the quizzes whose window overlaps [since, until]: what a batch may answer."""
    wanted = sorted(set(groups))
    found: dict[str, list[PointsQuiz]] = {}
    for start in range(0, len(wanted), CHUNK):
        for record in session.scalars(
            select(PointsQuiz).where(
                PointsQuiz.org == org, PointsQuiz.group_id.in_(wanted[start : start + CHUNK]),
                PointsQuiz.opens_at <= until, PointsQuiz.closes_at > since,
            ).order_by(PointsQuiz.opens_at, PointsQuiz.id)
        ):  # fmt: skip
            found.setdefault(record.group_id, []).append(record)
    return found


def answered_already(
    session: Session, org: str, quizzes: Collection[str], members: Collection[str]
) -> set[tuple[str, str]]:
    """(quiz, member) pairs among these whose right answer is stored."""
    if not quizzes or not members:
        return set()
    wanted = sorted(set(members))
    pairs: set[tuple[str, str]] = set()
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(PointsQuizAnswer.quiz, PointsQuizAnswer.member).where(
                PointsQuizAnswer.org == org, PointsQuizAnswer.quiz.in_(sorted(quizzes)),
                PointsQuizAnswer.member.in_(wanted[start : start + CHUNK]),
            )
        )  # fmt: skip
        pairs.update((quiz, member) for quiz, member in rows)
    return pairs


def run_quiz_open(context: Context, job: JobRecord) -> None:
    record = context.session.get(PointsQuiz, (job.org, str(job.payload["quiz"])))
    if record is not None and record.closed_at is None:
        post_question(context, record)


def run_quiz_close(context: Context, job: JobRecord) -> None:
    if context.session.get(PointsQuiz, (job.org, str(job.payload["quiz"]))) is not None:
        close_quiz(context, job.org, str(job.payload["quiz"]))


def counts_json(
    records: Iterable[PointsQuiz], counts: Mapping[str, int], *, now: datetime
) -> list[dict[str, Any]]:
    return [quiz_json(record, correct=counts.get(record.id, 0), now=now) for record in records]
