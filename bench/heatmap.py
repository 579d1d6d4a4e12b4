"""Heatmap latency: the dashboard's hourly activity table against counting the log.

    .venv/bin/python bench/heatmap.py --groups 10000 --events 1000000      # the target
    .venv/bin/python bench/heatmap.py --groups 100 --events 20000          # a smoke run

The store holds --events messages and reactions over the last --days local days, spread over
--groups groups in 300 stores with the day's peaks. Events are appended to the log as rows; the
hourly table is filled from the same events, and every run first checks that the table's
heatmap equals the log's (org-wide, one store's groups, one group) before it times both. The
log's cost grows with the events in the range, the table's only with groups and hours: a
brand's real 28 days hold some 50 million events. The last line is JSON for scripts.
"""

import argparse
import json
import random
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.table import Table
from sqlalchemy import Table as SqlTable
from sqlalchemy import insert

from common import fresh_store, quantiles, timed
from shequn.analytics.insights import report_heatmap, table_heatmap
from shequn.analytics.models import GroupHourlyActivity, OrgHourlyActivity
from shequn.config import Settings
from shequn.engine.event import order_key
from shequn.engine.models import EventRecord
from shequn.group.models import Group
from shequn.kit.time import local_day, local_time_to_utc, utc_now, zone
from shequn.org.service import save_org
from shequn.wiring import Shequn, open_shequn

ORG = "bench"
TIMEZONE = "Asia/Shanghai"
STORES = 300
# Local hours people post in, weighted: morning, noon and evening peaks (seed 004).
HOUR_WEIGHTS = [1, 0, 0, 0, 0, 1, 2, 6, 9, 7, 5, 6, 9, 8, 5, 4, 4, 5, 7, 10, 14, 15, 9, 4]
console = Console(stderr=True)


def filled(url: str, groups: int, events: int, days: int, seed: int) -> tuple[Shequn, list[str]]:
    """The org, its groups and stores, the log's rows and the hourly rows of the same events."""
    shequn = open_shequn(Settings(database_url=url, action_log="", default_org=ORG))
    now = utc_now()
    today = local_day(now, TIMEZONE)
    names = [f"g{number:05d}" for number in range(groups)]
    with shequn.sessions.begin() as session:
        save_org(session, ORG, name=None, timezone=TIMEZONE, settings=None, now=now)
        session.execute(insert(cast(SqlTable, Group.__table__)), [
            {"org": ORG, "id": name, "platform": "wecom", "name": f"{name} 群", "capacity": 500,
             "store": f"s{number % STORES:03d}", "owner": None, "tags": [], "member_count": 0,
             "first_seen_at": now - timedelta(days=days + 30), "first_seen_key": "",
             "profile_key": None, "dismissed_at": None}
            for number, name in enumerate(names)
        ])  # fmt: skip
    rng = random.Random(seed)
    where = zone(TIMEZONE)
    # A few groups are busy and most are quiet, as in practice.
    weights = [1 / (rank + 1) ** 0.8 for rank in range(groups)]
    hours: dict[tuple[str, date, int], list[int]] = defaultdict(lambda: [0, 0])
    table = cast(SqlTable, EventRecord.__table__)
    batch_size = 20_000
    with console.status("filling the log 写入日志…"):
        for first in range(0, events, batch_size):
            rows: list[dict[str, Any]] = []
            picked = rng.choices(names, weights=weights, k=min(batch_size, events - first))
            for position, group in enumerate(picked):
                day = today - timedelta(days=rng.randrange(days))
                hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
                at = local_time_to_utc(day, hour, rng.randrange(60), TIMEZONE) + timedelta(
                    seconds=rng.randrange(60)
                )
                posted = rng.random() < 0.85
                member = f"u{rng.randrange(groups * 50)}"
                batch = 10**9 + first // batch_size
                local = at.astimezone(where)
                hours[(group, local.date(), local.hour)][0 if posted else 1] += 1
                data = {"group": group, "member": member, "message": f"m{first + position}"}
                rows.append({
                    "org": ORG, "source": "wecom", "event_id": f"e{first + position}",
                    "type": "message.posted" if posted else "reaction.added", "at": at,
                    "offset_minutes": 480, "group_id": group, "member_id": member,
                    "batch": batch, "position": position, "key": order_key(at, batch, position),
                    "data": {**data, "kind": "text"} if posted else data,
                })  # fmt: skip
            with shequn.engine.begin() as connection:
                connection.execute(insert(table), rows)
    totals: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0])
    for (_, day, hour), (messages, reactions) in hours.items():
        totals[(day, hour)][0] += messages
        totals[(day, hour)][1] += reactions
    with shequn.engine.begin() as connection:
        connection.execute(insert(cast(SqlTable, GroupHourlyActivity.__table__)), [
            {"org": ORG, "group_id": group, "day": day, "hour": hour, "messages": messages,
             "reactions": reactions}
            for (group, day, hour), (messages, reactions) in hours.items()
        ])  # fmt: skip
        connection.execute(insert(cast(SqlTable, OrgHourlyActivity.__table__)), [
            {"org": ORG, "day": day, "hour": hour, "messages": messages, "reactions": reactions}
            for (day, hour), (messages, reactions) in totals.items()
        ])  # fmt: skip
    return shequn, names


def measure(
    shequn: Shequn, names: list[str], days: int, repeat: int
) -> dict[str, dict[str, float]]:
    last = local_day(utc_now(), TIMEZONE)
    first = last - timedelta(days=days - 1)
    # One store's groups, as its manager sees them, and the busiest group.
    scope = set(names[::STORES])
    views: dict[str, dict[str, Any]] = {
        "org": {}, "store": {"groups": scope}, "group": {"group": names[0]}
    }  # fmt: skip

    def reading(how: Callable[..., Any], view: dict[str, Any]) -> Callable[[], object]:
        def read() -> object:
            with shequn.sessions() as session:
                return how(session, ORG, first=first, last=last, **view)

        return read

    for name, view in views.items():
        if reading(table_heatmap, view)() != reading(report_heatmap, view)():
            raise SystemExit(f"the table's {name} heatmap differs from the log's")
    results = {}
    for name, view in views.items():
        table_p50, table_p95 = quantiles(timed(repeat, reading(table_heatmap, view))[0])
        log_p50, log_p95 = quantiles(timed(repeat, reading(report_heatmap, view))[0])
        results[name] = {
            "table_p50_ms": round(table_p50, 1), "table_p95_ms": round(table_p95, 1),
            "log_p50_ms": round(log_p50, 1), "log_p95_ms": round(log_p95, 1),
            "p95_ratio": round(table_p95 / log_p95, 4),
        }  # fmt: skip
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    if args.groups < 1 or args.events < 1 or args.days < 1 or args.repeat < 1:
        parser.error("--groups, --events, --days and --repeat must be 1 or more")
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_store(args.postgres if args.backend == "postgresql" else None, Path(folder), "heatmap") as url,
    ):
        shequn, names = filled(url, args.groups, args.events, args.days, args.seed)
        try:
            results = measure(shequn, names, args.days, args.repeat)
        finally:
            shequn.close()
    table = Table("heatmap", "table p50 / p95 ms", "log p50 / p95 ms", "table ÷ log (p95)",
                  title=f"heatmap over {args.days} days: {args.groups:,} groups, "
                        f"{args.events:,} events, {args.backend}")  # fmt: skip
    for name, found in results.items():
        table.add_row(name, f"{found['table_p50_ms']} / {found['table_p95_ms']}",
                      f"{found['log_p50_ms']} / {found['log_p95_ms']}",
                      f"{found['p95_ratio']}")  # fmt: skip
    Console().print(table)
    print(json.dumps({"groups": args.groups, "events": args.events, "days": args.days,
                      "backend": args.backend, "at": datetime.now().astimezone().isoformat(),
                      "results": results}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
