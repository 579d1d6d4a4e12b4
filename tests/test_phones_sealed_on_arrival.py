"""With SHEQUN_PHONE_KEY set, a phone is sealed as it arrives: nothing stored keeps it in clear."""

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.main import app
from shequn.cli.staff import staff_app
from shequn.config import Settings
from shequn.engine.models import EventRecord
from shequn.engine.rebuild import rebuild
from shequn.kit.time import utc_now
from shequn.member.models import Member, SealedPhone
from shequn.member.phones import KEY_ENV, PhoneKeyError, new_key, phone_key, revealed_phone
from shequn.org.models import StaffAuditEntry
from shequn.web.rules import Role
from shequn.wiring import Shequn, open_shequn
from tests.conftest import event, ingest
from tests.test_dashboard import log_in, staff

PHONE = "13812345678"
NEW_PHONE = "13987654321"


def stored_text(shequn: Shequn) -> str:
    """Every member, event and sealed-phone row, as one text to search."""
    with shequn.sessions() as session:
        rows: list[Any] = [
            *session.scalars(select(Member)),
            *session.scalars(select(EventRecord)),
            *session.scalars(select(SealedPhone)),
        ]
        return repr([{attr.key: getattr(row, attr.key) for attr in row.__mapper__.column_attrs}
                     for row in rows])  # fmt: skip


def upsert(event_id: str, member: str, phone: str | None) -> dict[str, Any]:
    return event(event_id, "member.upserted", "2026-11-20T10:00:00",
                 {"member": member, "nickname": "小美", "phone": phone})  # fmt: skip


@pytest.fixture
def sealed_shop(shequn: Shequn, monkeypatch: pytest.MonkeyPatch) -> Shequn:
    monkeypatch.setenv(KEY_ENV, new_key())
    ingest(shequn, [
        event("ga", "group.upserted", "2026-11-20T09:00:00",
              {"group": "g-a", "name": "A店福利群", "store": "store-a"}),
        event("j1", "member.joined", "2026-11-20T09:30:00", {"group": "g-a", "member": "u1"}),
        upsert("m1", "u1", PHONE),
    ])  # fmt: skip
    staff(shequn, "manager-a", Role.STORE_MANAGER, "store-a")
    return shequn


@pytest.fixture
def manager(sealed_shop: Shequn) -> Iterator[tuple[TestClient, str]]:
    with TestClient(create_app(sealed_shop, run_worker=False), follow_redirects=False) as client:
        yield client, log_in(client, "manager-a")


def test_a_phone_arriving_with_a_key_is_stored_nowhere_in_clear(sealed_shop: Shequn) -> None:
    assert PHONE not in stored_text(sealed_shop)
    with sealed_shop.sessions() as session:
        member = session.get(Member, ("demo", "u1"))
        logged = session.scalar(select(EventRecord).where(EventRecord.event_id == "m1"))
        vault = session.get(SealedPhone, ("demo", "u1"))
        assert member is not None
        assert logged is not None
        assert vault is not None
        assert (member.phone, logged.data["phone"], vault.masked) == ("138****5678",) * 3


def test_a_rebuild_keeps_phones_sealed_and_revealable(
    sealed_shop: Shequn, manager: tuple[TestClient, str]
) -> None:
    with sealed_shop.sessions.begin() as session:
        rebuild(session, sealed_shop.registry, now=utc_now())
    assert PHONE not in stored_text(sealed_shop)
    client, csrf = manager
    assert "138****5678" in client.get("/dashboard/members/u1").text
    revealed = client.post("/dashboard/members/u1/reveal", data={"csrf": csrf})
    assert f"<strong>{PHONE}</strong>" in revealed.text
    with sealed_shop.sessions() as session:
        logged = session.execute(
            select(StaffAuditEntry.username, StaffAuditEntry.target)
            .where(StaffAuditEntry.action == "reveal_phone")
        ).all()  # fmt: skip
        assert [tuple(row) for row in logged] == [("manager-a", "u1")]


def test_a_new_number_reseals_and_a_null_clears_it(
    sealed_shop: Shequn, manager: tuple[TestClient, str]
) -> None:
    ingest(sealed_shop, [upsert("m2", "u1", NEW_PHONE)])
    assert NEW_PHONE not in stored_text(sealed_shop)
    client, csrf = manager
    revealed = client.post("/dashboard/members/u1/reveal", data={"csrf": csrf})
    assert f"<strong>{NEW_PHONE}</strong>" in revealed.text
    ingest(sealed_shop, [upsert("m3", "u1", None)])
    with sealed_shop.sessions() as session:
        member = session.get(Member, ("demo", "u1"))
        assert member is not None
        assert member.phone is None
    assert 'data-figure="phone">' in client.get("/dashboard/members/u1").text
    assert "/reveal" not in client.get("/dashboard/members/u1").text


def test_without_a_key_phones_stay_in_clear_and_the_page_says_so(
    shequn: Shequn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    ingest(shequn, [
        event("ga", "group.upserted", "2026-11-20T09:00:00",
              {"group": "g-a", "name": "A店福利群", "store": "store-a"}),
        event("j1", "member.joined", "2026-11-20T09:30:00", {"group": "g-a", "member": "u1"}),
        upsert("m1", "u1", PHONE),
    ])  # fmt: skip
    with shequn.sessions() as session:
        member = session.get(Member, ("demo", "u1"))
        assert member is not None
        assert member.phone == PHONE
    staff(shequn, "boss", Role.OWNER)
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as client:
        log_in(client, "boss")
        shown = client.get("/dashboard/members/u1?lang=en").text
    assert "138****5678" in shown
    assert 'data-note="phone-in-clear"' in shown


def test_sealing_afterwards_masks_the_phones_the_log_kept_in_clear(
    shequn: Shequn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    ingest(shequn, [upsert("m1", "u1", PHONE)])
    monkeypatch.setenv(KEY_ENV, new_key())
    sealed = CliRunner().invoke(staff_app, ["seal-phones", "--org", "demo", "--clear-plaintext",
                                            "--db", shequn.settings.database_url])  # fmt: skip
    assert sealed.exit_code == 0, sealed.output
    assert PHONE not in stored_text(shequn)
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert PHONE not in stored_text(shequn)


@pytest.mark.parametrize(
    ("key", "problem"),
    [("c2hvcnQ=", "must be 32 bytes, is 5"), ("not base64!", "not base64url")],
)
def test_a_bad_key_fails_at_start_with_its_reason(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, key: str, problem: str
) -> None:
    monkeypatch.setenv(KEY_ENV, key)
    shequn = open_shequn(settings)
    try:
        with pytest.raises(PhoneKeyError, match=f"{KEY_ENV}: {problem}"):
            shequn.intake(origin="test")
    finally:
        shequn.close()
    result = CliRunner().invoke(app, ["ingest", "-", "--db", settings.database_url],
                                input=json.dumps(upsert("m1", "u1", PHONE)))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == f"error: {KEY_ENV}: {problem}\n"
    assert CliRunner().invoke(app, ["staff", "phone-key"]).exit_code == 0


SAME_MASK = "13800005678"  # masked like PHONE: 138****5678


def upsert_at(event_id: str, at: str, **fields: Any) -> dict[str, Any]:
    """An upsert of u1 carrying only the fields given (a phone left out is left unchanged)."""
    data = {"member": "u1", "nickname": "小美", **fields}
    return event(event_id, "member.upserted", f"2026-11-20T{at}:00", data)


def phone_on_file(shequn: Shequn) -> tuple[str | None, str | None, str | None]:
    """The row's phone, the seal's masked form, and the number a reveal gives (None if none)."""
    with shequn.sessions() as session:
        member = session.get(Member, ("demo", "u1"))
        assert member is not None
        vault = session.get(SealedPhone, ("demo", "u1"))
        try:
            revealed = revealed_phone(session, "demo", member, key=phone_key())
        except PhoneKeyError:
            revealed = None
        return member.phone, None if vault is None else vault.masked, revealed


def test_a_late_older_upsert_with_the_only_phone_is_sealed(
    shequn: Shequn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, new_key())
    ingest(shequn, [upsert_at("a", "10:05")])
    ingest(shequn, [upsert_at("b", "10:00", phone=PHONE)])
    assert phone_on_file(shequn) == ("138****5678", "138****5678", PHONE)
    assert PHONE not in stored_text(shequn)


def on_file_live_and_rebuilt(
    shequn: Shequn, upserts: list[dict[str, Any]], order: tuple[int, ...]
) -> tuple[tuple[str | None, ...], tuple[str | None, ...]]:
    """The phone on file after delivering the upserts in `order`, then after a rebuild."""
    for index in order:
        ingest(shequn, [upserts[index]])
    live = phone_on_file(shequn)
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    return live, phone_on_file(shequn)


SAME_MASK_UPSERTS = [
    upsert_at("a", "10:00", phone=PHONE),
    upsert_at("b", "10:05", phone=SAME_MASK),
    upsert_at("c", "10:10"),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_the_seal_holds_the_newest_number_whatever_the_arrival_order(
    shequn: Shequn, monkeypatch: pytest.MonkeyPatch, order: tuple[int, ...]
) -> None:
    monkeypatch.setenv(KEY_ENV, new_key())
    newest = ("138****5678", "138****5678", SAME_MASK)
    assert on_file_live_and_rebuilt(shequn, SAME_MASK_UPSERTS, order) == (newest, newest)


NULLED_UPSERTS = [
    upsert_at("a", "10:00", phone=PHONE),
    upsert_at("b", "10:05", phone=None),
    upsert_at("c", "10:10"),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_newer_null_phone_removes_the_seal_whatever_the_arrival_order(
    shequn: Shequn, monkeypatch: pytest.MonkeyPatch, order: tuple[int, ...]
) -> None:
    monkeypatch.setenv(KEY_ENV, new_key())
    nothing = (None, None, None)
    assert on_file_live_and_rebuilt(shequn, NULLED_UPSERTS, order) == (nothing, nothing)
