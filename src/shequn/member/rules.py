"""Pure rules of membership: how joins and leaves, in order, become stints in a group; and
which tags staff may put on a member."""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

MAX_TAG_LENGTH = 32
MAX_TAGS = 50
# Besides letters, digits and inner spaces: what operators write in tags like "K.O.L", "宝妈·二胎".
TAG_PUNCTUATION = frozenset("-_·.&+#/")


class MoveKind(StrEnum):
    JOIN = "join"
    LEAVE = "leave"


@dataclass(frozen=True)
class Move:
    """A join or a leave of one member in one group, as the log has it."""

    kind: MoveKind
    key: str
    at: datetime
    inviter: str | None = None
    via_kind: str | None = None
    via_code: str | None = None
    reason: str | None = None
    by: str | None = None


@dataclass(frozen=True)
class Stint:
    number: int
    joined_at: datetime
    join_key: str
    inviter: str | None
    via_kind: str | None
    via_code: str | None
    left_at: datetime | None = None
    left_reason: str | None = None
    left_by: str | None = None

    @property
    def is_open(self) -> bool:
        return self.left_at is None


def apply_move(stints: tuple[Stint, ...], move: Move) -> tuple[Stint, ...]:
    """A join opens a stint unless one is open; a leave closes the open one, if any.

    A repeated join (a platform re-sending, or a missed leave) changes nothing: the first
    join keeps its inviter, so nobody can overwrite who brought a member in.
    """
    current = stints[-1] if stints and stints[-1].is_open else None
    if move.kind is MoveKind.JOIN:
        if current is not None:
            return stints
        opened = Stint(
            # Numbered after the last one: the caller may pass only the latest stint.
            number=stints[-1].number + 1 if stints else 1,
            joined_at=move.at,
            join_key=move.key,
            inviter=move.inviter,
            via_kind=move.via_kind,
            via_code=move.via_code,
        )
        return (*stints, opened)
    if current is None:
        return stints
    closed = replace(current, left_at=move.at, left_reason=move.reason, left_by=move.by)
    return (*stints[:-1], closed)


def fold_stints(moves: Iterable[Move]) -> tuple[Stint, ...]:
    """The stints a sequence of moves gives, applied in key order (the log's order)."""
    stints: tuple[Stint, ...] = ()
    for move in sorted(moves, key=lambda move: move.key):
        stints = apply_move(stints, move)
    return stints


class TagError(ValueError):
    """A tag staff may not put on a member; the message names the tag and why."""


def valid_tag(text: str) -> str:
    """The tag as stored: trimmed, 1-32 characters of letters and digits in any script (VIP,
    团长, 宝妈), inner spaces and -_·.&+#/; never control characters."""
    for char in text:
        if unicodedata.category(char)[0] == "C":
            raise TagError(f"tag {text!r}: control character U+{ord(char):04X} is not allowed")
    # Full-width and repeated spaces, as typed on a phone, count as one space.
    tag = " ".join(text.split())
    if not tag:
        raise TagError("tag: empty")
    if len(tag) > MAX_TAG_LENGTH:
        raise TagError(f"tag {tag!r}: {len(tag)} characters, at most {MAX_TAG_LENGTH}")
    for char in tag:
        # Letters, marks and numbers of any script.
        if unicodedata.category(char)[0] in "LMN" or char in TAG_PUNCTUATION or char == " ":
            continue
        raise TagError(f"tag {tag!r}: {unicodedata.name(char, hex(ord(char)))} is not allowed")
    return tag


@dataclass(frozen=True)
class TagChange:
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return not self.added and not self.removed


def change_tags(current: Iterable[str], *, add: Iterable[str], remove: Iterable[str]) -> TagChange:
    """What adding and removing does to a member's tags: only real changes, each tag once;
    a tag both added and removed is refused, as is a member past MAX_TAGS."""
    have = set(current)
    adding = {valid_tag(tag) for tag in add}
    removing = {valid_tag(tag) for tag in remove}
    both = adding & removing
    if both:
        raise TagError(f"tag {sorted(both)[0]!r}: both added and removed")
    added, removed = sorted(adding - have), sorted(removing & have)
    if len(have) + len(added) - len(removed) > MAX_TAGS:
        raise TagError(f"tags: a member has at most {MAX_TAGS}")
    return TagChange(tuple(added), tuple(removed))
