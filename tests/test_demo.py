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
from shequn.lottery.models import DrawRecord
from shequn.wiring import open_shequn

runner = CliRunner()


def test_the_demo_fills_a_store_once_and_prints_a_login_that_works(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
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
            assert sorted(d.group_id for d in draws) == ["new-3", "new-4"]
        with TestClient(create_app(shequn, run_worker=False)) as client:
            login = {"org": "demo", "username": "demo", "password": password}
            assert client.post("/login", data=login).status_code == 200  # followed to the overview
            groups = client.get("/dashboard/groups").text
            for name in ("老一群", "老二群", "新三群", "新四群"):
                assert name in groups
    finally:
        shequn.close()
