"""Groups, stores and staff as the log describes them; every rule here is order-independent.

A group's profile is its upserts applied in key order, each setting only the fields it carries.
"""

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select

from shequn.contract import GroupUpserted, OrderPaid
from shequn.engine.context import Context
from shequn.engine.event import Event
from shequn.engine.models import EventRecord
from shequn.engine.registry import Projection
from shequn.group.models import Group, Staff, Store

GROUP = cast(Table, Group.__table__)
TRAFFIC = frozenset({"message.posted", "reaction.added", "reaction.removed"})
# What group.upserted sets, each only when the upsert carries it.
PROFILE_FIELDS = ("name", "capacity", "store", "owner", "tags")


def prefetch(context: Context, events: Sequence[Event]) -> None:
    groups, stores, staff = set(), set(), set()
    for event in events:
        if event.group is not None and event.type not in TRAFFIC:
            groups.add((event.org, event.group))
        if isinstance(event.data, GroupUpserted | OrderPaid):
            if event.data.store is not None:
                stores.add((event.org, event.data.store))
            person = event.data.owner if isinstance(event.data, GroupUpserted) else event.data.staff
            if person is not None:
                staff.add((event.org, person))
    context.rows.prefetch(Group, groups)
    context.rows.prefetch(Store, stores)
    context.rows.prefetch(Staff, staff)


def _blank_group(org: str, group_id: str) -> dict[str, Any]:
    return {
        "org": org, "id": group_id, "name": group_id, "capacity": None, "store": None,
        "owner": None, "tags": [], "member_count": 0, "profile_key": None, "dismissed_at": None,
    }  # fmt: skip


def _sighting(event: Event) -> dict[str, Any]:
    return {"first_seen_key": event.key, "first_seen_at": event.at, "platform": event.source}


def see_group(context: Context, event: Event, group_id: str) -> Group:
    """The group's row, loaded to be changed; created on first sight as platforms do,
    named by its id until a group.upserted names it."""
    group = context.rows.get(Group, (event.org, group_id))
    if group is None:
        return context.rows.add(Group(**_blank_group(event.org, group_id), **_sighting(event)))
    if event.key < group.first_seen_key:
        group.first_seen_at, group.first_seen_key, group.platform = (
            event.at,
            event.key,
            event.source,
        )
    return group


def on_traffic(context: Context, event: Event) -> None:
    """Messages and reactions only need their group to exist: sighted, not loaded."""
    group_id = cast(str, event.group)
    context.first_sight(
        GROUP, {"org": event.org, "id": group_id}, order="first_seen_key",
        sight=_sighting(event), defaults=_blank_group(event.org, group_id),
    )  # fmt: skip


def see_store(context: Context, event: Event, store_id: str | None) -> None:
    _see_first(context, event, Store, store_id)


def see_staff(context: Context, event: Event, staff_id: str | None) -> None:
    _see_first(context, event, Staff, staff_id)


def _see_first(
    context: Context, event: Event, model: type[Store | Staff], row_id: str | None
) -> None:
    """Stores and staff exist from the first event that names them."""
    if row_id is None:
        return
    row = context.rows.get(model, (event.org, row_id))
    if row is None:
        context.rows.add(model(org=event.org, id=row_id, first_seen_at=event.at))
    elif event.at < row.first_seen_at:
        row.first_seen_at = event.at


def on_group_upserted(context: Context, event: Event) -> None:
    data = event.payload(GroupUpserted)
    group = see_group(context, event, data.group)
    see_store(context, event, data.store)
    see_staff(context, event, data.owner)
    if group.profile_key is not None and event.key < group.profile_key:
        # A late upsert may carry a field no later one does: fold all of them again, in order.
        _refold_profile(context, group)
        return
    group.profile_key = event.key
    apply_profile(group, data)


def apply_profile(group: Group, data: GroupUpserted) -> None:
    """Set the fields the upsert carries; those it leaves out keep their value."""
    given = data.model_fields_set
    group.name = data.name
    if "capacity" in given:
        group.capacity = data.capacity
    if "store" in given:
        group.store = data.store
    if "owner" in given:
        group.owner = data.owner
    if "tags" in given:
        group.tags = list(data.tags)


def _refold_profile(context: Context, group: Group) -> None:
    records = context.session.scalars(
        select(EventRecord)
        .where(
            EventRecord.org == group.org,
            EventRecord.group_id == group.id,
            EventRecord.type == "group.upserted",
        )
        .order_by(EventRecord.key)
    ).all()
    blank = _blank_group(group.org, group.id)
    for name in PROFILE_FIELDS:
        setattr(group, name, blank[name])
    for record in records:
        apply_profile(group, GroupUpserted.model_validate(record.data))
        group.profile_key = record.key


def on_group_dismissed(context: Context, event: Event) -> None:
    group = see_group(context, event, cast(str, event.group))
    if group.dismissed_at is None or event.at > group.dismissed_at:
        group.dismissed_at = event.at


def on_group_seen(context: Context, event: Event) -> None:
    if event.group is not None:
        see_group(context, event, event.group)


def on_order_paid(context: Context, event: Event) -> None:
    data = event.payload(OrderPaid)
    on_group_seen(context, event)
    see_store(context, event, data.store)
    see_staff(context, event, data.staff)


GROUPS = Projection(
    name="groups",
    tables=[cast(Table, model.__table__) for model in (Store, Staff, Group)],
    prefetch=prefetch,
    on={
        "group.upserted": on_group_upserted,
        "group.dismissed": on_group_dismissed,
        "member.joined": on_group_seen,
        "member.left": on_group_seen,
        "message.posted": on_traffic,
        "reaction.added": on_traffic,
        "reaction.removed": on_traffic,
        "order.paid": on_order_paid,
    },
)
