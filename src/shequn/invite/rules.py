"""Pure rules of fission: who is credited with bringing a member in, and whether it still counts.

The credit rules (each member credits at most one inviter, ever, within an org):
- the credit belongs to the inviter of the member's first join into any of the org's groups;
  later joins and re-joins never create credit;
- the inviter is the owner of the invite code the member joined through, else the inviter the
  platform reported;
- a self-invite, and an invite by someone whose own first join came after the invitee's, are
  ignored (which also breaks invite cycles).

A credit is effective (有效拉新) at a moment while the invitee is in the group they were invited
into, has not been kicked from it, and is not flagged fake by the audit.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from operator import itemgetter

UNKNOWN_CHANNEL = "unknown"
NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class FirstJoin:
    """A member's first join into any of the org's groups, as the log has it."""

    member: str
    group: str
    key: str
    at: datetime
    inviter: str | None
    via_code: str | None


@dataclass(frozen=True)
class InviteCode:
    code: str
    owner: str
    channel: str


@dataclass(frozen=True)
class Credit:
    """One newcomer credited to one inviter; effective only while the newcomer stays."""

    inviter: str
    invitee: str
    group: str
    at: datetime
    channel: str


def credit_for(
    join: FirstJoin,
    *,
    codes: Mapping[str, InviteCode],
    first_join_keys: Mapping[str, str],
) -> Credit | None:
    """The credit a first join earns, or None when nobody may be credited with it."""
    code = codes.get(join.via_code) if join.via_code else None
    inviter = code.owner if code is not None else join.inviter
    if inviter is None or inviter == join.member:
        return None
    inviter_joined = first_join_keys.get(inviter)
    # Someone who came in after the invitee cannot have brought them; staff and outside
    # promoters who never joined a group as members may still be credited.
    if inviter_joined is not None and inviter_joined > join.key:
        return None
    channel = code.channel if code is not None else UNKNOWN_CHANNEL
    return Credit(
        inviter=inviter, invitee=join.member, group=join.group, at=join.at, channel=channel
    )


@dataclass(frozen=True)
class Stay:
    """One stint of the invitee in the group they were invited into."""

    joined_at: datetime
    left_at: datetime | None
    left_reason: str | None


class Standing(StrEnum):
    EFFECTIVE = "effective"
    LEFT = "left"
    KICKED = "kicked"
    FLAGGED = "flagged"


def standing_at(stays: Iterable[Stay], *, at: datetime, is_flagged: bool) -> Standing:
    """Where a credit stands at `at`: a kick before then ends it for good; otherwise it counts
    while the invitee is in the group (a re-join of the same group counts again)."""
    if is_flagged:
        return Standing.FLAGGED
    present = False
    for stay in stays:
        if stay.joined_at > at:
            continue
        if stay.left_at is not None and stay.left_at <= at:
            if stay.left_reason == "kicked":
                return Standing.KICKED
            continue
        present = True
    return Standing.EFFECTIVE if present else Standing.LEFT


@dataclass(frozen=True)
class InviterCount:
    inviter: str
    invited: int
    effective: int
    left: int
    kicked: int
    flagged: int
    # When the inviter's effective count reached its final value: breaks leaderboard ties.
    reached_at: datetime | None
    # Where the inviter's latest newcomer went: where a word to the inviter is best placed.
    latest_group: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "inviter": self.inviter, "invited": self.invited, "effective": self.effective,
            "left": self.left, "kicked": self.kicked, "flagged": self.flagged,
        }  # fmt: skip


def count_invites(
    credits: Iterable[tuple[Credit, Standing]],
) -> list[InviterCount]:
    """Per inviter, sorted by effective desc, then by who reached that count first."""
    tally: dict[str, dict[Standing, list[datetime]]] = {}
    latest: dict[str, Credit] = {}
    for credit, standing in credits:
        tally.setdefault(credit.inviter, {state: [] for state in Standing})[standing].append(
            credit.at
        )
        if credit.inviter not in latest or credit.at > latest[credit.inviter].at:
            latest[credit.inviter] = credit
    counts = []
    for inviter, by_state in tally.items():
        effective = sorted(by_state[Standing.EFFECTIVE])
        counts.append(
            InviterCount(
                inviter=inviter,
                invited=sum(len(times) for times in by_state.values()),
                effective=len(effective),
                left=len(by_state[Standing.LEFT]),
                kicked=len(by_state[Standing.KICKED]),
                flagged=len(by_state[Standing.FLAGGED]),
                reached_at=effective[-1] if effective else None,
                latest_group=latest[inviter].group,
            )
        )
    counts.sort(key=lambda count: (-count.effective, count.reached_at or NEVER, count.inviter))
    return counts


DEFAULT_CAPACITY = 500  # a WeChat / WeCom customer group
DEFAULT_MARGIN = 10


@dataclass(frozen=True)
class PoolGroup:
    """One group of a live code's pool, as it stands now."""

    group: str
    member_count: int
    capacity: int | None
    joins_today: int
    is_open: bool = True


def has_room(group: PoolGroup, *, margin: int, daily_cap: int | None) -> bool:
    capacity = group.capacity or DEFAULT_CAPACITY
    if not group.is_open or group.member_count >= capacity - margin:
        return False
    return daily_cap is None or group.joins_today < daily_cap


def route_newcomer(
    pool: Iterable[PoolGroup], *, margin: int = DEFAULT_MARGIN, daily_cap: int | None = None
) -> str | None:
    """The first group of the pool, in its order, that still has room; None when all are full."""
    for group in pool:
        if has_room(group, margin=margin, daily_cap=daily_cap):
            return group.group
    return None


@dataclass(frozen=True)
class TreeNode:
    """A member's place in the invite tree: generation 0 came in on their own."""

    member: str
    inviter: str | None
    generation: int
    channel: str


def invite_tree(
    joins: Iterable[FirstJoin], credits: Iterable[Credit], *, codes: Mapping[str, InviteCode]
) -> dict[str, TreeNode]:
    """Every member who joined, with their credited inviter, generation and acquisition channel.

    The channel is that of the invite code of the first join, else `unknown`. An inviter who
    never joined as a member (staff, an outside promoter) counts as generation 0.
    """
    credited = {credit.invitee: credit for credit in credits}
    nodes: dict[str, TreeNode] = {}
    # Inviters always joined before their invitees, so walking joins in order sees them first.
    for join in sorted(joins, key=lambda join: join.key):
        code = codes.get(join.via_code) if join.via_code else None
        channel = code.channel if code is not None else UNKNOWN_CHANNEL
        credit = credited.get(join.member)
        if credit is None:
            nodes[join.member] = TreeNode(join.member, None, 0, channel)
            continue
        parent = nodes.get(credit.inviter)
        generation = parent.generation + 1 if parent is not None else 1
        nodes[join.member] = TreeNode(join.member, credit.inviter, generation, channel)
    return nodes


@dataclass(frozen=True)
class FissionSummary:
    members: int
    credited: int
    inviters: int
    depth: int
    generations: dict[int, int]
    channels: dict[str, int]

    @property
    def k_factor(self) -> float | None:
        """New members per inviter (None without inviters)."""
        return round(self.credited / self.inviters, 4) if self.inviters else None

    def as_json(self) -> dict[str, object]:
        return {
            "members": self.members, "credited": self.credited, "inviters": self.inviters,
            "k_factor": self.k_factor, "depth": self.depth,
            "generations": {str(generation): count for generation, count in self.generations.items()},
            "channels": self.channels,
        }  # fmt: skip


def summarize_fission(nodes: Iterable[TreeNode]) -> FissionSummary:
    nodes = list(nodes)
    credited = [node for node in nodes if node.inviter is not None]
    generations: dict[int, int] = {}
    channels: dict[str, int] = {}
    for node in nodes:
        generations[node.generation] = generations.get(node.generation, 0) + 1
        channels[node.channel] = channels.get(node.channel, 0) + 1
    return FissionSummary(
        members=len(nodes),
        credited=len(credited),
        inviters=len({node.inviter for node in credited}),
        depth=max((node.generation for node in nodes), default=0),
        generations=dict(sorted(generations.items())),
        channels=dict(sorted(channels.items(), key=lambda item: (-item[1], item[0]))),
    )


@dataclass(frozen=True)
class Placement:
    """Where a member's first join puts them in the invite tree."""

    inviter: str | None
    generation: int


def candidate_of(member: str, *, reported: str | None, code: InviteCode | None) -> str | None:
    """Whom credit_for would credit if the order of first joins allows it."""
    inviter = code.owner if code is not None else reported
    return None if inviter == member else inviter


def channel_of(code: InviteCode | None) -> str:
    return code.channel if code is not None else UNKNOWN_CHANNEL


def place(key: str, *, candidate: str | None, parent: tuple[str, int] | None) -> Placement:
    """The credit and generation of a first join at `key`, given the candidate inviter's own
    first join key and generation (`parent`; None when they never joined as a member).

    The same rules as credit_for and invite_tree; first join keys come from distinct events,
    so an inviter's key is never equal to their invitee's.
    """
    if candidate is None:
        return Placement(None, 0)
    if parent is None:
        return Placement(candidate, 1)
    parent_key, parent_generation = parent
    if parent_key > key:
        return Placement(None, 0)
    return Placement(candidate, parent_generation + 1)


def place_first_joins(
    joins: Iterable[tuple[str, str, str | None]],
) -> Iterator[tuple[str, str | None, int]]:
    """(member, credited inviter, generation) of each join, in one walk over plain tuples.

    Each join is (member, first join key, candidate inviter); they are walked in order of key,
    then member (rows nearly in that order sort fastest). What place gives node by node, and
    invite_tree object by object, written over tuples because a store upgraded with a million
    members would otherwise make a million objects of each.
    """
    rows = sorted(joins, key=itemgetter(1, 0))
    # One table for both: a member's first join key until their turn in the walk, their
    # generation (an int) from then on. Overwriting a value is cheaper than a second table.
    walked: dict[str, str | int] = dict(map(itemgetter(0, 1), rows))
    look = walked.get
    for member, key, inviter in rows:
        if inviter is None:
            walked[member] = 0
            yield member, None, 0
            continue
        # "" for an inviter who never joined: before every key, so they may be credited.
        parent = look(inviter, "")
        if isinstance(parent, int):
            generation = parent + 1
        elif parent > key:  # the inviter's first join came after this one
            walked[member] = 0
            yield member, None, 0
            continue
        else:  # never joined, or joined at this very key and not walked yet
            generation = 1
        walked[member] = generation
        yield member, inviter, generation
