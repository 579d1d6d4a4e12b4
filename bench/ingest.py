"""Ingest benchmark: the raw append rate of the event table against the full intake, per backend.

    .venv/bin/python bench/ingest.py --events 5000 --groups 50        # a smoke run

Each measurement runs in its own process on a fresh database, so its peak RSS is its own.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import Table as SqlTable
from sqlalchemy import insert

from common import fresh_store
from shequn.config import Settings
from shequn.engine.event import Event, parse_event
from shequn.engine.intake import decode_json_lines, event_row
from shequn.engine.models import EventRecord
from shequn.kit.collector import settle_collector
from shequn.kit.time import utc_now
from shequn.loadgen import generate_events, write_jsonl
from shequn.org.service import save_org
from shequn.simulate import World, load_scenario, scaled
from shequn.wiring import Shequn, open_shequn

ORG = "bench"
GOAL = 0.5
DEFAULT_POSTGRES = os.environ.get(
    "SHEQUN_BENCH_POSTGRES",
    os.environ.get("SHEQUN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
)

console = Console()
errors = Console(stderr=True)


def progress_bar(label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        disable=not errors.is_terminal,
    )


def peak_rss_mb() -> float:
    # VmHWM is this process's own peak; ru_maxrss survives exec, so a worker would report the
    # orchestrator's peak (it generated the log) instead of its own.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def p95_ms(latencies: Sequence[float]) -> float:
    if len(latencies) < 2:
        return latencies[0] * 1000 if latencies else 0.0
    return statistics.quantiles(latencies, n=20, method="inclusive")[18] * 1000


def open_store(url: str) -> Shequn:
    return open_shequn(Settings(database_url=url, action_log="", default_org=ORG))


def parsed_batches(shequn: Shequn, log: Path, size: int) -> Iterator[list[Event]]:
    batch: list[Event] = []
    with log.open("rb") as lines:
        for item in decode_json_lines(lines):
            if not isinstance(item, tuple):
                raise SystemExit(f"bad line in the generated log: {item}")
            line, raw = item
            event = parse_event(raw, payloads=shequn.registry.payloads, default_org=ORG, line=line)
            if not isinstance(event, Event):
                raise SystemExit(f"generated event rejected: {event}")
            batch.append(event)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def measure_raw(url: str, log: Path, events: int, batch_size: int) -> dict[str, Any]:
    """Plain executemany of the same event rows, one commit per batch; parsing is not timed."""
    shequn = open_store(url)
    table = cast(SqlTable, EventRecord.__table__)
    latencies: list[float] = []
    stored = 0
    with progress_bar("raw append 直接写入") as progress:
        task = progress.add_task("raw", total=events)
        for number, batch in enumerate(parsed_batches(shequn, log, batch_size), start=1):
            rows = [
                event_row(event.placed(number, position)) for position, event in enumerate(batch)
            ]
            started = time.perf_counter()
            with shequn.engine.begin() as connection:
                connection.execute(insert(table), rows)
            latencies.append(time.perf_counter() - started)
            stored += len(rows)
            progress.advance(task, len(rows))
    shequn.close()
    return figures(stored, sum(latencies), latencies)


def measure_shell(url: str, log: Path, events: int, batch_size: int) -> dict[str, Any]:
    """The intake with no projection or reaction registered: what parsing, validation,
    dedupe and the batch's bookkeeping cost before any handler runs."""
    return measure_full(url, log, events, batch_size, handlers=False)


def measure_full(
    url: str, log: Path, events: int, batch_size: int, *, handlers: bool = True
) -> dict[str, Any]:
    """The engine's intake end to end: parse, validate, dedupe, project, react, outbox."""
    shequn = open_store(url)
    if not handlers:
        shequn.registry.projections.clear()
        shequn.registry.reactions.clear()
    with shequn.sessions.begin() as session:
        # Newcomers get a welcome action, so the outbox carries its real share of the load.
        save_org(
            session,
            ORG,
            name=None,
            timezone="Asia/Shanghai",
            settings={"welcome_text": "欢迎 {nickname}"},
            now=utc_now(),
        )
    intake = shequn.intake(origin="bench", batch_size=batch_size)
    marks: list[float] = []
    label = "full intake 完整导入" if handlers else "intake shell 仅入口"
    with progress_bar(label) as progress, log.open("rb") as lines:
        task = progress.add_task("full", total=events)

        def on_progress(count: int) -> None:
            marks.append(time.perf_counter())
            progress.advance(task, count)

        started = time.perf_counter()
        summary = intake.ingest(decode_json_lines(lines), on_progress=on_progress)
        seconds = time.perf_counter() - started
    shequn.close()
    if summary.rejected or summary.accepted != events:
        raise SystemExit(f"{label}: {summary.as_json()}")
    # Each batch: reading and parsing its lines, then its one transaction.
    latencies = [after - before for before, after in zip([started, *marks], marks, strict=False)]
    return figures(summary.accepted, seconds, latencies)


def figures(events: int, seconds: float, latencies: Sequence[float]) -> dict[str, Any]:
    return {
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1) if seconds > 0 else 0.0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "p95_batch_ms": round(p95_ms(latencies), 2),
    }


def run_worker(phase: str, url: str, log: Path, events: int, batch_size: int) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        phase,
        "--url",
        url,
        "--log",
        str(log),
        "--events",
        str(events),
        "--batch-size",
        str(batch_size),
    ]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{phase} on {url} failed with exit code {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def generate(log: Path, events: int, groups: int, seed: int) -> None:
    with progress_bar("generating 生成日志") as progress:
        task = progress.add_task("generate", total=events)

        def counted() -> Iterator[dict[str, Any]]:
            for number, item in enumerate(
                generate_events(events=events, groups=groups, seed=seed, org=ORG), start=1
            ):
                if number % 1000 == 0:
                    progress.advance(task, 1000)
                yield item

        write_jsonl(log, counted())


def simulate_log(log: Path, scenario: str, scale: float | None, seed: int, limit: int) -> int:
    """The simulator's community as the log (e.g. a day of `brand-10k`), at most `limit` events."""
    plan = load_scenario(scenario)
    if scale is not None:
        plan = scaled(plan, scale)
    world = World(plan, seed=seed, org=ORG)
    written = 0
    with progress_bar(f"simulating {scenario} 模拟") as progress, log.open("w") as out:
        task = progress.add_task("simulate", total=limit)
        for event in world.events():
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            written += 1
            if written % 1000 == 0:
                progress.advance(task, 1000)
            if written >= limit:
                break
    return written


def report(
    backend: str,
    measured: dict[str, dict[str, Any]],
    ratio: float,
    shell_ratio: float,
    handlers_us: float,
) -> None:
    verdict = "[green]meets[/]" if ratio >= GOAL else "[red]below[/]"
    table = Table(
        "phase",
        "events",
        "seconds",
        "events/s",
        "p95 batch ms",
        "peak RSS MB",
        title=f"ingest on {backend}",
        caption=f"full/raw = {ratio:.3f} ({verdict} the goal of ≥ {GOAL}); "
        f"shell/raw = {shell_ratio:.3f}; handlers {handlers_us:,.0f} µs an event",
    )
    for phase, result in measured.items():
        table.add_row(
            PHASES[phase][0],
            f"{result['events']:,}",
            f"{result['seconds']:.2f}",
            f"{result['events_per_s']:,.0f}",
            f"{result['p95_batch_ms']:.1f}",
            f"{result['peak_rss_mb']:.0f}",
        )
    console.print(table)


# Each phase's printed name and measurement, in the order they run and are printed.
PHASES: dict[str, tuple[str, Callable[[str, Path, int, int], dict[str, Any]]]] = {
    "raw": ("raw append", measure_raw),
    "shell": ("intake shell (no handlers)", measure_shell),
    "full": ("full intake", measure_full),
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="admin URL to create databases"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--scenario", help="a simulator scenario (e.g. brand-10k) instead of the load generator"
    )
    parser.add_argument("--scale", type=float, help="the scenario's share of its groups")
    # A measurement in its own process: the orchestrator below starts these.
    parser.add_argument("--worker", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker is not None:
        # Like the `shequn` command, every phase runs with the collector settled.
        settle_collector()
        _, measure = PHASES[args.worker]
        print(json.dumps(measure(args.url, args.log, args.events, args.batch_size)))
        return

    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"--backends: unknown {', '.join(sorted(unknown))}")
    summary: dict[str, Any] = {
        "events": args.events,
        "groups": args.groups,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "results": {},
    }
    with tempfile.TemporaryDirectory(prefix="shequn-bench-") as tmp:
        workdir = Path(tmp)
        log = workdir / "events.jsonl"
        started = time.perf_counter()
        if args.scenario:
            args.events = simulate_log(log, args.scenario, args.scale, args.seed, args.events)
            summary.update(events=args.events, scenario=args.scenario, scale=args.scale)
        else:
            generate(log, args.events, args.groups, args.seed)
        summary["generate_seconds"] = round(time.perf_counter() - started, 3)
        for backend in backends:
            admin = args.postgres if backend == "postgresql" else None
            measured: dict[str, dict[str, Any]] = {}
            for phase in PHASES:
                with fresh_store(admin, workdir, phase) as url:
                    measured[phase] = run_worker(phase, url, log, args.events, args.batch_size)
            raw_rate = measured["raw"]["events_per_s"]
            ratio, shell_ratio = (
                measured[phase]["events_per_s"] / raw_rate if raw_rate else 0.0
                for phase in ("full", "shell")
            )
            # What every projection and reaction of an event cost together: full less shell.
            handlers_us = (measured["full"]["seconds"] - measured["shell"]["seconds"]) / max(
                1, args.events
            ) * 1e6  # fmt: skip
            summary["results"][backend] = {
                **measured, "ratio": round(ratio, 4), "shell_ratio": round(shell_ratio, 4),
                "handlers_us_per_event": round(handlers_us, 1),
            }  # fmt: skip
            report(backend, measured, ratio, shell_ratio, handlers_us)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
