"""Intake: validate, drop re-deliveries, store, and apply a batch of events in one transaction."""

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shequn.engine.context import Context
from shequn.engine.event import Event, Rejection, parse_event
from shequn.engine.models import EventRecord, IntakeBatch
from shequn.engine.registry import Registry
from shequn.kit.time import utc_now

CHUNK = 500
Decoded = tuple[int | None, object]


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
        try:
            # Decimal keeps amounts exact from the first byte on.
            yield number, json.loads(text, parse_float=Decimal)
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
        values = json.loads(body.decode("utf-8"), parse_float=Decimal)
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
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.default_org = default_org
        self.batch_size = max(1, batch_size)
        self.origin = origin
        self.allowed_orgs = allowed_orgs
        self.clock = clock

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
        # A concurrent writer may store the same event between our check and our insert;
        # the unique key then refuses the batch, and the retry sees those rows as duplicates.
        for attempt in range(3):
            try:
                with self.sessions.begin() as session:
                    accepted, duplicates = store_batch(
                        session, self.registry, events, now=self.clock(), origin=self.origin
                    )
            except IntegrityError:
                if attempt == 2:
                    raise
                continue
            summary.accepted += accepted
            summary.duplicates += duplicates
            return


def store_batch(
    session: Session, registry: Registry, events: Sequence[Event], *, now: datetime, origin: str
) -> tuple[int, int]:
    """Store the events not seen before and apply them; returns (accepted, duplicates)."""
    fresh = _drop_known(session, events)
    if not fresh:
        return 0, len(events)
    batch = IntakeBatch(origin=origin, received_at=now, accepted=len(fresh))
    session.add(batch)
    session.flush()
    placed = sorted(
        (event.placed(batch.id, position) for position, event in enumerate(fresh)),
        key=lambda event: event.key,
    )
    session.execute(insert(cast(Table, EventRecord.__table__)), [event_row(e) for e in placed])
    apply_events(session, registry, placed, now=now)
    return len(fresh), len(events) - len(fresh)


def _drop_known(session: Session, events: Sequence[Event]) -> list[Event]:
    by_org: dict[str, set[str]] = defaultdict(set)
    for event in events:
        by_org[event.org].add(event.id)
    known: set[tuple[str, str, str]] = set()
    for org, ids in by_org.items():
        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            rows = session.execute(
                select(EventRecord.source, EventRecord.event_id).where(
                    EventRecord.org == org, EventRecord.event_id.in_(ordered[start : start + CHUNK])
                )
            )
            known.update((org, source, event_id) for source, event_id in rows)
    fresh = []
    for event in events:
        identity = (event.org, event.source, event.id)
        if identity not in known:
            known.add(identity)
            fresh.append(event)
    return fresh


def event_row(event: Event) -> dict[str, Any]:
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
        "data": event.data.model_dump(mode="json", exclude_none=True),
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
) -> Context:
    """Run projections, then (unless replaying) reactions, on each event in the given order."""
    tenants = registry.tenancy.ensure(session, {event.org for event in events}, now)
    context = Context(session, registry=registry, tenants=tenants, now=now, replaying=replaying)
    for projection in registry.projections:
        if projection.prefetch is not None:
            projection.prefetch(context, events)
    reactions = [] if replaying else registry.reactions
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
