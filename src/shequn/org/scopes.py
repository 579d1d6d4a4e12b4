"""What an API token may do: the scopes it was minted with. No I/O.

A token with every scope is stored as "*", so a token minted before scopes existed, or without
any asked for, keeps doing all it did, and also what later scopes allow.
"""

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    # Send events: connectors, shops, bots (POST /api/v1/events).
    EVENTS = "events"
    # Read: the outbox, reports, balances, tags, products, draws, settings (every GET).
    READ = "read"
    # Act for members, as a shop or mini-program does: redemptions, group-buys, bargains,
    # assists, shares, live-code scans.
    MEMBER = "member"
    # Run the org's operations: quizzes, lottery draws, member tags.
    OPERATE = "operate"
    # Change the org's settings (PATCH /api/v1/settings).
    SETTINGS = "settings"


EVERY = "*"
NAMES = tuple(scope.value for scope in Scope)


class ScopeError(ValueError):
    """A scope nobody knows, named."""


def parse_scopes(asked: Iterable[str]) -> str:
    """The stored form of the scopes asked for: sorted, comma-separated; "*" for all or none."""
    chosen = set()
    for text in asked:
        for part in text.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in NAMES and name != EVERY:
                raise ScopeError(
                    f"scope {part.strip()!r} is none of {', '.join(NAMES)} (or {EVERY})"
                )
            chosen.add(name)
    if not chosen or EVERY in chosen or chosen == set(NAMES):
        return EVERY
    return ",".join(sorted(chosen))


def allows(stored: str, scope: Scope) -> bool:
    return stored == EVERY or scope.value in stored.split(",")


def shown(stored: str) -> list[str]:
    """The scopes a stored form grants, by name."""
    return [name for name in NAMES if allows(stored, Scope(name))]
