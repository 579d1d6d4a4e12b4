"""The dashboard's lotteries: draws to come and results with winners, within each staff's scope."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shequn.app import create_app
from shequn.web.rules import Role
from shequn.wiring import Shequn
from tests.conftest import event, ingest
from tests.test_dashboard import log_in, staff
from tests.test_lottery import DRESS, draws, joins, lottery, run_jobs


@pytest.fixture
def two_stores(shequn: Shequn) -> Iterator[TestClient]:
    """Store A's and store B's groups share a nightly lottery over two evenings; the first
    evening is drawn, the second is still to come."""
    ingest(shequn, [
        event("ga", "group.upserted", "2020-11-06T09:00:00",
              {"group": "g-a", "name": "A店福利群", "store": "store-a"}),
        event("gb", "group.upserted", "2020-11-06T09:00:00",
              {"group": "g-b", "name": "B店福利群", "store": "store-b"}),
        event("ma", "member.upserted", "2020-11-06T09:00:00", {"member": "a1", "nickname": "小美"}),
        event("mb", "member.upserted", "2020-11-06T09:00:00", {"member": "b1", "nickname": "小丽"}),
        *joins("g-a", ["a1"]), *joins("g-b", ["b1"]),
    ])  # fmt: skip
    lottery(shequn, pool=["g-a", "g-b"], days=2, prizes=[DRESS])
    run_jobs(shequn, "2020-11-07T20:31:00+08:00")
    staff(shequn, "boss", Role.OWNER)
    staff(shequn, "manager-a", Role.STORE_MANAGER, "store-a")
    staff(shequn, "analyst", Role.ANALYST)
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as client:
        yield client


def rows(page: str, table: str) -> list[str]:
    body = page.split(f'<table class="figures {table}">', 1)[1].split("</table>", 1)[0]
    return [row.split("</tr>", 1)[0] for row in body.split("<tr data-draw=")[1:]]


def test_results_name_the_lottery_group_time_and_winner_with_a_link_to_the_proof(
    two_stores: TestClient, shequn: Shequn
) -> None:
    log_in(two_stores, "boss")
    page = two_stores.get("/dashboard/lotteries?lang=zh").text
    drawn = {d.group_id: d.id for d in draws(shequn) if d.status == "drawn"}
    [first, second] = rows(page, "results")
    assert f'"{drawn["g-a"]}"' in first
    assert all(word in first for word in ("每晚抽奖", "A店福利群", "2020-11-07 20:30", "已开奖"))
    assert '<a href="/dashboard/members/a1">小美</a> · 连衣裙' in first
    assert f'href="/lottery/demo/{drawn["g-a"]}"' in first
    assert "小丽" in second
    upcoming = rows(page, "upcoming")
    assert [("2020-11-08 20:30" in row, "待开奖" in row) for row in upcoming] == [(True, True)] * 2


def test_a_store_manager_sees_only_their_stores_draws_and_an_analyst_no_winners(
    two_stores: TestClient,
) -> None:
    log_in(two_stores, "manager-a")
    page = two_stores.get("/dashboard/lotteries?lang=en").text
    assert (len(rows(page, "results")), len(rows(page, "upcoming"))) == (1, 1)
    assert ("B店福利群" in page, "小丽" in page) == (False, False)
    [_, only] = two_stores.get("/dashboard/lotteries?format=csv").text.splitlines()
    assert ("g-a" in only, "a1:连衣裙" in only) == (True, True)
    analyst = TestClient(two_stores.app, follow_redirects=False)
    log_in(analyst, "analyst")
    page = analyst.get("/dashboard/lotteries?lang=en").text
    assert "(members hidden)" in page
    assert ("小美" in page, "小丽" in page) == (False, False)
    assert ":连衣裙" not in analyst.get("/dashboard/lotteries?format=csv").text
