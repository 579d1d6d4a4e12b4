"""Live codes (活码): route each newcomer to the first pool group with room, and ask for a new
group once every one is full."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequn.engine.action import Action, ActionKind
from shequn.engine.context import Context
from shequn.group.models import Group
from shequn.invite.models import LiveCodeRecord
from shequn.invite.rules import PoolGroup, route_newcomer
from shequn.invite.service import CODE_PATTERN
from shequn.kit.ids import stable_id
from shequn.kit.time import local_day, local_time_to_utc
from shequn.member.models import Membership


class UnknownLiveCode(LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"live code {code!r} does not exist (shequn livecode create {code} …)")


def create_live_code(
    session: Session,
    org: str,
    *,
    code: str,
    groups: list[str],
    margin: int,
    daily_cap: int | None,
    context: Context,
) -> LiveCodeRecord:
    if not CODE_PATTERN.match(code):
        raise ValueError(f"code: {code!r} may only hold letters, digits and _ . : - (1-200)")
    if not groups or len(set(groups)) != len(groups):
        raise ValueError("groups: give one or more distinct group ids, in the order they fill")
    if margin < 0 or (daily_cap is not None and daily_cap < 1):
        raise ValueError("margin must be 0 or more and daily cap 1 or more")
    if session.get(LiveCodeRecord, (org, code)) is not None:
        raise ValueError(f"live code {code!r} already exists in this org")
    record = LiveCodeRecord(
        org=org, code=code, groups=list(groups), margin=margin, daily_cap=daily_cap,
        created_at=context.now,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return record


def add_pool_group(session: Session, org: str, code: str, group: str) -> LiveCodeRecord:
    """Append a group (the new one the operator opened) to the end of the pool."""
    record = session.get(LiveCodeRecord, (org, code))
    if record is None:
        raise UnknownLiveCode(code)
    if group in record.groups:
        raise ValueError(f"group {group!r} is already in live code {code!r}")
    record.groups = [*record.groups, group]
    session.flush()
    return record


@dataclass(frozen=True)
class Route:
    """Where the next newcomer goes, or the operator task raised because every group is full."""

    group: str | None
    task: str | None = None


def route_next(context: Context, org: str, code: str) -> Route:
    session = context.session
    record = session.get(LiveCodeRecord, (org, code))
    if record is None:
        raise UnknownLiveCode(code)
    timezone = context.tenant(org).timezone
    midnight = local_time_to_utc(local_day(context.now, timezone), 0, 0, timezone)
    rows = {
        group.id: group
        for group in session.scalars(
            select(Group).where(Group.org == org, Group.id.in_(record.groups))
        )
    }
    joins_today: dict[str, int] = {
        group_id: count
        for group_id, count in session.execute(
            select(Membership.group_id, func.count())
            .where(
                Membership.org == org,
                Membership.group_id.in_(record.groups),
                Membership.joined_at >= midnight,
            )
            .group_by(Membership.group_id)
        )
    }
    pool = []
    for group_id in record.groups:
        row = rows.get(group_id)
        # A group the platform has not reported yet is new and empty: it has room.
        pool.append(
            PoolGroup(
                group=group_id,
                member_count=row.member_count if row else 0,
                capacity=row.capacity if row else None,
                joins_today=joins_today.get(group_id, 0),
                is_open=row is None or row.dismissed_at is None,
            )
        )
    chosen = route_newcomer(pool, margin=record.margin, daily_cap=record.daily_cap)
    if chosen is not None:
        return Route(group=chosen)
    number = len(record.groups) + 1
    # One task per pool size: asking again before the new group is added changes nothing.
    task = Action(
        id=stable_id("live-code-full", org, code, len(record.groups)),
        org=org,
        kind=ActionKind.CREATE_TASK,
        cause=f"live_code:{code}",
        payload={
            "title": {
                "zh": f"活码 {code} 的 {len(record.groups)} 个群都满了:请开第 {number} 个群并加入活码。",
                "en": f"Every group of live code {code} is full: open group {number} and add it "
                f"(shequn livecode add-group {code} GROUP).",
            },
            "live_code": code,
            "group_number": number,
        },
    )
    context.emit(task)
    return Route(group=None, task=task.id)
