"""Lottery benchmark: a provably fair draw against the bare hashing it cannot do without.

    .venv/bin/python bench/lottery.py --entrants 1000000 --repeats 3

The baseline is one one-shot HMAC-SHA256 per entrant (`hmac.digest`, the least any HMAC-derived
draw must do, written the plain way). The draw adds sorting, the entrant-list hash, the tickets,
the ranking and exact Decimal keys for the few entrants who may win; verifying adds reading the
published record. Unweighted (every weight 1) and weighted (weights 1 to 5) draws are measured
in the same run as the baseline, so the ratios say what fairness costs on this machine. Wall
and CPU seconds are both printed: on a shared machine the CPU time is the steadier figure.
"""

import argparse
import hmac
import json
import resource
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shequn.lottery.proof import Entrant, Prize, draw, verify

SEED = bytes(range(32))
PRIZES = [Prize("连衣裙", 1), Prize("¥100 券", 10)]
FREEZE = datetime(2026, 11, 11, 12, 30, tzinfo=UTC)


def timed(run: Callable[[], object], *, repeats: int) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}


def measure(entrants: list[Entrant], *, repeats: int, base: dict[str, float]) -> dict[str, Any]:
    def drawn() -> object:
        return draw(entrants, prizes=PRIZES, seed=SEED, rules="bench", freeze_at=FREEZE)

    record = draw(entrants, prizes=PRIZES, seed=SEED, rules="bench", freeze_at=FREEZE).published()
    assert verify(record).ok
    figures: dict[str, Any] = {}
    for name, run in (("draw", drawn), ("verify", lambda: verify(record))):
        took = timed(run, repeats=repeats)
        figures[name] = {
            "wall_ms": round(took["wall_s"] * 1000, 1),
            "cpu_ms": round(took["cpu_s"] * 1000, 1),
            "wall_vs_baseline": round(took["wall_s"] / base["wall_s"], 3),
            "cpu_vs_baseline": round(took["cpu_s"] / base["cpu_s"], 3),
            "entrants_per_s": round(len(entrants) / took["wall_s"]),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entrants", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ids = [f"u{n}" for n in range(args.entrants)]
    messages = [member.encode() for member in ids]

    def baseline() -> None:
        for message in messages:
            hmac.digest(SEED, message, "sha256")

    base = timed(baseline, repeats=args.repeats)
    results = {
        "unweighted": measure([Entrant(m) for m in ids], repeats=args.repeats, base=base),
        "weighted": measure(
            [Entrant(m, weight=1 + n % 5) for n, m in enumerate(ids)],
            repeats=args.repeats,
            base=base,
        ),
    }
    print(f"{args.entrants:,} entrants, {sum(p.count for p in PRIZES)} prizes")
    print(f"baseline (one hmac.digest each)  wall {base['wall_s'] * 1000:9.1f} ms"
          f"  cpu {base['cpu_s'] * 1000:9.1f} ms")  # fmt: skip
    for kind, figures in results.items():
        for name, got in figures.items():
            print(
                f"{kind:>10} {name:<6}  wall {got['wall_ms']:9.1f} ms  cpu {got['cpu_ms']:9.1f} ms"
                f"  wall×base {got['wall_vs_baseline']:6.3f}"
                f"  cpu×base {got['cpu_vs_baseline']:6.3f}"
            )
    peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"peak {peak_mb} MB")
    figures_line = {
        "entrants": args.entrants,
        "baseline_hmac_ms": round(base["wall_s"] * 1000, 1),
        "baseline_hmac_cpu_ms": round(base["cpu_s"] * 1000, 1),
        **results,
        "peak_mb": peak_mb,
    }
    print(json.dumps(figures_line))


if __name__ == "__main__":
    main()
