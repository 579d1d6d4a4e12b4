"""The dispatcher: carries pending outbox actions out through connectors and records the outcome."""

from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shequn.connectors.base import Connector
from shequn.engine.action import ActionFailed, after_attempt
from shequn.engine.models import ActionRecord, ActionStatus
from shequn.engine.registry import Registry

FALLBACK_CONNECTOR = "log"


def dispatch_due(
    sessions: sessionmaker[Session], registry: Registry, *, now: datetime, limit: int = 200
) -> Counter[str]:
    """Attempt each due action once; returns how many ended sent, pending (retry) or failed."""
    with sessions() as session:
        due = session.scalars(
            select(ActionRecord)
            .where(ActionRecord.status == ActionStatus.PENDING, ActionRecord.next_attempt_at <= now)
            .order_by(ActionRecord.next_attempt_at, ActionRecord.created_at, ActionRecord.id)
            .limit(limit)
        ).all()
        session.expunge_all()
    tally: Counter[str] = Counter()
    for action in due:
        connector = _connector_for(registry, action)
        failure: ActionFailed | None = None
        try:
            connector.perform(action)
        except ActionFailed as error:
            failure = error
        except Exception as error:
            failure = ActionFailed(f"{type(error).__name__}: {error}", retryable=True)
        with sessions.begin() as session:
            record = session.get(ActionRecord, action.id)
            if record is None or record.status != ActionStatus.PENDING:
                continue
            record.attempts += 1
            outcome = after_attempt(attempts=record.attempts, now=now, failure=failure)
            record.status = outcome.status
            record.next_attempt_at = outcome.next_attempt_at
            record.done_at = outcome.done_at
            record.connector = connector.name
            record.last_error = None if failure is None else str(failure)[:1000]
            tally[outcome.status] += 1
    return tally


def _connector_for(registry: Registry, action: ActionRecord) -> Connector:
    connector = registry.connectors.get(action.platform or "")
    return connector or registry.connectors[FALLBACK_CONNECTOR]
