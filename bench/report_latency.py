"""Report latency: the dashboard's group list, a group's 30-day chart and the overview.

    .venv/bin/python bench/report_latency.py --groups 10000 --events 200000     # the target
    .venv/bin/python bench/report_latency.py --groups 200 --events 5000         # a smoke run

The log is the synthetic one of bench/ingest.py, spread over the 30 days that end today (its
events about 30 days / --events apart), so groups reach every lifecycle stage and the dead-group
list has groups to revive. Each figure is
the p50 and p95 of --repeat runs, and a ratio against a baseline measured in the same run on
the same store (counting the org's events of the last 30 days), so machines compare. The
chart is read from the daily table, as the dashboard reads it; `group_chart_30d_log` counts the
same figures from the log, for comparison. The last line is JSON for scripts.
"""

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text

from common import fresh_store, quantiles, timed
from shequn.analytics.daily import table_group_days, table_stages
from shequn.analytics.service import report_group_days
from shequn.app import create_app
from shequn.config import Settings
from shequn.engine.event import order_key
from shequn.engine.intake import decode_json_lines
from shequn.engine.models import EventRecord
from shequn.kit.time import local_day, utc_now
from shequn.loadgen import generate_events, write_jsonl
from shequn.org.service import save_org
from shequn.web.models import StaffUser
from shequn.web.rules import Role, hash_password
from shequn.wiring import Shequn, open_shequn

ORG = "bench"
TIMEZONE = "Asia/Shanghai"
LOG_DAYS = 30
PASSWORD = "bench password"  # noqa: S105 - a throwaway login on a throwaway store
console = Console(stderr=True)


def filled(url: str, log: Path) -> Shequn:
    shequn = open_shequn(Settings(database_url=url, action_log="", default_org=ORG))
    now = utc_now()
    with shequn.sessions.begin() as session:
        save_org(session, ORG, name=None, timezone=TIMEZONE, settings=None, now=now)
        session.add(StaffUser(org=ORG, username="boss", password_hash=hash_password(PASSWORD),
                              role=str(Role.OWNER), store=None, created_at=now,
                              disabled_at=None))  # fmt: skip
    with log.open("rb") as lines:
        summary = shequn.intake(origin="bench").ingest(decode_json_lines(lines))
    if summary.rejected:
        raise SystemExit(f"generated events rejected: {summary.rejected[:3]}")
    if shequn.engine.dialect.name == "postgresql":
        # As autovacuum would on a live server: without statistics the planner takes every
        # freshly filled table for a few rows and joins the lists' sums by nested loops.
        with shequn.engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    return shequn


def measure(shequn: Shequn, repeat: int) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """The figures' latencies, and how many groups are in each lifecycle stage today."""
    today = local_day(utc_now(), TIMEZONE)
    since = order_key(utc_now() - timedelta(days=30), 0, 0)
    with shequn.sessions() as session:
        census = Counter(str(found.stage) for found in
                         table_stages(session, ORG, on=today, every_last_active=False).values())  # fmt: skip
        busiest = session.execute(
            select(EventRecord.group_id, func.count())
            .where(EventRecord.org == ORG, EventRecord.group_id.is_not(None))
            .group_by(EventRecord.group_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()[0]

    def baseline() -> object:
        with shequn.sessions() as session:
            return session.scalar(
                select(func.count()).where(EventRecord.org == ORG, EventRecord.key >= since)
            )

    def chart() -> object:
        with shequn.sessions() as session:
            return table_group_days(session, ORG, first=today - timedelta(days=29), last=today,
                                    group=busiest)  # fmt: skip

    def chart_from_log() -> object:
        with shequn.sessions() as session:
            return report_group_days(session, ORG, first=today - timedelta(days=29), last=today,
                                     group=busiest)  # fmt: skip

    client = TestClient(create_app(shequn, run_worker=False), follow_redirects=False)
    logged = client.post("/login", data={"org": ORG, "username": "boss", "password": PASSWORD})
    assert logged.status_code == 303, logged.text

    def get(path: str) -> Callable[[], object]:
        def fetch() -> object:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            return response

        return fetch

    runs = {
        "baseline": timed(repeat, baseline)[0],
        "group_list": timed(repeat, get("/dashboard/groups"))[0],
        # Stages of every group: sorting by them, and the dead ones with the revive list.
        "group_list_by_stage": timed(repeat, get("/dashboard/groups?sort=stage"))[0],
        "group_list_dead": timed(repeat, get("/dashboard/groups?stage=dead"))[0],
        "group_chart_30d": timed(repeat, chart)[0],
        "group_chart_30d_log": timed(repeat, chart_from_log)[0],
        "group_page": timed(repeat, get(f"/dashboard/groups/{busiest}"))[0],
        "overview": timed(repeat, get("/dashboard"))[0],
    }
    base = quantiles(runs["baseline"])[0]
    results = {}
    for name, latencies in runs.items():
        p50, p95 = quantiles(latencies)
        results[name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1),
                         "p50_ratio": round(p50 / base, 2), "p95_ratio": round(p95 / base, 2)}  # fmt: skip
    return results, dict(sorted(census.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", help="Fill a SQLite store at this path and keep it.")
    parser.add_argument("--store", help="Measure a store an earlier --keep run filled.")
    args = parser.parse_args(argv)
    if args.store:
        shequn = open_shequn(Settings(database_url=args.store, action_log="", default_org=ORG))
        try:
            return report(args, *measure(shequn, args.repeat))
        finally:
            shequn.close()
    # The log's 30 days end today, so the pages' "last 7 / 30 days" hold its traffic; it stops
    # half a day short of now, as the gaps between events are random.
    start = datetime.now().astimezone() - timedelta(days=LOG_DAYS)
    gap = (LOG_DAYS - 0.5) * 86_400 / args.events
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_store(
            args.postgres if args.backend == "postgresql" else None, Path(folder), "report"
        ) as url,
    ):
        log = Path(folder) / "log.jsonl"
        write_jsonl(log, generate_events(events=args.events, groups=args.groups, org=ORG,
                                         start=start, mean_gap=gap))  # fmt: skip
        started = time.perf_counter()
        kept = f"sqlite:///{Path(args.keep).resolve()}" if args.keep else url
        shequn = filled(kept, log)
        console.print(f"ingested {args.events} events into {args.groups} groups in "
                      f"{time.perf_counter() - started:.1f} s", highlight=False)  # fmt: skip
        try:
            results, stages = measure(shequn, args.repeat)
        finally:
            shequn.close()
    return report(args, results, stages)


def report(
    args: argparse.Namespace, results: dict[str, dict[str, float]], stages: dict[str, int]
) -> int:
    table = Table("figure", "p50 ms", "p95 ms", "p50 ×baseline", "p95 ×baseline")
    for name, found in results.items():
        table.add_row(name, f"{found['p50_ms']:.1f}", f"{found['p95_ms']:.1f}",
                      f"{found['p50_ratio']:.2f}", f"{found['p95_ratio']:.2f}")  # fmt: skip
    Console().print(table)
    Console().print("groups by stage: " + ", ".join(f"{name} {count}" for name, count in stages.items()),
                    highlight=False)  # fmt: skip
    summary: dict[str, Any] = {"backend": args.backend, "groups": args.groups,
                               "events": args.events, "repeat": args.repeat, "stages": stages,
                               "results": results}  # fmt: skip
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
