"""Provably fair draws, commit-then-reveal, so nobody, the operator included, can choose winners.

1. before entries close, the operator posts a commitment to a secret seed, the rules and the
   freeze time;
2. at the freeze, the entrant list is fixed and its hash posted;
3. at the draw, the seed is revealed: each entrant's ticket is an HMAC of the list hash and their
   id under the seed, and Efraimidis–Spirakis turns tickets and weights into winners.
docs/lottery-fairness.md describes the published record and a script that checks it; a test
holds that script and this module to the same answers.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from itertools import pairwise
from typing import Any

SCHEME = "shequn-draw/1"
# More significant digits than 2**256 has (78), so distinct tickets never collapse into one key;
# Decimal's ln is correctly rounded, so every Python on every platform computes the same keys.
DECIMAL_PRECISION = 80
# A shorter seed could be guessed from its published hash before the draw.
MIN_SEED_BYTES = 16


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must carry a UTC offset, got {moment.isoformat()}")


def _require_seed(seed: bytes) -> None:
    if len(seed) < MIN_SEED_BYTES:
        raise ValueError(f"the seed must be at least {MIN_SEED_BYTES} random bytes")


def seed_hash(seed: bytes) -> str:
    """SHA-256 of the seed in hex: what the commitment binds while the seed stays secret."""
    return _sha256_hex(seed)


def _commitment(*, hashed_seed: str, rules: str, freeze_at: str) -> str:
    fields = {"seed_hash": hashed_seed, "rules": rules, "freeze_at": freeze_at}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _sha256_hex(text.encode())


def commit(*, seed: bytes, rules: str, freeze_at: datetime) -> str:
    """The commitment posted before entries close: binds the seed, the rules and the freeze."""
    require_aware(freeze_at, "freeze_at")
    _require_seed(seed)
    return _commitment(hashed_seed=seed_hash(seed), rules=rules, freeze_at=freeze_at.isoformat())


@dataclass(frozen=True)
class Entrant:
    """One member's entry; a weight of 3 draws like holding three tickets."""

    member: str
    weight: int = 1

    def __post_init__(self) -> None:
        # Tab and newline separate the fields of the hashed list: allowing them would let two
        # different lists hash alike.
        if not isinstance(self.member, str) or not self.member or {"\t", "\n"} & set(self.member):
            raise ValueError(f"entrant {self.member!r}: an id must be text without tab or newline")
        if isinstance(self.weight, bool) or not isinstance(self.weight, int) or self.weight < 1:
            raise ValueError(f"entrant {self.member!r}: the weight must be a whole number >= 1")


def _sorted_entrants(entrants: Iterable[Entrant]) -> tuple[Entrant, ...]:
    ordered = sorted(entrants, key=lambda entrant: entrant.member)
    for before, after in pairwise(ordered):
        if before.member == after.member:
            raise ValueError(f"entrant {after.member!r} appears twice")
    return tuple(ordered)


def entrant_list_hash(entrants: Iterable[Entrant]) -> str:
    """SHA-256 hex of "member<TAB>weight<LF>" lines, sorted by member id in code point order."""
    lines = "".join(f"{e.member}\t{e.weight}\n" for e in _sorted_entrants(entrants))
    return _sha256_hex(lines.encode())


def ticket(seed: bytes, *, list_hash: str, member: str) -> int:
    """The member's 256-bit ticket: HMAC-SHA256 under the seed of the list hash and their id."""
    message = f"{list_hash}\n{member}".encode()
    return int.from_bytes(hmac.new(seed, message, hashlib.sha256).digest(), "big")


def draw_key(number: int, *, weight: int) -> Decimal:
    """-ln(u) / weight for a ticket number, with u = (number + 1) / (2**256 + 1) inside (0, 1)."""
    # A fresh context each time: no float, no shared state, the same digits everywhere.
    context = Context(prec=DECIMAL_PRECISION, rounding=ROUND_HALF_EVEN)
    u = context.divide(Decimal(number + 1), Decimal(2**256 + 1))
    return context.divide(context.minus(context.ln(u)), Decimal(weight))


@dataclass(frozen=True)
class Winner:
    member: str
    rank: int
    key: str


def draw_winners(entrants: Iterable[Entrant], *, k: int, seed: bytes) -> tuple[Winner, ...]:
    """The k smallest keys win, smallest first; everyone wins when there are k or fewer."""
    if k < 1:
        raise ValueError(f"k must be 1 or more, got {k}")
    _require_seed(seed)
    ordered = _sorted_entrants(entrants)
    list_hash = entrant_list_hash(ordered)
    # Each key is an exponential clock with rate = weight: the first k to ring win, which draws
    # without replacement with odds proportional to weight (Efraimidis–Spirakis).
    keyed = sorted(
        (draw_key(ticket(seed, list_hash=list_hash, member=e.member), weight=e.weight), e.member)
        for e in ordered
    )
    return tuple(
        Winner(member=member, rank=rank, key=str(key))
        for rank, (key, member) in enumerate(keyed[:k], start=1)
    )


@dataclass(frozen=True)
class Prize:
    name: str
    count: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"prize {self.name!r}: a prize needs a name")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"prize {self.name!r}: the count must be a whole number >= 1")


@dataclass(frozen=True)
class Award:
    rank: int
    member: str
    prize: str


def assign_prizes(winners: Iterable[Winner], prizes: Sequence[Prize]) -> tuple[Award, ...]:
    """The first prize goes to ranks 1..count, the next prize to the ranks after, and so on."""
    slots = [prize.name for prize in prizes for _ in range(prize.count)]
    ranked = sorted(winners, key=lambda winner: winner.rank)
    # Fewer entrants than prizes: the last prizes stay in the drawer.
    return tuple(
        Award(rank=winner.rank, member=winner.member, prize=name)
        for winner, name in zip(ranked, slots, strict=False)
    )


@dataclass(frozen=True)
class DrawResult:
    commitment: str
    rules: str
    freeze_at: datetime
    seed: bytes
    entrants: tuple[Entrant, ...]
    entrant_count: int
    list_hash: str
    prizes: tuple[Prize, ...]
    awards: tuple[Award, ...]

    def published(self) -> dict[str, Any]:
        """The record posted after the draw; its shape is documented in lottery-fairness.md."""
        return {
            "scheme": SCHEME,
            "commitment": self.commitment,
            "rules": self.rules,
            "freeze_at": self.freeze_at.isoformat(),
            "seed": self.seed.hex(),
            "entrants": [{"member": e.member, "weight": e.weight} for e in self.entrants],
            "entrant_list_hash": self.list_hash,
            "prizes": [{"name": p.name, "count": p.count} for p in self.prizes],
            "winners": [
                {"rank": a.rank, "member": a.member, "prize": a.prize} for a in self.awards
            ],
        }


def draw(
    entrants: Iterable[Entrant],
    *,
    prizes: Sequence[Prize],
    seed: bytes,
    rules: str,
    freeze_at: datetime,
) -> DrawResult:
    """Draw every prize among the frozen entrants, with everything an outsider needs to check."""
    if not prizes:
        raise ValueError("a draw needs at least one prize")
    ordered = _sorted_entrants(entrants)
    winners = draw_winners(ordered, k=sum(prize.count for prize in prizes), seed=seed)
    return DrawResult(
        commitment=commit(seed=seed, rules=rules, freeze_at=freeze_at),
        rules=rules,
        freeze_at=freeze_at,
        seed=seed,
        entrants=ordered,
        entrant_count=len(ordered),
        list_hash=entrant_list_hash(ordered),
        prizes=tuple(prizes),
        awards=assign_prizes(winners, prizes),
    )


@dataclass(frozen=True)
class Verification:
    """What checking a published draw found; it holds when nothing failed."""

    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _text(published: Mapping[str, Any], name: str) -> str:
    value = published.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is missing or not a string")
    return value


def _objects(published: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = published.get(name)
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise ValueError(f"{name} is missing or not a list of objects")
    return value


@dataclass(frozen=True)
class _Record:
    scheme: str
    commitment: str
    rules: str
    freeze_at: str
    seed: bytes
    entrants: tuple[Entrant, ...]
    list_hash: str
    prizes: tuple[Prize, ...]
    winners: dict[int, tuple[str, str]]


def _read_record(published: Mapping[str, Any]) -> _Record:
    seed = bytes.fromhex(_text(published, "seed"))
    _require_seed(seed)
    freeze_at = _text(published, "freeze_at")
    require_aware(datetime.fromisoformat(freeze_at), "freeze_at")
    entrants = _sorted_entrants(
        Entrant(member=item.get("member", ""), weight=item.get("weight", 0))
        for item in _objects(published, "entrants")
    )
    prizes = tuple(
        Prize(name=item.get("name", ""), count=item.get("count", 0))
        for item in _objects(published, "prizes")
    )
    if not prizes:
        raise ValueError("prizes is empty")
    winners: dict[int, tuple[str, str]] = {}
    for item in _objects(published, "winners"):
        rank, member, prize = item.get("rank"), item.get("member"), item.get("prize")
        if not (isinstance(rank, int) and isinstance(member, str) and isinstance(prize, str)):
            raise ValueError(f"winner {dict(item)!r} needs a whole rank, a member and a prize")
        if rank in winners:
            raise ValueError(f"rank {rank} is published twice")
        winners[rank] = (member, prize)
    return _Record(
        scheme=_text(published, "scheme"),
        commitment=_text(published, "commitment"),
        rules=_text(published, "rules"),
        freeze_at=freeze_at,
        seed=seed,
        entrants=entrants,
        list_hash=_text(published, "entrant_list_hash"),
        prizes=prizes,
        winners=winners,
    )


def _short(digest: str) -> str:
    return f"{digest[:12]}…"


def _winner_problems(record: _Record) -> list[str]:
    drawn = draw_winners(record.entrants, k=sum(p.count for p in record.prizes), seed=record.seed)
    expected = {a.rank: (a.member, a.prize) for a in assign_prizes(drawn, record.prizes)}
    problems = []
    for rank in sorted(record.winners.keys() | expected.keys()):
        got, want = record.winners.get(rank, ("nobody", "")), expected.get(rank, ("nobody", ""))
        if got[0] != want[0]:
            problems.append(f"winners: rank {rank} published {got[0]} but the draw gives {want[0]}")
        elif got[1] != want[1]:
            problems.append(
                f"winners: rank {rank} published prize {got[1]!r} but the draw gives {want[1]!r}"
            )
    return problems


def verify(
    published: Mapping[str, Any],
    *,
    announced_commitment: str | None = None,
    announced_list_hash: str | None = None,
) -> Verification:
    """Recompute a draw from its published record alone and name every part that does not hold.

    The announced values, when given, are the commitment and list hash posted in the group
    before the draw: without them a forger who rewrote the whole record would go unseen.
    """
    try:
        record = _read_record(published)
    except ValueError as error:
        return Verification(problems=(f"malformed: {error}",))
    if record.scheme != SCHEME:
        return Verification(problems=(f"scheme: published {record.scheme!r}, not {SCHEME}",))
    problems = []
    # Bound to the time as spelled in the record, so any re-spelling of it shows.
    committed = _commitment(
        hashed_seed=seed_hash(record.seed), rules=record.rules, freeze_at=record.freeze_at
    )
    if record.commitment != committed:
        problems.append(
            f"commitment: published {_short(record.commitment)} but the seed, rules and "
            f"freeze_at commit to {_short(committed)}"
        )
    if announced_commitment not in (None, record.commitment):
        problems.append(
            f"commitment: announced {_short(str(announced_commitment))} before entries closed "
            f"but published {_short(record.commitment)}"
        )
    hashed = entrant_list_hash(record.entrants)
    for name, claimed in (("published", record.list_hash), ("announced", announced_list_hash)):
        if claimed not in (None, hashed):
            problems.append(
                f"entrant_list_hash: {name} {_short(str(claimed))} but the entrants hash to "
                f"{_short(hashed)}"
            )
    return Verification(problems=(*problems, *_winner_problems(record)))
