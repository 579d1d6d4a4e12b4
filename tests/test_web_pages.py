"""Members, heatmap, lifecycle, tasks, outbox, staff log, phones and CSV: each within scope."""

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.main import app as shequn_cli
from shequn.cli.staff import staff_app
from shequn.engine.models import ActionRecord, ActionStatus
from shequn.kit.time import utc_now
from shequn.member.models import Member, SealedPhone
from shequn.member.phones import (
    KEY_ENV,
    PhoneKeyError,
    mask_phone,
    new_key,
    open_phone,
    phone_key,
    seal_phone,
)
from shequn.org.models import StaffAuditEntry
from shequn.web.rules import Role, Staff
from shequn.wiring import Shequn
from tests.conftest import event, ingest
from tests.test_dashboard import campaign_in, community, log_in, staff

PHONE = "13812345678"


@pytest.fixture
def shop(shequn: Shequn) -> Shequn:
    """The dashboard's two stores, an inviter with a phone, and an operator owning g-a."""
    community(shequn)
    now = utc_now().astimezone().isoformat(timespec="seconds")
    ingest(shequn, [
        event("gu", "group.upserted", now, {"group": "g-a", "name": "A店福利群",
                                            "store": "store-a", "owner": "op-1"}),
        event("m4", "member.upserted", now, {"member": "u1", "nickname": "小美", "phone": PHONE}),
        event("j4", "member.joined", now, {"group": "g-a", "member": "u2", "inviter": "u1"}),
        event("m5", "member.upserted", now, {"member": "u2", "nickname": "小丽"}),
        event("j5", "member.joined", now, {"group": "g-b", "member": "ub"}),
        event("m6", "member.upserted", now, {"member": "ub", "nickname": "B店会员"}),
    ])  # fmt: skip
    staff(shequn, "boss", Role.OWNER)
    staff(shequn, "manager-a", Role.STORE_MANAGER, "store-a")
    staff(shequn, "manager-b", Role.STORE_MANAGER, "store-b")
    staff(shequn, "analyst", Role.ANALYST)
    staff(shequn, "op-1", Role.OPERATOR)
    return shequn


@pytest.fixture
def app_of(shop: Shequn) -> Iterator[TestClient]:
    with TestClient(create_app(shop, run_worker=False), follow_redirects=False) as client:
        yield client


def as_staff(client: TestClient, username: str) -> tuple[TestClient, str]:
    own = TestClient(client.app, follow_redirects=False)
    return own, log_in(own, username)


def test_an_operator_sees_the_groups_they_own_and_nothing_else(app_of: TestClient) -> None:
    assert Staff("demo", "op-1", Role.OPERATOR, None).sees_group("store-a", "op-1")
    assert not Staff("demo", "op-1", Role.OPERATOR, None).sees_group("store-a", "op-2")
    assert Staff("demo", "op-2", Role.OPERATOR, "store-b").sees_group("store-b", None)
    operator, _ = as_staff(app_of, "op-1")
    groups = operator.get("/dashboard/groups").text
    assert "A店福利群" in groups
    assert "B店福利群" not in groups
    assert operator.get("/dashboard/groups/g-b").status_code == 404
    listed = operator.get("/dashboard/groups?format=csv").text
    assert [line.split(",")[0] for line in listed.splitlines()[1:]] == ["g-a"]
    assert operator.get("/dashboard/heatmap?group=g-b").status_code == 404
    assert operator.get("/dashboard/members/ub").status_code == 404
    assert "AAA批发" not in operator.get("/dashboard/audit").text


def test_a_store_manager_gets_404_for_every_other_store_resource(app_of: TestClient) -> None:
    manager, csrf = as_staff(app_of, "manager-a")
    for path in ("/dashboard/groups/g-b", "/dashboard/groups/g-b?format=csv",
                 "/dashboard/heatmap?group=g-b", "/dashboard/heatmap?group=g-b&format=json",
                 "/dashboard/members/ub", "/dashboard/members/spam-b"):  # fmt: skip
        assert manager.get(path).status_code == 404, path
    revealed = manager.post("/dashboard/members/ub/reveal", data={"csrf": csrf})
    assert revealed.status_code == 404
    assert "B店会员" not in manager.get("/dashboard/members?q=会员").text
    assert "B店会员" in as_staff(app_of, "manager-b")[0].get("/dashboard/members?q=会员").text


def test_the_groups_page_shows_each_stage_filters_and_exports(app_of: TestClient) -> None:
    boss, _ = as_staff(app_of, "boss")
    page = boss.get("/dashboard/groups?lang=en").text
    # Both groups were first seen today.
    assert page.count('<td class="stage stage-new">New</td>') == 2
    assert boss.get("/dashboard/groups?stage=dead").text.count("data-group=") == 0
    filtered = boss.get("/dashboard/groups?store=store-b").text
    assert 'data-group="g-b"' in filtered
    assert 'data-group="g-a"' not in filtered
    exported = boss.get("/dashboard/groups?format=csv&sort=members")
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    lines = exported.text.lstrip("\ufeff").splitlines()
    assert (
        lines[0] == "id,name,store,owner,stage,members,joins,leaves,kicked,messages,active,"
        "orders,buyers,gmv"
    )
    assert lines[1] == "g-a,A店福利群,store-a,op-1,new,3,3,0,0,1,1,1,1,1200.00"


def test_the_heatmap_page_shows_the_scope_and_downloads_its_cells(app_of: TestClient) -> None:
    boss, _ = as_staff(app_of, "boss")
    page = boss.get("/dashboard/heatmap")
    assert page.status_code == 200
    assert page.text.count("<rect ") == 168
    as_json = boss.get("/dashboard/heatmap?format=json").json()
    assert as_json["interactions"] == 1
    assert len(as_json["best_times"]) == 1
    cells = boss.get("/dashboard/heatmap?group=g-a&format=csv").text.lstrip("\ufeff")
    assert cells.splitlines()[0] == "weekday,hour,messages,reactions,interactions"
    assert sum(int(line.split(",")[4]) for line in cells.splitlines()[1:]) == 1
    manager_b, _ = as_staff(app_of, "manager-b")
    assert manager_b.get("/dashboard/heatmap?format=json").json()["interactions"] == 0
    bad = boss.get("/dashboard/heatmap?from=2020-13-01")
    assert (bad.status_code, bad.json()["detail"]) == (
        400, "from: '2020-13-01' is not a date like 2020-11-07",
    )  # fmt: skip


def test_a_member_page_shows_profile_invites_points_orders_and_a_masked_phone(
    app_of: TestClient,
) -> None:
    manager, _ = as_staff(app_of, "manager-a")
    found = manager.get("/dashboard/members?q=小").text
    assert "/dashboard/members/u1" in found
    assert "/dashboard/members/u2" in found
    page = manager.get("/dashboard/members/u1?lang=en").text
    assert "138****5678" in page
    assert PHONE not in page
    assert "¥1,200.00" in page
    assert "buyer, inviter" in page
    assert 'href="/dashboard/members/u2">小丽</a>' in page
    assert "1 / 1" in page
    invitee = manager.get("/dashboard/members/u2?lang=en").text
    assert 'href="/dashboard/members/u1">小美</a>' in invitee
    analyst, _ = as_staff(app_of, "analyst")
    assert analyst.get("/dashboard/members").status_code == 403
    assert analyst.get("/dashboard/members/u1").status_code == 403


def test_a_reveal_is_allowed_by_role_and_logged(shop: Shequn, app_of: TestClient) -> None:
    operator, op_csrf = as_staff(app_of, "op-1")
    assert operator.post("/dashboard/members/u1/reveal", data={"csrf": op_csrf}).status_code == 403
    manager, csrf = as_staff(app_of, "manager-a")
    assert manager.post("/dashboard/members/u1/reveal", data={"csrf": "x"}).status_code == 403
    revealed = manager.post("/dashboard/members/u1/reveal", data={"csrf": csrf})
    assert revealed.status_code == 200
    assert f"<strong>{PHONE}</strong>" in revealed.text
    with shop.sessions() as session:
        reveals = session.query(StaffAuditEntry).filter_by(action="reveal_phone").all()
        assert [(r.username, r.target) for r in reveals] == [("manager-a", "u1")]
    boss, _ = as_staff(app_of, "boss")
    log = boss.get("/dashboard/staff-log").text
    assert 'data-log="reveal_phone"' in log
    assert log.count('data-log="login"') == 3
    exported = boss.get("/dashboard/staff-log?format=csv").text.lstrip("\ufeff").splitlines()
    assert exported[0] == "at,username,action,target,detail"
    assert ",boss,login,," in exported[1]
    assert manager.get("/dashboard/staff-log").status_code == 403


def test_audit_decisions_and_failed_logins_are_in_the_staff_log(
    shop: Shequn, app_of: TestClient
) -> None:
    wrong = app_of.post("/login", data={"org": "demo", "username": "boss",
                                        "password": "wrong password!"})  # fmt: skip
    assert wrong.status_code == 401
    boss, csrf = as_staff(app_of, "boss")
    decided = boss.post("/dashboard/audit/spam", data={"decision": "kick", "csrf": csrf})
    assert decided.status_code == 303
    with shop.sessions() as session:
        logged = [(e.username, e.action, e.target, e.detail) for e in
                  session.query(StaffAuditEntry).order_by(StaffAuditEntry.id)]  # fmt: skip
    assert logged == [
        ("boss", "login_failed", None, {"address": "testclient"}),
        ("boss", "login", None, {"address": "testclient"}),
        ("boss", "audit_decision", "spam", {"decision": "kick"}),
    ]


def action(id_: str, group: str | None, status: ActionStatus, kind: str = "create_task",
           title: object = None) -> ActionRecord:  # fmt: skip
    now = utc_now()
    payload = {"title": title or {"zh": f"任务 {id_}", "en": f"Task {id_}"}}
    return ActionRecord(
        id=id_, org="demo", kind=kind, platform="telegram", group_id=group, member_id=None,
        payload=payload, cause="test", status=status, attempts=0, created_at=now,
        next_attempt_at=now, done_at=None, connector=None, last_error=None,
    )  # fmt: skip


def test_tasks_and_outbox_list_actions_by_status_within_scope(
    shop: Shequn, app_of: TestClient
) -> None:
    with shop.sessions.begin() as session:
        session.add_all([
            action("t-a", "g-a", ActionStatus.PENDING), action("t-b", "g-b", ActionStatus.SENT),
            action("t-org", None, ActionStatus.PENDING),
            action("s-a", "g-a", ActionStatus.FAILED, kind="send_message", title="早上好"),
        ])  # fmt: skip
    manager, _ = as_staff(app_of, "manager-a")
    tasks = manager.get("/dashboard/tasks?lang=en").text
    assert 'data-action="t-a"' in tasks
    assert "Task t-a" in tasks
    assert 'data-action="t-b"' not in tasks
    assert 'data-action="t-org"' not in tasks
    assert 'data-action="s-a"' not in tasks
    boss, _ = as_staff(app_of, "boss")
    every = boss.get("/dashboard/tasks").text
    assert every.count("data-action=") == 3
    assert "任务 t-org" in every
    pending = boss.get("/dashboard/tasks?status=pending").text
    assert pending.count("data-action=") == 2
    assert '<option value="sent"' in pending
    outbox = boss.get("/dashboard/outbox?status=failed").text
    assert outbox.count("data-action=") == 1
    assert "早上好" in outbox
    exported = boss.get("/dashboard/outbox?format=csv").text.lstrip("\ufeff").splitlines()
    assert exported[0] == ("id,kind,status,group,member,title,attempts,created_at,done_at,"
                           "connector,last_error")  # fmt: skip
    assert len(exported) == 5
    analyst, _ = as_staff(app_of, "analyst")
    assert analyst.get("/dashboard/outbox").status_code == 403


def test_the_fission_page_shows_each_campaigns_k_factor(shop: Shequn, app_of: TestClient) -> None:
    campaign_in(shop, "g-a")
    boss, _ = as_staff(app_of, "boss")
    page = boss.get("/dashboard/fission").text
    # 3 effective invites over the 3 members g-a had when the campaign began a day ago: none,
    # since everybody joined today — no seed base, no K-factor.
    assert '<strong data-figure="k_factor">—</strong>' in page


def test_the_k_factor_is_effective_invites_over_the_seed_base(shop: Shequn) -> None:
    from shequn.analytics.campaigns import k_factor, seed_members

    with shop.sessions() as session:
        later = utc_now() + timedelta(minutes=1)
        assert seed_members(session, "demo", groups=["g-a"], at=later) == 3
        assert seed_members(session, "demo", groups=[], at=later) == 5
    # The seed's first Double-11 attempt: about 1,000 old members, fewer than 300 newcomers.
    assert str(k_factor(270, 1000)) == "0.2700"
    assert k_factor(5, 0) is None


def test_phones_are_sealed_bound_to_their_member_and_masked() -> None:
    key = phone_key({KEY_ENV: new_key()})
    sealed = seal_phone(PHONE, key=key, org="demo", member="u1")
    assert PHONE not in sealed
    assert open_phone(sealed, key=key, org="demo", member="u1") == PHONE
    with pytest.raises(PhoneKeyError, match="does not open"):
        open_phone(sealed, key=key, org="demo", member="u2")
    with pytest.raises(PhoneKeyError, match="must be 32 bytes"):
        phone_key({KEY_ENV: "c2hvcnQ="})
    with pytest.raises(PhoneKeyError, match="not set"):
        phone_key({})
    assert (mask_phone(PHONE), mask_phone("+8613812345678"), mask_phone("12345")) == (
        "138****5678", "+86*******5678", "***45",
    )  # fmt: skip


def test_sealing_phones_moves_them_out_of_the_member_rows(
    shop: Shequn, app_of: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    db = shop.settings.database_url
    missing = runner.invoke(staff_app, ["seal-phones", "--org", "demo", "--db", db],
                            env={KEY_ENV: ""})  # fmt: skip
    assert (missing.exit_code, missing.stdout) == (1, "")
    key = new_key()
    monkeypatch.setenv(KEY_ENV, key)
    sealed = runner.invoke(staff_app, ["seal-phones", "--org", "demo", "--db", db,
                                       "--clear-plaintext"])  # fmt: skip
    assert sealed.exit_code == 0, sealed.output
    assert "sealed 已加密 1" in sealed.stdout
    with shop.sessions() as session:
        member = session.get(Member, ("demo", "u1"))
        vault = session.get(SealedPhone, ("demo", "u1"))
        assert member is not None
        assert member.phone == "138****5678"
        assert vault is not None
        assert vault.masked == "138****5678"
        assert PHONE not in vault.sealed
    again = runner.invoke(staff_app, ["seal-phones", "--org", "demo", "--db", db])
    assert "sealed 已加密 0" in again.stdout
    manager, csrf = as_staff(app_of, "manager-a")
    assert "138****5678" in manager.get("/dashboard/members/u1").text
    revealed = manager.post("/dashboard/members/u1/reveal", data={"csrf": csrf})
    assert f"<strong>{PHONE}</strong>" in revealed.text
    monkeypatch.delenv(KEY_ENV)
    assert manager.post("/dashboard/members/u1/reveal", data={"csrf": csrf}).status_code == 409


def test_the_roi_page_lists_each_campaign_within_scope(shop: Shequn, app_of: TestClient) -> None:
    campaign_in(shop, "g-a")
    campaign_in(shop, "g-b")
    boss, _ = as_staff(app_of, "boss")
    assert boss.get("/dashboard/roi").text.count("data-campaign=") == 2
    manager, _ = as_staff(app_of, "manager-a")
    shown = manager.get("/dashboard/roi?format=json").json()
    assert [(row["campaign"], row["cost"], row["roi"]) for row in shown] == [
        ("c-g-a", "0.00", None),
    ]  # fmt: skip
    exported = manager.get("/dashboard/roi?format=csv").text.lstrip("\ufeff").splitlines()
    assert exported[0].startswith("campaign,name,from,to,orders,gmv")
    assert len(exported) == 2
    assert 'data-campaign="c-g-a"' in manager.get("/dashboard/roi?lang=en").text


def test_another_stores_first_group_and_inviter_stay_hidden_and_csv_never_runs_formulas(
    shop: Shequn, app_of: TestClient
) -> None:
    # ux came in through store B's group, invited by ub, and later joined store A's group.
    now = utc_now().astimezone()
    ingest(shop, [
        event("j6", "member.joined", now.isoformat(timespec="seconds"),
              {"group": "g-b", "member": "ux", "inviter": "ub"}),
        event("m7", "member.upserted", now.isoformat(timespec="seconds"),
              {"member": "ux", "nickname": '=HYPERLINK("http://x.example")'}),
        event("j7", "member.joined", (now + timedelta(minutes=1)).isoformat(timespec="seconds"),
              {"group": "g-a", "member": "ux"}),
    ])  # fmt: skip
    manager, _ = as_staff(app_of, "manager-a")
    exported = manager.get("/dashboard/members?q=ux&format=csv").text.lstrip("\ufeff")
    row = next(csv.DictReader(io.StringIO(exported)))
    assert (row["id"], row["first_group"], row["first_inviter"]) == ("ux", "", "")
    # A nickname a spreadsheet would run is written as text.
    assert row["nickname"] == '\'=HYPERLINK("http://x.example")'
    page = manager.get("/dashboard/members/ux").text
    assert "g-b" not in page
    assert "B店会员" not in page
    boss, _ = as_staff(app_of, "boss")
    everything = boss.get("/dashboard/members?q=ux&format=csv").text.lstrip("\ufeff")
    assert next(csv.DictReader(io.StringIO(everything)))["first_group"] == "g-b"


def test_settings_changed_from_the_command_line_are_in_the_staff_log_with_who_and_old_and_new(
    shop: Shequn, app_of: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "ops-laptop")
    runner, db = CliRunner(), shop.settings.database_url
    for args in (["audit", "settings", "--org", "demo", "--warnings", "3"],
                 ["audit", "settings", "--org", "demo", "--warnings", "3"],
                 ["org", "create", "demo", "--timezone", "Asia/Tokyo"],
                 ["webhook", "secret", "create", "--org", "demo"]):  # fmt: skip
        result = runner.invoke(shequn_cli, [*args, "--db", db])
        assert result.exit_code == 0, result.output
    with shop.sessions() as session:
        logged = session.execute(
            select(StaffAuditEntry.username, StaffAuditEntry.target, StaffAuditEntry.detail)
            .where(StaffAuditEntry.action == "config_changed").order_by(StaffAuditEntry.id)
        ).all()  # fmt: skip
    secret = result.stdout.strip()
    assert [tuple(row) for row in logged] == [
        ("ops-laptop", "audit_warnings", {"audit_warnings": {"old": None, "new": 3}}),
        ("ops-laptop", "timezone",
         {"timezone": {"old": "Asia/Shanghai", "new": "Asia/Tokyo"}}),
        ("ops-laptop", "webhook_secrets",
         {"webhook_secrets": {"old": None, "new": "1 (hidden)"}}),
    ]  # fmt: skip
    boss, _ = as_staff(app_of, "boss")
    log = boss.get("/dashboard/staff-log").text
    assert log.count('data-log="config_changed"') == 3
    assert secret not in log
