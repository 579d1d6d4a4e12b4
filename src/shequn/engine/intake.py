"""Intake: validate, drop re-deliveries, store, and apply a batch of events in one transaction."""

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shequn.db import insert_ignoring_conflicts
from shequn.engine.context import Context, SightingCache
from shequn.engine.event import Event, Rejection, parse_event
from shequn.engine.models import EventRecord, IntakeBatch
from shequn.engine.registry import Registry
from shequn.kit.time import utc_now

Decoded = tuple[int | None, object]
# Hook: the data the log keeps of an event, where it must not keep what arrived (a member's
# phone is kept masked while a projection seals the number). Handlers see the data as it came.
StoredForm = Callable[[Event, dict[str, Any]], dict[str, Any]]
BATCH_NUMBER_RETRIES = 5
# Decimal keeps amounts exact from the first byte on. One decoder for all lines: `json.loads`
# with options builds a new one per call, a measurable share of a large import.
DECODER = json.JSONDecoder(parse_float=Decimal)


@dataclass
class IngestSummary:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [rejection.as_json() for rejection in self.rejected],
        }


def decode_json_lines(lines: Iterable[bytes]) -> Iterator[Decoded | Rejection]:
    """One JSON value per line; blank lines are skipped, a bad line is rejected with its number."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield Rejection(None, number, f"invalid UTF-8 at byte {error.start}")
            continue
        if number == 1:
            # Files saved by Windows tools often start with a byte-order mark.
            text = text.removeprefix("\ufeff")
        try:
            yield number, DECODER.decode(text)
        except json.JSONDecodeError as error:
            yield Rejection(None, number, f"malformed JSON: {error.msg} at column {error.colno}")
        except RecursionError:
            yield Rejection(None, number, "malformed JSON: nested too deeply")


def decode_body(body: bytes) -> Iterator[Decoded | Rejection]:
    """An HTTP body: a JSON array of events, or JSON Lines."""
    stripped = body.lstrip()
    if not stripped.startswith(b"["):
        yield from decode_json_lines(body.splitlines())
        return
    try:
        values = DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        yield Rejection(None, None, f"body: invalid UTF-8 at byte {error.start}")
        return
    except (json.JSONDecodeError, RecursionError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply"
        yield Rejection(None, None, f"body: malformed JSON array: {reason}")
        return
    for index, value in enumerate(values):
        yield index + 1, value


class Intake:
    """Takes events in batches: one transaction, one commit per batch."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: Registry,
        *,
        default_org: str,
        batch_size: int = 1000,
        origin: str = "cli",
        allowed_orgs: frozenset[str] | None = None,
        clock: Callable[[], datetime] = utc_now,
        stored_form: StoredForm | None = None,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.default_org = default_org
        self.batch_size = max(1, batch_size)
        self.origin = origin
        self.allowed_orgs = allowed_orgs
        self.clock = clock
        self.stored_form = stored_form
        self.sightings = SightingCache()

    def ingest(
        self,
        decoded: Iterable[Decoded | Rejection],
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> IngestSummary:
        summary = IngestSummary()
        pending: list[Event] = []
        for item in decoded:
            event = self._parse(item)
            if isinstance(event, Rejection):
                summary.rejected.append(event)
            else:
                pending.append(event)
            if len(pending) >= self.batch_size:
                self._commit(pending, summary)
                if on_progress is not None:
                    on_progress(len(pending))
                pending = []
        if pending:
            self._commit(pending, summary)
            if on_progress is not None:
                on_progress(len(pending))
        return summary

    def _parse(self, item: Decoded | Rejection) -> Event | Rejection:
        if isinstance(item, Rejection):
            return item
        line, raw = item
        event = parse_event(
            raw, payloads=self.registry.payloads, default_org=self.default_org, line=line
        )
        if (
            isinstance(event, Event)
            and self.allowed_orgs is not None
            and event.org not in self.allowed_orgs
        ):
            allowed = ", ".join(sorted(self.allowed_orgs))
            return Rejection(event.id, line, f"org: this token may only write to {allowed}")
        return event

    def _commit(self, events: Sequence[Event], summary: IngestSummary) -> None:
        # Two writers may take the same batch number; the later one retries with the next.
        for attempt in range(BATCH_NUMBER_RETRIES):
            try:
                with self.sessions.begin() as session:
                    accepted, duplicates, context = store_batch(
                        session, self.registry, events, now=self.clock(), origin=self.origin,
                        sightings=self.sightings, stored_form=self.stored_form,
                    )  # fmt: skip
            except IntegrityError:
                if attempt == BATCH_NUMBER_RETRIES - 1:
                    raise
                continue
            if context is not None:
                context.remember_sightings()
            summary.accepted += accepted
            summary.duplicates += duplicates
            return


def store_batch(
    session: Session,
    registry: Registry,
    events: Sequence[Event],
    *,
    now: datetime,
    origin: str,
    sightings: SightingCache | None = None,
    stored_form: StoredForm | None = None,
) -> tuple[int, int, Context | None]:
    """Store the events not seen before and apply them: (accepted, duplicates, context)."""
    unique: dict[tuple[str, str, str], Event] = {}
    for event in events:
        unique.setdefault((event.org, event.source, event.id), event)
    # Batch numbers have no gaps (unlike a sequence, which a rolled-back or killed batch burns),
    # so a log ingested with crashes and re-runs gets exactly the keys an uninterrupted one gets.
    last = session.scalar(select(func.max(IntakeBatch.id))) or 0
    batch = IntakeBatch(id=last + 1, origin=origin, received_at=now, accepted=0)
    session.add(batch)
    session.flush()
    placed = [event.placed(batch.id, position) for position, event in enumerate(unique.values())]
    # The unique key decides what is new, also against a concurrent writer: what it had
    # already stored is skipped, and what this batch stored is read back by its number.
    table = cast(Table, EventRecord.__table__)
    session.execute(
        insert_ignoring_conflicts(session.get_bind().dialect, table),
        [event_row(event, stored_form) for event in placed],
    )
    stored = {
        tuple(row)
        for row in session.execute(
            select(EventRecord.org, EventRecord.source, EventRecord.event_id).where(
                EventRecord.batch == batch.id
            )
        )
    }
    fresh = sorted(
        (event for event in placed if (event.org, event.source, event.id) in stored),
        key=lambda event: event.key,
    )
    if not fresh:
        session.delete(batch)
        return 0, len(events), None
    batch.accepted = len(fresh)
    context = apply_events(session, registry, fresh, now=now, sightings=sightings)
    return len(fresh), len(events) - len(fresh), context


def event_row(event: Event, stored_form: StoredForm | None = None) -> dict[str, Any]:
    data = event.data.model_dump(mode="json", exclude_none=True)
    return {
        "org": event.org,
        "source": event.source,
        "event_id": event.id,
        "type": event.type,
        "at": event.at,
        "offset_minutes": event.offset_minutes,
        "group_id": event.group,
        "member_id": event.member,
        "batch": event.batch,
        "position": event.position,
        "key": event.key,
        "data": data if stored_form is None else stored_form(event, data),
    }


def event_from_row(record: EventRecord, registry: Registry) -> Event:
    model = registry.payloads[record.type]
    return Event(
        org=record.org,
        source=record.source,
        id=record.event_id,
        type=record.type,
        at=record.at,
        offset_minutes=record.offset_minutes,
        data=model.model_validate(record.data),
        batch=record.batch,
        position=record.position,
        key=record.key,
    )


def apply_events(
    session: Session,
    registry: Registry,
    events: Sequence[Event],
    *,
    now: datetime,
    replaying: bool = False,
    sightings: SightingCache | None = None,
) -> Context:
    """Run projections, then (unless replaying) reactions, on each event in the given order."""
    tenants = registry.tenancy.ensure(session, {event.org for event in events}, now)
    context = Context(
        session, registry=registry, tenants=tenants, now=now, replaying=replaying,
        sightings=sightings,
    )  # fmt: skip
    reactions = [] if replaying else registry.reactions
    prefetches = [handler.prefetch for handler in registry.projections] + [
        handler.prefetch for handler in reactions
    ]
    for prefetch in prefetches:
        if prefetch is not None:
            prefetch(context, events)
    for event in events:
        for projection in registry.projections:
            apply = projection.on.get(event.type)
            if apply is not None:
                apply(context, event)
        for reaction in reactions:
            react = reaction.on.get(event.type)
            if react is not None:
                react(context, event)
    context.flush()
    return context
