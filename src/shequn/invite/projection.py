"""Each member's place in the invite tree, kept at join so the fission report is a GROUP BY.

A node is the member's first join (the earliest by key, whatever the arrival order) placed by
the credit rules. Its credit and generation read the node of its candidate inviter, so when a
member's first join key or generation changes, the members who name them are placed again,
and so on down the tree; an invite code created after joins through it places those again.
"""

from collections import deque
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import cast

from sqlalchemy import Table, and_, delete, insert, select, text
from sqlalchemy.orm import Session

from shequn.contract import MemberJoined
from shequn.engine.context import Context, RowCache
from shequn.engine.event import Event
from shequn.engine.registry import Projection
from shequn.invite.models import InviteCodeRecord, TreeNodeRecord
from shequn.invite.rules import (
    UNKNOWN_CHANNEL,
    InviteCode,
    candidate_of,
    channel_of,
    place,
    place_first_joins,
)
from shequn.member.models import Member

TREE_NODE = cast(Table, TreeNodeRecord.__table__)
CHUNK = 500
PLANT_CHUNK = 20_000


class TreeGrower:
    """Places nodes within one unit of work, and knows, for the members it has looked up, who
    names them as inviter."""

    def __init__(self, rows: RowCache) -> None:
        self.rows = rows
        self._named_by: dict[tuple[str, str], set[str]] = {}

    def load_named(self, org: str, members: Iterable[str]) -> None:
        wanted = sorted({member for member in members if (org, member) not in self._named_by})
        if not wanted:
            return
        session = self.rows.session
        # Nodes placed earlier in this unit of work must be in the answer.
        session.flush()
        for member in wanted:
            self._named_by[(org, member)] = set()
        for start in range(0, len(wanted), CHUNK):
            for row in session.scalars(
                select(TreeNodeRecord).where(
                    TreeNodeRecord.org == org,
                    TreeNodeRecord.inviter.in_(wanted[start : start + CHUNK]),
                )
            ):
                row = self.rows.keep(row)
                self._named_by[(org, cast(str, row.inviter))].add(row.member)

    def join(self, event: Event, data: MemberJoined) -> None:
        """A member.joined: only a join earlier than the member's first so far moves the node."""
        node = self.rows.get(TreeNodeRecord, (event.org, data.member))
        if node is not None and node.join_key <= event.key:
            return
        arrival = {
            "join_key": event.key, "joined_at": event.at, "group_id": data.group,
            "reported_inviter": data.inviter, "via_code": data.via.code if data.via else None,
        }  # fmt: skip
        if node is None:
            self.rows.new(
                TreeNodeRecord, org=event.org, member=data.member, inviter=None,
                is_credited=False, generation=0, channel=UNKNOWN_CHANNEL, **arrival,
            )  # fmt: skip
        else:
            for name, value in arrival.items():
                setattr(node, name, value)
        self.settle(event.org, [data.member], moved={data.member})

    def settle(self, org: str, members: Sequence[str], *, moved: set[str]) -> None:
        """Place these members again, then those who name anyone whose generation changed or
        whose first join `moved`."""
        queue = deque(members)
        while queue:
            member = queue.popleft()
            node = self.rows.get(TreeNodeRecord, (org, member))
            if node is None:
                continue
            code = self._code(org, node.via_code)
            inviter = candidate_of(member, reported=node.reported_inviter, code=code)
            parent = self.rows.get(TreeNodeRecord, (org, inviter)) if inviter else None
            placement = place(
                node.join_key,
                candidate=inviter,
                parent=None if parent is None else (parent.join_key, parent.generation),
            )
            changed = member in moved or placement.generation != node.generation
            moved.discard(member)
            self._rename(node, inviter)
            node.is_credited = placement.inviter is not None
            node.generation = placement.generation
            node.channel = channel_of(code)
            if changed:
                self.load_named(org, [member])
                queue.extend(sorted(self._named_by[(org, member)]))

    def _code(self, org: str, code: str | None) -> InviteCode | None:
        record = self.rows.get(InviteCodeRecord, (org, code)) if code else None
        if record is None:
            return None
        return InviteCode(code=record.code, owner=record.owner, channel=record.channel)

    def _rename(self, node: TreeNodeRecord, inviter: str | None) -> None:
        if node.inviter == inviter:
            return
        for name, named in ((node.inviter, False), (inviter, True)):
            known = self._named_by.get((node.org, name)) if name is not None else None
            if known is not None:
                (known.add if named else known.discard)(node.member)
        node.inviter = inviter


def grower_of(context: Context) -> TreeGrower:
    return context.memo(("invite-tree",), lambda: TreeGrower(context.rows))


def prefetch(context: Context, events: Sequence[Event]) -> None:
    joins = [
        (event, event.payload(MemberJoined)) for event in events if event.type == "member.joined"
    ]
    if not joins:
        return
    rows = context.rows
    rows.prefetch(TreeNodeRecord, {(event.org, data.member) for event, data in joins})
    codes = {(event.org, data.via.code) for event, data in joins if data.via and data.via.code}
    rows.prefetch(InviteCodeRecord, codes)
    inviters = {(event.org, data.inviter) for event, data in joins if data.inviter}
    for org, code in codes:
        record = rows.get(InviteCodeRecord, (org, code))
        if record is not None:
            inviters.add((org, record.owner))
    rows.prefetch(TreeNodeRecord, inviters)
    # Only a first join that moves earlier (or a member's very first) can re-place others.
    moving: dict[str, set[str]] = {}
    for event, data in joins:
        node = rows.get(TreeNodeRecord, (event.org, data.member))
        if node is None or event.key < node.join_key:
            moving.setdefault(event.org, set()).add(data.member)
    grower = grower_of(context)
    for org, members in moving.items():
        grower.load_named(org, members)


def on_member_joined(context: Context, event: Event) -> None:
    grower_of(context).join(event, event.payload(MemberJoined))


INVITE_TREE = Projection(
    name="invite-tree", tables=[TREE_NODE], prefetch=prefetch,
    on={"member.joined": on_member_joined},
)  # fmt: skip


def place_code_joins(session: Session, org: str, code: str) -> None:
    """A code created after members joined through it: their credit goes to its owner now."""
    members = session.scalars(
        select(TreeNodeRecord.member)
        .where(TreeNodeRecord.org == org, TreeNodeRecord.via_code == code)
        .order_by(TreeNodeRecord.member)
    ).all()
    if members:
        TreeGrower(RowCache(session)).settle(org, members, moved=set())
        session.flush()


def plant_invite_tree(session: Session) -> int:
    """Fill the tree from every member's first join, in one walk per org (a store upgraded
    from before the tree was kept); returns the nodes planted."""
    session.execute(delete(TreeNodeRecord))
    code = and_(
        InviteCodeRecord.org == Member.org,
        InviteCodeRecord.code == Member.first_via_code,
        Member.first_via_code != "",
    )
    planted = 0
    for org in session.scalars(select(Member.org).distinct()).all():
        first_joins = (
            select(
                Member.id, Member.first_join_key, Member.first_joined_at, Member.first_group,
                Member.first_inviter, Member.first_via_code, InviteCodeRecord.owner,
                InviteCodeRecord.channel,
            )
            .outerjoin(InviteCodeRecord, code)
            .where(
                Member.org == org, Member.first_join_key.is_not(None),
                Member.first_group.is_not(None), Member.first_joined_at.is_not(None),
            )
        )  # fmt: skip
        # The where clause rules out a member without a first join.
        facts = {
            member: (cast(str, key), at, group, reported, via_code, owner, channel)
            for member, key, at, group, reported, via_code, owner, channel in session.execute(
                first_joins
            )
        }
        named = {
            member: _inviter(member, reported=reported, owner=owner)
            for member, (_, _, _, reported, _, owner, _) in facts.items()
        }
        walk = place_first_joins(
            (member, found[0], named[member]) for member, found in facts.items()
        )
        nodes = (
            {
                "org": org, "member": member, "join_key": key, "joined_at": at, "group_id": group,
                "reported_inviter": reported, "via_code": via_code,
                "inviter": named[member], "is_credited": inviter is not None,
                "generation": generation,
                "channel": UNKNOWN_CHANNEL if channel is None else channel,
            }
            for member, inviter, generation in walk
            for key, at, group, reported, via_code, _, channel in (facts[member],)
        )  # fmt: skip
        while chunk := list(islice(nodes, PLANT_CHUNK)):
            session.execute(insert(TREE_NODE), chunk)
            planted += len(chunk)
    if session.get_bind().dialect.name == "postgresql":
        # A table filled in one go has no statistics until autovacuum comes by; without them
        # the report's first plans sort on disk and take several times as long.
        session.execute(text("ANALYZE invite_tree_node"))
    return planted


def _inviter(member: str, *, reported: str | None, owner: str | None) -> str | None:
    """candidate_of over bare columns: a code's owner is None only when there is no code."""
    inviter = reported if owner is None else owner
    return None if inviter == member else inviter
