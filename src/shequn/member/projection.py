"""Members, memberships and activity from the log.

A profile is its upserts applied in key order, each setting only the fields it carries (a late
one re-folds them from the log), and the first join keeps the earliest, by key, so both are
independent of arrival order. Stints depend on order: a join or leave older than the last one
applied to its (group, member) re-folds that pair from the log, so live state equals a rebuild.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select

from shequn.contract import MemberJoined, MemberLeft, MemberUpserted, OrderPaid
from shequn.engine.context import Context
from shequn.engine.event import Event
from shequn.engine.models import EventRecord
from shequn.engine.registry import Projection
from shequn.group.models import Group
from shequn.group.projection import see_group
from shequn.member.models import GroupMember, Member, MemberActivity, Membership
from shequn.member.phones import arriving_phone, prefetch_sealed_phones
from shequn.member.rules import Move, MoveKind, Stint, apply_move, fold_stints

ACTIVITY = cast(Table, MemberActivity.__table__)
MEMBER = cast(Table, Member.__table__)
MOVES = ("member.joined", "member.left")
# What a Membership row holds of a Stint, besides its number.
STINT_FIELDS = (
    "joined_at", "join_key", "inviter", "via_kind", "via_code", "left_at", "left_reason", "left_by",
)  # fmt: skip
# What member.upserted sets, each only when the upsert carries it.
PROFILE_FIELDS = (
    "nickname", "gender", "signature", "avatar_url", "avatar_flags", "album_flags", "phone",
    "channel",
)  # fmt: skip
# Events whose handlers load and change a member's row; the rest only sight it.
LOADS_MEMBER = frozenset({"member.upserted", *MOVES, "order.paid"})


def prefetch(context: Context, events: Sequence[Event]) -> None:
    members, pairs = set(), set()
    for event in events:
        if event.member is not None and event.type in LOADS_MEMBER:
            members.add((event.org, event.member))
        if event.type in MOVES:
            pairs.add((event.org, cast(str, event.group), cast(str, event.member)))
    context.rows.prefetch(Member, members)
    prefetch_sealed_phones(context, events)
    context.rows.prefetch(GroupMember, pairs)
    current = []
    for pair in pairs:
        standing = context.rows.get(GroupMember, pair)
        if standing is not None and standing.stints:
            current.append((*pair, standing.stints))
    context.rows.prefetch(Membership, current)


def _blank_member(org: str, member_id: str) -> dict[str, Any]:
    return {
        "org": org, "id": member_id, "nickname": None, "gender": "unknown", "signature": None,
        "avatar_url": None, "avatar_flags": [], "album_flags": [], "phone": None,
        "channel": None, "profile_key": None, "first_join_key": None, "first_joined_at": None,
        "first_group": None, "first_inviter": None, "first_via_kind": None,
        "first_via_code": None,
    }  # fmt: skip


def _sighting(event: Event) -> dict[str, Any]:
    return {"first_seen_key": event.key, "first_seen_at": event.at, "platform": event.source}


def see_member(context: Context, event: Event, member_id: str) -> Member:
    """The member's row, loaded to be changed; created on first sight."""
    member = context.rows.get(Member, (event.org, member_id))
    if member is None:
        return context.rows.new(Member, **_blank_member(event.org, member_id), **_sighting(event))
    if event.key < member.first_seen_key:
        member.first_seen_at, member.first_seen_key = event.at, event.key
        member.platform = event.source
    return member


def sight_member(context: Context, event: Event, member_id: str) -> None:
    """Make sure the member exists without loading it: messages and reactions only need that."""
    context.first_sight(
        MEMBER, {"org": event.org, "id": member_id}, order="first_seen_key",
        sight=_sighting(event), defaults=_blank_member(event.org, member_id),
    )  # fmt: skip


def on_member_upserted(context: Context, event: Event) -> None:
    data = event.payload(MemberUpserted)
    member = see_member(context, event, data.member)
    if member.profile_key is not None and event.key < member.profile_key:
        # A late upsert may carry a field no later one does: fold all of them again, in order.
        phone_key = _refold_profile(context, member)
        if phone_key == event.key:
            # The log keeps the number masked: only the live event has it in clear to seal.
            member.phone = arriving_phone(context, member, data.phone, key=event.key)
        return
    member.profile_key = event.key
    apply_profile(member, data, context, key=event.key)


def apply_profile(member: Member, data: MemberUpserted, context: Context, *, key: str) -> None:
    """Set the fields the upsert carries; those it leaves out keep their value."""
    given = data.model_fields_set
    member.nickname = data.nickname
    if "gender" in given:
        member.gender = data.gender
    if "signature" in given:
        member.signature = data.signature
    if "avatar" in given:
        member.avatar_url = data.avatar.url if data.avatar else None
        member.avatar_flags = list(data.avatar.flags) if data.avatar else []
    if "album" in given:
        member.album_flags = list(data.album.flags) if data.album else []
    if "phone" in given:
        # With SHEQUN_PHONE_KEY set, sealed into member_phone; the row keeps it masked.
        member.phone = arriving_phone(context, member, data.phone, key=key)
    if "channel" in given:
        member.channel = data.channel


def _refold_profile(context: Context, member: Member) -> str | None:
    """Folds the member's upserts again in key order; returns the key of the last that set
    the phone."""
    records = context.session.scalars(
        select(EventRecord)
        .where(
            EventRecord.org == member.org,
            EventRecord.member_id == member.id,
            EventRecord.type == "member.upserted",
        )
        .order_by(EventRecord.key)
    ).all()
    blank = _blank_member(member.org, member.id)
    for name in PROFILE_FIELDS:
        setattr(member, name, blank[name])
    phone_key = None
    for record in records:
        data = MemberUpserted.model_validate(record.data)
        apply_profile(member, data, context, key=record.key)
        member.profile_key = record.key
        if "phone" in data.model_fields_set:
            phone_key = record.key
    return phone_key


def on_member_joined(context: Context, event: Event) -> None:
    data = event.payload(MemberJoined)
    member = see_member(context, event, data.member)
    if member.first_join_key is None or event.key < member.first_join_key:
        member.first_join_key = event.key
        member.first_joined_at = event.at
        member.first_group = data.group
        member.first_inviter = data.inviter
        member.first_via_kind = data.via.kind if data.via else None
        member.first_via_code = data.via.code if data.via else None
    _move(context, event, data.group, data.member, move_of(data, key=event.key, at=event.at))


def on_member_left(context: Context, event: Event) -> None:
    data = event.payload(MemberLeft)
    see_member(context, event, data.member)
    _move(context, event, data.group, data.member, move_of(data, key=event.key, at=event.at))


def _move(context: Context, event: Event, group_id: str, member_id: str, move: Move) -> None:
    pair = (event.org, group_id, member_id)
    standing = context.rows.get(GroupMember, pair)
    group = see_group(context, event, group_id)
    if standing is None:
        standing = context.rows.new(
            GroupMember, org=event.org, group_id=group_id, member_id=member_id,
            is_member=False, stints=0, joined_key=None, last_key=move.key,
        )  # fmt: skip
    if move.key < standing.last_key:
        _refold(context, group, standing)
        return
    standing.last_key = move.key
    before = _load_stints(context, standing, only_last=True)
    after = apply_move(before, move)
    if after != before:
        _store_stints(context, group, standing, before, after)


def _refold(context: Context, group: Group, standing: GroupMember) -> None:
    """A late join/leave: replay this pair's moves from the log (the late one is already in it)."""
    records = context.session.scalars(
        select(EventRecord).where(
            EventRecord.org == standing.org,
            EventRecord.group_id == standing.group_id,
            EventRecord.member_id == standing.member_id,
            EventRecord.type.in_(MOVES),
        )
    )
    payloads = context.registry.payloads
    moves = [
        move_of(
            cast(MemberJoined | MemberLeft, payloads[record.type].model_validate(record.data)),
            key=record.key,
            at=record.at,
        )
        for record in records
    ]
    after = fold_stints(moves)
    standing.last_key = max(move.key for move in moves)
    _store_stints(context, group, standing, _load_stints(context, standing, only_last=False), after)


def move_of(data: MemberJoined | MemberLeft, *, key: str, at: datetime) -> Move:
    if isinstance(data, MemberJoined):
        via = data.via
        return Move(
            MoveKind.JOIN, key, at, inviter=data.inviter,
            via_kind=via.kind if via else None, via_code=via.code if via else None,
        )  # fmt: skip
    return Move(MoveKind.LEAVE, key, at, reason=data.reason, by=data.by)


def _load_stints(context: Context, standing: GroupMember, *, only_last: bool) -> tuple[Stint, ...]:
    if standing.stints == 0:
        return ()
    numbers = [standing.stints] if only_last else list(range(1, standing.stints + 1))
    stints = []
    for number in numbers:
        row = context.rows.get(
            Membership, (standing.org, standing.group_id, standing.member_id, number)
        )
        if row is not None:
            stints.append(Stint(row.stint, **{name: getattr(row, name) for name in STINT_FIELDS}))
    return tuple(stints)


def _store_stints(
    context: Context,
    group: Group,
    standing: GroupMember,
    before: tuple[Stint, ...],
    after: tuple[Stint, ...],
) -> None:
    existing = {stint.number: stint for stint in before}
    for stint in after:
        if existing.get(stint.number) == stint:
            continue
        key = (standing.org, standing.group_id, standing.member_id, stint.number)
        # Stints past the stored count are new: no need to ask the database for them.
        row = context.rows.get(Membership, key) if stint.number <= standing.stints else None
        values = {name: getattr(stint, name) for name in STINT_FIELDS}
        if row is None:
            context.rows.new(
                Membership, org=standing.org, group_id=standing.group_id,
                member_id=standing.member_id, stint=stint.number, **values,
            )  # fmt: skip
            continue
        for name, value in values.items():
            setattr(row, name, value)
    # `after` may hold only the latest stints; its last number is the count. A re-fold can
    # end with fewer stints than were stored: those rows go.
    count = after[-1].number if after else 0
    for number in range(count + 1, standing.stints + 1):
        row = context.rows.get(
            Membership, (standing.org, standing.group_id, standing.member_id, number)
        )
        if row is not None:
            context.rows.remove(row)
    is_member = bool(after) and after[-1].is_open
    group.member_count += int(is_member) - int(standing.is_member)
    standing.is_member = is_member
    standing.stints = count
    standing.joined_key = after[-1].join_key if is_member else None


def on_message_posted(context: Context, event: Event) -> None:
    sight_member(context, event, cast(str, event.member))
    _count(context, event, messages=1, reactions=0, active=True)


def on_reaction_added(context: Context, event: Event) -> None:
    sight_member(context, event, cast(str, event.member))
    _count(context, event, messages=0, reactions=1, active=True)


def on_reaction_removed(context: Context, event: Event) -> None:
    sight_member(context, event, cast(str, event.member))
    _count(context, event, messages=0, reactions=-1, active=False)


def _count(context: Context, event: Event, *, messages: int, reactions: int, active: bool) -> None:
    context.count(
        ACTIVITY,
        {"org": event.org, "group_id": event.group, "member_id": event.member},
        add={"messages": messages, "reactions": reactions},
        latest={"last_active_at": event.at if active else None},
    )


def on_order_paid(context: Context, event: Event) -> None:
    see_member(context, event, event.payload(OrderPaid).member)


MEMBERS = Projection(
    name="members",
    tables=[
        cast(Table, model.__table__) for model in (Member, GroupMember, Membership, MemberActivity)
    ],
    prefetch=prefetch,
    on={
        "member.upserted": on_member_upserted,
        "member.joined": on_member_joined,
        "member.left": on_member_left,
        "message.posted": on_message_posted,
        "reaction.added": on_reaction_added,
        "reaction.removed": on_reaction_removed,
        "order.paid": on_order_paid,
    },
)
