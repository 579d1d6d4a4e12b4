"""Storage tests run twice: on an embedded SQLite file and on the real local PostgreSQL server."""

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from alembic import command
from alembic.config import Config
from sqlalchemy import delete

from shequn.app import create_app
from shequn.config import Settings
from shequn.db import MIGRATIONS, Base
from shequn.engine.intake import IngestSummary, decode_json_lines
from shequn.engine.rebuild import dump_state
from shequn.models import __all__ as _models  # noqa: F401 - every table registered
from shequn.wiring import Shequn, open_shequn

# The server CI starts; a developer may point elsewhere. Never skipped: a missing server fails.
POSTGRES_ADMIN = os.environ.get("SHEQUN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"shequn_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    yield url
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_store(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shequn.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, action_log=str(tmp_path / "actions.jsonl"), batch_size=3)


@pytest.fixture
def shequn(settings: Settings) -> Iterator[Shequn]:
    opened = open_shequn(settings)
    empty_store(opened)
    yield opened
    empty_store(opened)
    opened.close()


def lines_of(events: Sequence[dict[str, Any] | str | bytes]) -> list[bytes]:
    out = []
    for event in events:
        if isinstance(event, bytes):
            out.append(event)
        elif isinstance(event, str):
            out.append(event.encode())
        else:
            out.append(json.dumps(event, ensure_ascii=False).encode())
    return out


def ingest(
    shequn: Shequn, events: Sequence[dict[str, Any] | str | bytes], *, batch_size: int | None = None
) -> IngestSummary:
    return shequn.intake(origin="test", batch_size=batch_size).ingest(
        decode_json_lines(lines_of(events))
    )


def state_of(shequn: Shequn) -> dict[str, list[tuple[Any, ...]]]:
    with shequn.sessions() as session:
        return dump_state(session, shequn.registry)


def event(
    event_id: str,
    kind: str,
    at: str,
    data: dict[str, Any],
    *,
    org: str = "demo",
    source: str = "telegram",
) -> dict[str, Any]:
    """One contract event; times are Beijing local unless an offset is given."""
    when = at if ("+" in at[10:] or at.endswith("Z")) else f"{at}+08:00"
    return {"id": event_id, "type": kind, "at": when, "source": source, "org": org, "data": data}


def downgraded(shequn: Shequn, revision: str) -> None:
    """Leave the store as the release at `revision` left it (its later tables gone), closed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with shequn.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    shequn.close()


@contextmanager
def serving(shequn: Shequn) -> Iterator[str]:
    """The dashboard on a free local port, in a thread, for a real browser."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(shequn, run_worker=False), host="127.0.0.1", port=port,
                            log_level="warning")  # fmt: skip
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=10)
