"""The signed webhook: Standard Webhooks signatures, POST /webhooks/{org}/events, its secrets."""

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.webhook import webhook_app
from shequn.config import Settings
from shequn.connectors.webhook.signing import (
    BadTimestamp,
    BadWebhookId,
    Delivery,
    MalformedSecret,
    MissingHeader,
    NoMatchingSignature,
    TimestampInFuture,
    TimestampTooOld,
    generate_secret,
    sign,
    verify,
)
from shequn.engine.models import EventRecord, IntakeBatch
from shequn.kit.time import utc_now
from shequn.org.models import Org
from shequn.org.service import save_org
from shequn.wiring import Shequn, open_shequn
from tests.conftest import event

# The test vector of the Standard Webhooks reference library (Python), test_sign_function in
# https://github.com/standard-webhooks/standard-webhooks/blob/main/libraries/python/tests/test_webhooks.py
REFERENCE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - a published test key
REFERENCE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
REFERENCE_TIMESTAMP = 1614265330
REFERENCE_BODY = b'{"test": 2432232314}'
REFERENCE_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OLD_SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()
NEW_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
NOW = datetime(2026, 11, 7, 12, 30, tzinfo=UTC)
BODY = b'[{"id": "o-1"}]'

runner = CliRunner()


def headers_for(
    secrets: list[str], *, msg_id: str = "msg_1", sent_at: datetime = NOW, body: bytes = BODY
) -> dict[str, str]:
    """The headers a sender signing with these secrets puts on a delivery."""
    timestamp = int(sent_at.timestamp())
    signatures = [sign(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def test_the_reference_librarys_test_vector_is_reproduced() -> None:
    signature = sign(
        REFERENCE_SECRET, msg_id=REFERENCE_ID, timestamp=REFERENCE_TIMESTAMP, body=REFERENCE_BODY
    )
    assert signature == REFERENCE_SIGNATURE


def test_a_signature_is_hmac_sha256_of_id_timestamp_and_body_joined_by_dots() -> None:
    key = bytes(range(24))
    by_hand = hmac.new(key, b"msg_1.1794054600." + BODY, hashlib.sha256).digest()
    assert sign(OLD_SECRET, msg_id="msg_1", timestamp=1794054600, body=BODY) == (
        "v1," + base64.b64encode(by_hand).decode()
    )


def test_a_delivery_signed_with_the_secret_is_verified() -> None:
    delivery = verify([OLD_SECRET], headers=headers_for([OLD_SECRET]), body=BODY, now=NOW)
    assert delivery == Delivery(msg_id="msg_1", sent_at=NOW)


def test_the_reference_delivery_verifies_at_its_own_time() -> None:
    headers = {
        "webhook-id": REFERENCE_ID,
        "webhook-timestamp": str(REFERENCE_TIMESTAMP),
        "webhook-signature": REFERENCE_SIGNATURE,
    }
    sent_at = datetime.fromtimestamp(REFERENCE_TIMESTAMP, tz=UTC)
    delivery = verify([REFERENCE_SECRET], headers=headers, body=REFERENCE_BODY, now=sent_at)
    assert delivery.sent_at == sent_at


def test_header_names_are_case_insensitive() -> None:
    headers = {name.title(): value for name, value in headers_for([OLD_SECRET]).items()}
    assert verify([OLD_SECRET], headers=headers, body=BODY, now=NOW).msg_id == "msg_1"


@pytest.mark.parametrize("signed_with", [[OLD_SECRET], [NEW_SECRET], [OLD_SECRET, NEW_SECRET]])
def test_during_a_rotation_the_old_and_the_new_secret_are_both_accepted(
    signed_with: list[str],
) -> None:
    headers = headers_for(signed_with)
    assert verify([OLD_SECRET, NEW_SECRET], headers=headers, body=BODY, now=NOW).msg_id == "msg_1"


def test_after_a_rotation_the_revoked_secret_is_refused() -> None:
    with pytest.raises(NoMatchingSignature, match="no v1 signature matches"):
        verify([NEW_SECRET], headers=headers_for([OLD_SECRET]), body=BODY, now=NOW)


def test_a_tampered_body_is_refused() -> None:
    tampered = BODY.replace(b"o-1", b"o-2")
    with pytest.raises(NoMatchingSignature):
        verify([OLD_SECRET], headers=headers_for([OLD_SECRET]), body=tampered, now=NOW)


def test_a_signature_for_another_id_is_refused() -> None:
    headers = {**headers_for([OLD_SECRET]), "webhook-id": "msg_2"}
    with pytest.raises(NoMatchingSignature):
        verify([OLD_SECRET], headers=headers, body=BODY, now=NOW)


def test_unknown_versions_and_unreadable_entries_are_skipped_not_refused() -> None:
    valid = headers_for([OLD_SECRET])["webhook-signature"]
    foreign = valid.replace("v1,", "v1a,")
    headers = {**headers_for([OLD_SECRET]), "webhook-signature": f"{foreign} v1,!!! junk {valid}"}
    assert verify([OLD_SECRET], headers=headers, body=BODY, now=NOW).msg_id == "msg_1"


def test_a_valid_signature_under_another_version_is_not_accepted() -> None:
    foreign = headers_for([OLD_SECRET])["webhook-signature"].replace("v1,", "v2,")
    headers = {**headers_for([OLD_SECRET]), "webhook-signature": foreign}
    with pytest.raises(NoMatchingSignature, match="no entry of the form v1,<base64>"):
        verify([OLD_SECRET], headers=headers, body=BODY, now=NOW)


def test_five_minutes_either_way_is_accepted() -> None:
    for drift in (timedelta(minutes=-5), timedelta(minutes=5)):
        headers = headers_for([OLD_SECRET], sent_at=NOW + drift)
        assert verify([OLD_SECRET], headers=headers, body=BODY, now=NOW).sent_at == NOW + drift


def test_a_timestamp_older_than_the_tolerance_is_refused() -> None:
    headers = headers_for([OLD_SECRET], sent_at=NOW - timedelta(minutes=5, seconds=1))
    with pytest.raises(TimestampTooOld, match="is 301 s old; at most 300 s is accepted"):
        verify([OLD_SECRET], headers=headers, body=BODY, now=NOW)


def test_a_timestamp_in_the_future_is_refused() -> None:
    headers = headers_for([OLD_SECRET], sent_at=NOW + timedelta(minutes=5, seconds=1))
    with pytest.raises(TimestampInFuture, match="is 301 s in the future"):
        verify([OLD_SECRET], headers=headers, body=BODY, now=NOW)


def test_the_tolerance_is_an_argument() -> None:
    headers = headers_for([OLD_SECRET], sent_at=NOW - timedelta(minutes=2))
    with pytest.raises(TimestampTooOld):
        verify([OLD_SECRET], headers=headers, body=BODY, now=NOW, tolerance=timedelta(minutes=1))


@pytest.mark.parametrize("timestamp", ["hello", "1794054600.5", "-1", "0x6AE8", "1e9"])
def test_a_timestamp_that_is_not_integer_unix_seconds_is_refused(timestamp: str) -> None:
    headers = {**headers_for([OLD_SECRET]), "webhook-timestamp": timestamp}
    with pytest.raises(BadTimestamp, match="is not integer Unix seconds"):
        verify([OLD_SECRET], headers=headers, body=BODY, now=NOW)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused_by_name(header: str) -> None:
    headers = headers_for([OLD_SECRET])
    del headers[header]
    with pytest.raises(MissingHeader, match=f"^missing header {header}$"):
        verify([OLD_SECRET], headers=headers, body=BODY, now=NOW)


def test_an_id_with_a_dot_is_refused_as_the_spec_asks() -> None:
    headers = headers_for([OLD_SECRET], msg_id="msg.1")
    with pytest.raises(BadWebhookId, match=re.escape("must not contain '.'")):
        verify([OLD_SECRET], headers=headers, body=BODY, now=NOW)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "does not start with whsec_"),
        ("whsec_not base64!", "is not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "holds 5 bytes; 24 to 64 are required"),
    ],
)
def test_a_malformed_secret_is_named_without_being_shown(secret: str, reason: str) -> None:
    with pytest.raises(MalformedSecret, match=reason) as raised:
        verify([secret], headers=headers_for([OLD_SECRET]), body=BODY, now=NOW)
    assert secret not in str(raised.value)


def test_a_secret_without_base64_padding_is_read() -> None:
    padded = "whsec_" + base64.b64encode(bytes(range(25))).decode()
    assert padded.endswith("=")
    headers = headers_for([padded])
    assert verify([padded.rstrip("=")], headers=headers, body=BODY, now=NOW).msg_id == "msg_1"


def test_generated_secrets_are_24_fresh_random_bytes_that_sign_and_verify() -> None:
    first, second = generate_secret(), generate_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 24
    assert verify([first], headers=headers_for([first]), body=BODY, now=NOW).msg_id == "msg_1"


# Over HTTP


def order_paid(order: str, **envelope: object) -> dict[str, Any]:
    raw = event(
        order,
        "order.paid",
        "2026-11-11T20:31:00",
        {
            "order": order,
            "member": "u42",
            "group": "new-3",
            "items": [{"sku": "dress-1", "qty": 1, "unit_price": "600.00"}],
            "amount": "600.00",
        },
        source="shop",
    )
    raw.update(envelope)
    return raw


def signed(
    secrets: list[str], body: bytes, *, msg_id: str = "msg_1", ago: int = 0
) -> dict[str, str]:
    """Headers signed now (or `ago` seconds back), as a shop's sender would put them."""
    sent_at = datetime.fromtimestamp(int(time.time()) - ago, UTC)
    return headers_for(secrets, msg_id=msg_id, sent_at=sent_at, body=body)


@pytest.fixture
def client(shequn: Shequn) -> Iterator[TestClient]:
    with TestClient(create_app(shequn, run_worker=False)) as test_client:
        yield test_client


def set_org(shequn: Shequn, org: str, settings: dict[str, Any]) -> None:
    with shequn.sessions.begin() as session:
        save_org(
            session, org, name=None, timezone="Asia/Shanghai", settings=settings, now=utc_now()
        )


@pytest.fixture
def shop(shequn: Shequn) -> str:
    set_org(shequn, "demo", {"webhook_secrets": [OLD_SECRET, NEW_SECRET]})
    return "demo"


def logged(shequn: Shequn) -> list[tuple[str, str, str, str]]:
    with shequn.sessions() as session:
        rows = session.execute(
            select(EventRecord.org, EventRecord.source, EventRecord.event_id, EventRecord.type)
        )
        return sorted((org, source, id_, kind) for org, source, id_, kind in rows)


def batches(shequn: Shequn) -> int:
    with shequn.sessions() as session:
        return session.scalar(select(func.count()).select_from(IntakeBatch)) or 0


def test_a_signed_order_is_taken_in_and_appears_in_the_log(
    client: TestClient, shequn: Shequn, shop: str
) -> None:
    body = json.dumps([order_paid("o-1")]).encode()
    response = client.post(
        "/webhooks/demo/events", content=body, headers=signed([NEW_SECRET], body)
    )
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert logged(shequn) == [("demo", "shop", "o-1", "order.paid")]
    with shequn.sessions() as session:
        assert session.scalars(select(IntakeBatch.origin)).all() == ["webhook"]


def test_json_lines_signed_with_the_old_secret_are_taken_in_during_a_rotation(
    client: TestClient, shequn: Shequn, shop: str
) -> None:
    body = "\n".join(json.dumps(order_paid(f"o-{n}")) for n in (1, 2)).encode()
    headers = {**signed([OLD_SECRET], body), "Content-Type": "application/x-ndjson"}
    response = client.post("/webhooks/demo/events", content=body, headers=headers)
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}


def test_a_replayed_delivery_is_answered_with_duplicates_and_writes_nothing(
    client: TestClient, shequn: Shequn, shop: str
) -> None:
    body = json.dumps([order_paid("o-1"), order_paid("o-2")]).encode()
    headers = signed([NEW_SECRET], body)
    client.post("/webhooks/demo/events", content=body, headers=headers)
    replay = client.post("/webhooks/demo/events", content=body, headers=headers)
    assert replay.status_code == 200
    assert replay.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert len(logged(shequn)) == 2
    assert batches(shequn) == 1


def test_a_replay_to_another_worker_or_after_a_restart_writes_nothing_either(
    client: TestClient, shequn: Shequn, settings: Settings, shop: str
) -> None:
    # The log's unique (org, source, id) is in the store every worker shares, so the webhook
    # needs no webhook-id cache of its own to hold across workers and restarts.
    body = json.dumps([order_paid("o-1")]).encode()
    headers = signed([NEW_SECRET], body)
    client.post("/webhooks/demo/events", content=body, headers=headers)
    for _worker_or_restart in range(2):
        other = open_shequn(settings)
        with TestClient(create_app(other, run_worker=False)) as second:
            replay = second.post("/webhooks/demo/events", content=body, headers=headers)
        other.close()
        assert replay.json() == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert (logged(shequn), batches(shequn)) == ([("demo", "shop", "o-1", "order.paid")], 1)


def test_a_senders_retry_under_a_fresh_timestamp_is_also_a_duplicate(
    client: TestClient, shop: str
) -> None:
    body = json.dumps([order_paid("o-1")]).encode()
    client.post("/webhooks/demo/events", content=body, headers=signed([NEW_SECRET], body, ago=60))
    retry = client.post("/webhooks/demo/events", content=body, headers=signed([NEW_SECRET], body))
    assert retry.json() == {"accepted": 0, "duplicates": 1, "rejected": []}


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("body", "webhook-signature: no v1 signature matches the secret"),
        ("secret", "webhook-signature: no v1 signature matches the secret"),
        ("stale", "s old; at most 300 s is accepted"),
        ("unsigned", "missing header webhook-signature"),
    ],
)
def test_a_delivery_whose_signature_fails_gets_401_with_the_reason_and_writes_nothing(
    client: TestClient, shequn: Shequn, shop: str, tamper: str, reason: str
) -> None:
    body = json.dumps([order_paid("o-1")]).encode()
    headers = signed([NEW_SECRET], body, ago=600 if tamper == "stale" else 0)
    if tamper == "body":
        body = body.replace(b"600.00", b"0.01")
    if tamper == "secret":
        headers = signed([generate_secret()], body)
    if tamper == "unsigned":
        del headers["webhook-signature"]
    response = client.post("/webhooks/demo/events", content=body, headers=headers)
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert logged(shequn) == []
    assert batches(shequn) == 0


@pytest.mark.parametrize("org", ["demo", "nobody"])
def test_an_org_without_secrets_has_no_webhook_and_takes_nothing_unsigned(
    client: TestClient, shequn: Shequn, org: str
) -> None:
    set_org(shequn, "demo", {"welcome_text": "欢迎"})
    body = json.dumps([order_paid("o-1")]).encode()
    response = client.post(f"/webhooks/{org}/events", content=body)
    assert response.status_code == 404
    assert response.json() == {"detail": "no webhook for this org"}
    assert logged(shequn) == []


def test_another_orgs_secret_does_not_open_this_orgs_webhook(
    client: TestClient, shequn: Shequn, shop: str
) -> None:
    rival_secret = generate_secret()
    set_org(shequn, "rival", {"webhook_secrets": [rival_secret]})
    body = json.dumps([order_paid("o-1", org="rival")]).encode()
    response = client.post(
        "/webhooks/demo/events", content=body, headers=signed([rival_secret], body)
    )
    assert response.status_code == 401
    assert logged(shequn) == []


def test_events_without_org_go_to_the_webhooks_org_and_other_orgs_are_refused(
    client: TestClient, shequn: Shequn, shop: str
) -> None:
    no_org = order_paid("o-1")
    del no_org["org"]
    body = json.dumps([no_org, order_paid("o-2", org="rival")]).encode()
    response = client.post(
        "/webhooks/demo/events", content=body, headers=signed([NEW_SECRET], body)
    )
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [{"id": "o-2", "line": 2, "error": "org: this token may only write to demo"}],
    }
    assert logged(shequn) == [("demo", "shop", "o-1", "order.paid")]


def test_a_body_over_the_limit_gets_413(shequn: Shequn, shop: str) -> None:
    shequn.settings = shequn.settings.model_copy(update={"max_body_bytes": 100})
    body = json.dumps([order_paid("o-1")]).encode()
    with TestClient(create_app(shequn, run_worker=False)) as small:
        response = small.post(
            "/webhooks/demo/events", content=body, headers=signed([NEW_SECRET], body)
        )
    assert response.status_code == 413
    assert logged(shequn) == []


def test_a_malformed_stored_secret_is_the_operators_to_fix_and_not_shown(
    client: TestClient, shequn: Shequn
) -> None:
    set_org(shequn, "demo", {"webhook_secrets": ["whsec_tooshort", NEW_SECRET]})
    body = json.dumps([order_paid("o-1")]).encode()
    response = client.post(
        "/webhooks/demo/events", content=body, headers=signed([NEW_SECRET], body)
    )
    assert response.status_code == 500
    assert response.json() == {
        "detail": "this org's webhook secrets are misconfigured: "
        "see shequn webhook secret list --org demo"
    }
    assert logged(shequn) == []


def test_the_webhook_is_in_the_openapi_document(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert (
        "application/x-ndjson"
        in (spec["paths"]["/webhooks/{org}/events"]["post"]["requestBody"]["content"])
    )


# From the command line


def secrets_of(shequn: Shequn, org: str) -> list[str]:
    with shequn.sessions() as session:
        record = session.get(Org, org)
        assert record is not None
        return list(record.settings.get("webhook_secrets", []))


def invoke(shequn: Shequn, *args: str) -> Any:
    return runner.invoke(webhook_app, ["secret", *args, "--db", shequn.settings.database_url])


def test_secret_create_prints_a_new_secret_once_and_keeps_the_other_settings(
    shequn: Shequn,
) -> None:
    set_org(shequn, "demo", {"welcome_text": "欢迎 {nickname}", "capacity_margin": 5})
    first = invoke(shequn, "create", "--org", "demo")
    second = invoke(shequn, "create", "--org", "demo")
    assert first.exit_code == 0, first.output
    created = [first.stdout.strip(), second.stdout.strip()]
    assert all(secret.startswith("whsec_") for secret in created)
    assert "/webhooks/demo/events" in first.stderr
    assert secrets_of(shequn, "demo") == created
    with shequn.sessions() as session:
        record = session.get(Org, "demo")
        assert record is not None
        assert record.settings["welcome_text"] == "欢迎 {nickname}"
        assert record.settings["capacity_margin"] == 5


def test_a_secret_created_on_the_command_line_signs_deliveries_the_webhook_takes(
    client: TestClient, shequn: Shequn
) -> None:
    set_org(shequn, "demo", {})
    secret = invoke(shequn, "create", "--org", "demo").stdout.strip()
    body = json.dumps([order_paid("o-1")]).encode()
    response = client.post("/webhooks/demo/events", content=body, headers=signed([secret], body))
    assert response.json()["accepted"] == 1


def test_secret_create_for_an_unknown_org_fails_by_name(shequn: Shequn) -> None:
    result = invoke(shequn, "create", "--org", "nobody")
    assert result.exit_code == 1
    assert "org 'nobody' does not exist" in result.stderr
    assert result.stdout == ""


def test_secret_list_shows_only_the_first_ten_characters(shequn: Shequn) -> None:
    set_org(shequn, "demo", {"webhook_secrets": [OLD_SECRET, NEW_SECRET]})
    result = invoke(shequn, "list", "--org", "demo")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [OLD_SECRET[:10] + "…", NEW_SECRET[:10] + "…"]


def test_secret_list_of_an_org_without_secrets_says_its_webhook_is_off(shequn: Shequn) -> None:
    set_org(shequn, "demo", {})
    result = invoke(shequn, "list", "--org", "demo")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "org demo has no webhook secret: its webhook answers 404" in result.stderr


def test_secret_revoke_removes_the_secret_its_prefix_names_and_keeps_the_rest(
    shequn: Shequn,
) -> None:
    set_org(shequn, "demo", {"webhook_secrets": [OLD_SECRET, NEW_SECRET], "welcome_text": "欢迎"})
    result = invoke(shequn, "revoke", "--org", "demo", OLD_SECRET[:10] + "…")
    assert result.exit_code == 0, result.output
    assert f"revoked 已吊销 {OLD_SECRET[:10]}… · 1 left" in result.stdout
    assert secrets_of(shequn, "demo") == [NEW_SECRET]
    with shequn.sessions() as session:
        record = session.get(Org, "demo")
        assert record is not None
        assert record.settings["welcome_text"] == "欢迎"


def test_revoking_the_last_secret_turns_the_webhook_off(client: TestClient, shequn: Shequn) -> None:
    set_org(shequn, "demo", {"webhook_secrets": [NEW_SECRET]})
    result = invoke(shequn, "revoke", "--org", "demo", NEW_SECRET[:12])
    assert "its webhook answers 404 until one is created" in result.stdout
    body = json.dumps([order_paid("o-1")]).encode()
    response = client.post(
        "/webhooks/demo/events", content=body, headers=signed([NEW_SECRET], body)
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("whsec_", "prefix 'whsec_' is ambiguous: 2 secrets start with it"),
        ("whsec_nope", "no webhook secret of org demo starts with 'whsec_nope'"),
        ("", "PREFIX is empty"),
    ],
)
def test_secret_revoke_refuses_an_ambiguous_or_unknown_prefix(
    shequn: Shequn, prefix: str, message: str
) -> None:
    set_org(shequn, "demo", {"webhook_secrets": [OLD_SECRET, NEW_SECRET]})
    result = invoke(shequn, "revoke", "--org", "demo", prefix)
    assert result.exit_code == 1
    assert message in result.stderr
    assert OLD_SECRET not in result.stderr
    assert secrets_of(shequn, "demo") == [OLD_SECRET, NEW_SECRET]
