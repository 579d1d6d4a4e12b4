"""The explicit registry: which payload each event type has, and what each domain does on it."""

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.orm import Session

from shequn.engine.event import Event

if TYPE_CHECKING:
    from shequn.connectors.base import Connector
    from shequn.engine.context import Context
    from shequn.engine.models import JobRecord

Apply = Callable[["Context", Event], None]
Prefetch = Callable[["Context", Sequence[Event]], None]


@dataclass(frozen=True)
class Projection:
    """State derived from events only: `shequn rebuild` empties its tables and replays the log."""

    name: str
    tables: Sequence[Table]
    on: Mapping[str, Apply]
    prefetch: Prefetch | None = None


@dataclass(frozen=True)
class Reaction:
    """Decides actions and jobs when an event is first accepted; never re-run by a rebuild."""

    name: str
    on: Mapping[str, Apply]
    prefetch: Prefetch | None = None


@dataclass(frozen=True)
class JobKind:
    """A kind of timed job. `max_lateness`: after a downtime, a job later than this is skipped
    with a logged reason instead of run (None: always run, however late)."""

    name: str
    run: Callable[["Context", "JobRecord"], None]
    max_lateness: timedelta | None


@dataclass(frozen=True)
class Tenant:
    id: str
    timezone: str
    settings: Mapping[str, Any]


class Tenancy(Protocol):
    def ensure(
        self, session: Session, org_ids: Collection[str], now: datetime
    ) -> dict[str, Tenant]:
        """Load the orgs, creating those seen for the first time with default settings."""
        ...


@dataclass
class Registry:
    tenancy: Tenancy
    payloads: dict[str, type[BaseModel]] = field(default_factory=dict)
    projections: list[Projection] = field(default_factory=list)
    reactions: list[Reaction] = field(default_factory=list)
    job_kinds: dict[str, JobKind] = field(default_factory=dict)
    connectors: dict[str, "Connector"] = field(default_factory=dict)

    def add_projection(self, projection: Projection) -> None:
        self._check_types(projection.name, projection.on)
        self.projections.append(projection)

    def add_reaction(self, reaction: Reaction) -> None:
        self._check_types(reaction.name, reaction.on)
        self.reactions.append(reaction)

    def add_job_kind(self, kind: JobKind) -> None:
        if kind.name in self.job_kinds:
            raise ValueError(f"job kind {kind.name!r} registered twice")
        self.job_kinds[kind.name] = kind

    def _check_types(self, name: str, on: Mapping[str, Apply]) -> None:
        unknown = set(on) - set(self.payloads)
        if unknown:
            raise ValueError(f"{name} handles unknown event types: {sorted(unknown)}")

    @property
    def projection_tables(self) -> list[Table]:
        return [table for projection in self.projections for table in projection.tables]
