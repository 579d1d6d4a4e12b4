"""Fission credit: who brought whom, and whether it still counts — from the domain's own cases."""

import json
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.main import app
from shequn.invite.rules import (
    Credit,
    FirstJoin,
    InviteCode,
    Standing,
    Stay,
    count_invites,
    credit_for,
    standing_at,
)
from shequn.invite.service import InviteQuery, count_invites_as_of, create_invite_code
from shequn.kit.time import parse_instant, utc_now
from shequn.org.service import create_token, save_org
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()
T0 = datetime(2020, 11, 7, 2, 0, tzinfo=UTC)
LATER = parse_instant("2020-11-08T12:00:00+08:00")


def joined(n: str, at: str, *, group: str = "new-3", inviter: str | None = None,
           code: str | None = None) -> dict[str, Any]:  # fmt: skip
    data: dict[str, Any] = {"group": group, "member": n}
    if inviter is not None:
        data["inviter"] = inviter
    if code is not None:
        data["via"] = {"kind": "invite_link", "code": code}
    return event(f"j-{n}-{group}-{at}", "member.joined", f"2020-11-07T{at}", data)


def left(n: str, at: str, *, reason: str = "quit", group: str = "new-3") -> dict[str, Any]:
    data = {"group": group, "member": n, "reason": reason}
    return event(f"l-{n}-{group}-{at}", "member.left", f"2020-11-07T{at}", data)


def counts(shequn: Shequn, **query: Any) -> list[dict[str, object]]:
    with shequn.sessions() as session:
        found = count_invites_as_of(
            session, "demo", InviteQuery(at=query.pop("at", LATER), **query)
        )
    return [count.as_json() for count in found]


def test_a_pulls_10_in_and_3_leave_so_a_counts_7(shequn: Shequn) -> None:
    log = [
        joined("A", "09:00:00"),
        *[joined(f"u{n}", f"10:0{n}:00", inviter="A") for n in range(10)],
    ]
    ingest(shequn, [*log, left("u0", "11:00:00"), left("u1", "11:01:00"), left("u2", "11:02:00")])
    assert counts(shequn) == [
        {"inviter": "A", "invited": 10, "effective": 7, "left": 3, "kicked": 0, "flagged": 0}
    ]
    # Before anyone left, all 10 counted.
    assert counts(shequn, at=parse_instant("2020-11-07T10:30:00+08:00"))[0]["effective"] == 10


def test_leaving_and_rejoining_through_another_members_link_earns_no_new_credit(
    shequn: Shequn,
) -> None:
    ingest(shequn, [
        joined("A", "09:00:00"), joined("C", "09:01:00"),
        joined("B", "10:00:00", inviter="A"), left("B", "10:30:00"),
        joined("B", "11:00:00", inviter="C"),
    ])  # fmt: skip
    assert counts(shequn) == [
        {"inviter": "A", "invited": 1, "effective": 1, "left": 0, "kicked": 0, "flagged": 0}
    ]


def test_a_kicked_invitee_never_counts_again(shequn: Shequn) -> None:
    ingest(shequn, [
        joined("A", "09:00:00"), joined("B", "10:00:00", inviter="A"),
        left("B", "10:30:00", reason="kicked"), joined("B", "11:00:00"),
    ])  # fmt: skip
    assert counts(shequn) == [
        {"inviter": "A", "invited": 1, "effective": 0, "left": 0, "kicked": 1, "flagged": 0}
    ]


def test_an_invitee_already_in_another_of_the_orgs_groups_earns_no_credit(shequn: Shequn) -> None:
    ingest(shequn, [
        joined("A", "09:00:00"), joined("B", "09:30:00", group="old-1"),
        joined("B", "10:00:00", inviter="A"),
    ])  # fmt: skip
    assert counts(shequn) == []


def test_a_self_invite_earns_nothing(shequn: Shequn) -> None:
    ingest(shequn, [joined("A", "09:00:00", inviter="A")])
    assert counts(shequn) == []


def test_in_an_invite_cycle_only_the_earlier_member_is_credited(shequn: Shequn) -> None:
    ingest(shequn, [joined("A", "09:00:00", inviter="B"), joined("B", "10:00:00", inviter="A")])
    assert [row["inviter"] for row in counts(shequn)] == ["A"]


def test_joins_arriving_out_of_order_are_credited_by_time(shequn: Shequn) -> None:
    ingest(shequn, [joined("B", "10:00:00", inviter="A")])
    ingest(shequn, [joined("A", "09:00:00")])
    assert [(row["inviter"], row["effective"]) for row in counts(shequn)] == [("A", 1)]


def test_the_code_owner_is_credited_and_gives_the_channel(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        create_invite_code(session, "demo", owner="A", group="new-3", channel="douban",
                           code="inv-A", now=utc_now())  # fmt: skip
    ingest(shequn, [joined("A", "09:00:00"), joined("B", "10:00:00", inviter="bot", code="inv-A")])
    assert [row["inviter"] for row in counts(shequn)] == ["A"]


def test_a_window_of_first_join_times_and_one_group(shequn: Shequn) -> None:
    ingest(shequn, [
        joined("A", "09:00:00"),
        joined("B", "10:00:00", inviter="A"), joined("C", "12:00:00", inviter="A"),
        joined("D", "12:30:00", inviter="A", group="new-4"),
    ])  # fmt: skip
    window = {"since": parse_instant("2020-11-07T11:00:00+08:00"),
              "until": parse_instant("2020-11-07T13:00:00+08:00")}  # fmt: skip
    assert [row["invited"] for row in counts(shequn, **window)] == [2]
    assert [row["invited"] for row in counts(shequn, group="new-4")] == [1]


def test_inviters_are_ranked_by_effective_then_by_who_got_there_first() -> None:
    def credit(inviter: str, minute: int) -> tuple[Credit, Standing]:
        at = T0.replace(minute=minute)
        return Credit(inviter, f"{inviter}{minute}", "g", at, "poster"), Standing.EFFECTIVE

    ranked = count_invites([credit("late", 5), credit("late", 9), credit("early", 1),
                            credit("early", 2), credit("one", 0)])  # fmt: skip
    assert [count.inviter for count in ranked] == ["early", "late", "one"]


def test_a_flagged_invitee_does_not_count() -> None:
    stay = Stay(joined_at=T0, left_at=None, left_reason=None)
    assert standing_at([stay], at=T0, is_flagged=True) is Standing.FLAGGED
    assert standing_at([stay], at=T0, is_flagged=False) is Standing.EFFECTIVE


def test_an_invite_by_someone_who_joined_later_is_ignored() -> None:
    join = FirstJoin("B", "g", key="2", at=T0, inviter="A", via_code=None)
    assert credit_for(join, codes={}, first_join_keys={"A": "3", "B": "2"}) is None
    assert credit_for(join, codes={}, first_join_keys={"A": "1", "B": "2"}) == Credit(
        "A", "B", "g", T0, "unknown"
    )
    # Staff and outside promoters never join as members and may still be credited.
    assert credit_for(join, codes={}, first_join_keys={"B": "2"}) is not None
    code = {"inv-C": InviteCode("inv-C", owner="C", channel="kol:lily")}
    coded = FirstJoin("B", "g", key="2", at=T0, inviter="A", via_code="inv-C")
    assert credit_for(coded, codes=code, first_join_keys={}) == Credit(
        "C", "B", "g", T0, "kol:lily"
    )


def test_report_invites_json_is_one_array_sorted_by_effective(shequn: Shequn) -> None:
    db = shequn.settings.database_url
    ingest(shequn, [
        joined("A", "09:00:00"), joined("Z", "09:00:01"),
        joined("B", "10:00:00", inviter="A"), joined("C", "10:01:00", inviter="Z"),
        joined("D", "10:02:00", inviter="Z"), left("D", "10:30:00"),
        joined("E", "10:03:00", inviter="Z"),
    ])  # fmt: skip
    result = runner.invoke(app, ["report", "invites", "--org", "demo", "--json", "--db", db,
                                 "--at", "2020-11-07T12:00:00+08:00"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"inviter": "Z", "invited": 3, "effective": 2, "left": 1, "kicked": 0, "flagged": 0},
        {"inviter": "A", "invited": 1, "effective": 1, "left": 0, "kicked": 0, "flagged": 0},
    ]


def test_report_invites_refuses_a_time_without_offset(shequn: Shequn) -> None:
    result = runner.invoke(app, ["report", "invites", "--at", "2020-11-07 12:00",
                                 "--db", shequn.settings.database_url])  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --at: '2020-11-07 12:00' has no UTC offset")


def test_invite_codes_are_created_and_listed(shequn: Shequn) -> None:
    db = shequn.settings.database_url
    made = runner.invoke(app, ["invite", "create", "--owner", "u7", "--org", "demo", "--code",
                               "inv-u7", "--channel", "kol:lily", "--db", db,
                               "--link", "https://t.me/+inv-u7"])  # fmt: skip
    assert made.stdout.strip() == "inv-u7"
    again = runner.invoke(app, ["invite", "create", "--owner", "u8", "--org", "demo", "--code",
                                "inv-u7", "--db", db])  # fmt: skip
    assert again.exit_code == 1
    assert "invite code 'inv-u7' already exists" in again.stderr
    listed = runner.invoke(app, ["invite", "list", "--org", "demo", "--json", "--db", db])
    assert json.loads(listed.stdout) == [
        {"code": "inv-u7", "owner": "u7", "group": None, "channel": "kol:lily",
         "link": "https://t.me/+inv-u7"}
    ]  # fmt: skip


def test_the_api_reports_the_same_counts_as_the_command_line(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=None, now=utc_now())
        token = create_token(session, "demo", name="test", now=utc_now())
    ingest(shequn, [joined("A", "09:00:00"), joined("B", "10:00:00", inviter="A")])
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(shequn, run_worker=False)) as client:
        response = client.get("/api/v1/reports/invites",
                              params={"at": "2020-11-07T12:00:00+08:00"}, headers=headers)  # fmt: skip
        assert response.json() == [
            {"inviter": "A", "invited": 1, "effective": 1, "left": 0, "kicked": 0, "flagged": 0}
        ]
        bad = client.get("/api/v1/reports/invites", params={"from": "yesterday"}, headers=headers)
        assert bad.status_code == 422
        assert bad.json()["detail"] == "from: 'yesterday' is not an ISO 8601 time"


def test_the_invite_tree_gives_generations_depth_k_factor_and_channels(shequn: Shequn) -> None:
    # Staff s1 shares a store QR; A brings B and C; B brings D through a douban code.
    with shequn.sessions.begin() as session:
        create_invite_code(session, "demo", owner="s1", group=None, channel="store-qr",
                           code="qr-s1", now=utc_now())  # fmt: skip
        create_invite_code(session, "demo", owner="B", group=None, channel="douban",
                           code="inv-B", now=utc_now())  # fmt: skip
    ingest(shequn, [
        joined("A", "09:00:00", code="qr-s1"), joined("Z", "09:30:00"),
        joined("B", "10:00:00", inviter="A"), joined("C", "10:05:00", inviter="A"),
        joined("D", "11:00:00", code="inv-B"),
    ])  # fmt: skip
    db = shequn.settings.database_url
    result = runner.invoke(app, ["report", "fission", "--org", "demo", "--json", "--db", db])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "members": 5,
        "credited": 4,  # A (by staff s1), B, C, D
        "inviters": 3,  # s1, A, B
        "k_factor": 1.3333,
        "depth": 3,  # s1 -> A -> B -> D
        "generations": {"0": 1, "1": 1, "2": 2, "3": 1},
        "channels": {"unknown": 3, "douban": 1, "store-qr": 1},
    }
    window = runner.invoke(app, ["report", "fission", "--org", "demo", "--json", "--db", db,
                                 "--from", "2020-11-07T10:00:00+08:00"])  # fmt: skip
    assert json.loads(window.stdout)["members"] == 3
