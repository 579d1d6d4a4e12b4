"""API tokens carry scopes: a shop's token sends events and cannot change the org's settings."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, insert, select
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.main import app
from shequn.config import Settings
from shequn.engine.models import EventRecord
from shequn.kit.time import utc_now
from shequn.org.models import ApiToken, Org, StaffAuditEntry
from shequn.org.scopes import EVERY, Scope, ScopeError, allows, parse_scopes, shown
from shequn.org.service import create_token, hash_token, save_org
from shequn.wiring import Shequn, open_shequn
from tests.conftest import downgraded, event

runner = CliRunner()
JOINED = event("j-1", "member.joined", "2020-11-07T10:00:00", {"group": "g1", "member": "u1"})


def test_scopes_are_stored_sorted_and_all_or_none_is_every_scope() -> None:
    assert parse_scopes(["read", "events"]) == "events,read"
    assert parse_scopes(["read,events", " READ "]) == "events,read"
    assert parse_scopes([]) == EVERY
    assert parse_scopes(["*"]) == EVERY
    assert parse_scopes([scope.value for scope in Scope]) == EVERY
    assert shown("events,read") == ["events", "read"]
    assert allows(EVERY, Scope.SETTINGS)
    assert not allows("events,read", Scope.SETTINGS)


def test_an_unknown_scope_is_refused_by_name() -> None:
    with pytest.raises(ScopeError, match="scope 'write' is none of events, read, member"):
        parse_scopes(["read", "write"])


@pytest.fixture
def client(shequn: Shequn) -> Iterator[TestClient]:
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=None, now=utc_now())
    with TestClient(create_app(shequn, run_worker=False)) as test_client:
        yield test_client


def minted(shequn: Shequn, scopes: str, name: str = "shop") -> dict[str, str]:
    with shequn.sessions.begin() as session:
        token = create_token(session, "demo", name=name, now=utc_now(), scopes=scopes)
    return {"Authorization": f"Bearer {token}"}


def test_an_events_token_sends_events_but_reads_and_changes_nothing(
    client: TestClient, shequn: Shequn
) -> None:
    shop = minted(shequn, "events")
    sent = client.post("/api/v1/events", json=[JOINED], headers=shop)
    assert (sent.status_code, sent.json()["accepted"]) == (200, 1)
    read = client.get("/api/v1/outbox", headers=shop)
    assert read.status_code == 403
    assert read.json()["detail"] == (
        "token 'shop' lacks the scope 'read'; it has events "
        "(shequn token create --org demo --scope read)"
    )
    changed = client.patch("/api/v1/settings", json={"timezone": "UTC"}, headers=shop)
    assert changed.status_code == 403
    with shequn.sessions() as session:
        assert session.get(Org, "demo").timezone == "Asia/Shanghai"  # type: ignore[union-attr]


def test_a_read_token_reads_but_sends_no_events(client: TestClient, shequn: Shequn) -> None:
    viewer = minted(shequn, "read", name="bi")
    assert client.get("/api/v1/settings", headers=viewer).status_code == 200
    assert client.get("/api/v1/products", headers=viewer).status_code == 200
    refused = client.post("/api/v1/events", json=[JOINED], headers=viewer)
    assert refused.status_code == 403
    assert "lacks the scope 'events'" in refused.json()["detail"]
    redeemed = client.post("/api/v1/mall/redemptions", json={"member": "u1", "sku": "cup"},
                           headers=viewer)  # fmt: skip
    assert redeemed.status_code == 403
    assert "lacks the scope 'member'" in redeemed.json()["detail"]
    with shequn.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EventRecord)) == 0


def test_a_token_with_every_scope_reaches_every_kind_of_route(
    client: TestClient, shequn: Shequn
) -> None:
    owner = minted(shequn, EVERY, name="erp")
    assert client.post("/api/v1/events", json=[JOINED], headers=owner).status_code == 200
    assert client.get("/api/v1/outbox", headers=owner).status_code == 200
    tagged = client.post("/api/v1/members/u1/tags", json={"tags": ["vip"]}, headers=owner)
    assert tagged.status_code == 200
    changed = client.patch("/api/v1/settings", json={"timezone": "UTC"}, headers=owner)
    assert (changed.status_code, changed.json()["changed"]) == (200, ["timezone"])


def test_token_create_takes_scopes_and_refuses_an_unknown_one(shequn: Shequn) -> None:
    db = ["--db", shequn.settings.database_url]
    assert runner.invoke(app, ["org", "create", "demo", *db]).exit_code == 0
    with shequn.sessions() as session:
        before = session.scalar(select(func.count()).select_from(ApiToken))
    made = runner.invoke(app, ["token", "create", "--org", "demo", "--name", "shop", "--scope",
                               "events", "--scope", "read", *db])  # fmt: skip
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert "scopes 权限: events, read" in made.stderr
    with shequn.sessions() as session:
        stored = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        assert stored is not None
        assert stored.scopes == "events,read"
    bad = runner.invoke(app, ["token", "create", "--org", "demo", "--scope", "write", *db])
    assert bad.exit_code == 2
    assert "--scope: scope 'write' is none of" in bad.stderr
    unnamed = runner.invoke(app, ["token", "create", "--org", "demo", "--name", " ", *db])
    assert unnamed.exit_code == 2
    assert "--name: blank; give 1 to 200 characters" in unnamed.stderr
    with shequn.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == before + 1


def test_a_token_minted_before_scopes_keeps_every_scope(shequn: Shequn, settings: Settings) -> None:
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=None, now=utc_now())
    downgraded(shequn, "0023")
    engine = create_engine(settings.database_url)
    with engine.begin() as connection:
        columns = ApiToken.__table__.c
        connection.execute(insert(ApiToken.__table__).values({
            columns.org: "demo", columns.name: "old", columns.token_hash: hash_token("old-token"),
            columns.created_at: datetime(2026, 1, 1, tzinfo=UTC),
        }))  # fmt: skip
    engine.dispose()
    reopened = open_shequn(settings)
    try:
        with reopened.sessions() as session:
            found = session.scalar(select(ApiToken).where(ApiToken.name == "old"))
            assert found is not None
            assert found.scopes == EVERY
    finally:
        reopened.close()


def test_tokens_are_listed_with_their_scopes_and_a_revoked_one_stops_working(
    client: TestClient, shequn: Shequn
) -> None:
    db = ["--db", shequn.settings.database_url]
    shop = minted(shequn, "events", name="shop")
    minted(shequn, EVERY, name="erp")
    listed = runner.invoke(app, ["token", "list", "--org", "demo", "--json", *db])
    assert listed.exit_code == 0, listed.output
    tokens = json.loads(listed.stdout)
    assert [(t["name"], t["scopes"]) for t in tokens] == [
        ("shop", ["events"]), ("erp", ["events", "read", "member", "operate", "settings"])]  # fmt: skip
    assert client.post("/api/v1/events", json=[JOINED], headers=shop).status_code == 200
    revoked = runner.invoke(app, ["token", "revoke", str(tokens[0]["id"]), "--org", "demo", *db])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked 已吊销" in revoked.stdout
    gone = client.post("/api/v1/events", json=[JOINED], headers=shop)
    assert (gone.status_code, gone.json()["detail"]) == (401, "unknown token")
    with shequn.sessions() as session:
        logged = session.scalars(select(StaffAuditEntry.action)).all()
    assert logged == ["token_revoked"]
    again = runner.invoke(app, ["token", "revoke", str(tokens[0]["id"]), "--org", "demo", *db])
    assert again.exit_code == 1
    assert f"org 'demo' has no token {tokens[0]['id']}" in again.stderr


def test_a_token_is_revoked_only_through_its_own_org(client: TestClient, shequn: Shequn) -> None:
    db = ["--db", shequn.settings.database_url]
    with shequn.sessions.begin() as session:
        save_org(session, "other", name=None, timezone="UTC", settings=None, now=utc_now())
    shop = minted(shequn, "events")
    with shequn.sessions() as session:
        token_id = session.scalar(select(ApiToken.id))
    refused = runner.invoke(app, ["token", "revoke", str(token_id), "--org", "other", *db])
    assert refused.exit_code == 1
    assert client.post("/api/v1/events", json=[JOINED], headers=shop).status_code == 200
