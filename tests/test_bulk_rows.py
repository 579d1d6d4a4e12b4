"""Rows a batch creates in bulk (stints, standings, members, audit cases, tree nodes): written
by plain statements whenever the session flushes, and ending exactly as their last values."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.engine.context import RowCache
from shequn.member.models import Membership
from shequn.wiring import Shequn

JOINED = datetime(2026, 11, 11, 20, 30, tzinfo=UTC)
LEFT = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)


def stint(rows: RowCache, number: int, *, member: str = "u1") -> Membership:
    return rows.new(
        Membership, org="shop", group_id="g1", member_id=member, stint=number,
        joined_at=JOINED, join_key=f"k{number}", inviter=None, via_kind=None, via_code=None,
        left_at=None, left_reason=None, left_by=None,
    )  # fmt: skip


def stored(session: Session) -> list[tuple[str, int, datetime | None, str | None]]:
    query = select(
        Membership.member_id, Membership.stint, Membership.left_at, Membership.left_reason
    ).order_by(Membership.member_id, Membership.stint)
    return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def test_a_new_row_is_in_the_database_once_the_session_flushes(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        rows = RowCache(session)
        stint(rows, 1)
        assert stored(session) == []
        session.flush()
        assert stored(session) == [("u1", 1, None, None)]


def test_a_change_after_a_flush_is_written_by_the_next_and_the_commit(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        rows = RowCache(session)
        row = stint(rows, 1)
        session.flush()
        row.left_at, row.left_reason = LEFT, "kicked"
        session.flush()
        assert stored(session) == [("u1", 1, LEFT, "kicked")]
        row.left_reason = "left"
    with shequn.sessions() as session:
        assert stored(session) == [("u1", 1, LEFT, "left")]


def test_a_row_removed_is_deleted_or_never_written(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        rows = RowCache(session)
        written, unwritten = stint(rows, 1), stint(rows, 2)
        session.flush()
        rows.remove(written)
        third = stint(rows, 3)
        rows.remove(unwritten)
        third.left_reason = "left"
    with shequn.sessions() as session:
        assert stored(session) == [("u1", 3, None, "left")]


def test_a_row_removed_and_created_again_in_one_batch_holds_its_new_values(
    shequn: Shequn,
) -> None:
    with shequn.sessions.begin() as session:
        rows = RowCache(session)
        stint(rows, 1)
        session.flush()
        held = rows.get(Membership, ("shop", "g1", "u1", 1))
        assert held is not None
        rows.remove(held)
        again = stint(rows, 1)
        again.left_at, again.left_reason = LEFT, "kicked"
    with shequn.sessions() as session:
        assert stored(session) == [("u1", 1, LEFT, "kicked")]


def test_a_stored_row_removed_through_the_orm_may_be_created_again_in_bulk(
    shequn: Shequn,
) -> None:
    with shequn.sessions.begin() as session:
        stint(RowCache(session), 1)
    with shequn.sessions.begin() as session:
        rows = RowCache(session)
        rows.prefetch(Membership, [("shop", "g1", "u1", 1)])
        loaded = rows.get(Membership, ("shop", "g1", "u1", 1))
        assert loaded is not None
        assert loaded in session
        rows.remove(loaded)
        stint(rows, 1).left_reason = "left"
    with shequn.sessions() as session:
        assert stored(session) == [("u1", 1, None, "left")]


def test_a_loaded_copy_of_a_row_the_batch_holds_gives_way_to_it(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        rows = RowCache(session)
        row = stint(rows, 1)
        session.flush()
        row.left_reason = "kicked"
        loaded = session.scalars(select(Membership)).one()
        assert rows.keep(loaded) is row


def test_a_unit_of_work_needs_a_session_that_writes_its_bulk_rows(shequn: Shequn) -> None:
    with Session(shequn.engine) as session, pytest.raises(TypeError, match="WorkSession"):
        RowCache(session)
