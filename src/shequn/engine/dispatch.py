"""The dispatcher: carries due outbox actions out through connectors and records the outcome."""

# Each connector's actions run in a thread of their own, so a platform that is slow or asks to
# wait never holds back another's. Within one connector, once a group (or the whole platform)
# asks to wait, its later actions in the same round are put back untried: that keeps a group's
# messages in order and spends no call on an answer already known.

from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, sessionmaker

from shequn.connectors.base import Connector
from shequn.engine.action import ActionAwaiting, ActionFailed, Outcome, after_attempt
from shequn.engine.models import ActionRecord, ActionStatus
from shequn.engine.registry import Registry

FALLBACK_CONNECTOR = "log"
# Statuses the dispatcher picks up when due: a person's task is checked on again when due.
DUE_STATUSES = (ActionStatus.PENDING, ActionStatus.AWAITING)
# A tally's key for actions put back untried because their group or platform asked to wait.
DEFERRED = "deferred"
WHOLE_PLATFORM = "*"


def dispatch_due(
    sessions: sessionmaker[Session],
    registry: Registry,
    *,
    now: datetime,
    limit: int = 200,
    connectors: Collection[str] | None = None,
) -> Counter[str]:
    """Attempt each due action once (only those of `connectors`, when given).

    Returns how many ended sent, pending (retry), awaiting (a person's task), failed or deferred.
    """
    names = sorted(registry.connectors) if connectors is None else sorted(connectors)
    with sessions() as session:
        due = session.scalars(
            select(ActionRecord)
            .where(
                ActionRecord.status.in_(DUE_STATUSES),
                ActionRecord.next_attempt_at <= now,
                _carried_by(registry, names),
            )
            .order_by(ActionRecord.next_attempt_at, ActionRecord.created_at, ActionRecord.id)
            .limit(limit)
        ).all()
        session.expunge_all()
    batches: dict[str, list[ActionRecord]] = defaultdict(list)
    for action in due:
        batches[_connector_for(registry, action).name].append(action)
    tally: Counter[str] = Counter()
    if len(batches) <= 1:
        for name, actions in batches.items():
            tally += _dispatch_batch(sessions, registry.connectors[name], actions, now=now)
        return tally
    with ThreadPoolExecutor(max_workers=len(batches), thread_name_prefix="shequn-dispatch") as pool:
        futures = [
            pool.submit(_dispatch_batch, sessions, registry.connectors[name], actions, now=now)
            for name, actions in batches.items()
        ]
        for future in futures:
            tally += future.result()
    return tally


def _carried_by(registry: Registry, names: Sequence[str]) -> ColumnElement[bool]:
    """Actions the named connectors carry: their platform's, and the fallback's the rest."""
    platforms = [name for name in names if name != FALLBACK_CONNECTOR]
    clauses: list[ColumnElement[bool]] = [ActionRecord.platform.in_(platforms)]
    if FALLBACK_CONNECTOR in names:
        others = [name for name in registry.connectors if name != FALLBACK_CONNECTOR]
        clauses += [ActionRecord.platform.is_(None), ActionRecord.platform.not_in(others)]
    return or_(*clauses)


def _dispatch_batch(
    sessions: sessionmaker[Session],
    connector: Connector,
    actions: Sequence[ActionRecord],
    *,
    now: datetime,
) -> Counter[str]:
    tally: Counter[str] = Counter()
    # Group (or WHOLE_PLATFORM) → the wait it asked for in this round.
    waiting: dict[str, ActionFailed] = {}
    for action in actions:
        held = waiting.get(WHOLE_PLATFORM) or waiting.get(action.group_id or "")
        if held is not None and action.status == ActionStatus.PENDING:
            _record(sessions, connector, action, now=now, failure=held, awaiting=None)
            tally[DEFERRED] += 1
            continue
        failure: ActionFailed | None = None
        awaiting: ActionAwaiting | None = None
        try:
            connector.perform(action)
        except ActionAwaiting as task:
            awaiting = task
        except ActionFailed as error:
            failure = error
        except Exception as error:
            failure = ActionFailed(f"{type(error).__name__}: {error}", retryable=True)
        if failure is not None and failure.is_wait:
            waiting[action.group_id or WHOLE_PLATFORM] = failure
        status = _record(sessions, connector, action, now=now, failure=failure, awaiting=awaiting)
        if status is not None:
            tally[status] += 1
    return tally


def _record(
    sessions: sessionmaker[Session],
    connector: Connector,
    action: ActionRecord,
    *,
    now: datetime,
    failure: ActionFailed | None,
    awaiting: ActionAwaiting | None,
) -> str | None:
    with sessions.begin() as session:
        record = session.get(ActionRecord, action.id)
        # Someone else settled it meanwhile (`shequn tasks done`, another dispatcher).
        if record is None or record.status != action.status:
            return None
        if awaiting is not None:
            outcome = Outcome(ActionStatus.AWAITING, now + awaiting.check_after, None)
            payload: dict[str, Any] = dict(record.payload)
            payload["task"] = awaiting.task
            record.payload = payload
        else:
            outcome = after_attempt(attempts=record.attempts + 1, now=now, failure=failure)
            if action.status == ActionStatus.AWAITING and outcome.status == ActionStatus.PENDING:
                # Checking on a task failed for now: it stays a task, checked again later.
                outcome = Outcome(ActionStatus.AWAITING, outcome.next_attempt_at, None)
        # A person's task checked on again is not a new attempt at the platform.
        if outcome.counts_attempt and action.status == ActionStatus.PENDING:
            record.attempts += 1
        record.status = outcome.status
        record.next_attempt_at = outcome.next_attempt_at
        record.done_at = outcome.done_at
        record.connector = connector.name
        record.last_error = None if failure is None else str(failure)[:1000]
        return str(outcome.status)


def _connector_for(registry: Registry, action: ActionRecord) -> Connector:
    connector = registry.connectors.get(action.platform or "")
    return connector or registry.connectors[FALLBACK_CONNECTOR]
