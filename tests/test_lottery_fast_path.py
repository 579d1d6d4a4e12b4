"""A draw computes exact keys for only a few entrants, and still picks exactly what computing
every entrant's exact key would pick."""

import hashlib
import hmac
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn.lottery import proof
from shequn.lottery.proof import Entrant, Winner, draw_key, draw_winners, ticket, verify

TOP = 2**256 - 1
HUGE = 10**400
SEED = bytes(range(32))


def reference_winners(entrants: list[Entrant], *, k: int, seed: bytes) -> tuple[Winner, ...]:
    """Every entrant's exact key, sorted: the recipe of docs/lottery-fairness.md, step by step."""
    list_hash = proof.entrant_list_hash(entrants)
    keyed = sorted(
        (draw_key(ticket(seed, list_hash=list_hash, member=e.member), weight=e.weight), e.member)
        for e in entrants
    )
    return tuple(
        Winner(member=member, rank=rank, key=str(key))
        for rank, (key, member) in enumerate(keyed[:k], start=1)
    )


def reference_smallest(numbers: list[int], weights: list[int], k: int) -> list[tuple[Decimal, str]]:
    keyed = sorted(
        (draw_key(number, weight=weight), f"m{index:03}")
        for index, (number, weight) in enumerate(zip(numbers, weights, strict=True))
    )
    return keyed[:k]


def fast_smallest(numbers: list[int], weights: list[int], k: int) -> list[tuple[Decimal, str]]:
    members = [f"m{index:03}" for index in range(len(numbers))]
    digests = [number.to_bytes(32, "big") for number in numbers]
    return proof._smallest_keys(members, weights, digests, k)


weights_strategy = st.one_of(
    st.just(1), st.integers(1, 5), st.integers(1, 2**70), st.sampled_from([2**64 + 1, HUGE])
)


@settings(max_examples=60, deadline=None)
@given(
    ids=st.sets(st.text(st.characters(blacklist_characters="\t\n", blacklist_categories=["Cs"]),
                        min_size=1, max_size=6),
                min_size=1, max_size=40),
    weights=st.lists(weights_strategy, min_size=40, max_size=40),
    k=st.integers(1, 45),
    seed=st.binary(min_size=16, max_size=100),
)  # fmt: skip
def test_a_draw_picks_the_winners_and_keys_that_every_exact_key_sorted_would_pick(
    ids: set[str], weights: list[int], k: int, seed: bytes
) -> None:
    entrants = [Entrant(member, weight=w) for member, w in zip(sorted(ids), weights, strict=False)]

    assert draw_winners(entrants, k=k, seed=seed) == reference_winners(entrants, k=k, seed=seed)


@pytest.mark.parametrize("weighted", [False, True])
def test_a_draw_of_two_thousand_matches_the_exact_keys_of_all_two_thousand(
    weighted: bool,
) -> None:
    entrants = [Entrant(f"u{n}", weight=1 + n % 7 if weighted else 1) for n in range(2000)]

    assert draw_winners(entrants, k=25, seed=SEED) == reference_winners(entrants, k=25, seed=SEED)


@settings(max_examples=40, deadline=None)
@given(
    numbers=st.lists(
        st.one_of(
            st.integers(0, 40), st.integers(TOP - 40, TOP), st.integers(0, TOP),
            st.integers(2**255 - 3, 2**255 + 3),
        ),
        min_size=1, max_size=30,
    ),
    weights=st.lists(weights_strategy, min_size=30, max_size=30),
    k=st.integers(1, 32),
)  # fmt: skip
def test_tiny_and_huge_tickets_with_tiny_and_huge_weights_rank_as_their_exact_keys(
    numbers: list[int], weights: list[int], k: int
) -> None:
    weights = weights[: len(numbers)]

    assert fast_smallest(numbers, weights, k) == reference_smallest(numbers, weights, k)


def near_tie(number: int, power: int) -> int:
    """A ticket whose u is close to u(number) ** power, so its key with weight `power` is close
    to the key of `number` with weight 1."""
    return int((number + 1) ** power // (2**256 + 1) ** (power - 1)) - 1


@pytest.mark.parametrize("number", [2**255, 2**250 + 12345, TOP - 10**70, TOP // 3])
@pytest.mark.parametrize("power", [2, 3, 7])
def test_keys_of_different_weights_that_agree_to_many_digits_are_ordered_by_their_exact_keys(
    number: int, power: int
) -> None:
    numbers = [number, near_tie(number, power), near_tie(number, power) + 1, number - 1]
    weights = [1, power, power, 1]
    keys = [draw_key(n, weight=w) for n, w in zip(numbers, weights, strict=True)]
    # The setup holds: the keys differ only far beyond what a float can tell apart.
    assert abs(keys[0] - keys[1]) < keys[0] * Decimal("1e-60")

    for k in (1, 2, 3):
        assert fast_smallest(numbers, weights, k) == reference_smallest(numbers, weights, k)


@settings(max_examples=200, deadline=None)
@given(
    number=st.one_of(
        st.integers(0, 1000), st.integers(TOP - 1000, TOP), st.integers(0, TOP),
        st.integers(2**255 - 2, 2**255 + 2),
    ),
    weight=weights_strategy,
)  # fmt: skip
def test_the_float_bounds_enclose_the_log_of_the_exact_key(number: int, weight: int) -> None:
    lower, upper = proof._log_key_bounds(number, weight)

    exact = draw_key(number, weight=weight).ln(Context(prec=90, rounding=ROUND_HALF_EVEN))
    assert Decimal(lower) < exact < Decimal(upper)


@pytest.mark.parametrize("seed_size", [16, 32, 63, 64, 65, 200])
def test_tickets_are_the_hmac_of_the_list_hash_and_the_member_id_for_any_seed_length(
    seed_size: int,
) -> None:
    seed = bytes(range(seed_size))
    members = ["u1", "小芳", "a b", "🎉" * 30]

    digests = proof._ticket_digests(seed, list_hash="ab" * 32, members=members)

    assert digests == [
        hmac.new(seed, f"{'ab' * 32}\n{member}".encode(), hashlib.sha256).digest()
        for member in members
    ]
    assert [int.from_bytes(d, "big") for d in digests] == [
        ticket(seed, list_hash="ab" * 32, member=member) for member in members
    ]


def test_a_record_whose_entrants_are_out_of_order_verifies_like_the_sorted_one() -> None:
    entrants = [Entrant(f"u{n}", weight=1 + n % 3) for n in range(50)]
    winners = draw_winners(entrants, k=3, seed=SEED)
    record: dict[str, Any] = {
        "scheme": proof.SCHEME,
        "commitment": proof._commitment(
            hashed_seed=proof.seed_hash(SEED), rules="r", freeze_at="2020-11-08T20:00:00+08:00"
        ),
        "rules": "r",
        "freeze_at": "2020-11-08T20:00:00+08:00",
        "seed": SEED.hex(),
        "entrants": [{"member": e.member, "weight": e.weight} for e in reversed(entrants)],
        "entrant_list_hash": proof.entrant_list_hash(entrants),
        "prizes": [{"name": "p", "count": 3}],
        "winners": [{"rank": w.rank, "member": w.member, "prize": "p"} for w in winners],
    }

    assert verify(record).problems == ()
    record["entrants"].append({"member": "u7", "weight": 2})
    assert verify(record).problems == ("malformed: entrant 'u7' appears twice",)


def test_an_id_with_a_lone_surrogate_is_refused_by_name_not_crashed_on() -> None:
    entrants = [Entrant("u1"), Entrant("bad\ud800")]
    with pytest.raises(ValueError, match=r"entrant 'bad\\ud800': an id must be valid Unicode text"):
        draw_winners(entrants, k=1, seed=b"s" * 16)
