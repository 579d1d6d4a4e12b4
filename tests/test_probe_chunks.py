"""Prefetch queries: one org per query, and IN lists whose index probes stay bounded."""

import math

from shequn.engine.context import CHUNK, MAX_PROBES, probe_chunks


def test_keys_of_two_orgs_are_never_asked_for_together() -> None:
    keys = [("brand", "g1"), ("brand", "g2"), ("shop", "g1")]
    assert list(probe_chunks(keys)) == [[("brand", "g1"), ("brand", "g2")], [("shop", "g1")]]


def test_a_chunk_holds_at_most_chunk_keys() -> None:
    keys = [("brand", f"u{n:05d}") for n in range(CHUNK * 2 + 1)]
    assert [len(chunk) for chunk in probe_chunks(keys)] == [CHUNK, CHUNK, 1]


def test_pairs_are_chunked_so_the_in_lists_probe_no_more_than_the_limit() -> None:
    # 100 groups x 100 members, one pair each: IN (groups) x IN (members) would be 10,000 probes.
    keys = sorted(("brand", f"g{n:03d}", f"u{n:03d}") for n in range(100))
    chunks = list(probe_chunks(keys))
    assert sum(len(chunk) for chunk in chunks) == 100
    for chunk in chunks:
        probes = math.prod(len({key[i] for key in chunk}) for i in (1, 2))
        assert probes <= MAX_PROBES
