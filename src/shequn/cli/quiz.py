"""`shequn quiz …`: quizzes (有奖问答) posted to a group, answered in the chat, closed with the
answer."""

import json
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from shequn.cli.common import DbOption, JsonOption, console, fail, opened
from shequn.cli.invite import OrgOption, instant
from shequn.kit.time import utc_now
from shequn.points.quiz import (
    UnknownQuiz,
    close_quiz,
    correct_counts,
    counts_json,
    quizzes_of,
    start_quiz,
)

quiz_app = typer.Typer(
    help="Quizzes (有奖问答): a question, accepted answers and a window; right answers earn.",
    no_args_is_help=True,
)


@quiz_app.command("start")
def quiz_start(
    group: Annotated[str, typer.Option(help="The group the question is posted to.")],
    question: Annotated[str, typer.Option(help="The question, as posted.")],
    answer: Annotated[list[str], typer.Option(help="An accepted answer; repeat for more.")],
    db: DbOption = None,
    org: OrgOption = None,
    points: Annotated[
        int | None, typer.Option(help="Points for a right answer (default: points_quiz, 10).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="Opens at (ISO 8601 with offset; default: now).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Closes at (ISO 8601 with offset).")] = None,
    minutes: Annotated[
        int | None, typer.Option(help="Closes this many minutes after it opens (or --until).")
    ] = None,
    lang: Annotated[
        str | None, typer.Option(help="Language of its posts: zh or en (default: points_lang).")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who asks (recorded).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Start a quiz: the question is posted when it opens, the answer when it closes (开始问答)."""
    now = utc_now()
    opens_at = instant("--from", since) or now
    if (until is None) == (minutes is None):
        fail("give --until or --minutes (one of them)")
    if minutes is not None and minutes < 1:
        fail(f"--minutes: {minutes} must be 1 or more")
    closes_at = instant("--until", until) or opens_at + timedelta(minutes=minutes or 0)
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id, now=now)
        try:
            record = start_quiz(
                context, org_id, group=group, question=question, answers=answer,
                opens_at=opens_at, closes_at=closes_at, points=points, lang=lang, by=by,
            )  # fmt: skip
        except ValueError as error:
            fail(str(error))
        context.flush()
        shown = counts_json([record], {}, now=now)[0]
    if as_json:
        print(json.dumps(shown, ensure_ascii=False))
        return
    console.print(f"quiz 问答 {record.id} in {group}: {shown['status']}, {record.points} points, "
                  f"{shown['opens_at']} → {shown['closes_at']}")  # fmt: skip


@quiz_app.command("list")
def quiz_list(
    db: DbOption = None,
    org: OrgOption = None,
    group: Annotated[str | None, typer.Option(help="One group's quizzes.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Quizzes, latest first, with how many answered right (问答列表)."""
    now = utc_now()
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        records = quizzes_of(session, org_id, group=group)
        rows = counts_json(records, correct_counts(session, org_id, [r.id for r in records]),
                           now=now)  # fmt: skip
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("quiz 问答", "group 群", "question 问题", "points 积分", "status 状态",
                  "correct 答对")  # fmt: skip
    for row in rows:
        table.add_row(str(row["quiz"]), str(row["group"]), str(row["question"]),
                      str(row["points"]), str(row["status"]), str(row["correct"]))  # fmt: skip
    console.print(table)


@quiz_app.command("close")
def quiz_close(
    quiz: Annotated[str, typer.Argument(help="Quiz id (from quiz list).")],
    db: DbOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close a quiz now and post its answer with the number of right answers (结束问答)."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            record = close_quiz(context, org_id, quiz)
        except (UnknownQuiz, ValueError) as error:
            fail(str(error))
        context.flush()
        shown = counts_json([record], correct_counts(session, org_id, [quiz]),
                            now=context.now)[0]  # fmt: skip
    if as_json:
        print(json.dumps(shown, ensure_ascii=False))
        return
    console.print(f"quiz 问答 {quiz} closed 已结束: {shown['correct']} answered right 人答对")
