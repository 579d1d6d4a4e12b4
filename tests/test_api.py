"""POST /api/v1/events: token-scoped intake returning the same summary as the CLI."""

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from shequn.app import create_app
from shequn.engine.scheduler import run_due_jobs
from shequn.kit.time import utc_now
from shequn.org.service import create_token, save_org
from shequn.wiring import Shequn
from tests.conftest import event


@pytest.fixture
def client(shequn: Shequn) -> Iterator[TestClient]:
    with TestClient(create_app(shequn, run_worker=False)) as test_client:
        yield test_client


@pytest.fixture
def token(shequn: Shequn) -> str:
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=None, now=utc_now())
        return create_token(session, "demo", name="test", now=utc_now())


def joined(n: int, **envelope: object) -> dict[str, object]:
    raw = event(
        f"j-{n}", "member.joined", "2020-11-07T10:00:00", {"group": "g1", "member": f"u{n}"}
    )
    raw.update(envelope)
    return raw


def test_a_json_array_is_taken_in_and_summarised(client: TestClient, token: str) -> None:
    bad = {**joined(3), "at": "2020-11-07 10:00"}
    response = client.post(
        "/api/v1/events",
        json=[joined(1), joined(2), bad],
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": [
            {
                "id": "j-3",
                "line": 3,
                "error": "at: '2020-11-07 10:00' has no UTC offset (write it like 2020-11-07T20:31:05+08:00)",
            }
        ],
    }


def test_json_lines_are_taken_in_and_redeliveries_are_duplicates(
    client: TestClient, token: str
) -> None:
    body = "\n".join(json.dumps(e) for e in [joined(1), joined(2)])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    assert client.post("/api/v1/events", content=body, headers=headers).json()["accepted"] == 2
    assert client.post("/api/v1/events", content=body, headers=headers).json() == {
        "accepted": 0,
        "duplicates": 2,
        "rejected": [],
    }


def test_events_without_org_go_to_the_tokens_org_and_other_orgs_are_refused(
    client: TestClient, token: str
) -> None:
    no_org = joined(1)
    del no_org["org"]
    response = client.post(
        "/api/v1/events",
        json=[no_org, joined(2, org="rival")],
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [{"id": "j-2", "line": 2, "error": "org: this token may only write to demo"}],
    }


def test_a_malformed_array_is_reported_not_crashed_on(client: TestClient, token: str) -> None:
    response = client.post(
        "/api/v1/events", content=b'[{"id": ', headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json()["rejected"][0]["error"].startswith("body: malformed JSON array")


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
def test_without_a_valid_token_nothing_is_taken_in(client: TestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.post("/api/v1/events", json=[joined(1)], headers=headers)
    assert response.status_code == 401


def test_a_body_over_the_limit_is_refused(shequn: Shequn, token: str) -> None:
    shequn.settings = shequn.settings.model_copy(update={"max_body_bytes": 100})
    with TestClient(create_app(shequn, run_worker=False)) as small:
        response = small.post(
            "/api/v1/events",
            json=[joined(n) for n in range(10)],
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 413


def test_health_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/api/v1/events" in spec["paths"]
    assert (
        "application/x-ndjson" in spec["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]
    )


def test_the_outbox_lists_the_orgs_actions(client: TestClient, shequn: Shequn, token: str) -> None:
    with shequn.sessions.begin() as session:
        settings = {"welcome_text": "欢迎", "welcome_window_seconds": 1}
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=settings,
                 now=utc_now())  # fmt: skip
    just_now = (utc_now() - timedelta(seconds=30)).isoformat()
    newcomer = joined(1, at=just_now)
    client.post("/api/v1/events", json=[newcomer], headers={"Authorization": f"Bearer {token}"})
    run_due_jobs(shequn.sessions, shequn.registry, now=utc_now())
    listed = client.get("/api/v1/outbox", headers={"Authorization": f"Bearer {token}"}).json()
    assert [(a["kind"], a["payload"]["mentions"], a["status"]) for a in listed] == [
        ("send_message", ["u1"], "pending")
    ]
