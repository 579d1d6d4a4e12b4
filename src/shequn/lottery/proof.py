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
import heapq
import hmac
import json
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from itertools import compress, pairwise
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


def _check_entrant(member: object, weight: object) -> None:
    # Tab and newline separate the fields of the hashed list: allowing them would let two
    # different lists hash alike.
    if not isinstance(member, str) or not member or "\t" in member or "\n" in member:
        raise ValueError(f"entrant {member!r}: an id must be text without tab or newline")
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
        raise ValueError(f"entrant {member!r}: the weight must be a whole number >= 1")


@dataclass(frozen=True, slots=True)
class Entrant:
    """One member's entry; a weight of 3 draws like holding three tickets."""

    member: str
    weight: int = 1

    def __post_init__(self) -> None:
        _check_entrant(self.member, self.weight)


_member_of: Callable[[Entrant], str] = operator.attrgetter("member")
_weight_of: Callable[[Entrant], int] = operator.attrgetter("weight")


def _require_unique(members: Sequence[str]) -> None:
    """Members sorted by id must not repeat; comparing neighbours in C keeps a million cheap."""
    if any(map(operator.eq, members, members[1:])):
        for before, after in pairwise(members):
            if before == after:
                raise ValueError(f"entrant {after!r} appears twice")


def _sorted_entrants(entrants: Iterable[Entrant]) -> tuple[Entrant, ...]:
    ordered = tuple(sorted(entrants, key=_member_of))
    _require_unique(list(map(_member_of, ordered)))
    return ordered


def _list_hash(members: Sequence[str], weights: Sequence[int]) -> str:
    lines = "".join(map("{}\t{}\n".format, members, weights))
    try:
        encoded = lines.encode()
    except UnicodeEncodeError as error:
        # A lone surrogate (JSON allows "\ud800") has no UTF-8 form to hash: refused once here,
        # not checked per entrant on the hot path.
        line = lines[: error.start].count("\n")
        raise ValueError(f"entrant {members[line]!r}: an id must be valid Unicode text") from None
    return _sha256_hex(encoded)


def entrant_list_hash(entrants: Iterable[Entrant]) -> str:
    """SHA-256 hex of "member<TAB>weight<LF>" lines, sorted by member id in code point order."""
    ordered = _sorted_entrants(entrants)
    return _list_hash(list(map(_member_of, ordered)), list(map(_weight_of, ordered)))


def ticket(seed: bytes, *, list_hash: str, member: str) -> int:
    """The member's 256-bit ticket: HMAC-SHA256 under the seed of the list hash and their id."""
    message = f"{list_hash}\n{member}".encode()
    return int.from_bytes(hmac.new(seed, message, hashlib.sha256).digest(), "big")


_SHA256_BLOCK = 64
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


def _ticket_digests(seed: bytes, *, list_hash: str, members: Sequence[str]) -> list[bytes]:
    """Every member's ticket as its 32 big-endian bytes, the same HMAC as `ticket`.

    HMAC (RFC 2104) is H(key ^ opad || H(key ^ ipad || message)). Every message starts with the
    list hash, so the inner hash of the padded key and that prefix is computed once and copied
    per member, which is several times cheaper than a fresh HMAC each.
    """
    key = hashlib.sha256(seed).digest() if len(seed) > _SHA256_BLOCK else seed
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(key.translate(_INNER_PAD))
    inner.update(f"{list_hash}\n".encode())
    outer = hashlib.sha256(key.translate(_OUTER_PAD))
    inner_copy, outer_copy = inner.copy, outer.copy

    def digest(member: bytes) -> bytes:
        inner_hash = inner_copy()
        inner_hash.update(member)
        outer_hash = outer_copy()
        outer_hash.update(inner_hash.digest())
        return outer_hash.digest()

    return list(map(digest, map(str.encode, members)))


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


_TWO_256 = 2**256
_LOG_DENOMINATOR = math.log(_TWO_256 + 1)


def _log_key_bounds(number: int, weight: int) -> tuple[float, float]:
    """Floats below and above ln(draw_key(number, weight=weight)), for ranking candidates.

    With g = -ln(u): for u < 1/2, g = ln(2**256 + 1) - ln(number + 1) > ln 2, each log of an
    int off by a few ulps of at most 178, so g is off by under 1e-12 relatively; for u >= 1/2,
    g = -log1p(-v) with v = (2**256 - number) / (2**256 + 1) <= 1/2 correctly rounded by
    Python's int division, and log1p's condition number there is below 1.5. ln g and ln weight
    add a few ulps each (ln weight may be large: hence its share of the margin). The exact key
    differs from the real -ln(u) / weight by at most 1e-79/g + 1e-79 relatively: u is rounded
    to 80 digits (5e-80 relatively, so ln u moves by <= 1e-79), then ln and the division round
    (5e-80 each). A relative error r moves a log by at most 2r. The margin covers all of this
    many times over.
    """
    if number < _TWO_256 // 2:
        g = _LOG_DENOMINATOR - math.log(number + 1)
    else:
        g = -math.log1p(-((_TWO_256 - number) / (_TWO_256 + 1)))
    log_weight = math.log(weight)
    estimate = math.log(g) - log_weight
    margin = 1e-9 + log_weight * 2**-40 + 4e-79 / g
    return estimate - margin, estimate + margin


def _smallest_keys(
    members: Sequence[str], weights: Sequence[int], digests: Sequence[bytes], k: int
) -> list[tuple[Decimal, str]]:
    """The k smallest (draw_key, member) pairs, with exact keys for only a few entrants.

    1. For one weight the key falls strictly as the ticket grows. Two tickets differ by at
       least 1/(2**256 + 1) ~ 8.6e-78 in u, which rounding to 80 digits (5e-81 at most below
       1) keeps; -ln u then differs by at least that divided by u, more than 1e-79 * -ln u
       since u * -ln u < 0.37; ln and the division each round by at most 5e-80 of the value,
       so neither can close the gap. An entrant outside its weight's k largest tickets has k
       entrants with strictly smaller keys and cannot win. Big-endian digests compare like the
       numbers they spell.
    2. Among those, floats with a proven margin (`_log_key_bounds`) rule out anyone whose key
       is surely above the k-th smallest upper bound.
    3. The rest get their exact Decimal key, and the exact keys and ids decide the order.
    """
    count = len(members)
    chosen: Iterable[int] = range(count)
    if count > k:
        distinct = set(weights)
        by_weight: dict[int, list[bytes]] = {}
        if len(distinct) == 1:
            by_weight[distinct.pop()] = list(digests)
        else:
            for digest, weight in zip(digests, weights, strict=True):
                group = by_weight.get(weight)
                if group is None:
                    by_weight[weight] = [digest]
                else:
                    group.append(digest)
        # An empty threshold lets a whole weight through when it has k entrants or fewer.
        lowest = {
            weight: heapq.nlargest(k, group)[-1] if len(group) > k else b""
            for weight, group in by_weight.items()
        }
        passing = map(operator.ge, digests, map(lowest.__getitem__, weights))
        chosen = list(compress(range(count), passing))
    numbers = {index: int.from_bytes(digests[index], "big") for index in chosen}
    if len(numbers) > k:
        bounds = {index: _log_key_bounds(numbers[index], weights[index]) for index in numbers}
        ceiling = heapq.nsmallest(k, (upper for _, upper in bounds.values()))[-1]
        numbers = {
            index: numbers[index] for index, (lower, _) in bounds.items() if lower <= ceiling
        }
    keyed = sorted(
        (draw_key(number, weight=weights[index]), members[index])
        for index, number in numbers.items()
    )
    return keyed[:k]


def _winners_of(
    members: Sequence[str], weights: Sequence[int], *, list_hash: str, k: int, seed: bytes
) -> tuple[Winner, ...]:
    """Members and weights sorted by member id, without repeats; list_hash is theirs."""
    if k < 1:
        raise ValueError(f"k must be 1 or more, got {k}")
    _require_seed(seed)
    digests = _ticket_digests(seed, list_hash=list_hash, members=members)
    # Each key is an exponential clock with rate = weight: the first k to ring win, which draws
    # without replacement with odds proportional to weight (Efraimidis–Spirakis).
    return tuple(
        Winner(member=member, rank=rank, key=str(key))
        for rank, (key, member) in enumerate(_smallest_keys(members, weights, digests, k), start=1)
    )


def draw_winners(entrants: Iterable[Entrant], *, k: int, seed: bytes) -> tuple[Winner, ...]:
    """The k smallest keys win, smallest first; everyone wins when there are k or fewer."""
    if k < 1:
        raise ValueError(f"k must be 1 or more, got {k}")
    _require_seed(seed)
    ordered = _sorted_entrants(entrants)
    members, weights = list(map(_member_of, ordered)), list(map(_weight_of, ordered))
    return _winners_of(members, weights, list_hash=_list_hash(members, weights), k=k, seed=seed)


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
    members, weights = list(map(_member_of, ordered)), list(map(_weight_of, ordered))
    list_hash = _list_hash(members, weights)
    winners = _winners_of(
        members, weights, list_hash=list_hash, k=sum(prize.count for prize in prizes), seed=seed
    )
    return DrawResult(
        commitment=commit(seed=seed, rules=rules, freeze_at=freeze_at),
        rules=rules,
        freeze_at=freeze_at,
        seed=seed,
        entrants=ordered,
        entrant_count=len(ordered),
        list_hash=list_hash,
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
    # Sorted by member id, without repeats.
    members: list[str]
    weights: list[int]
    list_hash: str
    prizes: tuple[Prize, ...]
    winners: dict[int, tuple[str, str]]


def _read_entrants(published: Mapping[str, Any]) -> tuple[list[str], list[int]]:
    """The same checks as Entrant, without building a million of them."""
    items = _objects(published, "entrants")
    members = [item.get("member", "") for item in items]
    weights = [item.get("weight", 0) for item in items]
    for member, weight in zip(members, weights, strict=True):
        _check_entrant(member, weight)
    # A published list is sorted already; only an out-of-order one pays for sorting.
    if not all(map(operator.lt, members, members[1:])):
        order = sorted(range(len(members)), key=members.__getitem__)
        members, weights = [members[i] for i in order], [weights[i] for i in order]
        _require_unique(members)
    return members, weights


def _read_record(published: Mapping[str, Any]) -> _Record:
    seed = bytes.fromhex(_text(published, "seed"))
    _require_seed(seed)
    freeze_at = _text(published, "freeze_at")
    require_aware(datetime.fromisoformat(freeze_at), "freeze_at")
    members, weights = _read_entrants(published)
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
        members=members,
        weights=weights,
        list_hash=_text(published, "entrant_list_hash"),
        prizes=prizes,
        winners=winners,
    )


def _short(digest: str) -> str:
    return f"{digest[:12]}…"


def _winner_problems(record: _Record, *, list_hash: str) -> list[str]:
    drawn = _winners_of(
        record.members, record.weights, list_hash=list_hash,
        k=sum(p.count for p in record.prizes), seed=record.seed,
    )  # fmt: skip
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
    hashed = _list_hash(record.members, record.weights)
    for name, claimed in (("published", record.list_hash), ("announced", announced_list_hash)):
        if claimed not in (None, hashed):
            problems.append(
                f"entrant_list_hash: {name} {_short(str(claimed))} but the entrants hash to "
                f"{_short(hashed)}"
            )
    return Verification(problems=(*problems, *_winner_problems(record, list_hash=hashed)))
