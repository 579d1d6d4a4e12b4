"""What the benchmark scripts share: a fresh store, timing, and p50/p95."""

import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url


def quantiles(latencies: Sequence[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    ordered = sorted(latencies)
    if len(ordered) < 2:
        return ordered[0] * 1000, ordered[0] * 1000
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18]
    return statistics.median(ordered) * 1000, p95 * 1000


def timed(repeat: int, work: Callable[[], object]) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run: on a shared machine the CPU time is the steadier."""
    work()  # warm the caches once: a dashboard's second look is the common case
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return walls, cpus


@contextmanager
def fresh_store(postgres: str | None, folder: Path, label: str) -> Iterator[str]:
    """A new SQLite file in `folder`, or, given a PostgreSQL URL, a new database on its server
    that is dropped afterwards."""
    if postgres is None:
        yield f"sqlite:///{folder / f'{label}.db'}"
        return
    parsed = make_url(postgres)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"shequn_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
