"""The campaigns timeline and the points mall pages: what each role sees, steers and downloads."""

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequn.app import create_app
from shequn.campaign.playbook import load_playbook
from shequn.campaign.service import start_campaign
from shequn.engine.scheduler import run_due_jobs
from shequn.kit.time import local_day, local_time_to_utc, utc_now
from shequn.org.models import StaffAuditEntry
from shequn.points.models import MallItem, MallRedemption
from shequn.points.service import add_item, adjust_points, balance_of, redeem
from shequn.web.rules import Role
from shequn.wiring import Shequn
from tests.conftest import event, ingest
from tests.test_dashboard import log_in, staff

SHANGHAI = "Asia/Shanghai"


@pytest.fixture
def first_day() -> date:
    """Day 1 of the campaign: tomorrow in Shanghai, so no step has passed when it starts."""
    return local_day(utc_now(), SHANGHAI) + timedelta(days=1)


def at(day: date, clock: str) -> datetime:
    hour, minute = (int(part) for part in clock.split(":"))
    return local_time_to_utc(day, hour, minute, SHANGHAI)


@pytest.fixture
def shop(shequn: Shequn, first_day: date) -> Shequn:
    """A new group of store A and an old one of store B, one member each with points, the
    mall's tote bag redeemed by both, and the built-in Double-11 campaign in both groups."""
    now = utc_now().astimezone().isoformat(timespec="seconds")
    ingest(shequn, [
        event("ga", "group.upserted", now, {"group": "g-a", "name": "A店新群", "store": "store-a",
                                            "tags": ["new"]}),
        event("gb", "group.upserted", now, {"group": "g-b", "name": "B店老群", "store": "store-b",
                                            "tags": ["old"]}),
        event("ma", "member.upserted", now, {"member": "u-a", "nickname": "小美"}),
        event("mb", "member.upserted", now, {"member": "u-b", "nickname": "小丽"}),
        event("ja", "member.joined", now, {"group": "g-a", "member": "u-a"}),
        event("jb", "member.joined", now, {"group": "g-b", "member": "u-b"}),
    ])  # fmt: skip
    for username, role, store in (("boss", Role.OWNER, None), ("analyst", Role.ANALYST, None),
                                  ("manager-a", Role.STORE_MANAGER, "store-a"),
                                  ("manager-b", Role.STORE_MANAGER, "store-b")):  # fmt: skip
        staff(shequn, username, role, store)
    playbook, source = load_playbook("double11")
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        add_item(session, "demo", "tote", name="帆布袋", kind="gift", price=50, stock=3, limit=1,
                 now=context.now)  # fmt: skip
        for member in ("u-a", "u-b"):
            adjust_points(context, "demo", member, 120, reason="welcome", by="test")
            redeem(context, "demo", member, "tote", key=f"tote-{member}")
        start_campaign(context, "demo", playbook, source, start=first_day, groups=None)
        context.flush()
    return shequn


@pytest.fixture
def app_of(shop: Shequn) -> Iterator[TestClient]:
    with TestClient(create_app(shop, run_worker=False), follow_redirects=False) as client:
        yield client


def as_staff(client: TestClient, username: str) -> tuple[TestClient, str]:
    own = TestClient(client.app, follow_redirects=False)
    return own, log_in(own, username)


def run_id(first_day: date) -> str:
    return f"double11-{first_day:%Y%m%d}"


def timeline(html: str) -> dict[str, list[tuple[str, str, str]]]:
    """Each group's section of the timeline page: (local time, step, status) in order."""
    rows = re.compile(r'<tr data-step="([^"]+)" data-status="([^"]+)"><td>([^<]*)</td>')
    sections = {}
    for part in html.split('<section class="timeline" data-group="')[1:]:
        group, _, body = part.partition('"')
        sections[group] = [(time, step, status) for step, status, time in rows.findall(body)]
    return sections


def redemption_of(shop: Shequn, member: str) -> MallRedemption:
    with shop.sessions() as session:
        found = session.scalars(select(MallRedemption).where(MallRedemption.member == member))
        return found.one()


def test_the_timeline_shows_double11s_steps_per_group_with_their_status(
    shop: Shequn, app_of: TestClient, first_day: date
) -> None:
    run_due_jobs(shop.sessions, shop.registry, now=at(first_day, "10:00"))
    boss, _ = as_staff(app_of, "boss")
    page = boss.get(f"/dashboard/campaigns/{run_id(first_day)}?lang=en").text
    sections = timeline(page)
    assert list(sections) == ["", "g-a", "g-b"]
    # Day 1 is fission: only the new group is renamed and gets the rules as its notice.
    assert sections["g-a"][:5] == [
        ("09:00", "d1-rename", "done"), ("09:05", "d1-notice", "done"),
        ("10:00", "d1-fission", "done"), ("20:30", "d1-board", "planned"),
        ("21:00", "d1-tease", "planned"),
    ]  # fmt: skip
    assert sections["g-b"][:3] == [
        ("10:00", "d1-fission", "done"), ("20:30", "d1-board", "planned"),
        ("21:00", "d1-tease", "planned"),
    ]  # fmt: skip
    assert {status for _, _, status in sections["g-a"][3:] + sections["g-b"][1:]} == {"planned"}
    assert f"Day 1 · {first_day}" in page
    assert '<td class="step-done">Done</td>' in page
    listed = boss.get("/dashboard/campaigns?lang=en").text
    assert f'<tr data-run="{run_id(first_day)}">' in listed
    assert '<span data-count="done">Done 4</span>' in listed
    assert "进行中" in boss.get("/dashboard/campaigns?lang=zh").text


def test_pausing_from_the_page_holds_the_next_step(
    shop: Shequn, app_of: TestClient, first_day: date
) -> None:
    run_due_jobs(shop.sessions, shop.registry, now=at(first_day, "10:00"))
    boss, csrf = as_staff(app_of, "boss")
    path = f"/dashboard/campaigns/{run_id(first_day)}"
    assert boss.post(f"{path}/pause", data={"csrf": "forged"}).status_code == 403
    manager, manager_csrf = as_staff(app_of, "manager-a")
    assert manager.post(f"{path}/pause", data={"csrf": manager_csrf}).status_code == 403
    paused = boss.post(f"{path}/pause", data={"csrf": csrf})
    assert (paused.status_code, paused.headers["location"]) == (303, f"{path}?changed=pause")
    run_due_jobs(shop.sessions, shop.registry, now=at(first_day, "20:30"))
    page = boss.get(f"{path}?lang=en").text
    assert timeline(page)["g-b"][:3] == [
        ("10:00", "d1-fission", "done"), ("20:30", "d1-board", "held"),
        ("21:00", "d1-tease", "planned"),
    ]  # fmt: skip
    assert '<strong data-status="paused">Paused</strong>' in page
    assert 'value="resume"' in page
    assert 'value="pause"' not in page
    assert "campaign paused: waits for resume" in page
    again = boss.post(f"{path}/pause", data={"csrf": csrf})
    assert again.status_code == 409
    assert boss.post(f"{path}/restart", data={"csrf": csrf}).status_code == 404
    with shop.sessions() as session:
        logged = session.scalars(
            select(StaffAuditEntry.target).where(StaffAuditEntry.action == "campaign_pause")
        ).all()
    assert logged == [run_id(first_day)]


def test_a_store_manager_never_sees_another_stores_steps_or_redemptions(
    shop: Shequn, app_of: TestClient, first_day: date
) -> None:
    playbook, source = load_playbook("double11")
    with shop.sessions.begin() as session:
        context = shop.context(session, "demo")
        start_campaign(context, "demo", playbook, source, start=first_day, groups=["g-b"],
                       run_id="b-only")  # fmt: skip
        context.flush()
    manager, _ = as_staff(app_of, "manager-a")
    path = f"/dashboard/campaigns/{run_id(first_day)}"
    assert list(timeline(manager.get(path).text)) == ["g-a"]
    exported = manager.get(f"{path}?format=csv").text.lstrip("\ufeff").splitlines()
    assert {line.split(",")[0] for line in exported[1:]} == {"g-a"}
    assert manager.get(f"{path}?group=g-b").status_code == 404
    assert manager.get("/dashboard/campaigns/b-only").status_code == 404
    assert manager.get("/dashboard/campaigns/b-only?format=csv").status_code == 404
    listed = manager.get("/dashboard/campaigns").text
    assert 'data-run="b-only"' not in listed
    assert f'data-run="{run_id(first_day)}"' in listed
    mine, theirs = redemption_of(shop, "u-a").id, redemption_of(shop, "u-b").id
    mall = manager.get("/dashboard/mall").text
    assert f'data-redemption="{mine}"' in mall
    assert f'data-redemption="{theirs}"' not in mall
    rows = manager.get("/dashboard/mall?format=csv").text.lstrip("\ufeff").splitlines()
    assert [line.split(",")[0] for line in rows[1:]] == [mine]
    other = as_staff(app_of, "manager-b")[0].get("/dashboard/mall").text
    assert f'data-redemption="{theirs}"' in other
    assert f'data-redemption="{mine}"' not in other


def test_fulfilling_a_redemption_from_the_page_settles_it(shop: Shequn, app_of: TestClient) -> None:
    boss, csrf = as_staff(app_of, "boss")
    fulfilled, cancelled = redemption_of(shop, "u-a").id, redemption_of(shop, "u-b").id
    page = boss.get("/dashboard/mall?lang=en").text
    assert page.count('<button name="do" value="fulfil">Fulfil</button>') == 2
    manager, manager_csrf = as_staff(app_of, "manager-a")
    refused = manager.post(f"/dashboard/mall/redemptions/{fulfilled}/fulfil",
                           data={"csrf": manager_csrf})  # fmt: skip
    assert refused.status_code == 403
    done = boss.post(f"/dashboard/mall/redemptions/{fulfilled}/fulfil", data={"csrf": csrf})
    assert (done.status_code, done.headers["location"]) == (
        303,
        f"/dashboard/mall?settled={fulfilled}",
    )
    assert boss.post(f"/dashboard/mall/redemptions/{cancelled}/cancel",
                     data={"csrf": csrf}).status_code == 303  # fmt: skip
    with shop.sessions() as session:
        settled = {
            r.member: (r.status, r.status_by) for r in session.scalars(select(MallRedemption))
        }
        now = utc_now()
        balances = {m: balance_of(session, "demo", m, now=now).balance for m in ("u-a", "u-b")}
        tote = session.get(MallItem, ("demo", "tote"))
        assert tote is not None
        stock = tote.stock
    assert settled == {
        "u-a": ("fulfilled", "dashboard:boss"),
        "u-b": ("cancelled", "dashboard:boss"),
    }
    # 120 welcome points: the fulfilled tote keeps its 50 spent; the cancelled one gives them back.
    assert balances == {"u-a": 70, "u-b": 120}
    assert stock == 2
    conflict = boss.post(f"/dashboard/mall/redemptions/{cancelled}/fulfil", data={"csrf": csrf})
    assert conflict.status_code == 409
    unknown = boss.post("/dashboard/mall/redemptions/r-nope/fulfil", data={"csrf": csrf})
    assert unknown.status_code == 404
    shown = boss.get("/dashboard/mall?status=fulfilled&lang=en").text
    assert shown.count("data-redemption=") == 1
    assert '<td data-status="fulfilled">Fulfilled</td>' in shown
    assert boss.get("/dashboard/mall?status=lost").status_code == 400


def test_each_table_downloads_as_csv_and_analysts_get_no_members(
    shop: Shequn, app_of: TestClient, first_day: date
) -> None:
    boss, _ = as_staff(app_of, "boss")
    runs = boss.get("/dashboard/campaigns?format=csv")
    assert runs.headers["content-type"] == "text/csv; charset=utf-8"
    lines = runs.text.lstrip("\ufeff").splitlines()
    assert lines[0] == ("id,playbook,start,timezone,status,groups,planned,deferred,held,done,"
                        "dropped,skipped,failed,cancelled")  # fmt: skip
    assert lines[1].startswith(f"{run_id(first_day)},double11,{first_day},Asia/Shanghai,running,2,")
    steps = boss.get(f"/dashboard/campaigns/{run_id(first_day)}?format=csv&group=g-a")
    rows = steps.text.lstrip("\ufeff").splitlines()
    assert rows[0] == "group,day,at,step,kind,status,reason,next_at,ran_at"
    assert rows[1] == (f"g-a,1,{first_day}T09:00:00+08:00,d1-rename,rename,planned,,"
                       f"{first_day}T09:00:00+08:00,")  # fmt: skip
    every = boss.get(f"/dashboard/campaigns/{run_id(first_day)}?format=csv").text.splitlines()
    # The org-wide price change has no group.
    assert {line.split(",")[0] for line in every[1:]} == {"", "g-a", "g-b"}
    items = boss.get("/dashboard/mall?table=items&format=csv").text.lstrip("\ufeff").splitlines()
    assert items == ["sku,name,kind,price,stock,limit,active", "tote,帆布袋,gift,50,1,1,True"]
    redeemed = boss.get("/dashboard/mall?format=csv").text.lstrip("\ufeff").splitlines()
    assert redeemed[0] == ("redemption,member,nickname,sku,item,points,status,created_at,"
                           "status_at,status_by")  # fmt: skip
    assert sorted(line.split(",")[1:7] for line in redeemed[1:]) == [
        ["u-a", "小美", "tote", "帆布袋", "50", "held"],
        ["u-b", "小丽", "tote", "帆布袋", "50", "held"],
    ]
    assert boss.get("/dashboard/mall?table=orders&format=csv").status_code == 400
    analyst, _ = as_staff(app_of, "analyst")
    page = analyst.get("/dashboard/mall").text
    assert 'data-sku="tote"' in page
    assert "data-redemption=" not in page
    assert "小美" not in page
    assert analyst.get("/dashboard/mall?format=csv").status_code == 403
    assert analyst.get(f"/dashboard/campaigns/{run_id(first_day)}").status_code == 200
