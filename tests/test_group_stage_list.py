"""The group list sorts, filters, counts and pages by lifecycle stage in the database, and its
search folds case in any script."""

import csv
import io
import sqlite3
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import insert

from shequn.analytics.daily import dead_lines, group_lines
from shequn.analytics.insights import report_lifecycle
from shequn.analytics.lifecycle import to_revive
from shequn.app import create_app
from shequn.group.models import Group
from shequn.kit.time import local_day, utc_now
from shequn.org.service import save_org
from shequn.web.rules import Role
from shequn.wiring import Shequn
from tests.conftest import event, ingest
from tests.test_analytics import joined, left, posted
from tests.test_dashboard import log_in, staff


def day(today: date, back: int) -> str:
    return f"{today - timedelta(days=back)}T10:00:00"


def opened(group: str, at: str, *, store: str = "s1") -> dict[str, Any]:
    return event(
        f"g-{group}", "group.upserted", at, {"group": group, "name": group, "store": store}
    )


def lifecycles(today: date) -> list[dict[str, Any]]:
    """Over the last five weeks: two quiet groups with members, an emptied one, a busy one, a
    new one and a dismissed one."""
    log = [opened(group, day(today, 35)) for group in ("quiet-3", "quiet-5", "emptied", "busy")]
    log += [opened("fresh", utc_now().isoformat(timespec="seconds")),
            opened("gone", day(today, 35), store="s2")]  # fmt: skip
    log += [joined(f"q{n}", day(today, 34), "quiet-3") for n in range(3)]
    log += [joined(f"r{n}", day(today, 34), "quiet-5") for n in range(5)]
    log += [joined("e0", day(today, 34), "emptied"), left("e0", day(today, 30), "quit", "emptied")]
    log += [joined(member, day(today, 34), "busy") for member in ("b0", "b1")]
    log += [posted(member, day(today, back), "busy") for member in ("b0", "b1")
            for back in range(1, 30)]  # fmt: skip
    log += [joined("f0", utc_now().isoformat(timespec="seconds"), "fresh"),
            event("dismissed", "group.dismissed", day(today, 20), {"group": "gone"})]  # fmt: skip
    return log


@pytest.fixture
def client(shequn: Shequn) -> Any:
    today = local_day(utc_now(), "Asia/Shanghai")
    assert ingest(shequn, lifecycles(today)).rejected == []
    staff(shequn, "boss", Role.OWNER)
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as test_client:
        log_in(test_client, "boss")
        yield test_client


def listed(client: TestClient, query: str) -> list[str]:
    text = client.get(f"/dashboard/groups?{query}").text.split('<section id="revive">')[0]
    return [part.split('"', 1)[0] for part in text.split('<tr data-group="')[1:]]


def counted(client: TestClient, query: str) -> int:
    heading = client.get(f"/dashboard/groups?{query}").text.split("<small>", 1)[1]
    return int(heading.split("</small>", 1)[0].rsplit("·", 1)[1])


def revived(client: TestClient, query: str) -> list[str]:
    parts = client.get(f"/dashboard/groups?{query}").text.split('<section id="revive">')
    return (
        [] if len(parts) == 1 else [p.split('"', 1)[0] for p in parts[1].split('data-group="')[1:]]
    )


def test_sorted_by_stage_the_list_goes_from_new_to_dead_then_dismissed(client: TestClient) -> None:
    assert listed(client, "sort=stage&lang=en") == ["fresh", "busy", "emptied", "quiet-3",
                                                    "quiet-5", "gone"]  # fmt: skip
    page = client.get("/dashboard/groups?sort=stage&lang=en").text
    assert page.count('<td class="stage stage-dead">Dead</td>') == 3
    assert '<td class="stage stage-dismissed">' in page


def test_filtered_by_stage_the_list_counts_only_those_in_the_order_asked_for(
    client: TestClient,
) -> None:
    assert listed(client, "stage=dead&sort=members") == ["quiet-5", "quiet-3", "emptied"]
    assert listed(client, "stage=dead&sort=name") == ["emptied", "quiet-3", "quiet-5"]
    assert counted(client, "stage=dead") == 3
    assert listed(client, "stage=mature") == ["busy"]
    assert listed(client, "stage=dead&q=QUIET-5") == ["quiet-5"]
    assert listed(client, "stage=dismissed&store=s2") == ["gone"]
    assert listed(client, "stage=dead&page=2") == []
    assert counted(client, "stage=dead&page=2") == 3
    assert counted(client, "stage=growing") == 0


def test_the_revive_list_is_the_dead_groups_with_members_most_first_as_the_log_says(
    shequn: Shequn, client: TestClient
) -> None:
    today = local_day(utc_now(), "Asia/Shanghai")
    with shequn.sessions() as session:
        from_log = [found.trend.group for found in to_revive(report_lifecycle(session, "demo",
                                                                              on=today))]  # fmt: skip
    assert from_log == ["quiet-5", "quiet-3"]
    assert revived(client, "stage=dead&sort=name") == from_log
    assert revived(client, "stage=dead&q=quiet-3") == ["quiet-3"]
    assert revived(client, "stage=mature") == []


def test_the_dead_page_and_its_revive_list_decide_stages_once_and_list_what_the_filter_lists(
    shequn: Shequn, client: TestClient
) -> None:
    today = local_day(utc_now(), "Asia/Shanghai")
    first = today - timedelta(days=6)
    with shequn.sessions() as session:
        for sort in ("members", "name", "stage", "gmv"):
            for offset in range(4):
                filtered = group_lines(session, "demo", first=first, last=today, stage="dead",
                                       sort=sort, limit=1, offset=offset)  # fmt: skip
                total, lines, revive = dead_lines(session, "demo", first=first, last=today,
                                                  sort=sort, limit=1, offset=offset)  # fmt: skip
                assert (total, lines) == filtered, (sort, offset)
                assert [found.trend.group for found in revive] == ["quiet-5", "quiet-3"]
        total, lines, revive = dead_lines(session, "demo", first=first, last=today, store="s2")
    assert (total, lines, revive) == (0, [], [])


def at_most_stock_bound_values(connection: sqlite3.Connection, _record: object) -> None:
    connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_stage_filtered_export_of_twelve_thousand_groups_binds_no_list_of_ids(
    shequn: Shequn,
) -> None:
    # Stock SQLite takes at most 32,766 bound values in one statement; some builds allow more.
    sqlalchemy_event.listen(shequn.engine, "connect", at_most_stock_bound_values)
    shequn.engine.dispose()
    count = 12_000
    long_ago = utc_now() - timedelta(days=60)
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=None,
                 now=long_ago)  # fmt: skip
        session.execute(insert(Group), [
            {"org": "demo", "id": f"g{n:05d}", "platform": "telegram", "name": f"群{n}",
             "capacity": None, "store": None, "owner": None, "tags": [], "member_count": 3,
             "first_seen_at": long_ago, "first_seen_key": "", "profile_key": None,
             "dismissed_at": None}
            for n in range(count)
        ])  # fmt: skip
    staff(shequn, "boss", Role.OWNER)
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as client:
        log_in(client, "boss")
        exported = client.get("/dashboard/groups?stage=dead&sort=stage&format=csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text.removeprefix("\ufeff"))))
    assert len(rows) == count
    assert {row["stage"] for row in rows} == {"dead"}
    assert [row["id"] for row in rows[:2]] == ["g00000", "g00001"]


NAMES = {"fr": "École Dupont", "ru": "Привет, соседи", "gr": "Ωραία γειτονιά", "zh": "福利群",
         "ascii": "Fresh Deals"}  # fmt: skip


@pytest.mark.parametrize(("needle", "found"), [
    ("ÉCOLE", ["fr"]), ("école", ["fr"]), ("ПРИВЕТ", ["ru"]), ("ωΡΑΊΑ", ["gr"]),
    ("福利", ["zh"]), ("fresh DEALS", ["ascii"]), ("E", ["ascii", "fr"]),
    # An operator's % and _ are letters, not wildcards.
    ("%", []), ("_", []),
])  # fmt: skip
def test_searching_a_name_folds_case_in_any_script(
    shequn: Shequn, needle: str, found: list[str]
) -> None:
    now = datetime(2024, 3, 1, tzinfo=UTC)
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=None, now=now)
        session.execute(insert(Group), [
            {"org": "demo", "id": group, "platform": "telegram", "name": name, "capacity": None,
             "store": None, "owner": None, "tags": [], "member_count": 0, "first_seen_at": now,
             "first_seen_key": "", "profile_key": None, "dismissed_at": None}
            for group, name in NAMES.items()
        ])  # fmt: skip
    with shequn.sessions() as session:
        total, lines = group_lines(session, "demo", first=date(2024, 3, 1), last=date(2024, 3, 7),
                                   needle=needle, sort="id", distinct=False)  # fmt: skip
    assert [line.id for line in lines] == found
    assert total == len(found)
