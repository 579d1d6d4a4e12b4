"""Groups, stores and staff as the log describes them; every rule here is order-independent."""

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table

from shequn.contract import GroupUpserted, OrderPaid
from shequn.engine.context import Context
from shequn.engine.event import Event
from shequn.engine.registry import Projection
from shequn.group.models import Group, Staff, Store

DEFAULT_TAGS: list[str] = []


def prefetch(context: Context, events: Sequence[Event]) -> None:
    groups, stores, staff = set(), set(), set()
    for event in events:
        if event.group is not None:
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


def see_group(context: Context, event: Event, group_id: str) -> Group:
    """The group, created on first sight as platforms do, named by its id until upserted."""
    group = context.rows.get(Group, (event.org, group_id))
    if group is None:
        return context.rows.add(
            Group(
                org=event.org,
                id=group_id,
                platform=event.source,
                name=group_id,
                capacity=None,
                store=None,
                owner=None,
                tags=list(DEFAULT_TAGS),
                member_count=0,
                first_seen_at=event.at,
                first_seen_key=event.key,
                profile_key=None,
                dismissed_at=None,
            )
        )
    if event.key < group.first_seen_key:
        group.first_seen_at, group.first_seen_key, group.platform = (
            event.at,
            event.key,
            event.source,
        )
    return group


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
    if group.profile_key is None or event.key > group.profile_key:
        group.profile_key = event.key
        group.name = data.name
        group.capacity = data.capacity
        group.store = data.store
        group.owner = data.owner
        group.tags = list(data.tags)


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
        "message.posted": on_group_seen,
        "reaction.added": on_group_seen,
        "reaction.removed": on_group_seen,
        "order.paid": on_order_paid,
    },
)
