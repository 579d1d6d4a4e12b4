"""Lottery benchmark: a provably fair draw against the bare hashing it cannot do without.

    .venv/bin/python bench/lottery.py --entrants 20000

The baseline is one HMAC-SHA256 per entrant (the least any HMAC-derived draw must do); the draw
adds the entrant-list hash, exact Decimal logarithms for the weights and the ranking. Both are
measured in the same run, so the ratio says what fairness costs on this machine.
"""

import argparse
import hashlib
import hmac
import json
import resource
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from shequn.lottery.proof import Entrant, Prize, draw, verify

SEED = bytes(range(32))


def timed(run: Callable[[], object], *, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entrants", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    entrants = [Entrant(f"u{n}", weight=1 + n % 5) for n in range(args.entrants)]
    prizes = [Prize("连衣裙", 1), Prize("¥100 券", 10)]
    freeze = datetime(2026, 11, 11, 12, 30, tzinfo=UTC)

    def baseline() -> None:
        for entrant in entrants:
            hmac.new(SEED, entrant.member.encode(), hashlib.sha256).digest()

    result = draw(entrants, prizes=prizes, seed=SEED, rules="bench", freeze_at=freeze)
    base = timed(baseline, repeats=args.repeats)
    fair = timed(lambda: draw(entrants, prizes=prizes, seed=SEED, rules="bench", freeze_at=freeze),
                 repeats=args.repeats)  # fmt: skip
    check = timed(lambda: verify(result.published()), repeats=args.repeats)
    figures = {
        "entrants": args.entrants,
        "baseline_hmac_ms": round(statistics.median(base) * 1000, 1),
        "draw_ms": round(statistics.median(fair) * 1000, 1),
        "verify_ms": round(statistics.median(check) * 1000, 1),
        "draw_vs_baseline": round(statistics.median(fair) / statistics.median(base), 2),
        "entrants_per_s": round(args.entrants / statistics.median(fair)),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
