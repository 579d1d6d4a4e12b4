"""Crash safety: an ingest killed with SIGKILL at random points, then re-run, ends exactly where
an uninterrupted run of the same log ends: nothing lost, nothing doubled, on both backends."""

import json
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import delete, func, select

from shequn.config import Settings
from shequn.db import Base
from shequn.engine.models import ActionRecord, EventRecord, IntakeBatch, JobRecord
from shequn.engine.rebuild import dump_state
from shequn.kit.time import utc_now
from shequn.loadgen import generate_events, write_jsonl
from shequn.models import __all__ as _models  # noqa: F401 - every table registered
from shequn.org.service import save_org
from shequn.wiring import Shequn, open_shequn
from tests.conftest import POSTGRES_ADMIN

EVENTS = 20_000
GROUPS = 40
BATCH = 200
WANTED_KILLS = 12
REQUIRED_KILLS = 10
MAX_RUNS = 30
MAX_DELAY = 0.3
POLL = 0.02
WELCOME = "欢迎 {nickname}"
# Groups of 500 with this margin raise a "nearly full" task at 40 members: the outbox fills.
MARGIN = 460


@pytest.fixture
def reference_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty store of the same backend for the uninterrupted run."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'reference.db'}"
        return
    name = f"shequn_crash_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{POSTGRES_ADMIN.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def open_empty_store(url: str) -> Shequn:
    """Open, empty every table, and configure the org so newcomers get welcome jobs and
    filling groups raise operator tasks."""
    store = open_shequn(Settings(database_url=url, action_log=""))
    with store.sessions.begin() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
        save_org(
            session,
            "bench",
            name=None,
            timezone="Asia/Shanghai",
            settings={"welcome_text": WELCOME, "capacity_margin": MARGIN},
            now=utc_now(),
        )
    return store


def ingest_command(log: Path, url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "shequn",
        "ingest",
        str(log),
        "--db",
        url,
        "--batch-size",
        str(BATCH),
        "--json",
    ]


def run_ingest(log: Path, url: str, cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        ingest_command(log, url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def stored_events(store: Shequn) -> int:
    with store.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(EventRecord)) or 0


def snapshot(store: Shequn) -> dict[str, Any]:
    """Log, state and outbox by content: what 'the same end state' means here."""
    with store.sessions() as session:
        batches = session.scalars(select(IntakeBatch.id).order_by(IntakeBatch.id)).all()
        log = sorted(
            tuple(row)
            for row in session.execute(
                select(EventRecord.source, EventRecord.event_id, EventRecord.key)
            )
        )
        outbox = [
            tuple(row)
            for row in session.execute(
                select(
                    ActionRecord.id,
                    ActionRecord.org,
                    ActionRecord.kind,
                    ActionRecord.platform,
                    ActionRecord.group_id,
                    ActionRecord.member_id,
                    ActionRecord.payload,
                    ActionRecord.status,
                    ActionRecord.cause,
                ).order_by(ActionRecord.id)
            )
        ]
        state = dump_state(session, store.registry)
        jobs = [
            tuple(row)
            for row in session.execute(
                select(
                    JobRecord.id,
                    JobRecord.org,
                    JobRecord.kind,
                    JobRecord.due_at,
                    JobRecord.payload,
                    JobRecord.status,
                ).order_by(JobRecord.id)
            )
        ]
    return {"batches": list(batches), "log": log, "state": state, "outbox": outbox, "jobs": jobs}


def kill_repeatedly(log: Path, store: Shequn, url: str, cwd: Path, total: int) -> list[int]:
    """Start the ingest, let it commit at least one new batch, SIGKILL it a random moment
    later; again and again. Returns the stored event counts each mid-ingest kill left."""
    rng = random.Random(20201111)
    left_behind: list[int] = []
    stored = 0
    for run in range(MAX_RUNS):
        errors = cwd / f"killed-{run}.err"
        with errors.open("w") as stderr:
            process = subprocess.Popen(
                ingest_command(log, url), cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr
            )
            try:
                while process.poll() is None and stored_events(store) <= stored:
                    time.sleep(POLL)
                time.sleep(rng.uniform(0, MAX_DELAY))
            finally:
                process.kill()
                process.wait()
        assert process.returncode in (0, -signal.SIGKILL), errors.read_text()
        stored = stored_events(store)
        if process.returncode == 0:
            break
        if 0 < stored < total:
            left_behind.append(stored)
        if len(left_behind) >= WANTED_KILLS:
            break
    return left_behind


@pytest.mark.slow
def test_ingest_killed_at_random_points_then_rerun_ends_exactly_like_an_uninterrupted_run(
    db_url: str, reference_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "log.jsonl"
    total = write_jsonl(log, generate_events(events=EVENTS, groups=GROUPS, seed=7))
    crashed, reference = open_empty_store(db_url), open_empty_store(reference_url)
    try:
        uninterrupted = run_ingest(log, reference_url, tmp_path)
        assert uninterrupted == {"accepted": total, "duplicates": 0, "rejected": []}

        left_behind = kill_repeatedly(log, crashed, db_url, tmp_path, total)
        assert len(left_behind) >= REQUIRED_KILLS, f"kills that landed mid-ingest: {left_behind}"

        already_stored = stored_events(crashed)
        finished = run_ingest(log, db_url, tmp_path)
        assert finished["rejected"] == []
        assert finished["accepted"] + finished["duplicates"] == total
        assert finished["duplicates"] == already_stored

        expected, actual = snapshot(reference), snapshot(crashed)
        assert expected["outbox"], "filling groups should have put tasks in the outbox"
        assert expected["jobs"], "newcomers should have been given welcome jobs"
        assert len(actual["log"]) == total
        assert actual["batches"] == expected["batches"]
        assert actual["log"] == expected["log"]
        for table, rows in expected["state"].items():
            assert actual["state"][table] == rows, f"{table} differs from the uninterrupted run"
        assert actual["outbox"] == expected["outbox"]
        assert actual["jobs"] == expected["jobs"]
    finally:
        with crashed.sessions.begin() as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(delete(table))
        crashed.close()
        reference.close()
