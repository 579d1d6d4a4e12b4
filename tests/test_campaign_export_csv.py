"""A campaign run's CSV export: its exact columns, rows and order, and whose rows each role gets."""

from collections.abc import Iterator
from datetime import date, datetime
from itertools import product

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequn.app import create_app
from shequn.campaign.playbook import parse_playbook
from shequn.campaign.service import start_campaign
from shequn.engine.scheduler import run_due_jobs
from shequn.group.models import Group
from shequn.kit.time import local_time_to_utc
from shequn.web.common import visible_group_ids
from shequn.web.rules import Role, Staff
from shequn.wiring import Shequn
from tests.conftest import event, ingest
from tests.test_dashboard import log_in, staff

DAY_1 = date(2026, 11, 7)
RUN = "mini-20261107"
# Two days: a rename for new groups only, a morning message, a late tease that quiet hours
# defer, and the org-wide price change at midnight.
PLAYBOOK = """\
name: mini
days: 2
lang: en
segments:
  new: [new]
steps:
  - id: d1-rename
    day: 1
    at: "09:00"
    kind: rename
    segments: [new]
    name: "{{ group }} 11"
  - id: d1-hello
    day: 1
    at: "10:00"
    kind: message
    text: "Hello {{ group }}"
  - id: d1-late
    day: 1
    at: "23:30"
    kind: tease
    text: "Tomorrow, at midnight"
  - id: d2-price
    day: 2
    at: "00:00"
    kind: price
    sku: dress
    price: "600"
"""


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return local_time_to_utc(day, hour, minute, "Asia/Shanghai")


@pytest.fixture
def exporter(shequn: Shequn) -> Iterator[TestClient]:
    """Store A's new group, store B's old group and an old group of store B that operator
    op-c of store A owns; the run starts at 09:30 on day 1; its jobs run at 10:00 and at 01:00 on day 2."""
    now = "2026-11-06T12:00:00"
    ingest(shequn, [
        event("ga", "group.upserted", now, {"group": "g-a", "name": "A new", "store": "store-a",
                                            "tags": ["new"]}),
        event("gb", "group.upserted", now, {"group": "g-b", "name": "B old", "store": "store-b",
                                            "tags": ["old"]}),
        event("gc", "group.upserted", now, {"group": "g-c", "name": "C old", "store": "store-b",
                                            "owner": "op-c", "tags": ["old"]}),
    ])  # fmt: skip
    for username, role, store in (("boss", Role.OWNER, None),
                                  ("manager-a", Role.STORE_MANAGER, "store-a"),
                                  ("manager-b", Role.STORE_MANAGER, "store-b"),
                                  ("op-c", Role.OPERATOR, "store-a")):  # fmt: skip
        staff(shequn, username, role, store)
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=at(DAY_1, 9, 30))
        start_campaign(context, "demo", parse_playbook(PLAYBOOK), PLAYBOOK, start=DAY_1,
                       groups=None)  # fmt: skip
        context.flush()
    run_due_jobs(shequn.sessions, shequn.registry, now=at(DAY_1, 10))
    run_due_jobs(shequn.sessions, shequn.registry, now=at(date(2026, 11, 8), 1))
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as client:
        yield client


def export_as(client: TestClient, username: str, query: str = "") -> list[str]:
    own = TestClient(client.app, follow_redirects=False)
    log_in(own, username)
    response = own.get(f"/dashboard/campaigns/{RUN}?format=csv{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == f'attachment; filename="campaign-{RUN}.csv"'
    return response.text.removeprefix("\ufeff").split("\n")


def test_the_export_lists_every_step_by_group_then_time_with_local_times(
    exporter: TestClient,
) -> None:
    # The org-wide price change first (no group), then per group by planned time.
    assert export_as(exporter, "boss") == [
        "group,day,at,step,kind,status,reason,next_at,ran_at",
        ",2,2026-11-08T00:00:00+08:00,d2-price,price,failed,CommerceNotFound: product 'dress' "
        "does not exist in org 'demo',2026-11-08T00:00:00+08:00,2026-11-08T01:00:00+08:00",
        "g-a,1,2026-11-07T09:00:00+08:00,d1-rename,rename,skipped,"
        "its time had passed when the campaign started,2026-11-07T09:00:00+08:00,",
        "g-a,1,2026-11-07T10:00:00+08:00,d1-hello,message,done,,2026-11-07T10:00:00+08:00,"
        "2026-11-07T10:00:00+08:00",
        "g-a,1,2026-11-07T23:30:00+08:00,d1-late,tease,deferred,"
        "quiet hours 23:00-08:00: deferred to 11-08 08:00,2026-11-08T08:00:00+08:00,",
        "g-b,1,2026-11-07T10:00:00+08:00,d1-hello,message,done,,2026-11-07T10:00:00+08:00,"
        "2026-11-07T10:00:00+08:00",
        "g-b,1,2026-11-07T23:30:00+08:00,d1-late,tease,deferred,"
        "quiet hours 23:00-08:00: deferred to 11-08 08:00,2026-11-08T08:00:00+08:00,",
        "g-c,1,2026-11-07T10:00:00+08:00,d1-hello,message,done,,2026-11-07T10:00:00+08:00,"
        "2026-11-07T10:00:00+08:00",
        "g-c,1,2026-11-07T23:30:00+08:00,d1-late,tease,deferred,"
        "quiet hours 23:00-08:00: deferred to 11-08 08:00,2026-11-08T08:00:00+08:00,",
        "",
    ]


def test_scoped_staff_export_only_their_groups_rows_and_no_org_wide_step(
    exporter: TestClient,
) -> None:
    every = export_as(exporter, "boss")
    header = every[0]

    def rows_of(*groups: str) -> list[str]:
        return [header, *(row for row in every[1:] if row.split(",")[0] in groups), ""]

    assert export_as(exporter, "manager-a") == rows_of("g-a")
    assert export_as(exporter, "manager-b") == rows_of("g-b", "g-c")
    # An operator sees their store's groups and the groups they own in other stores.
    assert export_as(exporter, "op-c") == rows_of("g-a", "g-c")
    assert export_as(exporter, "manager-b", "&group=g-c") == rows_of("g-c")


def test_the_scope_the_database_applies_is_the_one_sees_group_decides(shequn: Shequn) -> None:
    # Every mix of store (theirs, another, none) and owner (them, someone else, nobody).
    stores, owners = ("s-1", "s-2", None), ("op", "other", None)
    ingest(shequn, [
        event(f"g{n}", "group.upserted", "2026-11-06T12:00:00",
              {"group": f"g-{n}", "name": f"G{n}", "store": store, "owner": owner})
        for n, (store, owner) in enumerate(product(stores, owners))
    ])  # fmt: skip
    with shequn.sessions() as session:
        groups = [(group.id, group.store, group.owner) for group in session.scalars(select(Group))]
        assert len(groups) == 9
        for role, store, username in product(Role, ("s-1", None), ("op", "nobody")):
            staff = Staff(org="demo", username=username, role=role, store=store)
            chosen = set(session.scalars(visible_group_ids(staff)))
            decided = {found for found, in_store, owner in groups
                       if staff.sees_group(in_store, owner)}  # fmt: skip
            assert chosen == decided, staff
