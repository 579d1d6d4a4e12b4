"""Replay protection for signed deliveries, kept in the store that every worker shares."""

# A delivery is claimed with one INSERT (after a bounded prune) in a short transaction of its
# own: the unique (source, key) lets exactly one worker win, and the claim holds for every other
# worker and after a restart, which a cache in one process's memory cannot. A claim is released
# when handling the delivery fails, so that the sender's retry of it is let in instead of being
# refused as a replay.

import hashlib
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from shequn.connectors.models import DeliveryNonce

MAX_SOURCE = 64
KEY_LENGTH = 64
# Expired keys forgotten per claim: enough to keep up with any arrival rate (each claim adds one),
# few enough that no claim waits on a large delete.
PRUNE_BATCH = 100
# Workers' clocks differ a little: a key outlives the sender's window by this much, so a worker
# whose clock runs behind still finds it.
CLOCK_SKEW = timedelta(minutes=1)

_TABLE = cast(Table, DeliveryNonce.__table__)


def delivery_key(*parts: str) -> str:
    """A fixed-length key for the parts that identify a delivery, whatever their length."""
    # Length-prefixed, so that no two different lists of parts join to the same text.
    joined = "".join(f"{len(part)}:{part}" for part in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


class ReplayGuard:
    """Remembers each source's deliveries until the sender's time window would refuse them."""

    def __init__(self, sessions: sessionmaker[Session], *, prune_batch: int = PRUNE_BATCH) -> None:
        if prune_batch < 1:
            raise ValueError(f"prune_batch must be at least 1, not {prune_batch}")
        self.sessions = sessions
        self.prune_batch = prune_batch

    def claim(self, source: str, key: str, *, expires_at: datetime, now: datetime) -> bool:
        """Take the delivery in; False when it is a replay of one claimed and not yet expired."""
        if not 0 < len(source) <= MAX_SOURCE:
            raise ValueError(f"source {source!r}: 1 to {MAX_SOURCE} characters")
        if len(key) != KEY_LENGTH:
            raise ValueError(f"key {key!r}: {KEY_LENGTH} characters, as delivery_key makes them")
        with self.sessions.begin() as session:
            # In the claim's own transaction, so that a claim costs one commit. Pruning skips
            # rows another worker holds, and the insert comes last: no two claims wait on
            # each other.
            self._prune(session, now)
            insert = (
                postgresql.insert(_TABLE)
                if session.get_bind().dialect.name == "postgresql"
                else sqlite.insert(_TABLE)
            )
            statement = insert.values(source=source, key=key, expires_at=expires_at)
            # An expired key not pruned yet is claimed afresh; a live one is left as it is.
            statement = statement.on_conflict_do_update(
                index_elements=[_TABLE.c.source, _TABLE.c.key],
                set_={"expires_at": statement.excluded.expires_at},
                where=_TABLE.c.expires_at <= now,
            )
            # RETURNING, not rowcount: psycopg reports no rowcount for this statement.
            return session.execute(statement.returning(_TABLE.c.key)).first() is not None

    def release(self, source: str, key: str) -> None:
        """Let the delivery in again: handling it failed, and the sender will retry it."""
        with self.sessions.begin() as session:
            session.execute(
                delete(DeliveryNonce).where(
                    DeliveryNonce.source == source, DeliveryNonce.key == key
                )
            )

    def prune(self, now: datetime) -> int:
        """Forget up to `prune_batch` expired keys, oldest first; returns how many."""
        with self.sessions.begin() as session:
            return self._prune(session, now)

    def _prune(self, session: Session, now: datetime) -> int:
        expired = (
            select(DeliveryNonce.source, DeliveryNonce.key)
            .where(DeliveryNonce.expires_at <= now)
            .order_by(DeliveryNonce.expires_at)
            .limit(self.prune_batch)
            # PostgreSQL: workers pruning at once take disjoint rows instead of waiting on each
            # other; SQLite writes one at a time and leaves the clause out.
            .with_for_update(skip_locked=True)
        )
        result: Any = session.execute(
            delete(DeliveryNonce).where(
                tuple_(DeliveryNonce.source, DeliveryNonce.key).in_(expired)
            )
        )
        return int(result.rowcount)
