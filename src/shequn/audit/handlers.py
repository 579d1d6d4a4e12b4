"""What the audit reacts to: a profile or a join rescores the member; a kick is remembered;
a message that breaks the group rules is struck."""

from collections import defaultdict
from collections.abc import Sequence

from shequn.audit.discipline import on_message, prefetch_messages
from shequn.audit.service import (
    avatar_look,
    kicked_looks,
    nickname_look,
    note_join,
    prime_members,
    remember_kicked,
    rescore,
)
from shequn.contract import MemberJoined, MemberLeft, MemberUpserted
from shequn.engine.context import Context
from shequn.engine.event import Event
from shequn.engine.registry import Reaction

SCORED = frozenset({"member.upserted", "member.joined"})


def _last_scored(context: Context) -> dict[tuple[str, str], tuple[str, str]]:
    """Per member, the last event of the batch that would rescore them; only that one does."""
    return context.memo(("audit-last-scored",), dict)


def _is_last_scored(context: Context, event: Event, member: str) -> bool:
    return _last_scored(context).get((event.org, member)) == (event.source, event.id)


def prefetch_members(context: Context, events: Sequence[Event]) -> None:
    members: dict[str, set[str]] = defaultdict(set)
    last = _last_scored(context)
    looks: dict[str, list[str | None]] = defaultdict(list)
    for event in events:
        if event.type in SCORED and event.member is not None:
            members[event.org].add(event.member)
            last[(event.org, event.member)] = (event.source, event.id)
        if isinstance(event.data, MemberUpserted):
            avatar = event.data.avatar.url if event.data.avatar else None
            looks[event.org] += [nickname_look(event.data.nickname), avatar_look(avatar)]
    for org, wanted in members.items():
        prime_members(context, org, wanted)
        # The profiles this batch brings are the ones scored: ask about their looks at once.
        kicked_looks(context, org).ask(looks[org])


def prefetch(context: Context, events: Sequence[Event]) -> None:
    prefetch_members(context, events)
    prefetch_messages(context, events)


def rescore_on_profile(context: Context, event: Event) -> None:
    member = event.payload(MemberUpserted).member
    if _is_last_scored(context, event, member):
        rescore(context, event.org, member)


def rescore_on_join(context: Context, event: Event) -> None:
    data = event.payload(MemberJoined)
    note_join(context, event.org, data.member, data.group)
    # A member who joins three groups in a batch is scored once, on all three joins.
    if _is_last_scored(context, event, data.member):
        rescore(context, event.org, data.member)


def remember_kick(context: Context, event: Event) -> None:
    data = event.payload(MemberLeft)
    # Profiles scored later, in this batch or after, must see this name and face as kicked.
    if data.reason == "kicked":
        remember_kicked(context, event.org, [data.member])


AUDIT = Reaction(
    name="audit",
    on={
        "member.upserted": rescore_on_profile,
        "member.joined": rescore_on_join,
        "member.left": remember_kick,
        # Group discipline (offences, warn then kick) judges members as the audit left them.
        "message.posted": on_message,
    },
    prefetch=prefetch,
)
