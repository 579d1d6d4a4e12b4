"""Simulator benchmark: events per second of generating a scenario as JSON Lines, and peak memory.

    .venv/bin/python bench/simulate.py                     # brand-10k: 10,000 groups, ~2M events
    .venv/bin/python bench/simulate.py --scale 0.01        # a smoke run: 100 groups

Every event is serialised as `shequn simulate` writes it (and dropped), so the figure is what a
load test can be fed at; --no-json measures the world alone.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

from rich.console import Console
from rich.table import Table

from shequn.simulate import World, load_scenario, scaled, with_days

console = Console()
errors = Console(stderr=True)


def peak_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="brand-10k")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=None)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--no-json", action="store_true", help="Do not serialise the events.")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    if args.days is not None:
        scenario = with_days(scenario, args.days)
    if args.scale is not None:
        scenario = scaled(scenario, args.scale)
    started = time.perf_counter()
    world = World(scenario, seed=args.seed)
    dumps = json.dumps
    count = 0
    size = 0
    for event in world.events():
        count += 1
        if not args.no_json:
            size += len(dumps(event, ensure_ascii=False, separators=(",", ":"))) + 1
        if count % 500_000 == 0:
            errors.print(f"  {count:,} events, {time.perf_counter() - started:.0f} s", style="dim")
    elapsed = time.perf_counter() - started
    groups = len(world.group_ids())
    figures = {
        "scenario": scenario.name,
        "seed": args.seed,
        "groups": groups,
        "days": scenario.days,
        "events": count,
        "seconds": round(elapsed, 2),
        "events_per_s": round(count / elapsed),
        "json_mb": None if args.no_json else round(size / 2**20, 1),
        "peak_mb": round(peak_mb(), 1),
        "by_type": dict(sorted(world.tally.by_type.items())),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
    }
    table = Table("scenario", "groups", "events", "seconds", "events/s", "peak memory")
    table.add_row(
        scenario.name, f"{groups:,}", f"{count:,}", f"{elapsed:.1f}",
        f"{figures['events_per_s']:,}", f"{figures['peak_mb']} MB",
    )  # fmt: skip
    console.print(table)
    print(json.dumps(figures, ensure_ascii=False))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
