"""`shequn serve`: the API and the background worker in one real process."""

import json
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from shequn.engine.models import ActionRecord, ActionStatus
from shequn.engine.worker import Worker
from shequn.kit.time import utc_now
from shequn.org.service import save_org
from shequn.wiring import Shequn
from tests.conftest import event, ingest

AFTER_WELCOME = datetime(2020, 11, 7, 2, 1, 30, tzinfo=UTC)


def test_one_worker_tick_runs_the_due_welcome_and_dispatches_it(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai",
                 settings={"welcome_text": "欢迎"}, now=utc_now())  # fmt: skip
    ingest(
        shequn, [event("j", "member.joined", "2020-11-07T10:00:00", {"group": "g", "member": "u"})]
    )
    # Half a minute after the welcome window of that 10:00 join closed.
    Worker(shequn.sessions, shequn.registry, clock=lambda: AFTER_WELCOME).tick()
    with shequn.sessions() as session:
        [action] = session.scalars(select(ActionRecord)).all()
        assert (action.status, action.connector) == (ActionStatus.SENT, "log")


AFTER_WELCOME = datetime(2020, 11, 7, 2, 1, 30, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow
def test_serve_prints_a_token_takes_events_and_sends_the_welcome(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'shequn.db'}"
    subprocess.run([sys.executable, "-m", "shequn", "org", "create", "default",
                    "--welcome-text", "欢迎 {nickname}", "--welcome-window", "1", "--db", db],
                   check=True, cwd=tmp_path)  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "shequn", "serve", "--db", db, "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        token = None
        deadline = time.monotonic() + 30
        while token is None and time.monotonic() < deadline:
            found = re.search(r"(sq_[\w-]+)", server.stdout.readline())
            token = found.group(1) if found else None
        assert token is not None, "serve printed no API token"
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.1)
        just_now = (utc_now() - timedelta(seconds=5)).isoformat()
        joined = event("j-1", "member.joined", just_now, {"group": "g1", "member": "u1"})
        del joined["org"]
        response = httpx2.post(f"{base}/api/v1/events", json=[joined],
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
        sent = []
        while not sent and time.monotonic() < deadline:
            outbox = httpx2.get(f"{base}/api/v1/outbox",
                               headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
            sent = [action for action in outbox if action["status"] == "sent"]
            time.sleep(0.2)
        assert [(a["kind"], a["payload"]["mentions"], a["connector"]) for a in sent] == [
            ("send_message", ["u1"], "log")
        ]
        lines = (tmp_path / "shequn-actions.jsonl").read_text().splitlines()
        assert json.loads(lines[0])["payload"] == {"text": "欢迎 ", "mentions": ["u1"]}
    finally:
        server.terminate()
        server.wait(timeout=15)
