"""`shequn demo`: a simulated Double-11 community behind a login, in one command.

The demo's point is to need no server, so it runs on its own SQLite file, as an operator's
laptop would.
"""

import os
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.campaign.models import CampaignStep
from shequn.cli.main import app
from shequn.config import Settings
from shequn.engine.models import ActionRecord
from shequn.lottery.models import DrawRecord
from shequn.wiring import open_shequn
from tests.conftest import serving

runner = CliRunner()
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SHEQUN_TEST_ARTIFACTS", "test-artifacts"))


def test_the_demo_fills_a_store_once_and_a_browser_sees_its_groups_and_a_verified_draw(
    tmp_path: Path,
) -> None:
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
            # The Double-11 playbook's draws: day 2 in the new groups, days 3 and 4 in all four,
            # each drawn with its proof by now (day 4 was yesterday).
            assert sorted(d.group_id for d in draws) == (
                ["new-3"] * 3 + ["new-4"] * 3 + ["old-1"] * 2 + ["old-2"] * 2
            )
            assert {d.status for d in draws} == {"drawn"}
            # The playbook ran in the simulated groups, step by step.
            steps = session.scalars(select(CampaignStep)).all()
            assert {s.status for s in steps if s.kind == "lottery"} == {"done"}
            # What shequn said reached the simulated groups, not just a log.
            carried = session.scalars(
                select(ActionRecord.connector).where(ActionRecord.kind == "send_message")
            ).all()
            assert set(carried) == {"simulator"}
        with serving(shequn) as url:
            past = draws[0].id
            watch_the_demo(url, password, draw=past, shots=ARTIFACTS / "demo")
    finally:
        shequn.close()


def watch_the_demo(url: str, password: str, *, draw: str, shots: Path) -> None:
    """What a new user does with the printed login: the groups, then a past draw's proof."""
    shots.mkdir(parents=True, exist_ok=True)
    flags: dict[str, Any] = {"executable_path": CHROMIUM, "args": [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync", "--disable-quic",
    ]}  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**flags)
        page = browser.new_page(locale="zh-CN")
        page.goto(f"{url}/login")
        page.fill("input[name=org]", "demo")
        page.fill("input[name=username]", "demo")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/dashboard")
        page.goto(f"{url}/dashboard/groups")
        listed = page.locator("main").inner_text()
        for name in ("老一群", "老二群", "新三群", "新四群"):
            assert name in listed
        page.screenshot(path=str(shots / "groups.png"), full_page=True)
        page.goto(f"{url}/dashboard/fission")
        board = page.locator("main").inner_text()
        assert "双11邀请好友赢好礼" in board
        page.screenshot(path=str(shots / "fission.png"), full_page=True)
        page.goto(f"{url}/dashboard/lotteries")
        page.locator(f"tr[data-draw='{draw}']").locator(f"a[href='/lottery/demo/{draw}']").click()
        page.wait_for_url(f"{url}/lottery/demo/{draw}")
        assert "验证通过 VERIFIED" in page.locator("body").inner_text()
        page.screenshot(path=str(shots / "draw.png"), full_page=True)
        browser.close()
