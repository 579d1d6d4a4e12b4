"""The unit of work handlers see: cached rows, accumulated counters, and the outbox they fill."""

import math
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import Delete, Table, Update, bindparam, delete, insert, inspect, select, update
from sqlalchemy.orm import Session, class_mapper
from sqlalchemy.orm.instrumentation import ClassManager

from shequn.db import (
    FLUSH_HOOKS,
    Base,
    WorkSession,
    insert_ignoring_conflicts,
    upsert_adding,
    upsert_earliest,
)
from shequn.engine.action import Action
from shequn.engine.models import ActionRecord, ActionStatus, JobRecord, JobStatus
from shequn.engine.registry import Registry, Tenant

Row = TypeVar("Row", bound=Base)
Memo = TypeVar("Memo")
CHUNK = 500
MAX_PROBES = 4000


@dataclass(frozen=True)
class Job:
    """A job to schedule; `id` is deterministic so scheduling twice keeps one."""

    id: str
    org: str
    kind: str
    due_at: datetime
    payload: Mapping[str, Any]


class RowCache:
    """Rows by primary key, loaded in bulk before a batch so handlers never query one by one.

    Rows of a model `written_in_bulk` that the batch creates never enter the ORM's session:
    building and flushing them as tracked objects cost about five times their statements.
    They are inserted, and later changed or deleted, by a few bulk statements whenever the
    session flushes.
    """

    def __init__(self, session: Session) -> None:
        if not isinstance(session, WorkSession):
            raise TypeError("a unit of work needs a WorkSession (shequn.db.session_factory)")
        self.session = session
        self._rows: dict[type[Base], dict[tuple[Any, ...], Base | None]] = defaultdict(dict)
        # Rows created in bulk: all of them, those not yet inserted, and those to delete.
        self._bulk: dict[type[Base], dict[tuple[Any, ...], Base]] = defaultdict(dict)
        self._fresh: dict[type[Base], dict[tuple[Any, ...], Base]] = defaultdict(dict)
        self._gone: dict[type[Base], list[tuple[Any, ...]]] = defaultdict(list)
        session.info.setdefault(FLUSH_HOOKS, []).append(self.write_bulk)

    def prefetch(self, model: type[Base], keys: Iterable[tuple[Any, ...]]) -> None:
        known = self._rows[model]
        wanted = sorted({key for key in keys if key not in known})
        if not wanted:
            return
        mapper = inspect(model)
        columns = mapper.primary_key
        for chunk in probe_chunks(wanted):
            asked = set(chunk)
            for key in chunk:
                known[key] = None
            # Equality on the org, IN on the rest: both databases probe the primary key index.
            # (A row-value IN (…) makes SQLite scan the whole table.)
            condition = [columns[0] == chunk[0][0]]
            for index, column in enumerate(columns[1:], start=1):
                condition.append(column.in_(sorted({key[index] for key in chunk})))
            for row in self.session.scalars(select(model).where(*condition)):
                found = _key_of(row)
                if found in asked or found not in known:
                    known[found] = row

    def get(self, model: type[Row], key: tuple[Any, ...]) -> Row | None:
        known = self._rows[model]
        if key not in known:
            known[key] = self.session.get(model, key)
        return cast(Row | None, known[key])

    def add(self, row: Row) -> Row:
        model = type(row)
        key = _key_of(row)
        self._rows[model][key] = row
        if model.written_in_bulk:
            self._bulk[model][key] = self._fresh[model][key] = row
        else:
            self.session.add(row)
        return row

    def new(self, model: type[Row], **values: Any) -> Row:
        """A new row, added: for a model written in bulk, without the ORM's per-attribute
        bookkeeping (the instance is never attached to the session)."""
        if not model.written_in_bulk:
            return self.add(model(**values))
        row = cast(Row, _manager(model).new_instance())
        row.__dict__.update(values)
        key = tuple(values[name] for name in _key_names(model))
        self._rows[model][key] = self._bulk[model][key] = self._fresh[model][key] = row
        return row

    def keep(self, row: Row) -> Row:
        """A row the caller loaded by its own query, held so later gets need no query (the
        session's identity map holds rows only while something else does). Returns the row
        the cache holds: one this batch created or changed wins over the loaded copy."""
        return cast(Row, self._rows[type(row)].setdefault(_key_of(row), row) or row)

    def remove(self, row: Base) -> None:
        model = type(row)
        key = _key_of(row)
        self._rows[model][key] = None
        if self._bulk[model].pop(key, None) is not None:
            if self._fresh[model].pop(key, None) is None:
                self._gone[model].append(key)
        elif row in self.session.new:
            self.session.expunge(row)
        else:
            self.session.delete(row)

    def write_bulk(self) -> None:
        """Delete, insert and update the rows kept outside the session, as they are now."""
        for model, rows in self._bulk.items():
            names, keys = _columns(model)
            table = cast(Table, model.__table__)
            gone = self._gone.pop(model, [])
            if gone:
                self.session.execute(_deleting(table, keys), [
                    {f"key_{column}": value for column, value in zip(keys, key, strict=True)}
                    for key in gone
                ])  # fmt: skip
            fresh = self._fresh.pop(model, {})
            changed: list[dict[str, Any]] = []
            for key, row in rows.items():
                # The attribute events mark a row changed even outside a session.
                state = inspect(row)
                if not state.modified or key in fresh:
                    continue
                record = _values(row, names)
                changed.append({**record, **{f"key_{name}": record[name] for name in keys}})
                state.modified = False
                state.committed_state.clear()
            if fresh:
                rows_written = [_values(row, names) for row in fresh.values()]
                for row in fresh.values():
                    state = inspect(row)
                    state.modified = False
                    state.committed_state.clear()
                self.session.execute(insert(table), rows_written)
            if changed:
                self.session.execute(_updating(table, keys), changed)


def _values(row: Base, names: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    values = row.__dict__
    return {column: values.get(name) for name, column in names}


@cache
def _manager(model: type[Base]) -> ClassManager[Any]:
    return class_mapper(model).class_manager


@cache
def _columns(model: type[Base]) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(attribute, column) of each mapped column, and the primary key's column names."""
    mapper = inspect(model)
    names = tuple((prop.key, prop.columns[0].name) for prop in mapper.column_attrs)
    return names, tuple(column.name for column in mapper.primary_key)


@cache
def _updating(table: Table, keys: tuple[str, ...]) -> Update:
    where = [table.c[key] == bindparam(f"key_{key}") for key in keys]
    values: dict[str, Any] = {
        c.name: bindparam(c.name) for c in table.columns if c.name not in keys
    }
    return update(table).where(*where).values(values)


@cache
def _deleting(table: Table, keys: tuple[str, ...]) -> Delete:
    return delete(table).where(*[table.c[key] == bindparam(f"key_{key}") for key in keys])


def probe_chunks(keys: list[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    """Sorted keys in chunks of one org whose IN lists stay short: the index probes are the
    product of the distinct values per column, so a chunk closes before that grows large."""
    chunk: list[tuple[Any, ...]] = []
    distinct: list[set[Any]] = []
    for key in keys:
        if chunk and key[0] != chunk[0][0]:
            yield chunk
            chunk = []
        if not chunk:
            distinct = [set() for _ in key[1:]]
        pairs = zip(distinct, key[1:], strict=True)
        sizes = [len(values) + (value not in values) for values, value in pairs]
        if chunk and (len(chunk) >= CHUNK or math.prod(sizes) > MAX_PROBES):
            yield chunk
            chunk = []
            distinct = [set() for _ in key[1:]]
        chunk.append(key)
        for values, value in zip(distinct, key[1:], strict=True):
            values.add(value)
    if chunk:
        yield chunk


def _key_of(row: Base) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in _key_names(type(row)))


@cache
def _key_names(model: type[Base]) -> tuple[str, ...]:
    """The attributes holding the model's primary key: read directly, they cost a fraction of
    the mapper's primary_key_from_instance, which the row cache calls for every row added."""
    mapper = inspect(model)
    return tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key)


class SightingCache:
    """The earliest sighting key of rows known to be stored, kept across batches of one intake.

    A message from a member already stored with an earlier key changes nothing, so the
    sighting upsert can be skipped. Keys in the store only ever move earlier, so an entry
    stays safe to act on even with other writers; it is filled only after a commit.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._keys: dict[Table, OrderedDict[tuple[Any, ...], Any]] = defaultdict(OrderedDict)

    def covers(self, table: Table, key: tuple[Any, ...], order: Any) -> bool:
        known = self._keys[table].get(key)
        return known is not None and order >= known

    def remember(self, table: Table, key: tuple[Any, ...], order: Any) -> None:
        keys = self._keys[table]
        known = keys.get(key)
        keys[key] = order if known is None else min(known, order)
        keys.move_to_end(key)
        if len(keys) > self.capacity:
            keys.popitem(last=False)


class Context:
    """Handed to every handler and job; whoever opened the transaction commits it."""

    def __init__(
        self,
        session: Session,
        *,
        registry: Registry,
        tenants: dict[str, Tenant],
        now: datetime,
        replaying: bool = False,
        sightings: SightingCache | None = None,
    ) -> None:
        self.session = session
        self.sightings = sightings
        self.registry = registry
        self.tenants = tenants
        self.now = now
        self.replaying = replaying
        self.rows = RowCache(session)
        self._counts: dict[Table, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
        self._count_shape: dict[
            Table, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
        ] = {}
        self._sights: dict[Table, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
        self._sight_shape: dict[Table, tuple[tuple[str, ...], str, tuple[str, ...]]] = {}
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._actions: dict[str, Action] = {}
        self._jobs: dict[str, Job] = {}

    def memo(self, key: tuple[Any, ...], compute: Callable[[], Memo]) -> Memo:
        """Compute once per unit of work (e.g. the org's active campaigns for a batch)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(Memo, self._memo[key])

    def tenant(self, org: str) -> Tenant:
        tenant = self.tenants.get(org)
        if tenant is None:
            self.tenants.update(self.registry.tenancy.ensure(self.session, [org], self.now))
            tenant = self.tenants[org]
        return tenant

    def count(
        self,
        table: Table,
        key: Mapping[str, Any],
        *,
        add: Mapping[str, int],
        latest: Mapping[str, datetime | None] | None = None,
    ) -> None:
        """Add to counters kept in `table`; written once per key per batch, as one upsert."""
        latest = {name: moment for name, moment in (latest or {}).items()}
        shape = (tuple(key), tuple(add), tuple(latest))
        if self._count_shape.setdefault(table, shape) != shape:
            raise ValueError(f"counters of {table.name} must always name the same columns")
        rows = self._counts[table]
        row_key = tuple(key.values())
        row = rows.get(row_key)
        if row is None:
            rows[row_key] = {**key, **add, **latest}
            return
        for name, delta in add.items():
            row[name] += delta
        for name, moment in latest.items():
            if moment is not None and (row[name] is None or moment > row[name]):
                row[name] = moment

    def first_sight(
        self,
        table: Table,
        key: Mapping[str, Any],
        *,
        order: str,
        sight: Mapping[str, Any],
        defaults: Mapping[str, Any],
    ) -> None:
        """Make sure a row exists, keeping the `sight` columns of its earliest sighting by `order`.

        Written once per key per batch as one upsert, without loading the row: the hot path
        (messages, reactions) only needs its members and groups to exist.
        """
        shape = (tuple(key), order, tuple(sight))
        if self._sight_shape.setdefault(table, shape) != shape:
            raise ValueError(f"sightings of {table.name} must always name the same columns")
        row_key = tuple(key.values())
        if self.sightings is not None and self.sightings.covers(table, row_key, sight[order]):
            return
        rows = self._sights[table]
        row = rows.get(row_key)
        if row is None:
            rows[row_key] = {**defaults, **key, **sight}
        elif sight[order] < row[order]:
            row.update(sight)

    def emit(self, action: Action) -> None:
        if not self.replaying:
            self._actions.setdefault(action.id, action)

    def schedule(self, job: Job) -> None:
        if not self.replaying:
            self._jobs.setdefault(job.id, job)

    @property
    def decided(self) -> list[Action]:
        return list(self._actions.values())

    def flush(self) -> None:
        """Write what the batch decided; all of it lands in the caller's transaction."""
        # Rows the handlers loaded or created go first; sightings and counters merge into them.
        self.session.flush()
        dialect = self.session.get_bind().dialect
        for table, rows in self._sights.items():
            keys, order, sight = self._sight_shape[table]
            follow = [name for name in sight if name != order]
            statement = upsert_earliest(dialect, table, keys=keys, order=order, follow=follow)
            self.session.execute(statement, list(rows.values()))
        for table, rows in self._counts.items():
            keys, adds, latest = self._count_shape[table]
            statement = upsert_adding(dialect, table, keys=keys, add=adds, greatest=latest)
            self.session.execute(statement, list(rows.values()))
        self._counts.clear()
        if self._actions:
            self.session.execute(
                insert_ignoring_conflicts(dialect, cast(Table, ActionRecord.__table__)),
                [self._action_row(action) for action in self._actions.values()],
            )
            self._actions.clear()
        if self._jobs:
            self.session.execute(
                insert_ignoring_conflicts(dialect, cast(Table, JobRecord.__table__)),
                [self._job_row(job) for job in self._jobs.values()],
            )
            self._jobs.clear()

    def remember_sightings(self) -> None:
        """After the commit: what this batch sighted is now stored."""
        if self.sightings is None:
            return
        for table, rows in self._sights.items():
            order = self._sight_shape[table][1]
            for row_key, row in rows.items():
                self.sightings.remember(table, row_key, row[order])

    def _action_row(self, action: Action) -> dict[str, Any]:
        return {
            "id": action.id,
            "org": action.org,
            "kind": str(action.kind),
            "platform": action.platform,
            "group_id": action.group,
            "member_id": action.member,
            "payload": dict(action.payload),
            "cause": action.cause,
            "status": ActionStatus.PENDING,
            "attempts": 0,
            "created_at": self.now,
            "next_attempt_at": self.now,
            "done_at": None,
            "connector": None,
            "last_error": None,
        }

    def _job_row(self, job: Job) -> dict[str, Any]:
        return {
            "id": job.id,
            "org": job.org,
            "kind": job.kind,
            "due_at": job.due_at,
            "payload": dict(job.payload),
            "status": JobStatus.PENDING,
            "created_at": self.now,
            "ran_at": None,
            "note": None,
        }
