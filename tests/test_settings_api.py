"""GET and PATCH /api/v1/settings: the settings page's changes over the API, under a token."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shequn.app import create_app
from shequn.kit.time import utc_now
from shequn.org.service import create_token
from shequn.wiring import Shequn
from tests.test_dashboard import log_in
from tests.test_settings_pages import (
    BEIJING_DAY,
    SECRET,
    UTC_DAY,
    logged,
    messages_on,
    org_with_staff,
    settings_of,
)


@pytest.fixture
def client(shequn: Shequn) -> Iterator[TestClient]:
    org_with_staff(shequn)
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def bearer(shequn: Shequn) -> dict[str, str]:
    with shequn.sessions.begin() as session:
        token = create_token(session, "demo", name="shop-erp", now=utc_now())
    return {"Authorization": f"Bearer {token}"}


def test_the_settings_are_read_with_secrets_only_counted(
    client: TestClient, bearer: dict[str, str]
) -> None:
    read = client.get("/api/v1/settings", headers=bearer)
    assert read.status_code == 200
    assert read.json() == {"org": "demo", "name": "demo", "timezone": "Asia/Shanghai",
                           "settings": {}, "secrets": {"webhook_secrets": 2}}  # fmt: skip
    assert SECRET not in read.text


def test_a_token_moves_the_org_to_another_zone_logged_under_its_name_and_figures_re_cut(
    shequn: Shequn, client: TestClient, bearer: dict[str, str]
) -> None:
    changed = client.patch("/api/v1/settings", headers=bearer, json={
        "timezone": "UTC", "welcome_text": "欢迎 {nickname}", "campaign": {"quiet_hours": "off"},
    })  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "org": "demo", "name": "demo", "timezone": "UTC",
        "settings": {"welcome_text": "欢迎 {nickname}", "campaign": {"quiet_hours": "off"}},
        "secrets": {"webhook_secrets": 2}, "changed": ["campaign", "timezone", "welcome_text"],
        "recut": True,
    }  # fmt: skip
    assert messages_on(shequn, UTC_DAY, BEIJING_DAY) == [1, 0]
    assert logged(shequn) == [("api:shop-erp", "campaign, timezone, welcome_text", {
        "campaign": {"old": None, "new": {"quiet_hours": "off"}},
        "timezone": {"old": "Asia/Shanghai", "new": "UTC"},
        "welcome_text": {"old": None, "new": "欢迎 {nickname}"},
    })]  # fmt: skip


def test_the_same_values_again_change_and_log_nothing(
    shequn: Shequn, client: TestClient, bearer: dict[str, str]
) -> None:
    again = client.patch("/api/v1/settings", headers=bearer,
                         json={"name": "demo", "timezone": "Asia/Shanghai"})  # fmt: skip
    assert (again.status_code, again.json()["changed"], again.json()["recut"]) == (200, [], False)
    assert logged(shequn) == []


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"welcome_text": "hi", "timezone": "Mars/Base"}, "timezone",
         "unknown time zone 'Mars/Base' (use an IANA name like Asia/Shanghai)"),
        ({"points_board_top": 99}, "points_board_top", "99 is not 1-50"),
        ({"campaign": {"daily_messages": "many"}}, "campaign.daily_messages",
         "'many' is not a whole number, 1 or more"),
        ({"webhook_secrets": []}, "webhook_secrets",
         "not a setting changed here; see `shequn --help`"),
    ],
)  # fmt: skip
def test_a_bad_value_is_422_naming_the_field_and_nothing_is_stored(
    shequn: Shequn, client: TestClient, bearer: dict[str, str],
    changes: dict[str, object], field: str, message: str,
) -> None:  # fmt: skip
    before = settings_of(shequn)
    refused = client.patch("/api/v1/settings", headers=bearer, json=changes)
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": [{"loc": ["body", field], "msg": message, "type": "value_error"}]
    }
    assert settings_of(shequn) == before
    assert logged(shequn) == []


@pytest.mark.parametrize("username", ["boss", "op", "manager-a", "analyst"])
def test_a_dashboard_login_is_no_api_credential(
    shequn: Shequn, client: TestClient, username: str
) -> None:
    # The API's tokens belong to the org, not to a staff member: a dashboard cookie, whatever
    # the role, reads and changes nothing here.
    log_in(client, username)
    assert client.get("/api/v1/settings").status_code == 401
    assert client.patch("/api/v1/settings", json={"timezone": "UTC"}).status_code == 401
    assert settings_of(shequn)[1] == "Asia/Shanghai"
