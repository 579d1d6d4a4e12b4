"""The settings page: owners and admins change the org's settings, checked as the command line
checks them, every change in the staff log; nobody else reaches it."""

import re
from collections.abc import Iterator
from datetime import date
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from shequn.analytics.daily import day_totals
from shequn.app import create_app
from shequn.org.models import ApiToken, Org, StaffAuditEntry
from shequn.web.rules import Role
from shequn.wiring import Shequn
from tests.conftest import event, ingest, serving
from tests.test_dashboard import CHROMIUM, PASSWORD, log_in, staff

# 07:00 in Beijing on 7 November is 23:00 UTC on the 6th: the day a zone change moves it to.
BEIJING_DAY, UTC_DAY = date(2020, 11, 7), date(2020, 11, 6)
SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTAxMjM0NTY3"  # noqa: S105 - a test secret


def org_with_staff(shequn: Shequn) -> None:
    ingest(shequn, [
        event("g", "group.upserted", "2020-11-06T10:00:00", {"group": "g-a", "name": "A店福利群",
                                                             "store": "store-a"}),
        event("p", "message.posted", "2020-11-07T07:00:00", {"group": "g-a", "member": "u1",
                                                             "message": "x1", "kind": "text"}),
    ])  # fmt: skip
    with shequn.sessions.begin() as session:
        org = session.get(Org, "demo")
        assert org is not None
        org.settings = {**org.settings, "webhook_secrets": [SECRET, SECRET]}
    staff(shequn, "boss", Role.OWNER)
    staff(shequn, "admin", Role.ADMIN)
    staff(shequn, "op", Role.OPERATOR)
    staff(shequn, "manager-a", Role.STORE_MANAGER, "store-a")
    staff(shequn, "analyst", Role.ANALYST)


@pytest.fixture
def client(shequn: Shequn) -> Iterator[TestClient]:
    org_with_staff(shequn)
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as test_client:
        yield test_client


def messages_on(shequn: Shequn, *days: date) -> list[int]:
    with shequn.sessions() as session:
        totals = day_totals(session, "demo", list(days))
    return [totals[day]["messages"] for day in days]


def logged(shequn: Shequn) -> list[tuple[str, str | None, dict[str, Any]]]:
    with shequn.sessions() as session:
        rows = session.execute(
            select(StaffAuditEntry.username, StaffAuditEntry.target, StaffAuditEntry.detail)
            .where(StaffAuditEntry.action == "config_changed").order_by(StaffAuditEntry.id)
        ).all()  # fmt: skip
    return [(username, target, detail) for username, target, detail in rows]


def settings_of(shequn: Shequn) -> tuple[str, str, dict[str, Any]]:
    with shequn.sessions() as session:
        org = session.get(Org, "demo")
        assert org is not None
        return org.name, org.timezone, dict(org.settings)


def form_of(page: str) -> dict[str, str]:
    """What a browser sends for the page's settings form as it stands."""
    html = page.split('id="settings">', 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'<input[^>]* name="([^"]+)" value="([^"]*)"', html))
    fields |= dict(re.findall(r'<textarea[^>]* name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S))
    for name, options in re.findall(r'<select[^>]* name="([^"]+)">(.*?)</select>', html, re.S):
        fields[name] = re.findall(r'<option value="([^"]*)" selected>', options)[0]
    return {name: unescape(value) for name, value in fields.items()}


def test_an_owner_moves_the_org_to_another_zone_logged_and_the_daily_figures_re_cut(
    shequn: Shequn, client: TestClient
) -> None:
    assert messages_on(shequn, UTC_DAY, BEIJING_DAY) == [0, 1]
    csrf = log_in(client, "boss")
    moved = client.post("/dashboard/settings", data={"csrf": csrf, "timezone": "UTC"})
    assert (moved.status_code, moved.headers["location"]) == (
        303, "/dashboard/settings?changed=timezone&recut=1",
    )  # fmt: skip
    assert messages_on(shequn, UTC_DAY, BEIJING_DAY) == [1, 0]
    assert logged(shequn) == [
        ("boss", "timezone", {"timezone": {"old": "Asia/Shanghai", "new": "UTC"}}),
    ]
    log = client.get("/dashboard/staff-log").text
    assert log.count('data-log="config_changed"') == 1
    assert "Asia/Shanghai" in log


def test_an_admin_changes_the_welcome_text_points_and_budget_in_one_form(
    shequn: Shequn, client: TestClient
) -> None:
    csrf = log_in(client, "admin")
    saved = client.post("/dashboard/settings", data={
        "csrf": csrf, "welcome_text": "欢迎 {nickname} 加入 {group}", "points_board_top": "20",
        "campaign.daily_posts": "5", "audit_auto_kick": "yes",
    })  # fmt: skip
    assert saved.status_code == 303
    assert saved.headers["location"] == (
        "/dashboard/settings?changed=audit_auto_kick,campaign,points_board_top,welcome_text"
    )
    _, _, settings = settings_of(shequn)
    assert settings["welcome_text"] == "欢迎 {nickname} 加入 {group}"
    assert (settings["points_board_top"], settings["audit_auto_kick"]) == (20, True)
    assert settings["campaign"] == {"daily_posts": 5}
    assert logged(shequn)[0][:2] == (
        "admin", "audit_auto_kick, campaign, points_board_top, welcome_text",
    )  # fmt: skip
    assert logged(shequn)[0][2]["campaign"] == {"old": None, "new": {"daily_posts": 5}}


def test_the_form_sent_back_as_shown_changes_and_logs_nothing(
    shequn: Shequn, client: TestClient
) -> None:
    log_in(client, "boss")
    page = client.get("/dashboard/settings")
    assert page.status_code == 200
    form = form_of(page.text)
    assert len(form) == 27  # the CSRF token and 26 settings
    before = settings_of(shequn)
    sent = client.post("/dashboard/settings", data=form)
    assert (sent.status_code, sent.headers["location"]) == (303, "/dashboard/settings")
    assert settings_of(shequn) == before
    assert logged(shequn) == []


@pytest.mark.parametrize("username", ["op", "manager-a", "analyst"])
def test_operators_store_managers_and_analysts_are_refused_the_page_and_the_form(
    shequn: Shequn, client: TestClient, username: str
) -> None:
    csrf = log_in(client, username)
    assert client.get("/dashboard/settings").status_code == 403
    assert 'href="/dashboard/settings"' not in client.get("/dashboard").text
    refused = client.post("/dashboard/settings", data={"csrf": csrf, "timezone": "UTC"})
    assert refused.status_code == 403
    assert settings_of(shequn)[1] == "Asia/Shanghai"
    assert logged(shequn) == []


def test_a_bad_value_is_refused_naming_the_field_and_nothing_is_stored(
    shequn: Shequn, client: TestClient
) -> None:
    csrf = log_in(client, "boss")
    before = settings_of(shequn)
    refused = client.post("/dashboard/settings?lang=en", data={
        "csrf": csrf, "welcome_text": "新的欢迎语", "timezone": "UTC",
        "campaign.daily_posts": "0",
    })  # fmt: skip
    assert refused.status_code == 422
    assert (
        '<p class="error" role="alert" data-error="campaign.daily_posts">Nothing was saved: '
        "Posts per group and day (<code>campaign.daily_posts</code>): 0 is not a whole "
        "number, 1 or more</p>"
    ) in refused.text
    # The form comes back as typed.
    assert "新的欢迎语</textarea>" in refused.text
    not_a_number = client.post("/dashboard/settings?lang=zh",
                               data={"csrf": csrf, "audit_review": "高"})  # fmt: skip
    assert not_a_number.status_code == 422
    assert 'data-error="audit_review"' in not_a_number.text
    assert "人工审核分数线" in not_a_number.text
    assert settings_of(shequn) == before
    assert messages_on(shequn, UTC_DAY, BEIJING_DAY) == [0, 1]
    assert logged(shequn) == []


def test_a_form_without_the_sessions_csrf_token_is_refused(
    shequn: Shequn, client: TestClient
) -> None:
    log_in(client, "boss")
    assert client.post("/dashboard/settings", data={"timezone": "UTC"}).status_code == 403
    forged = client.post("/dashboard/settings", data={"csrf": "forged", "timezone": "UTC"})
    assert forged.status_code == 403
    assert settings_of(shequn)[1] == "Asia/Shanghai"
    assert logged(shequn) == []


def test_webhook_secrets_are_counted_never_shown(client: TestClient) -> None:
    log_in(client, "boss")
    page = client.get("/dashboard/settings").text
    assert '<td data-figure="secrets">2 ' in page
    assert SECRET not in page


@pytest.fixture
def server(shequn: Shequn) -> Iterator[str]:
    org_with_staff(shequn)
    with serving(shequn) as url:
        yield url


def test_an_owner_changes_the_welcome_text_in_a_browser_and_finds_it_in_the_staff_log(
    server: str,
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        page = browser.new_page(locale="zh-CN")
        page.goto(f"{server}/login")
        page.fill("input[name=org]", "demo")
        page.fill("input[name=username]", "boss")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/dashboard")
        page.click("header a[href='/dashboard/settings']")
        assert page.locator("h1").inner_text().startswith("设置")
        page.fill("textarea[name=welcome_text]", "欢迎 {nickname} 来到 {group}!")
        page.click("#settings button[type=submit]")
        page.wait_for_url(f"{server}/dashboard/settings?changed=welcome_text")
        assert page.locator("textarea[name=welcome_text]").input_value() == (
            "欢迎 {nickname} 来到 {group}!"
        )
        page.click("header a[href='/dashboard/staff-log']")
        entry = page.locator("tr[data-log=config_changed]")
        assert entry.count() == 1
        assert "boss" in entry.inner_text()
        assert '"new": "欢迎 {nickname} 来到 {group}!"' in entry.inner_text()
        browser.close()


def tokens_listed(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-token="\d+"><td>\d+</td><td>([^<]*)</td><td data-scopes="([^"]*)"',
                      page)  # fmt: skip


def test_an_owner_mints_a_scoped_token_sees_it_once_and_revokes_it(
    shequn: Shequn, client: TestClient
) -> None:
    csrf = log_in(client, "boss")
    made = client.post("/dashboard/settings/tokens?lang=en",
                       data={"csrf": csrf, "name": "shop", "scope": ["events", "read"]})  # fmt: skip
    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"
    token = re.findall(r'<output id="minted-token"><code>([^<]+)</code>', made.text)[0]
    assert tokens_listed(made.text) == [("shop", "events,read")]
    page = client.get("/dashboard/settings").text
    assert token not in page
    assert tokens_listed(page) == [("shop", "events,read")]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/settings", headers=headers).status_code == 200
    assert client.patch("/api/v1/settings", json={"name": "x"}, headers=headers).status_code == 403
    token_id = re.findall(r'<tr data-token="(\d+)">', page)[0]
    revoked = client.post(f"/dashboard/settings/tokens/{token_id}/revoke", data={"csrf": csrf})
    assert (revoked.status_code, revoked.headers["location"]) == (
        303, "/dashboard/settings?revoked=shop#tokens")  # fmt: skip
    assert client.get("/api/v1/settings", headers=headers).status_code == 401
    with shequn.sessions() as session:
        actions = session.execute(
            select(StaffAuditEntry.username, StaffAuditEntry.action, StaffAuditEntry.target)
            .where(StaffAuditEntry.action.like("token_%")).order_by(StaffAuditEntry.id)
        ).all()  # fmt: skip
    assert [tuple(row) for row in actions] == [("boss", "token_created", "shop"),
                                               ("boss", "token_revoked", "shop")]  # fmt: skip
    assert token not in client.get("/dashboard/staff-log").text


def test_an_unknown_scope_mints_nothing_and_others_may_not_mint_or_revoke(
    shequn: Shequn, client: TestClient
) -> None:
    csrf = log_in(client, "boss")
    refused = client.post("/dashboard/settings/tokens?lang=en",
                          data={"csrf": csrf, "name": "x", "scope": "write"})  # fmt: skip
    assert refused.status_code == 422
    assert "No token was created: scope &#39;write&#39; is none of" in refused.text
    assert tokens_listed(refused.text) == []
    too_long = client.post("/dashboard/settings/tokens?lang=en",
                           data={"csrf": csrf, "name": "x" * 201})  # fmt: skip
    assert too_long.status_code == 422
    assert "No token was created: name: 201 characters; give 1 to 200 characters" in too_long.text
    assert client.post("/dashboard/settings/tokens", data={"name": "x"}).status_code == 403
    analyst = TestClient(client.app, follow_redirects=False)
    analyst_csrf = log_in(analyst, "analyst")
    assert analyst.post("/dashboard/settings/tokens",
                        data={"csrf": analyst_csrf, "name": "x"}).status_code == 403  # fmt: skip
    assert analyst.post("/dashboard/settings/tokens/1/revoke",
                        data={"csrf": analyst_csrf}).status_code == 403  # fmt: skip
    with shequn.sessions() as session:
        assert session.scalars(select(ApiToken)).all() == []
