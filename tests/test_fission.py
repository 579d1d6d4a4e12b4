"""Fission campaigns: each tier of effective invites is granted exactly once."""

import json
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.cli.main import app
from shequn.engine.models import ActionRecord, JobRecord, JobStatus
from shequn.engine.rebuild import rebuild
from shequn.engine.scheduler import run_due_jobs
from shequn.fission.models import RewardGrant
from shequn.fission.rules import (
    GrantMode,
    RewardKind,
    Tier,
    board_text,
    parse_tier,
    progress_line,
    tier_changes,
)
from shequn.fission.service import create_campaign
from shequn.kit.time import parse_instant, utc_now
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()
START = parse_instant("2020-11-07T00:00:00+08:00")
END = parse_instant("2020-11-07T23:59:59+08:00")
COUPON = Tier(3, RewardKind.COUPON, "¥20 无门槛券", 2000)
GIFT = Tier(10, RewardKind.GIFT, "连衣裙", 19900)


def campaign(shequn: Shequn, *, mode: GrantMode = GrantMode.ON_REACH) -> None:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=START)
        create_campaign(context, "demo", campaign_id="d11", name="双11裂变", groups=["new-3"],
                        starts_at=START, ends_at=END, tiers=[GIFT, COUPON], mode=mode)  # fmt: skip
        context.flush()


def pulls(inviter: str, count: int, *, hour: int = 10) -> list[dict[str, Any]]:
    return [
        event(f"j-{inviter}-{n}", "member.joined", f"2020-11-07T{hour}:{n:02d}:00",
              {"group": "new-3", "member": f"{inviter}-{n}", "inviter": inviter})
        for n in range(count)
    ]  # fmt: skip


def leaves(inviter: str, numbers: range, *, hour: int = 12) -> list[dict[str, Any]]:
    return [
        event(f"l-{inviter}-{n}", "member.left", f"2020-11-07T{hour}:{n:02d}:00",
              {"group": "new-3", "member": f"{inviter}-{n}", "reason": "quit"})
        for n in numbers
    ]  # fmt: skip


def run_jobs(shequn: Shequn, at: str = "2020-11-08T00:10:00+08:00") -> None:
    run_due_jobs(shequn.sessions, shequn.registry, now=parse_instant(at), limit=10_000)


def grants(shequn: Shequn) -> list[tuple[str, int, str, bool]]:
    with shequn.sessions() as session:
        rows = session.scalars(select(RewardGrant).order_by(RewardGrant.inviter, RewardGrant.tier))
        return [(g.inviter, g.tier, g.name, g.flagged_at is not None) for g in rows]


def test_reaching_3_and_10_effective_invites_grants_the_coupon_then_the_gift(
    shequn: Shequn,
) -> None:
    campaign(shequn)
    ingest(shequn, [event("a", "member.joined", "2020-11-07T09:00:00", {"group": "old-1", "member": "A"}),
                    *pulls("A", 10), *pulls("B", 2)])  # fmt: skip
    run_jobs(shequn)
    assert grants(shequn) == [("A", 3, "¥20 无门槛券", False), ("A", 10, "连衣裙", False)]
    with shequn.sessions() as session:
        [task] = session.scalars(select(ActionRecord).where(ActionRecord.kind == "create_task"))
        assert task.member_id == "A"
        assert (
            task.payload["title"]["zh"]
            == "活动「双11裂变」:给 A 寄出礼品「连衣裙」(成本 ¥199.00)。"
        )


def test_tiers_are_granted_once_under_duplicates_replays_and_rebuilds(shequn: Shequn) -> None:
    campaign(shequn)
    log = pulls("A", 4)
    ingest(shequn, log)
    run_jobs(shequn)
    ingest(shequn, [*log, *[{**e, "id": e["id"] + "-again"} for e in log]])
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    with shequn.sessions.begin() as session:
        for job in session.scalars(select(JobRecord)):
            job.status = JobStatus.PENDING  # replay every recount and the settlement
    run_jobs(shequn)
    assert grants(shequn) == [("A", 3, "¥20 无门槛券", False)]


def test_a_granted_tier_whose_count_falls_is_kept_and_flagged(shequn: Shequn) -> None:
    campaign(shequn)
    ingest(shequn, [*pulls("A", 3), *leaves("A", range(1))])
    run_jobs(shequn)
    assert grants(shequn) == [("A", 3, "¥20 无门槛券", True)]


def test_in_end_mode_nothing_is_granted_before_the_campaign_ends(shequn: Shequn) -> None:
    campaign(shequn, mode=GrantMode.AT_END)
    ingest(shequn, [*pulls("A", 4), *leaves("A", range(2))])
    run_jobs(shequn, at="2020-11-07T18:00:00+08:00")
    assert grants(shequn) == []
    run_jobs(shequn)
    assert grants(shequn) == []  # 2 effective at the end: below the first tier


def test_joins_outside_the_campaign_groups_or_window_do_not_count(shequn: Shequn) -> None:
    campaign(shequn)
    other_group = [{**e, "data": {**e["data"], "group": "old-1"}} for e in pulls("A", 5)]
    day_after = pulls("B", 5)
    for e in day_after:
        e["at"] = e["at"].replace("2020-11-07", "2020-11-08")
    ingest(shequn, [*other_group, *day_after])
    run_jobs(shequn, at="2020-11-08T23:00:00+08:00")
    assert grants(shequn) == []


def test_tier_changes_grant_new_tiers_and_flag_fallen_ones() -> None:
    changes = tier_changes([COUPON, GIFT], effective=4, granted={10})
    assert (changes.grant, changes.flag) == ((COUPON,), (GIFT,))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("3:coupon:¥20券", "write COUNT:KIND:NAME:COST"),
        ("0:coupon:¥20券:20", "a whole number of 1 or more"),
        ("3:hug:拥抱:0", "the kind must be one of coupon, points, gift"),
        ("3:coupon:¥20券:20.001", "cost 20.001 has more than 2 decimals"),
    ],
)
def test_a_bad_tier_is_refused_with_its_reason(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_tier(text)


def test_campaign_commands_create_board_and_rewards(shequn: Shequn) -> None:
    db = shequn.settings.database_url
    made = runner.invoke(app, [
        "fission", "create", "d11", "--org", "demo", "--groups", "new-3",
        "--from", "2020-11-07T00:00:00+08:00", "--to", "2020-11-07T23:59:59+08:00",
        "--tier", "3:coupon:¥20券:20.00", "--tier", "10:gift:连衣裙:199.00", "--db", db,
    ])  # fmt: skip
    assert made.exit_code == 0, made.output
    ingest(shequn, [*pulls("A", 3), *pulls("B", 3, hour=11), *leaves("B", range(1))])
    run_jobs(shequn)
    board = runner.invoke(app, ["fission", "board", "d11", "--org", "demo", "--json", "--db", db])
    assert [(row["inviter"], row["effective"]) for row in json.loads(board.stdout)] == [
        ("A", 3), ("B", 2),
    ]  # fmt: skip
    rewards = runner.invoke(
        app, ["fission", "rewards", "d11", "--org", "demo", "--json", "--db", db]
    )
    assert [(r["inviter"], r["tier"], r["cost"], r["flagged"]) for r in json.loads(rewards.stdout)] == [
        ("A", 3, "20.00", False), ("B", 3, "20.00", True),
    ]  # fmt: skip
    again = runner.invoke(app, ["fission", "create", "d11", "--org", "demo", "--from",
                                "2020-11-07T00:00:00+08:00", "--to", "2020-11-06T00:00:00+08:00",
                                "--tier", "3:coupon:x:1", "--db", db])  # fmt: skip
    assert again.exit_code == 1
    assert "--to must come after --from" in again.stderr


def sent(shequn: Shequn, cause_prefix: str = "") -> list[tuple[str | None, str, list[str]]]:
    with shequn.sessions() as session:
        rows = session.scalars(
            select(ActionRecord)
            .where(ActionRecord.kind == "send_message", ActionRecord.cause.startswith(cause_prefix))
            .order_by(ActionRecord.created_at, ActionRecord.id)
        )
        return [(row.group_id, row.payload["text"], row.payload["mentions"]) for row in rows]


def test_an_inviter_hears_of_their_progress_at_most_once_per_interval(shequn: Shequn) -> None:
    campaign(shequn)  # 30 minutes between progress messages by default
    profile = event(
        "pa", "member.upserted", "2020-11-07T09:00:00", {"member": "A", "nickname": "小美"}
    )
    ingest(shequn, [profile, *pulls("A", 2)])  # 10:00 and 10:01, counted at 10:01
    run_jobs(shequn, at="2020-11-07T10:05:00+08:00")
    ingest(shequn, pulls("A", 3)[2:])  # 10:02, within the interval: not told yet
    run_jobs(shequn, at="2020-11-07T10:10:00+08:00")
    # B's 11:00 join brings a recount at 11:01: A (3 by then) is told too; A's 11:03 and
    # 11:04 newcomers fall within A's next interval.
    ingest(shequn, [*pulls("B", 1, hour=11), *pulls("A", 5, hour=11)[3:]])
    run_jobs(shequn, at="2020-11-07T11:10:00+08:00")
    assert sent(shequn, "campaign:") == [
        ("new-3", "小美:已有 2 位有效邀请,再邀 1 位得「¥20 无门槛券」", ["A"]),
        ("new-3", "小美:已有 3 位有效邀请,再邀 7 位得「连衣裙」\nB:已有 1 位有效邀请,再邀 2 位得「¥20 无门槛券」", ["A", "B"]),
    ]  # fmt: skip


def test_a_falling_count_is_not_announced(shequn: Shequn) -> None:
    campaign(shequn)
    ingest(shequn, pulls("A", 2))
    run_jobs(shequn, at="2020-11-07T10:05:00+08:00")
    ingest(shequn, leaves("A", range(1)))
    run_jobs(shequn, at="2020-11-07T13:00:00+08:00")
    assert [text for _, text, _ in sent(shequn, "campaign:")] == [
        "A:已有 2 位有效邀请,再邀 1 位得「¥20 无门槛券」"
    ]


def test_the_leaderboard_is_posted_daily_at_its_local_time_into_the_campaign_groups(
    shequn: Shequn,
) -> None:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=START)
        create_campaign(context, "demo", campaign_id="d11", name="双11裂变", groups=["new-3"],
                        starts_at=START, ends_at=parse_instant("2020-11-08T23:59:59+08:00"),
                        tiers=[COUPON], mode=GrantMode.ON_REACH, progress_minutes=0,
                        board_at="20:00", board_top=2)  # fmt: skip
        context.flush()
    ingest(shequn, [
        event("g", "group.upserted", "2020-11-06T09:00:00", {"group": "new-3", "name": "新群3"}),
        *pulls("A", 2), *pulls("B", 3), *pulls("C", 1),
    ])  # fmt: skip
    run_jobs(shequn, at="2020-11-07T20:00:30+08:00")
    with shequn.sessions() as session:
        boards = session.scalars(select(JobRecord).where(JobRecord.kind == "fission.board"))
        assert sorted(job.due_at.isoformat() for job in boards) == [
            "2020-11-07T12:00:00+00:00", "2020-11-08T12:00:00+00:00"
        ]  # fmt: skip
    assert sent(shequn, "job:") == [("new-3", "「双11裂变」邀请排行榜\n1. B 3 人\n2. A 2 人", [])]


def test_a_campaign_with_a_bad_board_time_or_language_is_refused(shequn: Shequn) -> None:
    db = shequn.settings.database_url
    common = ["fission", "create", "d11", "--org", "demo", "--db", db, "--tier", "3:coupon:券:5",
              "--from", "2020-11-07T00:00:00+08:00", "--to", "2020-11-08T00:00:00+08:00"]  # fmt: skip
    bad_time = runner.invoke(app, [*common, "--board-at", "25:00"])
    assert bad_time.exit_code == 1
    assert "'25:00' is not a time of day like 20:30" in bad_time.stderr
    bad_lang = runner.invoke(app, [*common, "--lang", "fr"])
    assert "--lang: 'fr' is not one of zh, en" in bad_lang.stderr
    with shequn.sessions() as session:
        assert session.scalars(select(JobRecord)).all() == []


def test_progress_lines_name_the_next_reward_or_say_all_are_reached() -> None:
    assert (
        progress_line("Amy", 3, [COUPON, GIFT], lang="en") == "Amy: 3 effective, 7 more for 连衣裙"
    )
    assert (
        progress_line("Amy", 12, [COUPON, GIFT], lang="en")
        == "Amy: 12 effective, every reward reached!"
    )
    assert (
        board_text("D11", [], lang="en")
        == "“D11” invite leaderboard\nNo effective invites yet: invite your friends!"
    )


def test_newcomers_of_a_campaign_group_are_welcomed_with_its_rules_in_one_message(
    shequn: Shequn,
) -> None:
    campaign(shequn)
    ingest(shequn, [
        event("g", "group.upserted", "2020-11-06T09:00:00", {"group": "new-3", "name": "新群3"}),
        event("g-old", "group.upserted", "2020-11-06T09:00:00", {"group": "old-1", "name": "老群1"}),
        event("p1", "member.upserted", "2020-11-07T09:00:00", {"member": "A-0", "nickname": "小美"}),
        event("p2", "member.upserted", "2020-11-07T09:00:00", {"member": "A-1", "nickname": "Amy"}),
        *pulls("A", 2)[:1],
        {**pulls("A", 2)[1], "at": "2020-11-07T10:00:30+08:00"},  # the same minute: one message
        event("o", "member.joined", "2020-11-07T10:00:10", {"group": "old-1", "member": "X"}),
    ])  # fmt: skip
    run_jobs(shequn, at="2020-11-07T10:02:00+08:00")
    # old-1 is not a campaign group, and the org has no welcome of its own: nothing there.
    welcomes = [(g, text, mentions) for g, text, mentions in sent(shequn, "job:")]
    assert welcomes == [
        (
            "new-3",
            "欢迎 小美、Amy 加入新群3!「双11裂变」进行中:邀请 3 位好友 → ¥20 无门槛券;"
            "邀请 10 位好友 → 连衣裙。邀请好友入群即可累计,好友退群不计。",
            ["A-0", "A-1"],
        )
    ]  # fmt: skip — old-1 is not a campaign group and the org has no welcome of its own


def test_a_campaign_without_its_own_welcome_leaves_the_org_welcome(shequn: Shequn) -> None:
    db = shequn.settings.database_url
    org = runner.invoke(
        app, ["org", "create", "demo", "--welcome-text", "欢迎 {nickname}", "--db", db]
    )
    assert org.exit_code == 0, org.output
    made = runner.invoke(app, ["fission", "create", "d11", "--org", "demo", "--db", db, "--no-welcome",
                               "--from", "2020-11-07T00:00:00+08:00", "--to", "2020-11-07T23:59:59+08:00",
                               "--groups", "new-3", "--tier", "3:coupon:券:5"])  # fmt: skip
    assert made.exit_code == 0, made.output
    ingest(shequn, [
        event("g", "group.upserted", "2020-11-06T09:00:00", {"group": "new-3", "name": "新群3"}),
        *pulls("A", 1),
    ])  # fmt: skip
    run_jobs(shequn, at="2020-11-07T10:02:00+08:00")
    assert [text for _, text, _ in sent(shequn, "job:")] == ["欢迎 "]  # A-0 has no nickname yet
