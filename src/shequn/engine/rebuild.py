"""Rebuild every projection from the event log; the result equals the live state exactly."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shequn.engine.intake import apply_events, event_from_row
from shequn.engine.models import EventRecord
from shequn.engine.registry import Registry

REPLAY_BATCH = 2000


def rebuild(
    session: Session,
    registry: Registry,
    *,
    now: datetime,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Empty the projection tables and replay the log in key order, in the caller's transaction.

    Reactions are not re-run: the actions they decided are already in the outbox.
    """
    for table in reversed(registry.projection_tables):
        session.execute(delete(table))
    replayed = 0
    after: str | None = None
    while True:
        # A page at a time, each its own query after the last key: a replay empties the
        # session after every page, which a result still being iterated cannot outlive.
        page = select(EventRecord).order_by(EventRecord.key).limit(REPLAY_BATCH)
        if after is not None:
            page = page.where(EventRecord.key > after)
        chunk = list(session.scalars(page))
        if not chunk:
            return replayed
        after = chunk[-1].key
        replayed += _replay(session, registry, chunk, now, on_progress)


def _replay(
    session: Session,
    registry: Registry,
    chunk: list[EventRecord],
    now: datetime,
    on_progress: Callable[[int], None] | None,
) -> int:
    events = [event_from_row(record, registry) for record in chunk]
    apply_events(session, registry, events, now=now, replaying=True)
    session.expunge_all()
    if on_progress is not None:
        on_progress(len(events))
    return len(events)


def count_events(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(EventRecord)) or 0


def dump_state(session: Session, registry: Registry) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection row by natural content, sorted: what 'the same state' means in tests."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    for table in registry.projection_tables:
        columns = [column for column in table.columns if column.autoincrement is not True]
        rows = session.execute(select(*columns)).all()
        state[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return state
