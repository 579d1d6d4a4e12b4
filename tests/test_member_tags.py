"""Member tags: which are valid, and adding/removing them from the CLI, the API and the member
page, each change in the staff log under who made it."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Result, inspect, select
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.orm import ORMExecuteState
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.main import app
from shequn.kit.time import utc_now
from shequn.member.models import MemberTag
from shequn.member.rules import TagChange, TagError, change_tags, valid_tag
from shequn.member.service import tag_member
from shequn.org.models import StaffAuditEntry
from shequn.org.service import create_token
from shequn.web.rules import Role
from shequn.wiring import Shequn
from tests.conftest import event, ingest
from tests.test_dashboard import log_in, staff


@pytest.mark.parametrize(
    ("given", "stored"),
    [("VIP", "VIP"), ("团长", "团长"), ("  宝妈·二胎 ", "宝妈·二胎"), ("K.O.L", "K.O.L"),
     ("老客　复购", "老客 复购"), ("x" * 32, "x" * 32)],
)  # fmt: skip
def test_a_valid_tag_is_stored_trimmed_with_one_space_between_words(
    given: str, stored: str
) -> None:
    assert valid_tag(given) == stored


@pytest.mark.parametrize(
    ("given", "problem"),
    [("", "tag: empty"), ("   ", "tag: empty"),
     ("x" * 33, "33 characters, at most 32"),
     ("VIP\n", "control character U+000A"), ("V\x00IP", "control character U+0000"),
     ("a\u200bb", "control character U+200B"),
     ("<b>", "LESS-THAN SIGN is not allowed"), ("a,b", "COMMA is not allowed")],
)  # fmt: skip
def test_an_invalid_tag_is_refused_naming_why(given: str, problem: str) -> None:
    with pytest.raises(TagError, match=re.escape(problem)):
        valid_tag(given)


def test_a_change_keeps_only_what_really_changes() -> None:
    assert change_tags(["VIP", "团长"], add=["VIP", "宝妈", "宝妈"], remove=["团长", "新客"]) == (
        TagChange(added=("宝妈",), removed=("团长",))
    )
    assert change_tags(["VIP"], add=[" VIP "], remove=[]).is_empty
    with pytest.raises(TagError, match="'VIP': both added and removed"):
        change_tags([], add=["VIP"], remove=["VIP"])
    with pytest.raises(TagError, match="at most 50"):
        change_tags([f"t{n}" for n in range(50)], add=["one more"], remove=[])


@pytest.fixture
def shop(shequn: Shequn) -> Shequn:
    ingest(shequn, [
        event("ga", "group.upserted", "2026-11-20T09:00:00",
              {"group": "g-a", "name": "A店福利群", "store": "store-a"}),
        event("gb", "group.upserted", "2026-11-20T09:00:00",
              {"group": "g-b", "name": "B店福利群", "store": "store-b"}),
        event("j1", "member.joined", "2026-11-20T09:30:00", {"group": "g-a", "member": "u1"}),
        event("m1", "member.upserted", "2026-11-20T09:31:00", {"member": "u1", "nickname": "小美"}),
        event("j2", "member.joined", "2026-11-20T09:30:00", {"group": "g-a", "member": "u2"}),
        event("m2", "member.upserted", "2026-11-20T09:31:00", {"member": "u2", "nickname": "小丽"}),
        event("j3", "member.joined", "2026-11-20T09:30:00", {"group": "g-b", "member": "ub"}),
    ])  # fmt: skip
    return shequn


def tag_log(shequn: Shequn) -> list[tuple[str, str | None, dict[str, object]]]:
    with shequn.sessions() as session:
        rows = session.execute(
            select(StaffAuditEntry.username, StaffAuditEntry.target, StaffAuditEntry.detail)
            .where(StaffAuditEntry.action == "member_tagged").order_by(StaffAuditEntry.id)
        ).all()  # fmt: skip
    return [tuple(row) for row in rows]


def cli(shop: Shequn, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--org", "demo", "--db", shop.settings.database_url])
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_adds_and_removes_tags_and_logs_who(
    shop: Shequn, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(shop, "member", "tag", "u1", "--add", "VIP", "--add", "团长", "--by", "小李") == (
        0, "u1: VIP, 团长\n", "",
    )  # fmt: skip
    monkeypatch.setenv("LOGNAME", "ops-laptop")
    assert cli(shop, "member", "tag", "u1", "--remove", "VIP", "--json")[1] == (
        '{"member": "u1", "tags": ["团长"]}\n'
    )
    assert cli(shop, "member", "tags", "u1") == (0, "u1: 团长\n", "")
    rebuilt = CliRunner().invoke(app, ["rebuild", "--db", shop.settings.database_url])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert cli(shop, "member", "tags", "u1", "--json")[1] == '{"member": "u1", "tags": ["团长"]}\n'
    assert tag_log(shop) == [
        ("小李", "u1", {"added": ["VIP", "团长"], "removed": []}),
        ("ops-laptop", "u1", {"added": [], "removed": ["VIP"]}),
    ]


def test_the_cli_refuses_a_bad_tag_or_an_unknown_member_and_changes_nothing(shop: Shequn) -> None:
    code, _, problem = cli(shop, "member", "tag", "u1", "--add", "VIP", "--add", "a\tb")
    assert (code, problem) == (1, "error: tag 'a\\tb': control character U+0009 is not allowed\n")
    code, _, problem = cli(shop, "member", "tag", "nobody", "--add", "VIP")
    assert (code, problem) == (1, "error: member 'nobody': not found in org 'demo'\n")
    with shop.sessions() as session:
        assert session.scalars(select(MemberTag)).all() == []
    assert tag_log(shop) == []


def test_the_cli_refuses_to_list_the_tags_of_an_unknown_member(shop: Shequn) -> None:
    assert cli(shop, "member", "tags", "nobody") == (
        1, "", "error: member 'nobody': not found in org 'demo'\n",
    )  # fmt: skip


def test_the_cli_refuses_a_by_longer_than_the_staff_log_holds(shop: Shequn) -> None:
    code, _, problem = cli(shop, "member", "tag", "u1", "--add", "VIP", "--by", "x" * 101)
    assert (code, problem) == (1, "error: --by: 101 characters, at most 100\n")
    assert cli(shop, "member", "tag", "u1", "--add", "VIP", "--by", "x" * 100)[0] == 0
    with shop.sessions() as session:
        assert session.scalars(select(MemberTag.added_by)).all() == ["x" * 100]


def test_tags_are_listed_in_code_point_order_on_every_database(shop: Shequn) -> None:
    added = cli(shop, "member", "tag", "u1", "--add", "vip", "--add", "团长", "--add", "VIP",
                "--add", "b2", "--add", "B1", "--json")  # fmt: skip
    assert added[1] == '{"member": "u1", "tags": ["B1", "VIP", "b2", "vip", "团长"]}\n'


def test_two_staff_adding_the_same_tag_at_once_both_succeed(shop: Shequn) -> None:
    with shop.sessions.begin() as late:

        @sqlalchemy_event.listens_for(late, "do_orm_execute")
        def first_commits_meanwhile(state: ORMExecuteState) -> Result[Any] | None:
            # The other staff's change commits after this one read the tags, before it writes.
            if not state.is_select or inspect(MemberTag) not in state.all_mappers:
                return None
            read = state.invoke_statement().freeze()
            sqlalchemy_event.remove(late, "do_orm_execute", first_commits_meanwhile)
            with shop.sessions.begin() as first:
                tag_member(first, "demo", "u1", add=["VIP"], by="小李", now=utc_now())
            return read()

        tag_member(late, "demo", "u1", add=["VIP"], by="小王", now=utc_now())
    with shop.sessions() as session:
        rows = session.execute(select(MemberTag.tag, MemberTag.added_by)).all()
    assert [tuple(row) for row in rows] == [("VIP", "小李")]
    assert [who for who, _, _ in tag_log(shop)] == ["小李", "小王"]


@pytest.fixture
def api(shop: Shequn) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with shop.sessions.begin() as session:
        token = create_token(session, "demo", name="crm", now=utc_now())
    with TestClient(create_app(shop, run_worker=False)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def test_the_api_reads_adds_and_removes_tags_under_the_tokens_name(
    shop: Shequn, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, auth = api
    added = client.post("/api/v1/members/u1/tags", json={"tags": ["VIP", "宝妈"]}, headers=auth)
    assert (added.status_code, added.json()) == (200, {"member": "u1", "tags": ["VIP", "宝妈"]})
    removed = client.delete("/api/v1/members/u1/tags?tag=VIP", headers=auth)
    assert removed.json() == {"member": "u1", "tags": ["宝妈"]}
    assert client.get("/api/v1/members/u1/tags", headers=auth).json() == {
        "member": "u1", "tags": ["宝妈"],
    }  # fmt: skip
    assert tag_log(shop) == [
        ("api:crm", "u1", {"added": ["VIP", "宝妈"], "removed": []}),
        ("api:crm", "u1", {"added": [], "removed": ["VIP"]}),
    ]


def test_the_api_refuses_bad_tags_unknown_members_and_missing_tokens(
    shop: Shequn, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, auth = api
    bad = client.post("/api/v1/members/u1/tags", json={"tags": ["VIP", "x" * 40]}, headers=auth)
    assert (bad.status_code, bad.json()["detail"]) == (
        422, f"tag {'x' * 40!r}: 40 characters, at most 32",
    )  # fmt: skip
    assert client.get("/api/v1/members/nobody/tags", headers=auth).status_code == 404
    assert client.post("/api/v1/members/u1/tags", json={"tags": ["VIP"]}).status_code == 401
    assert client.get("/api/v1/members/u1/tags", headers=auth).json()["tags"] == []


def test_the_api_logs_a_long_token_name_cut_to_what_the_staff_log_holds(
    shop: Shequn, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, _ = api
    with shop.sessions.begin() as session:
        token = create_token(session, "demo", name="n" * 200, now=utc_now())
    added = client.post("/api/v1/members/u1/tags", json={"tags": ["VIP"]},
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert added.status_code == 200
    assert [who for who, _, _ in tag_log(shop)] == ["api:" + "n" * 96]
    with shop.sessions() as session:
        assert session.scalars(select(MemberTag.added_by)).all() == ["api:" + "n" * 96]


@pytest.fixture
def dashboard(shop: Shequn) -> Iterator[TestClient]:
    staff(shop, "manager-a", Role.STORE_MANAGER, "store-a")
    staff(shop, "analyst", Role.ANALYST)
    with TestClient(create_app(shop, run_worker=False), follow_redirects=False) as client:
        yield client


def test_staff_tag_a_member_from_the_page_and_find_members_by_tag(
    shop: Shequn, dashboard: TestClient
) -> None:
    csrf = log_in(dashboard, "manager-a")
    added = dashboard.post("/dashboard/members/u1/tags", data={"csrf": csrf, "add": "团长"})
    assert (added.status_code, added.headers["location"]) == (303, "/dashboard/members/u1#profile")
    page = dashboard.get("/dashboard/members/u1").text
    assert 'data-tag="团长"' in page
    assert 'name="remove" value="团长"' in page
    found = dashboard.get("/dashboard/members?tag=团长").text
    assert "/dashboard/members/u1" in found
    assert "/dashboard/members/u2" not in found
    assert '<td class="tags"><span class="tag">团长</span></td>' in found
    listed = dashboard.get("/dashboard/members?tag=团长&format=csv").text.splitlines()
    assert [line.split(",")[0] for line in listed] == ["\ufeffid", "u1"]
    assert listed[1].endswith(",团长")
    dashboard.post("/dashboard/members/u1/tags", data={"csrf": csrf, "remove": "团长"})
    assert 'data-tag="团长"' not in dashboard.get("/dashboard/members/u1").text
    assert tag_log(shop) == [
        ("manager-a", "u1", {"added": ["团长"], "removed": []}),
        ("manager-a", "u1", {"added": [], "removed": ["团长"]}),
    ]


def test_tagging_from_the_page_needs_the_form_the_role_and_the_store(
    shop: Shequn, dashboard: TestClient
) -> None:
    csrf = log_in(dashboard, "manager-a")
    stale = dashboard.post("/dashboard/members/u1/tags", data={"csrf": "stale", "add": "VIP"})
    assert stale.status_code == 403
    other_store = dashboard.post("/dashboard/members/ub/tags", data={"csrf": csrf, "add": "VIP"})
    assert other_store.status_code == 404
    bad = dashboard.post("/dashboard/members/u1/tags", data={"csrf": csrf, "add": "a\x07"})
    assert bad.status_code == 422
    analyst = TestClient(dashboard.app, follow_redirects=False)
    analyst_csrf = log_in(analyst, "analyst")
    refused = analyst.post("/dashboard/members/u1/tags", data={"csrf": analyst_csrf, "add": "VIP"})
    assert refused.status_code == 403
    with shop.sessions() as session:
        assert session.scalars(select(MemberTag)).all() == []
