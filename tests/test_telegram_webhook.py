"""The Telegram webhook: only Telegram, holding the secret token, gets updates handled."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shequn.connectors.telegram.webhook import SECRET_HEADER, telegram_router

SECRET = "s3cr3t_Token-for-tests"  # noqa: S105 - a made-up value the tests look for
UPDATE = {
    "update_id": 880020,
    "message": {
        "message_id": 4120,
        "from": {"id": 5012345678, "is_bot": False, "first_name": "Lina"},
        "chat": {"id": -1001987654321, "title": "Spring picks · VIP", "type": "supergroup"},
        "date": 1730982665,
        "text": "早上好",
    },
}


class Handled:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def __call__(self, update: dict[str, Any]) -> None:
        self.updates.append(update)


@pytest.fixture
def handled() -> Handled:
    return Handled()


@pytest.fixture
def client(handled: Handled) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(telegram_router(SECRET, handled))
    with TestClient(app) as test_client:
        yield test_client


def test_an_update_with_the_secret_is_handled_once(client: TestClient, handled: Handled) -> None:
    response = client.post("/telegram/webhook", json=UPDATE, headers={SECRET_HEADER: SECRET})

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert handled.updates == [UPDATE]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SECRET_HEADER: ""},
        {SECRET_HEADER: SECRET + "x"},
        {SECRET_HEADER: SECRET[:-1]},
        {SECRET_HEADER: "s3cr3t_token-for-tests"},
    ],
)
def test_a_wrong_or_missing_secret_is_401_and_nothing_is_handled(
    client: TestClient, handled: Handled, headers: dict[str, str]
) -> None:
    response = client.post("/telegram/webhook", json=UPDATE, headers=headers)

    assert response.status_code == 401
    assert handled.updates == []


def test_a_non_ascii_secret_header_is_401_not_an_error(
    client: TestClient, handled: Handled
) -> None:
    response = client.post(
        "/telegram/webhook",
        json=UPDATE,
        headers=[(SECRET_HEADER.encode(), "sécret".encode("latin-1"))],
    )

    assert response.status_code == 401
    assert handled.updates == []


def test_the_secret_is_checked_before_the_body_is_read(
    client: TestClient, handled: Handled
) -> None:
    response = client.post("/telegram/webhook", content=b"not json")

    assert response.status_code == 401
    assert handled.updates == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"update"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_400(
    client: TestClient, handled: Handled, body: bytes
) -> None:
    response = client.post("/telegram/webhook", content=body, headers={SECRET_HEADER: SECRET})

    assert response.status_code == 400
    assert handled.updates == []


@pytest.mark.parametrize("secret", ["", "has space", "x" * 257, "sécret"])
def test_a_secret_telegram_would_not_accept_is_refused_up_front(secret: str) -> None:
    with pytest.raises(ValueError, match="secret_token"):
        telegram_router(secret, Handled())
