"""`shequn demo`: a simulated Double-11 community behind a login, in one command.

The demo's point is to need no server, so it runs on its own SQLite file, as an operator's
laptop would.
"""

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.main import app
from shequn.config import Settings
from shequn.engine.models import ActionRecord
from shequn.kit.time import utc_now
from shequn.lottery.models import DrawRecord
from shequn.wiring import open_shequn

runner = CliRunner()


def test_the_demo_fills_a_store_once_and_prints_a_login_that_works(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    started = utc_now()
    first = runner.invoke(app, ["demo", "--no-serve", "--db", db])
    assert first.exit_code == 0, first.output
    added = int(re.search(r"([\d,]+) events added", first.output).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert added > 5_000
    again = runner.invoke(app, ["demo", "--no-serve", "--db", db])
    assert "· 0 events added" in again.output
    password = re.search(r"password 密码 (\S+)", again.output).group(1)  # type: ignore[union-attr]

    shequn = open_shequn(Settings(database_url=db, action_log=str(tmp_path / "actions.jsonl")))
    try:
        with shequn.sessions() as session:
            draws = session.scalars(select(DrawRecord)).all()
            # Every evening from day 2 to day 5 in each new group: the past ones drawn with
            # their proof, the ones still ahead committed.
            assert sorted(d.group_id for d in draws) == ["new-3"] * 4 + ["new-4"] * 4
            assert {d.status for d in draws if d.due_at <= started} == {"drawn"}
            # What shequn said reached the simulated groups, not just a log.
            carried = session.scalars(
                select(ActionRecord.connector).where(ActionRecord.kind == "send_message")
            ).all()
            assert set(carried) == {"simulator"}
        with TestClient(create_app(shequn, run_worker=False)) as client:
            login = {"org": "demo", "username": "demo", "password": password}
            assert client.post("/login", data=login).status_code == 200  # followed to the overview
            groups = client.get("/dashboard/groups").text
            for name in ("老一群", "老二群", "新三群", "新四群"):
                assert name in groups
    finally:
        shequn.close()
