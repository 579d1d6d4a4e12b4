"""Pure rules of membership: how joins and leaves, in order, become stints in a group."""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


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
