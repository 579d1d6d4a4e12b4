"""The replay guard: a delivery claimed once in the store holds for every worker and restart."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from shequn.config import Settings
from shequn.connectors.models import DeliveryNonce
from shequn.connectors.replay import ReplayGuard, delivery_key
from shequn.wiring import Shequn, open_shequn

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
KEY = delivery_key("ww8c0ffee5d1a2b3c4", "1762862400", "461056294")


def stored(shequn: Shequn) -> list[tuple[str, str, datetime]]:
    with shequn.sessions() as session:
        rows = session.execute(
            select(DeliveryNonce.source, DeliveryNonce.key, DeliveryNonce.expires_at).order_by(
                DeliveryNonce.expires_at, DeliveryNonce.source, DeliveryNonce.key
            )
        )
        return [(source, key, expires_at) for source, key, expires_at in rows]


def test_a_deliverys_key_is_the_same_each_time_and_64_characters() -> None:
    assert delivery_key("a", "b") == delivery_key("a", "b")
    assert len(KEY) == 64


def test_keys_of_different_parts_never_coincide() -> None:
    assert delivery_key("ab", "c") != delivery_key("a", "bc")
    assert delivery_key("1700000000", "1") != delivery_key("170000000", "01")


def test_a_second_claim_is_a_replay_and_another_source_is_not(shequn: Shequn) -> None:
    guard = ReplayGuard(shequn.sessions)

    assert guard.claim("wecom", KEY, expires_at=NOW + WINDOW, now=NOW) is True
    assert guard.claim("wecom", KEY, expires_at=NOW + WINDOW, now=NOW + WINDOW / 2) is False
    assert guard.claim("other", KEY, expires_at=NOW + WINDOW, now=NOW) is True
    assert stored(shequn) == [("other", KEY, NOW + WINDOW), ("wecom", KEY, NOW + WINDOW)]


def test_a_replay_to_another_worker_on_the_same_store_is_refused(
    shequn: Shequn, settings: Settings
) -> None:
    other = open_shequn(settings)
    try:
        assert ReplayGuard(shequn.sessions).claim("wecom", KEY, expires_at=NOW + WINDOW, now=NOW)
        assert not ReplayGuard(other.sessions).claim("wecom", KEY, expires_at=NOW + WINDOW, now=NOW)
    finally:
        other.close()


def test_a_replay_after_a_restart_is_refused(shequn: Shequn, settings: Settings) -> None:
    assert ReplayGuard(shequn.sessions).claim("wecom", KEY, expires_at=NOW + WINDOW, now=NOW)
    shequn.close()
    restarted = open_shequn(settings)
    try:
        assert not ReplayGuard(restarted.sessions).claim(
            "wecom", KEY, expires_at=NOW + WINDOW, now=NOW + timedelta(seconds=1)
        )
    finally:
        restarted.close()


def test_workers_claiming_one_delivery_at_once_let_exactly_one_in(shequn: Shequn) -> None:
    guards = [ReplayGuard(shequn.sessions) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        won = list(
            pool.map(lambda g: g.claim("wecom", KEY, expires_at=NOW + WINDOW, now=NOW), guards)
        )

    assert sorted(won) == [False] * 5 + [True]
    assert stored(shequn) == [("wecom", KEY, NOW + WINDOW)]


def test_an_expired_claim_no_longer_blocks(shequn: Shequn) -> None:
    # Pruning only one row a claim leaves the expired claim in place: the claim itself renews it.
    guard = ReplayGuard(shequn.sessions, prune_batch=1)
    older = delivery_key("older")
    assert guard.claim("wecom", older, expires_at=NOW - timedelta(seconds=1), now=NOW - WINDOW)
    assert guard.claim("wecom", KEY, expires_at=NOW, now=NOW - WINDOW)

    assert guard.claim("wecom", KEY, expires_at=NOW + WINDOW, now=NOW) is True

    assert stored(shequn) == [("wecom", KEY, NOW + WINDOW)]


def test_a_claim_forgets_a_bounded_number_of_expired_keys(shequn: Shequn) -> None:
    guard = ReplayGuard(shequn.sessions, prune_batch=2)
    for second in range(3):
        expires_at = NOW - timedelta(seconds=3 - second)
        guard.claim("wecom", delivery_key(str(second)), expires_at=expires_at, now=NOW - WINDOW)
    live = delivery_key("live")
    guard.claim("wecom", live, expires_at=NOW + WINDOW, now=NOW - WINDOW)

    assert guard.claim("wecom", delivery_key("new"), expires_at=NOW + WINDOW, now=NOW)
    assert stored(shequn) == [
        ("wecom", delivery_key("2"), NOW - timedelta(seconds=1)),
        *sorted([("wecom", live, NOW + WINDOW), ("wecom", delivery_key("new"), NOW + WINDOW)]),
    ]
    assert guard.claim("wecom", delivery_key("newer"), expires_at=NOW + WINDOW, now=NOW)
    assert stored(shequn) == sorted([
        ("wecom", live, NOW + WINDOW), ("wecom", delivery_key("new"), NOW + WINDOW),
        ("wecom", delivery_key("newer"), NOW + WINDOW),
    ])  # fmt: skip
    assert guard.prune(NOW) == 0


def test_a_released_claim_lets_the_senders_retry_in(shequn: Shequn) -> None:
    guard = ReplayGuard(shequn.sessions)
    assert guard.claim("wecom", KEY, expires_at=NOW + WINDOW, now=NOW)

    guard.release("wecom", KEY)

    assert guard.claim("wecom", KEY, expires_at=NOW + WINDOW, now=NOW) is True
    assert guard.claim("wecom", KEY, expires_at=NOW + WINDOW, now=NOW) is False


@pytest.mark.parametrize(
    ("source", "key", "message"),
    [
        ("", KEY, "source '': 1 to 64 characters"),
        ("s" * 65, KEY, "1 to 64 characters"),
        ("wecom", "461056294", "key '461056294': 64 characters, as delivery_key makes them"),
    ],
)
def test_a_source_or_key_out_of_shape_is_refused_and_nothing_stored(
    shequn: Shequn, source: str, key: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ReplayGuard(shequn.sessions).claim(source, key, expires_at=NOW + WINDOW, now=NOW)
    assert stored(shequn) == []


def test_a_guard_prunes_at_least_one_key_a_claim() -> None:
    with pytest.raises(ValueError, match="prune_batch must be at least 1, not 0"):
        ReplayGuard(sessionmaker(), prune_batch=0)
