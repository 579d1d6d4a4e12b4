"""Lotteries in the engine: committed ahead, drawn once at the freeze, limits across groups."""

import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.main import app
from shequn.engine.models import ActionRecord
from shequn.engine.scheduler import run_due_jobs
from shequn.kit.time import parse_instant
from shequn.lottery.models import DrawRecord, LotteryWin
from shequn.lottery.proof import verify
from shequn.lottery.service import PrizeSpec, create_lottery
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()
DRESS = PrizeSpec("连衣裙", 1, 19900)
COUPON = PrizeSpec("¥100 券", 2, 0)


def joins(
    group: str, members: list[str], *, at: str = "2020-11-06T10:00:00"
) -> list[dict[str, Any]]:
    return [
        event(f"j-{group}-{member}", "member.joined", at, {"group": group, "member": member})
        for member in members
    ]


def groups(*names: str) -> list[dict[str, Any]]:
    return [event(f"g-{n}", "group.upserted", "2020-11-06T09:00:00", {"group": n, "name": n})
            for n in names]  # fmt: skip


def lottery(
    shequn: Shequn,
    *,
    pool: list[str],
    days: int = 1,
    prizes: list[PrizeSpec] | None = None,
    eligibility: dict[str, Any] | None = None,
    first: str = "2020-11-07T20:30:00+08:00",
) -> list[str]:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=parse_instant("2020-11-07T09:00:00+08:00"))
        draws = create_lottery(
            context, "demo", lottery_id="nightly", name="每晚抽奖", groups=pool,
            first=parse_instant(first), days=days, prizes=prizes or [DRESS],
            rules_text="今晚8:30,群内抽奖", eligibility=eligibility or {}, lang="zh",
        )  # fmt: skip
        context.flush()
        return [draw.id for draw in draws]


def run_jobs(shequn: Shequn, at: str) -> None:
    run_due_jobs(shequn.sessions, shequn.registry, now=parse_instant(at), limit=10_000)


def draws(shequn: Shequn) -> list[DrawRecord]:
    with shequn.sessions() as session:
        return list(
            session.scalars(select(DrawRecord).order_by(DrawRecord.due_at, DrawRecord.group_id))
        )


def winners_of(record: DrawRecord) -> list[str]:
    return [winner["member"] for winner in (record.published or {}).get("winners", [])]


def messages(shequn: Shequn) -> list[str]:
    with shequn.sessions() as session:
        rows = session.scalars(
            select(ActionRecord)
            .where(ActionRecord.kind == "send_message")
            .order_by(ActionRecord.created_at)
        )
        return [row.payload["text"] for row in rows]


def test_a_draw_is_committed_ahead_and_drawn_once_at_its_freeze_time(shequn: Shequn) -> None:
    ingest(shequn, [*groups("g1"), *joins("g1", ["u1", "u2", "u3", "u4", "u5"])])
    lottery(shequn, pool=["g1"], prizes=[DRESS, COUPON])
    run_jobs(shequn, "2020-11-07T12:30:00+08:00")  # 8 hours ahead: the commitment goes up
    [record] = draws(shequn)
    assert record.status == "committed"
    assert [text for text in messages(shequn) if record.commitment in text] != []
    run_jobs(shequn, "2020-11-07T20:31:00+08:00")
    run_jobs(shequn, "2020-11-07T21:00:00+08:00")  # again: nothing more happens
    [record] = draws(shequn)
    assert (record.status, record.entrant_count, len(winners_of(record))) == ("drawn", 5, 3)
    assert [w["prize"] for w in record.published["winners"]] == ["连衣裙", "¥100 券", "¥100 券"]  # type: ignore[index]
    assert verify(record.published or {}, announced_commitment=record.commitment).ok
    results = [text for text in messages(shequn) if text.startswith("🎉")]
    assert len(results) == 1
    assert f"种子 {record.seed_hex}" in results[0]


def test_one_win_per_member_per_3_days_holds_across_groups_and_days(shequn: Shequn) -> None:
    # A and B are in both groups; both groups draw one dress at 20:30 for four evenings.
    ingest(shequn, [*groups("g1", "g2"), *joins("g1", ["A", "B"]), *joins("g2", ["A", "B"])])
    lottery(shequn, pool=["g1", "g2"], days=4)
    run_jobs(shequn, "2020-11-10T21:00:00+08:00")
    by_day = [(r.due_at.day, r.group_id, r.status, winners_of(r)) for r in draws(shequn)]
    day_1 = [winner for day, _, _, winners in by_day if day == 7 for winner in winners]
    assert sorted(day_1) == [
        "A",
        "B",
    ]  # the second group's draw excludes the first's winner
    assert [(day, status) for day, _, status, _ in by_day if day in (8, 9)] == [
        (8, "skipped"), (8, "skipped"), (9, "skipped"), (9, "skipped")
    ]  # fmt: skip
    # Three days after their wins at 20:30, both may win again at 20:30.
    assert [status for day, _, status, _ in by_day if day == 10] == ["drawn", "drawn"]
    with shequn.sessions() as session:
        assert len(session.scalars(select(LotteryWin)).all()) == 4


def test_only_members_who_repeat_the_line_enter(shequn: Shequn) -> None:
    said = [
        event("m1", "message.posted", "2020-11-07T15:00:00",
              {"group": "g1", "member": "u1", "message": "m1", "kind": "text", "text": "今晚8:30，群内抽奖！"}),
        event("m2", "message.posted", "2020-11-07T16:00:00",
              {"group": "g1", "member": "u2", "message": "m2", "kind": "text", "text": "今晚 8：30 群内抽奖"}),
        event("m3", "message.posted", "2020-11-07T11:00:00",  # before the line was asked for
              {"group": "g1", "member": "u3", "message": "m3", "kind": "text", "text": "今晚8:30,群内抽奖"}),
        event("m4", "message.posted", "2020-11-07T16:00:00",
              {"group": "g1", "member": "u4", "message": "m4", "kind": "text", "text": "今晚抽奖吗"}),
    ]  # fmt: skip
    ingest(shequn, [*groups("g1"), *joins("g1", ["u1", "u2", "u3", "u4"]), *said])
    lottery(shequn, pool=["g1"], prizes=[PrizeSpec("连衣裙", 5, 0)],
            eligibility={"keyword": "今晚8:30,群内抽奖", "keyword_from": "12:00"})  # fmt: skip
    run_jobs(shequn, "2020-11-07T20:31:00+08:00")
    [record] = draws(shequn)
    assert (record.entrant_count, sorted(winners_of(record))) == (2, ["u1", "u2"])
    assert record.exclusions == {"no_keyword": 2}


def test_the_lottery_starts_once_the_group_reaches_its_minimum(shequn: Shequn) -> None:
    ingest(shequn, [*groups("g1"), *joins("g1", ["u1", "u2", "u3"])])
    lottery(shequn, pool=["g1"], eligibility={"min_members": 50})
    run_jobs(shequn, "2020-11-07T20:31:00+08:00")
    [record] = draws(shequn)
    assert (record.status, record.skip_reason) == (
        "skipped", "3 members at the freeze; the lottery starts at 50"
    )  # fmt: skip
    assert "「每晚抽奖」满 50 人开奖,现在 3 人,快分享海报邀请好友吧!" in messages(shequn)


def test_a_draw_run_late_takes_the_entrants_of_its_freeze_time(shequn: Shequn) -> None:
    ingest(shequn, [*groups("g1"), *joins("g1", ["stays", "leaves"]),
                    *joins("g1", ["late"], at="2020-11-07T21:00:00"),
                    event("l", "member.left", "2020-11-07T22:00:00",
                          {"group": "g1", "member": "leaves", "reason": "quit"})])  # fmt: skip
    lottery(shequn, pool=["g1"], prizes=[PrizeSpec("连衣裙", 5, 0)])
    run_jobs(shequn, "2020-11-09T10:00:00+08:00")  # the engine was down for a day and a half
    [record] = draws(shequn)
    assert sorted(winners_of(record)) == ["leaves", "stays"]


def test_staff_and_flagged_members_do_not_enter(shequn: Shequn) -> None:
    staff = event("s", "message.posted", "2020-11-06T10:00:00",
                  {"group": "g1", "member": "crew", "message": "s", "kind": "text", "text": "hi"})  # fmt: skip
    ingest(shequn, [*groups("g1"), *joins("g1", ["u1", "crew"]), staff])
    with shequn.sessions.begin() as session:
        from shequn.group.models import Staff

        session.add(
            Staff(org="demo", id="crew", first_seen_at=parse_instant("2020-11-06T10:00:00+08:00"))
        )
    lottery(shequn, pool=["g1"], prizes=[PrizeSpec("连衣裙", 5, 0)])
    run_jobs(shequn, "2020-11-07T20:31:00+08:00")
    [record] = draws(shequn)
    assert (winners_of(record), record.exclusions) == (["u1"], {"staff": 1})


def test_lottery_commands_create_draw_verify_and_certify(shequn: Shequn, tmp_path: Path) -> None:
    db = shequn.settings.database_url
    ingest(shequn, [*groups("g1"), *joins("g1", ["u1", "u2", "u3"]),
                    event("p", "member.upserted", "2020-11-06T09:00:00", {"member": "u1", "nickname": "小美"})])  # fmt: skip
    made = runner.invoke(app, ["lottery", "create", "nightly", "--groups", "g1", "--org", "demo",
                               "--at", "2099-11-07 20:30", "--prize", "连衣裙:3:199.00", "--db", db])  # fmt: skip
    assert made.exit_code == 0, made.output
    [listed] = json.loads(
        runner.invoke(app, ["lottery", "list", "--org", "demo", "--json", "--db", db]).stdout
    )
    early = runner.invoke(app, ["lottery", "draw", listed["draw"], "--org", "demo", "--db", db])
    assert early.exit_code == 1
    assert "it cannot be drawn before" in early.stderr
    with shequn.sessions.begin() as session:  # the freeze time comes
        record = session.get(DrawRecord, listed["draw"])
        assert record is not None
        record.due_at = parse_instant("2020-11-07T20:30:00+08:00")
    drawn = runner.invoke(
        app, ["lottery", "draw", listed["draw"], "--org", "demo", "--json", "--db", db]
    )
    result = json.loads(drawn.stdout)
    assert (result["status"], result["entrant_count"], len(result["winners"])) == ("drawn", 3, 3)
    assert {w["nickname"] for w in result["winners"]} == {"小美", None}
    checked = runner.invoke(
        app, ["lottery", "verify", listed["draw"], "--org", "demo", "--json", "--db", db]
    )
    assert checked.exit_code == 0
    verified = json.loads(checked.stdout)
    assert (verified["ok"], verified["entrant_count"], verified["seed"]) == (
        True,
        3,
        result["seed"],
    )

    [win, *_] = json.loads(
        runner.invoke(app, ["lottery", "winners", "--org", "demo", "--json", "--db", db]).stdout
    )
    out = tmp_path / "award.png"
    certified = runner.invoke(
        app, ["lottery", "certificate", win["code"], "-o", str(out), "--org", "demo", "--db", db]
    )
    assert certified.exit_code == 0, certified.output
    assert Image.open(io.BytesIO(out.read_bytes())).size == (1200, 850)
    shipped = runner.invoke(
        app, ["lottery", "fulfil", win["code"], "shipped", "--org", "demo", "--db", db]
    )
    assert shipped.exit_code == 0
    statuses = json.loads(
        runner.invoke(app, ["lottery", "winners", "--org", "demo", "--json", "--db", db]).stdout
    )
    assert [w["status"] for w in statuses if w["code"] == win["code"]] == ["shipped"]

    with shequn.sessions.begin() as session:  # someone edits the stored entrant list
        record = session.get(DrawRecord, listed["draw"])
        assert record is not None
        assert record.published is not None
        record.published = {**record.published, "entrants": record.published["entrants"][1:]}
    tampered = runner.invoke(
        app, ["lottery", "verify", listed["draw"], "--org", "demo", "--json", "--db", db]
    )
    assert tampered.exit_code == 1
    assert any("entrant_list_hash" in p for p in json.loads(tampered.stdout)["problems"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--groups", "g1", "--at", "2099-11-07 20:30", "--prize", "连衣裙"], "write NAME:COUNT[:COST]"),
        (["--groups", "nope", "--at", "2099-11-07 20:30", "--prize", "连衣裙:1"], "--groups: nope not known"),
        (["--groups", "g1", "--at", "tonight", "--prize", "连衣裙:1"], "is not a local time"),
        (["--groups", "g1", "--at", "2001-01-01 20:30", "--prize", "连衣裙:1"], "has passed"),
    ],
)  # fmt: skip
def test_a_bad_lottery_is_refused_by_name_and_nothing_is_stored(
    shequn: Shequn, args: list[str], message: str
) -> None:
    ingest(shequn, groups("g1"))
    refused = runner.invoke(app, ["lottery", "create", "x", *args, "--org", "demo",
                                  "--db", shequn.settings.database_url])  # fmt: skip
    assert refused.exit_code == 1
    assert message in refused.stderr
    assert draws(shequn) == []


def test_the_verify_page_recomputes_the_draw(shequn: Shequn) -> None:
    ingest(shequn, [*groups("g1"), *joins("g1", ["u1", "u2"])])
    [draw_id] = lottery(shequn, pool=["g1"])
    with TestClient(create_app(shequn, run_worker=False)) as client:
        before = client.get(f"/lottery/demo/{draw_id}")
        assert "未开奖 Not drawn yet" in before.text
        run_jobs(shequn, "2020-11-07T20:31:00+08:00")
        page = client.get(f"/lottery/demo/{draw_id}")
        assert page.status_code == 200
        assert "验证通过 VERIFIED" in page.text
        record = client.get(f"/lottery/demo/{draw_id}.json").json()
        assert verify(record).ok
        assert client.get(f"/lottery/other/{draw_id}").status_code == 404


def like(n: int, member: str, at: str, *, removed: bool = False) -> dict[str, Any]:
    kind = "reaction.removed" if removed else "reaction.added"
    return event(
        f"r{n}", kind, at, {"group": "g1", "member": member, "message": "post-1", "emoji": "👍"}
    )


def test_the_8th_like_wins_counting_each_member_once_and_skipping_staff(shequn: Shequn) -> None:
    ingest(shequn, [*groups("g1"), *joins("g1", [f"u{i}" for i in range(1, 12)])])
    with shequn.sessions.begin() as session:
        from shequn.group.models import Staff

        session.add(
            Staff(org="demo", id="u3", first_seen_at=parse_instant("2020-11-06T10:00:00+08:00"))
        )
    likes = [
        like(1, "u1", "2020-11-08T20:00:01"), like(2, "u2", "2020-11-08T20:00:02"),
        like(3, "u3", "2020-11-08T20:00:03"),  # staff: takes no place
        like(4, "u1", "2020-11-08T20:00:04"),  # a second like counts once
        like(5, "u4", "2020-11-08T20:00:05"), like(6, "u5", "2020-11-08T20:00:05"),
        like(7, "u6", "2020-11-08T20:00:06"), like(8, "u6", "2020-11-08T20:00:07", removed=True),
        like(9, "u7", "2020-11-08T20:00:08"), like(10, "u8", "2020-11-08T20:00:09"),
        like(11, "u9", "2020-11-08T20:00:10"), like(12, "u10", "2020-11-08T20:00:11"),
        like(13, "u11", "2020-11-08T21:00:00"),  # after the deadline
    ]  # fmt: skip
    ingest(shequn, likes)
    db = shequn.settings.database_url
    counted = runner.invoke(app, ["lottery", "nth-like", "--group", "g1", "--message", "post-1", "--n", "4",
                                  "--every", "--deadline", "2020-11-08T20:30:00+08:00",
                                  "--prize", "连衣裙", "--org", "demo", "--json", "--db", db])  # fmt: skip
    assert counted.exit_code == 0, counted.output
    # Places: u1, u2, u4, u5 (4th), u7, u8, u9, u10 (8th); u6 took their like back.
    assert [(w["position"], w["member"]) for w in json.loads(counted.stdout)] == [
        (4, "u5"),
        (8, "u10"),
    ]
    assert "第 4 个赞:u5,获得「连衣裙」!\n第 8 个赞:u10,获得「连衣裙」!" in messages(shequn)
    with shequn.sessions() as session:
        assert sorted(w.member_id for w in session.scalars(select(LotteryWin))) == ["u10", "u5"]


def test_only_members_who_signed_in_that_day_with_enough_points_enter(shequn: Shequn) -> None:
    def says(n: int, member: str, text: str) -> dict[str, Any]:
        return event(f"s{n}", "message.posted", "2020-11-07T09:00:00",
                     {"group": "g1", "member": member, "message": f"s{n}", "kind": "text", "text": text})  # fmt: skip

    # u1 and u2 sign in (5 points each under the default rules); u3 only chats (1 point).
    ingest(shequn, [*groups("g1"), *joins("g1", ["u1", "u2", "u3"]),
                    says(1, "u1", "签到"), says(2, "u2", "签到"), says(3, "u3", "早")])  # fmt: skip
    lottery(shequn, pool=["g1"], prizes=[PrizeSpec("连衣裙", 5, 0)],
            eligibility={"require_sign_in": True, "min_points": 5, "weight_by_points": True})  # fmt: skip
    run_jobs(shequn, "2020-11-07T20:31:00+08:00")
    [record] = draws(shequn)
    assert (sorted(winners_of(record)), record.exclusions) == (
        ["u1", "u2"],
        {"below_min_points": 1},
    )
    weights = {e["member"]: e["weight"] for e in (record.published or {})["entrants"]}
    assert weights == {"u1": 5, "u2": 5}


def test_the_api_lists_draws_draws_a_due_one_and_verifies_it(shequn: Shequn) -> None:
    from shequn.kit.time import utc_now
    from shequn.org.service import create_token, save_org

    with shequn.sessions.begin() as session:
        save_org(session, "demo", name=None, timezone="Asia/Shanghai", settings=None, now=utc_now())
        token = create_token(session, "demo", name="test", now=utc_now())
    headers = {"Authorization": f"Bearer {token}"}
    ingest(shequn, [*groups("g1"), *joins("g1", ["u1", "u2"])])
    [due] = lottery(shequn, pool=["g1"])
    [later] = lottery_later(shequn)
    with TestClient(create_app(shequn, run_worker=False)) as client:
        assert [d["draw"] for d in client.get("/api/v1/lottery/draws", headers=headers).json()] == [
            later,
            due,
        ]
        early = client.post(f"/api/v1/lottery/draws/{later}/draw", headers=headers)
        assert early.status_code == 409
        drawn = client.post(f"/api/v1/lottery/draws/{due}/draw", headers=headers).json()
        assert (drawn["status"], drawn["entrant_count"], len(drawn["winners"])) == ("drawn", 2, 1)
        checked = client.get(f"/api/v1/lottery/draws/{due}/verify", headers=headers).json()
        assert (checked["ok"], checked["seed"]) == (True, drawn["seed"])
        assert client.get("/api/v1/lottery/draws").status_code == 401


def lottery_later(shequn: Shequn) -> list[str]:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=parse_instant("2020-11-07T09:00:00+08:00"))
        draws = create_lottery(
            context, "demo", lottery_id="future", name="以后", groups=["g1"],
            first=parse_instant("2099-11-07T20:30:00+08:00"), days=1, prizes=[DRESS],
            rules_text="以后", eligibility={}, lang="zh",
        )  # fmt: skip
        context.flush()
        return [draw.id for draw in draws]
