"""The dashboard: logins, roles that scope every page, and a real browser going through it."""

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

from shequn.analytics.service import report_group_range
from shequn.app import create_app
from shequn.campaign.playbook import load_playbook
from shequn.campaign.service import start_campaign
from shequn.kit.time import local_day, utc_now
from shequn.web.models import StaffUser
from shequn.web.rules import Role, hash_password, password_matches
from shequn.wiring import Shequn
from tests.conftest import event, ingest, serving

PASSWORD = "correct horse battery"  # noqa: S105 - a test login
ARTIFACTS = Path(os.environ.get("SHEQUN_TEST_ARTIFACTS", "test-artifacts"))
CHROMIUM = "/usr/bin/chromium"


def community(shequn: Shequn) -> None:
    """Two stores' groups, newcomers, a sale, and one account the audit flags."""
    now = utc_now().astimezone().isoformat(timespec="seconds")
    ingest(shequn, [
        event("ga", "group.upserted", now, {"group": "g-a", "name": "A店福利群", "store": "store-a"}),
        event("gb", "group.upserted", now, {"group": "g-b", "name": "B店福利群", "store": "store-b"}),
        event("m1", "member.upserted", now, {"member": "u1", "nickname": "小美", "gender": "female"}),
        event("m2", "member.upserted", now, {"member": "spam", "nickname": "A00微商货源",
                                             "avatar": {"flags": ["stock_photo"]}}),
        event("m3", "member.upserted", now, {"member": "spam-b", "nickname": "AAA批发",
                                             "avatar": {"flags": ["stock_photo"]}}),
        event("j1", "member.joined", now, {"group": "g-a", "member": "u1"}),
        event("j2", "member.joined", now, {"group": "g-a", "member": "spam"}),
        event("j3", "member.joined", now, {"group": "g-b", "member": "spam-b"}),
        event("p1", "message.posted", now, {"group": "g-a", "member": "u1", "message": "x1",
                                            "kind": "text", "text": "早上好"}),
        event("o1", "order.paid", now, {"order": "o1", "member": "u1", "group": "g-a",
                                        "items": [{"sku": "dress", "qty": 2, "unit_price": "600.00"}],
                                        "amount": "1200.00"}),
    ])  # fmt: skip


def staff(shequn: Shequn, username: str, role: Role, store: str | None = None) -> None:
    with shequn.sessions.begin() as session:
        session.add(StaffUser(org="demo", username=username, password_hash=hash_password(PASSWORD),
                              role=str(role), store=store, created_at=utc_now(), disabled_at=None))  # fmt: skip


@pytest.fixture
def client(shequn: Shequn) -> Iterator[TestClient]:
    community(shequn)
    staff(shequn, "boss", Role.OWNER)
    staff(shequn, "manager-a", Role.STORE_MANAGER, "store-a")
    staff(shequn, "analyst", Role.ANALYST)
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as test_client:
        yield test_client


def log_in(client: TestClient, username: str) -> str:
    response = client.post(
        "/login", data={"org": "demo", "username": username, "password": PASSWORD}
    )
    assert response.status_code == 303, response.text
    page = client.get("/dashboard/lotteries")
    marker = 'name="csrf" value="'
    return page.text.split(marker, 1)[1].split('"', 1)[0]


def test_passwords_are_hashed_with_scrypt_and_checked_in_constant_time() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("scrypt$16384$8$1$")
    assert PASSWORD not in stored
    assert password_matches(PASSWORD, stored)
    assert not password_matches("correct horse battery!", stored)
    with pytest.raises(ValueError, match="at least 10 characters"):
        hash_password("short")


def test_pages_need_a_login(client: TestClient) -> None:
    for path in ("/dashboard", "/dashboard/groups", "/dashboard/audit", "/dashboard/lotteries"):
        response = client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_a_store_manager_never_sees_another_stores_groups_or_members(client: TestClient) -> None:
    csrf = log_in(client, "manager-a")
    groups = client.get("/dashboard/groups").text
    assert "A店福利群" in groups
    assert "B店福利群" not in groups
    assert client.get("/dashboard/groups/g-a").status_code == 200
    assert client.get("/dashboard/groups/g-b").status_code == 404
    queue = client.get("/dashboard/audit").text
    assert "A00微商货源" in queue
    assert "AAA批发" not in queue
    decided = client.post("/dashboard/audit/spam-b", data={"decision": "keep", "csrf": csrf})
    assert decided.status_code == 404
    own = client.post("/dashboard/audit/spam", data={"decision": "keep", "csrf": csrf})
    assert (own.status_code, own.headers["location"]) == (303, "/dashboard/audit?decided=spam")


def test_an_analyst_sees_figures_but_no_personal_data(client: TestClient) -> None:
    log_in(client, "analyst")
    assert client.get("/dashboard/groups").status_code == 200
    assert client.get("/dashboard/audit").status_code == 403
    assert "A00微商货源" not in client.get("/dashboard").text


def test_a_form_without_the_sessions_csrf_token_is_refused(client: TestClient) -> None:
    log_in(client, "boss")
    forged = client.post("/dashboard/audit/spam", data={"decision": "kick", "csrf": "forged"})
    assert forged.status_code == 403
    assert "A00微商货源" in client.get("/dashboard/audit").text


def test_wrong_passwords_are_refused_and_then_throttled(client: TestClient) -> None:
    for _ in range(5):
        wrong = client.post(
            "/login", data={"org": "demo", "username": "boss", "password": "nope-nope-nope"}
        )
        assert wrong.status_code == 401
    blocked = client.post("/login", data={"org": "demo", "username": "boss", "password": PASSWORD})
    assert blocked.status_code == 429
    assert "5 分钟" in blocked.text


@pytest.fixture
def server(shequn: Shequn) -> Iterator[str]:
    community(shequn)
    staff(shequn, "boss", Role.OWNER)
    with serving(shequn) as url:
        yield url


def test_an_operator_logs_in_reads_a_chart_decides_a_case_and_switches_language(
    server: str, db_url: str, shequn: Shequn
) -> None:
    playbook, source = load_playbook("double11")
    first = local_day(utc_now(), "Asia/Shanghai") + timedelta(days=1)
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        start_campaign(context, "demo", playbook, source, start=first, groups=["g-a"])
        context.flush()
    shots = ARTIFACTS / ("dashboard-" + db_url.split(":", 1)[0])
    shots.mkdir(parents=True, exist_ok=True)
    flags: dict[str, Any] = {"executable_path": CHROMIUM, "args": [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync", "--disable-quic",
    ]}  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**flags)
        page = browser.new_page(locale="zh-CN")
        page.goto(f"{server}/dashboard")
        page.fill("input[name=org]", "demo")
        page.fill("input[name=username]", "boss")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/dashboard")
        assert page.locator("td[data-figure=gmv]").inner_text() == "¥1,200.00"
        page.screenshot(path=str(shots / "overview.png"), full_page=True)

        page.click("header a[href='/dashboard/groups']")
        page.click("text=A店福利群")
        # One bar a day since the group was first seen: today.
        assert page.locator("#members-chart svg rect").count() == 1
        assert page.locator("#members-chart svg").get_attribute("aria-label") == "每日成员与消息"
        page.screenshot(path=str(shots / "group.png"), full_page=True)

        page.click("header a[href='/dashboard/heatmap']")
        # 7 weekdays × 24 hours, drawn by the server: no script, no CDN.
        assert page.locator("#heatmap svg rect").count() == 168
        assert page.locator("#best-times tbody tr").count() == 1
        page.screenshot(path=str(shots / "heatmap.png"), full_page=True)

        page.click("header a[href='/dashboard/audit']")
        row = page.locator("tr[data-member=spam]")
        assert "A00微商货源" in row.inner_text()
        row.locator("button[value=kick]").click()
        page.wait_for_url("**/dashboard/audit?decided=spam")
        assert page.locator("tr[data-member=spam]").count() == 0
        page.screenshot(path=str(shots / "audit.png"), full_page=True)

        page.click("header a[href='/dashboard/campaigns']")
        page.click(f"text=double11-{first:%Y%m%d}")
        steps = page.locator("section.timeline[data-group=g-a] tr[data-step=d1-fission]")
        assert steps.get_attribute("data-status") == "planned"
        page.screenshot(path=str(shots / "campaign.png"), full_page=True)

        page.click("text=English")
        assert page.locator("header nav a").first.inner_text() == "Overview"
        page.screenshot(path=str(shots / "english.png"), full_page=True)
        browser.close()


def campaign_in(shequn: Shequn, group: str) -> None:
    from shequn.fission.rules import GrantMode, RewardKind, Tier
    from shequn.fission.service import create_campaign

    now = utc_now()
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=now - timedelta(days=1))
        create_campaign(context, "demo", campaign_id=f"c-{group}", name=f"{group} 裂变",
                        groups=[group], starts_at=now - timedelta(days=1),
                        ends_at=now + timedelta(days=1), tiers=[Tier(3, RewardKind.GIFT, "裙", 0)],
                        mode=GrantMode.ON_REACH)  # fmt: skip
        context.flush()
    at = (now - timedelta(hours=1)).isoformat(timespec="seconds")
    ingest(shequn, [
        event(f"inv-{group}-{n}", "member.joined", at,
              {"group": group, "member": f"{group}-new-{n}", "inviter": f"kol-{group}"})
        for n in range(3)
    ])  # fmt: skip


def test_the_fission_board_ranks_inviters_within_the_staffs_scope(
    shequn: Shequn, client: TestClient
) -> None:
    campaign_in(shequn, "g-a")
    campaign_in(shequn, "g-b")
    log_in(client, "manager-a")
    page = client.get("/dashboard/fission").text
    assert 'data-campaign="c-g-a"' in page
    assert 'data-campaign="c-g-b"' not in page
    assert "<td>1</td><td>kol-g-a</td><td>3</td><td>3</td>" in page
    analyst = TestClient(client.app, follow_redirects=False)
    log_in(analyst, "analyst")
    board = analyst.get("/dashboard/fission").text
    assert "kol-g-a" not in board
    assert "<td>1</td><td>—</td><td>3</td><td>3</td>" in board


def test_the_group_list_pages_sorts_and_filters_with_the_logs_figures(shequn: Shequn) -> None:
    # 60 groups: group n has n+1 joins today, one message per member, and every fifth one a sale.
    now = utc_now().astimezone().isoformat(timespec="seconds")
    log: list[dict[str, Any]] = []
    for n in range(60):
        group = f"g{n:02d}"
        log.append(event(f"u{n}", "group.upserted", now,
                         {"group": group, "name": f"群{59 - n:02d}", "store": f"s{n % 2}"}))  # fmt: skip
        for m in range(n + 1):
            log.append(
                event(f"j{n}-{m}", "member.joined", now, {"group": group, "member": f"m{m}"})
            )
            log.append(event(f"p{n}-{m}", "message.posted", now,
                             {"group": group, "member": f"m{m}", "message": f"x{n}-{m}",
                              "kind": "text"}))  # fmt: skip
        if n % 5 == 0:
            log.append(event(f"o{n}", "order.paid", now,
                             {"order": f"o{n}", "member": "m0", "group": group, "amount": "10.00",
                              "items": [{"sku": "s", "qty": 1, "unit_price": "10.00"}]}))  # fmt: skip
    ingest(shequn, log, batch_size=500)
    staff(shequn, "boss", Role.OWNER)
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as client:
        log_in(client, "boss")

        def listed(query: str) -> list[str]:
            text = client.get(f"/dashboard/groups?{query}").text
            return [part.split('"', 1)[0] for part in text.split('<tr data-group="')[1:]]

        by_members = listed("sort=members")
        assert len(by_members) == 50
        assert by_members[:3] == ["g59", "g58", "g57"]
        assert listed("sort=members&page=2") == [f"g{n:02d}" for n in range(9, -1, -1)]
        assert listed("sort=name")[:2] == ["g59", "g58"]
        assert listed("sort=gmv")[:3] == ["g00", "g05", "g10"]
        assert listed("sort=active&store=s1")[:2] == ["g59", "g57"]
        assert listed("q=G0&sort=joins") == [f"g0{n}" for n in range(9, -1, -1)]
        assert listed("stage=new&sort=stage&page=2") == [f"g{n}" for n in range(50, 60)]
        # Filtered by stage, still in the order asked for.
        assert listed("stage=new&sort=members")[:3] == ["g59", "g58", "g57"]
        assert listed("stage=new&sort=gmv")[:3] == ["g00", "g05", "g10"]
        exported = client.get("/dashboard/groups?format=csv").text.splitlines()
    header = exported[0].split(",")
    rows = {row.split(",")[0]: dict(zip(header, row.split(","), strict=True))
            for row in exported[1:]}  # fmt: skip
    today = local_day(utc_now(), "Asia/Shanghai")
    with shequn.sessions() as session:
        expected = report_group_range(session, "demo", first=today - timedelta(days=6), last=today)
    assert len(rows) == 60
    for found in expected:
        row = rows[str(found.group)]
        assert [int(row[name]) for name in ("members", "joins", "messages", "active", "orders",
                                            "buyers")] == [
            found.members_end, found.joins, found.traffic.messages, found.traffic.active,
            found.sales.orders, found.sales.buyers,
        ]  # fmt: skip
        assert row["stage"] == "new"
