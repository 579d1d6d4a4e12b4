"""Fission report benchmark: the invite tree's summary (裂变) over a large org.

    .venv/bin/python bench/fission_report.py --members 1000000            # the target, SQLite
    .venv/bin/python bench/fission_report.py --members 1000000 --db postgresql://…/test
    .venv/bin/python bench/fission_report.py --members 2000 --repeat 2    # a smoke run

The store is filled directly through bulk inserts into the projected tables (members with their
first join, their memberships, and the invite codes), then the invite tree is planted from the
members as a store upgraded to it would be (timed apart): what intake would leave behind, only
much faster. The tree is shaped like a real campaign: a few seeds, each generation less
willing to invite than the one before, fresh seeds when a branch dies out, several channels,
platform-reported inviters besides codes, a few self-invites, staff who never joined, and some
members who left or were kicked. The report (`shequn report fission`'s summary, whole org and
one group's last week) is timed --repeat times against a baseline measured on the same store
in the same run: counting those members in SQL. The last line is JSON for scripts.
"""

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from common import fresh_store, quantiles, timed
from shequn.config import Settings
from shequn.engine.event import order_key
from shequn.invite.models import InviteCodeRecord
from shequn.invite.projection import plant_invite_tree
from shequn.invite.service import summarize_fission_of
from shequn.member.models import Member, Membership
from shequn.org.service import save_org
from shequn.wiring import Shequn, open_shequn

ORG = "bench"
CHANNELS = ("poster", "moments", "douban", "store-qr", "kol:lily", "kol:amy")
START = datetime(2026, 10, 1, tzinfo=UTC)
CHUNK = 20_000


def invite_tree_rows(
    members: int, *, groups: int, seed: int
) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]]:
    """(member row, membership row, new invite code row or None), in order of first join."""
    rng = random.Random(seed)
    queue: list[tuple[str, int, str]] = []  # (member, generation, group) waiting to invite
    head = 0
    codes: dict[tuple[str, str], str] = {}
    for n in range(members):
        member = f"m{n:07d}"
        at = START + timedelta(seconds=n * 2_000_000 // max(members, 1))
        key = order_key(at, n // 1000, n % 1000)
        inviter: str | None = None
        via_code: str | None = None
        code_row: dict[str, Any] | None = None
        # Willingness decays by generation; a dead branch makes room for a fresh seed.
        while head < len(queue) and rng.random() > 0.65 * 0.97 ** queue[head][1]:
            head += 1
        if n < 20 or head >= len(queue):
            generation, group = 0, f"g{rng.randrange(groups)}"
            if rng.random() < 0.02:
                inviter = "staff-1"  # staff who never joined as a member
        else:
            parent, parent_generation, group = queue[head]
            generation = parent_generation + 1
            if rng.random() < 0.3:
                head += 1  # this inviter is done
            if rng.random() < 0.7:
                channel = rng.choice(CHANNELS)
                via_code = codes.get((parent, channel))
                if via_code is None:
                    via_code = codes[(parent, channel)] = f"inv-{parent}-{channel}"
                    code_row = {
                        "org": ORG, "code": via_code, "owner": parent, "group_id": group,
                        "channel": channel, "link": None, "created_at": at,
                    }  # fmt: skip
            else:
                inviter = member if rng.random() < 0.01 else parent  # a few self-invites
        queue.append((member, generation, group))
        left = rng.random()
        member_row = {
            "org": ORG, "id": member, "platform": "wecom", "first_seen_at": at,
            "first_seen_key": key, "nickname": None, "gender": "unknown", "signature": None,
            "avatar_url": None, "avatar_flags": [], "album_flags": [], "phone": None,
            "channel": None, "profile_key": None, "first_join_key": key, "first_joined_at": at,
            "first_group": group, "first_inviter": inviter,
            "first_via_kind": "code" if via_code else ("invite" if inviter else None),
            "first_via_code": via_code,
        }  # fmt: skip
        membership_row = {
            "org": ORG, "group_id": group, "member_id": member, "stint": 1, "joined_at": at,
            "join_key": key, "inviter": inviter, "via_kind": member_row["first_via_kind"],
            "via_code": via_code,
            "left_at": at + timedelta(days=2) if left < 0.12 else None,
            "left_reason": None if left >= 0.12 else ("kicked" if left < 0.02 else "left"),
            "left_by": None,
        }  # fmt: skip
        yield member_row, membership_row, code_row


def fill(shequn: Shequn, *, members: int, groups: int) -> float:
    """Returns the seconds planting the invite tree took."""
    with shequn.sessions.begin() as session:
        save_org(session, ORG, name=None, timezone="Asia/Shanghai", settings=None,
                 now=START)  # fmt: skip
    rows = invite_tree_rows(members, groups=groups, seed=11)
    with shequn.engine.begin() as connection:
        while True:
            chunk = [row for _, row in zip(range(CHUNK), rows, strict=False)]
            if not chunk:
                break
            connection.execute(insert(Member), [m for m, _, _ in chunk])
            connection.execute(insert(Membership), [s for _, s, _ in chunk])
            codes = [c for _, _, c in chunk if c is not None]
            if codes:
                connection.execute(insert(InviteCodeRecord), codes)
    started = time.perf_counter()
    with shequn.sessions.begin() as session:
        plant_invite_tree(session)
    return time.perf_counter() - started


def measure(shequn: Shequn, repeat: int, members: int) -> dict[str, dict[str, float]]:
    window = {"group": "g0", "since": START + timedelta(days=16), "until": None}

    def baseline() -> object:
        with shequn.sessions() as session:
            return session.scalar(
                select(func.count()).where(Member.org == ORG, Member.first_join_key.is_not(None))
            )

    def report(**options: Any) -> Callable[[], object]:
        def run() -> object:
            with shequn.sessions() as session:
                return summarize_fission_of(session, ORG, **options)

        return run

    with shequn.sessions() as session:
        whole = summarize_fission_of(session, ORG)
    if whole.members != members:
        raise SystemExit(f"the report counts {whole.members} members, not {members}")
    print(f"whole org: {json.dumps(whole.as_json(), ensure_ascii=False)}", file=sys.stderr)
    results: dict[str, dict[str, float]] = {}
    for name, work in (
        ("baseline", baseline), ("report", report()), ("report_group_week", report(**window))
    ):  # fmt: skip
        walls, cpus = timed(repeat, work)
        p50, p95 = quantiles(walls)
        results[name] = {"p50_ms": p50, "p95_ms": p95, "cpu_p50_ms": quantiles(cpus)[0]}
    base = results["baseline"]
    for found in results.values():
        found["p50_ratio"] = found["p50_ms"] / base["p50_ms"]
        found["p95_ratio"] = found["p95_ms"] / base["p50_ms"]
        found["cpu_p50_ratio"] = found["cpu_p50_ms"] / base["cpu_p50_ms"]
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", help="A PostgreSQL URL whose server hosts a fresh database.")
    args = parser.parse_args(argv)
    if args.members < 1 or args.groups < 1 or args.repeat < 1:
        parser.error("--members, --groups and --repeat must be 1 or more")
    with tempfile.TemporaryDirectory() as folder, fresh_store(args.db, Path(folder), "fission") as url:
        shequn = open_shequn(Settings(database_url=url, action_log="", default_org=ORG))
        try:
            started = time.perf_counter()
            planted_s = fill(shequn, members=args.members, groups=args.groups)
            filled_s = time.perf_counter() - started
            print(f"filled {args.members:,} members in {filled_s:.1f} s (the tree planted in "
                  f"{planted_s:.1f} s)", file=sys.stderr)  # fmt: skip
            results = measure(shequn, args.repeat, args.members)
        finally:
            shequn.close()
    peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"{'figure':<18} {'p50 ms':>10} {'p95 ms':>10} {'p50×base':>9} {'p95×base':>9} "
          f"{'cpu p50 ms':>11} {'cpu×base':>9}")  # fmt: skip
    for name, found in results.items():
        print(f"{name:<18} {found['p50_ms']:10.1f} {found['p95_ms']:10.1f} "
              f"{found['p50_ratio']:9.1f} {found['p95_ratio']:9.1f} "
              f"{found['cpu_p50_ms']:11.1f} {found['cpu_p50_ratio']:9.1f}")  # fmt: skip
    print(f"peak {peak_mb} MB")
    summary = {
        "backend": "postgresql" if args.db else "sqlite", "members": args.members,
        "groups": args.groups, "repeat": args.repeat, "fill_s": round(filled_s, 1),
        "plant_s": round(planted_s, 1),
        "results": {name: {k: round(v, 2) for k, v in found.items()}
                    for name, found in results.items()},
        "peak_mb": peak_mb,
    }  # fmt: skip
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
