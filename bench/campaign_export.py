"""Campaign export benchmark: a run's timeline page and its CSV over 2,000 groups.

    .venv/bin/python bench/campaign_export.py                          # the target, SQLite
    .venv/bin/python bench/campaign_export.py --url postgresql://…/test
    .venv/bin/python bench/campaign_export.py --groups 50 --repeat 2   # a smoke run

The groups arrive as group.upserted events through intake, spread over 20 stores, one in four
tagged new; the seed's Double-11 playbook is started over all of them by the campaign service,
at 10:30 on its first day, so the morning's steps are skipped as they would be. The day's
later steps are then marked done with one Core update: running thousands of jobs one by one
would take minutes and measure the scheduler instead. Each figure is the p50 and p95 of
--repeat runs through the dashboard (owner, store manager, operator), with a ratio against a
baseline measured on the same store in the same run: counting the run's steps in SQL. The
process's CPU time is shown too: on a shared machine it is the steadier figure (on PostgreSQL
it leaves out the server's share). The last line is JSON for scripts.
"""

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from unittest.mock import patch

import fastapi.routing
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from common import fresh_store, quantiles, timed
from shequn.app import create_app
from shequn.campaign.models import CampaignStep
from shequn.campaign.playbook import load_playbook
from shequn.campaign.rules import StepStatus
from shequn.campaign.service import load_run, start_campaign
from shequn.config import Settings
from shequn.engine.intake import decode_json_lines
from shequn.kit.time import local_time_to_utc
from shequn.org.service import save_org
from shequn.web.campaign_pages import GROUPS_PER_PAGE
from shequn.web.models import StaffUser
from shequn.web.rules import Role, hash_password
from shequn.wiring import Shequn, open_shequn

ORG = "bench"
TIMEZONE = "Asia/Shanghai"
STORES = 20
DAY_1 = date(2026, 11, 7)
RUN = f"double11-{DAY_1:%Y%m%d}"
PASSWORD = "bench password"  # noqa: S105 - a throwaway login on a throwaway store
FIGURES = ("baseline", "page", "page_last", "page_manager", "csv", "csv_manager", "csv_operator")
LOGINS = (("boss", Role.OWNER, None), ("manager", Role.STORE_MANAGER, "store-00"),
          ("operator", Role.OPERATOR, "store-01"))  # fmt: skip


def group_events(groups: int) -> Iterator[bytes]:
    for n in range(groups):
        data = {"group": f"g{n:05d}", "name": f"群{n:05d}", "store": f"store-{n % STORES:02d}",
                "tags": ["new" if n % 4 == 0 else "old"]}  # fmt: skip
        if n % 100 == 7:
            data["owner"] = "operator"  # a few groups of other stores the operator runs
        yield json.dumps({"id": f"g{n}", "type": "group.upserted", "at": "2026-11-01T12:00:00Z",
                          "source": "wecom", "org": ORG, "data": data}).encode()  # fmt: skip


def fill(shequn: Shequn, groups: int) -> int:
    """The org, its staff and groups, and the run; returns the run's number of steps."""
    started = local_time_to_utc(DAY_1, 10, 30, TIMEZONE)
    with shequn.sessions.begin() as session:
        save_org(session, ORG, name=None, timezone=TIMEZONE, settings=None, now=started)
        for username, role, home in LOGINS:
            session.add(StaffUser(org=ORG, username=username, password_hash=hash_password(PASSWORD),
                                  role=str(role), store=home, created_at=started,
                                  disabled_at=None))  # fmt: skip
    summary = shequn.intake(origin="bench").ingest(decode_json_lines(group_events(groups)))
    if summary.rejected:
        raise SystemExit(f"group events rejected: {summary.rejected[:3]}")
    playbook, source = load_playbook("double11")
    with shequn.sessions.begin() as session:
        context = shequn.context(session, ORG, now=started)
        _, steps = start_campaign(context, ORG, playbook, source, start=DAY_1, groups=None)
        context.flush()
    evening = local_time_to_utc(DAY_1, 21, 30, TIMEZONE)
    with shequn.engine.begin() as connection:
        connection.execute(
            update(CampaignStep)
            .where(CampaignStep.org == ORG, CampaignStep.run_id == RUN,
                   CampaignStep.status == StepStatus.PLANNED, CampaignStep.due_at < evening)
            .values(status=StepStatus.DONE, ran_at=CampaignStep.due_at)
        )  # fmt: skip
    return len(steps)


def count_steps(shequn: Shequn) -> int:
    with shequn.sessions() as session:
        return session.execute(
            select(func.count()).where(CampaignStep.org == ORG, CampaignStep.run_id == RUN)
        ).scalar_one()


def profiled(work: Callable[[], object]) -> None:
    """Run `work` once under cProfile, printing where the endpoint's time goes to stderr."""
    profiler = cProfile.Profile()

    # Sync endpoints run in a worker thread cProfile does not see: run them in the profiler.
    async def inline(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return profiler.runcall(call, *args, **kwargs)

    work()  # templates compiled and caches warm, as for the timed runs
    with patch.object(fastapi.routing, "run_in_threadpool", inline):
        work()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)


def measure(shequn: Shequn, repeat: int, profile: str | None) -> dict[str, dict[str, float]]:
    app = create_app(shequn, run_worker=False)
    clients = {}
    for username, _, _ in LOGINS:
        client = TestClient(app, follow_redirects=False)
        logged = client.post("/login", data={"org": ORG, "username": username,
                                             "password": PASSWORD})  # fmt: skip
        assert logged.status_code == 303, logged.text
        clients[username] = client

    with shequn.sessions() as session:
        last = max(1, -(-len(load_run(session, ORG, RUN).groups) // GROUPS_PER_PAGE))

    def baseline() -> object:
        return count_steps(shequn)

    def get(username: str, query: str = "") -> Callable[[], object]:
        def fetch() -> object:
            response = clients[username].get(f"/dashboard/campaigns/{RUN}{query}")
            assert response.status_code == 200, (username, query, response.status_code)
            return response

        return fetch

    figures = {
        "baseline": baseline,
        "page": get("boss"),
        "page_last": get("boss", f"?page={last}"),
        "page_manager": get("manager"),
        "csv": get("boss", "?format=csv"),
        "csv_manager": get("manager", "?format=csv"),
        "csv_operator": get("operator", "?format=csv"),
    }
    if profile:
        profiled(figures[profile])
    runs = {name: timed(repeat, work) for name, work in figures.items()}
    base, base_cpu = quantiles(runs["baseline"][0])[0], quantiles(runs["baseline"][1])[0]
    results = {}
    for name, (walls, cpus) in runs.items():
        (p50, p95), cpu = quantiles(walls), quantiles(cpus)[0]
        results[name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1),
                         "cpu_p50_ms": round(cpu, 1), "p50_ratio": round(p50 / base, 1),
                         "p95_ratio": round(p95 / base, 1),
                         "cpu_p50_ratio": round(cpu / base_cpu, 1)}  # fmt: skip
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", help="A PostgreSQL URL whose server hosts a fresh database.")
    parser.add_argument("--keep", help="Fill a SQLite store at this path and keep it.")
    parser.add_argument("--store", help="Measure a store an earlier --keep run filled.")
    parser.add_argument("--profile", choices=FIGURES[1:],
                        help="Profile one figure once, to stderr.")  # fmt: skip
    args = parser.parse_args(argv)
    if args.groups < 1 or args.repeat < 1:
        parser.error("--groups and --repeat must be 1 or more")
    if args.store:
        shequn = open_shequn(Settings(database_url=args.store, action_log="", default_org=ORG))
        try:
            steps, filled_s = count_steps(shequn), 0.0
            results = measure(shequn, args.repeat, args.profile)
        finally:
            shequn.close()
        return report(args, steps, filled_s, results)
    with tempfile.TemporaryDirectory() as folder, fresh_store(args.url, Path(folder), "campaign") as url:
        kept = f"sqlite:///{Path(args.keep).resolve()}" if args.keep else url
        shequn = open_shequn(Settings(database_url=kept, action_log="", default_org=ORG))
        try:
            started = time.perf_counter()
            steps = fill(shequn, args.groups)
            filled_s = time.perf_counter() - started
            print(f"filled {args.groups:,} groups and a run of {steps:,} steps in "
                  f"{filled_s:.1f} s", file=sys.stderr)  # fmt: skip
            results = measure(shequn, args.repeat, args.profile)
        finally:
            shequn.close()
    return report(args, steps, filled_s, results)


def report(
    args: argparse.Namespace, steps: int, filled_s: float, results: dict[str, dict[str, float]]
) -> int:
    print(f"{'figure':<14} {'p50 ms':>9} {'p95 ms':>9} {'p50×base':>9} {'p95×base':>9} "
          f"{'cpu p50 ms':>11} {'cpu×base':>9}")  # fmt: skip
    for name, found in results.items():
        print(f"{name:<14} {found['p50_ms']:9.1f} {found['p95_ms']:9.1f} "
              f"{found['p50_ratio']:9.1f} {found['p95_ratio']:9.1f} "
              f"{found['cpu_p50_ms']:11.1f} {found['cpu_p50_ratio']:9.1f}")  # fmt: skip
    summary: dict[str, Any] = {
        "backend": "postgresql" if args.url else "sqlite", "groups": args.groups,
        "steps": steps, "repeat": args.repeat, "fill_s": round(filled_s, 1), "results": results,
    }  # fmt: skip
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
