"""The audit in the engine: members are scored as they arrive, operators decide, and flagged
accounts stop counting for invites."""

import json
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.audit.models import AuditCase, AuditDecision
from shequn.audit.rules import audit_policy
from shequn.audit.service import review_count, review_queue
from shequn.cli.main import app
from shequn.engine.models import ActionRecord
from shequn.kit.time import utc_now
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()
STOCK = {"url": "https://img.example/stock-1.jpg", "flags": ["stock_photo"]}


def profile(member: str, nickname: str, at: str = "09:00:00", **data: Any) -> dict[str, Any]:
    return event(f"p-{member}-{at}", "member.upserted", f"2020-11-07T{at}",
                 {"member": member, "nickname": nickname, **data})  # fmt: skip


def joined(member: str, group: str, at: str, inviter: str | None = None) -> dict[str, Any]:
    data = {"group": group, "member": member, "inviter": inviter}
    return event(f"j-{member}-{group}-{at}", "member.joined", f"2020-11-07T{at}", data)


def left(member: str, group: str, at: str, reason: str = "kicked") -> dict[str, Any]:
    data = {"group": group, "member": member, "reason": reason}
    return event(f"l-{member}-{group}-{at}", "member.left", f"2020-11-07T{at}", data)


def case_of(shequn: Shequn, member: str) -> tuple[int, str, list[tuple[str, int]]] | None:
    with shequn.sessions() as session:
        case = session.get(AuditCase, ("demo", member))
        if case is None:
            return None
        return case.score, case.verdict, [(s["code"], s["weight"]) for s in case.signals]


def audit(shequn: Shequn, *args: str) -> Any:
    return runner.invoke(
        app, ["audit", *args, "--org", "demo", "--db", shequn.settings.database_url]
    )


def kicks(shequn: Shequn) -> list[tuple[str | None, str | None, str]]:
    with shequn.sessions() as session:
        rows = session.scalars(
            select(ActionRecord)
            .where(ActionRecord.kind == "kick_member")
            .order_by(ActionRecord.created_at, ActionRecord.group_id, ActionRecord.id)
        )
        return [(row.member_id, row.group_id, row.cause) for row in rows]


def test_a_marketing_account_that_joins_is_a_kick_case_and_a_genuine_one_passes(
    shequn: Shequn,
) -> None:
    ingest(shequn, [
        profile("u9", "A00微商货源", avatar=STOCK), joined("u9", "new-3", "10:00:00"),
        profile("u2", "王芳", gender="female"), joined("u2", "new-3", "10:01:00"),
    ])  # fmt: skip
    assert case_of(shequn, "u9") == (
        100, "kick",
        [("name_starts_with_a", 45), ("name_business_words", 40), ("stock_photo_avatar", 40)],
    )  # fmt: skip
    assert case_of(shequn, "u2") == (0, "pass", [])
    # The operator kicks by default: the kick verdict waits in the review queue.
    assert kicks(shequn) == []
    queue = audit(shequn, "review", "--json")
    assert [(row["member"], row["verdict"]) for row in json.loads(queue.stdout)] == [("u9", "kick")]


def test_staff_crew_and_whitelisted_members_are_never_scored(shequn: Shequn) -> None:
    configured = audit(shequn, "configure", "--crew", "c1", "--whitelist", "w1,w2")
    assert configured.exit_code == 0, configured.output
    assert json.loads(configured.stdout) == {
        "audit_audience": "any", "audit_review": 40, "audit_kick": 70, "audit_auto_kick": False,
        "audit_whitelist": ["w1", "w2"], "audit_crew": ["c1"],
    }  # fmt: skip
    fake = {"nickname": "A00微商货源", "avatar": STOCK}
    ingest(shequn, [
        event("g", "group.upserted", "2020-11-07T08:00:00",
              {"group": "new-3", "name": "新群3", "owner": "boss"}),
        *[profile(member, **fake) for member in ("boss", "c1", "w1", "u9")],
        *[joined(member, "new-3", f"10:0{n}:00") for n, member in enumerate(["c1", "w1", "u9"])],
    ])  # fmt: skip
    with shequn.sessions() as session:
        cases = session.scalars(select(AuditCase).order_by(AuditCase.member))
        assert [(c.member, c.score, c.verdict, c.exempt) for c in cases] == [
            ("boss", 0, "pass", "staff"), ("c1", 0, "pass", "crew"),
            ("u9", 100, "kick", None), ("w1", 0, "pass", "whitelisted"),
        ]  # fmt: skip


def test_a_member_kicked_and_back_again_is_doubted_more(shequn: Shequn) -> None:
    ingest(shequn, [profile("u5", "芬芬"), joined("u5", "old-1", "10:00:00")])
    assert case_of(shequn, "u5") == (35, "pass", [("name_reduplication", 35)])
    ingest(shequn, [left("u5", "old-1", "11:00:00"), joined("u5", "new-3", "12:00:00")])
    assert case_of(shequn, "u5") == (
        70,
        "kick",
        [("name_reduplication", 35), ("rejoined_after_kick", 35)],
    )


def test_a_new_account_wearing_a_kicked_accounts_nickname_or_avatar_goes_to_review(
    shequn: Shequn,
) -> None:
    face = {"url": "https://img.example/girl-7.jpg"}
    ingest(shequn, [
        profile("u7", "小美美", avatar=face), joined("u7", "old-1", "10:00:00"),
        left("u7", "old-1", "10:30:00"),
        profile("u8", "小美美\u200b"), joined("u8", "new-3", "11:00:00"),
        profile("u6", "Lily", avatar=face), joined("u6", "new-3", "11:05:00"),
        joined("u7", "new-3", "12:00:00"),
    ])  # fmt: skip
    assert case_of(shequn, "u8") == (50, "review", [("matches_kicked_account", 50)])
    assert case_of(shequn, "u6") == (50, "review", [("matches_kicked_account", 50)])
    # Coming back is its own signal, not a look-alike of oneself.
    assert case_of(shequn, "u7") == (35, "pass", [("rejoined_after_kick", 35)])


def test_joining_three_of_the_orgs_groups_within_minutes_is_a_sweep(shequn: Shequn) -> None:
    ingest(shequn, [
        profile("u3", "小雨"),
        *[joined("u3", group, f"10:0{n * 3}:00") for n, group in enumerate(["g1", "g2", "g3"])],
        profile("u4", "小雪"),
        *[joined("u4", group, f"1{n}:00:00") for n, group in enumerate(["g1", "g2", "g3"])],
    ])  # fmt: skip
    assert case_of(shequn, "u3") == (35, "pass", [("joined_many_groups_quickly", 35)])
    assert case_of(shequn, "u4") == (0, "pass", [])


def test_scan_prints_one_array_in_the_contract_shape_strongest_first(shequn: Shequn) -> None:
    ingest(shequn, [
        profile("u9", "A00微商货源", avatar=STOCK), joined("u9", "new-3", "10:00:00"),
        profile("u2", "王芳"), joined("u2", "new-3", "10:01:00"),
        profile("u1", "莉莉"), joined("u1", "old-1", "10:02:00"),
        # Only ever posted: scored for the first time by the scan.
        event("m", "message.posted", "2020-11-07T10:03:00",
              {"group": "old-1", "member": "u0", "message": "m1", "kind": "text"}),
    ])  # fmt: skip
    assert case_of(shequn, "u0") is None
    scanned = audit(shequn, "scan", "--json", "--lang", "en")
    assert scanned.exit_code == 0, scanned.output
    assert json.loads(scanned.stdout) == [
        {"member": "u9", "score": 100, "verdict": "kick", "signals": [
            {"code": "name_starts_with_a", "weight": 45,
             "reason": "nickname starts with A (the ranking trick of marketing accounts)"},
            {"code": "name_business_words", "weight": 40,
             "reason": "nickname advertises a business (micro-business, supply, wholesale and "
                       "the like)"},
            {"code": "stock_photo_avatar", "weight": 40,
             "reason": "avatar is an influencer stock photo (bought in bulk for marketing "
                       "accounts)"},
        ]},
        {"member": "u1", "score": 35, "verdict": "pass", "signals": [
            {"code": "name_reduplication", "weight": 35,
             "reason": "nickname is a plain reduplication (like 芬芬, 莉莉, 娇娇)"},
        ]},
        {"member": "u0", "score": 0, "verdict": "pass", "signals": []},
        {"member": "u2", "score": 0, "verdict": "pass", "signals": []},
    ]  # fmt: skip
    assert case_of(shequn, "u0") == (0, "pass", [])
    in_group = audit(shequn, "scan", "--json", "--group", "new-3")
    assert [(row["member"], row["signals"][0]["reason"] if row["signals"] else None)
            for row in json.loads(in_group.stdout)] == [
        ("u9", "昵称以A开头(刷排名的营销号手法)"), ("u2", None),
    ]  # fmt: skip


def test_decisions_are_recorded_with_who_and_when_and_survive_a_rebuild(shequn: Shequn) -> None:
    ingest(shequn, [
        profile("u9", "A00微商货源", avatar=STOCK), joined("u9", "new-3", "10:00:00"),
        joined("u9", "old-1", "10:20:00"), profile("u2", "王芳"), joined("u2", "new-3", "10:01:00"),
    ])  # fmt: skip
    kicked = audit(shequn, "decide", "u9", "kick", "--by", "小王", "--note", "批量网红头像")
    assert kicked.exit_code == 0, kicked.output
    assert "kick 踢出: new-3, old-1" in kicked.stdout
    assert audit(shequn, "decide", "u2", "keep", "--by", "小李").exit_code == 0
    assert audit(shequn, "decide", "u9", "keep", "--by", "店长").exit_code == 0
    with shequn.sessions() as session:
        first = session.scalars(select(AuditDecision).order_by(AuditDecision.id).limit(1)).one()
    cause = f"audit-decision:{first.id}"
    assert kicks(shequn) == [("u9", "new-3", cause), ("u9", "old-1", cause)]
    rebuilt = runner.invoke(app, ["rebuild", "--db", shequn.settings.database_url])
    assert rebuilt.exit_code == 0, rebuilt.output
    history = json.loads(audit(shequn, "decisions", "--json").stdout)
    assert [(row["member"], row["decision"], row["by"], row["note"]) for row in history] == [
        ("u9", "kick", "小王", "批量网红头像"), ("u2", "keep", "小李", None), ("u9", "keep", "店长", None),
    ]  # fmt: skip
    assert all(datetime.fromisoformat(row["at"]).tzinfo is not None for row in history)
    only_u9 = json.loads(audit(shequn, "decisions", "--member", "u9", "--json").stdout)
    assert [row["by"] for row in only_u9] == ["小王", "店长"]
    with shequn.sessions() as session:
        case = session.get(AuditCase, ("demo", "u9"))
        assert case is not None
        assert (case.decision, case.decided_by, case.verdict) == ("keep", "店长", "kick")
    # Decided members leave the review queue.
    assert json.loads(audit(shequn, "review", "--json").stdout) == []


def test_a_whitelisted_member_is_exempt_from_then_on(shequn: Shequn) -> None:
    ingest(shequn, [profile("u9", "A00微商货源", avatar=STOCK), joined("u9", "new-3", "10:00:00")])
    assert audit(shequn, "decide", "u9", "whitelist", "--by", "小王").exit_code == 0
    assert case_of(shequn, "u9") == (0, "pass", [])
    ingest(shequn, [profile("u9", "A00微商货源 加v:abc123", at="11:00:00")])
    assert case_of(shequn, "u9") == (0, "pass", [])
    assert kicks(shequn) == []


def test_flagged_invitees_stop_counting_for_their_inviter(shequn: Shequn) -> None:
    # A pulls 10 in; 2 of them are fake accounts flagged by the audit: 8 effective, flagged 2.
    log = [joined("A", "new-3", "09:00:00")]
    for n in range(10):
        if n < 2:
            log.append(profile(f"u{n}", f"A{n}{n}微商货源", avatar=STOCK))
        log.append(joined(f"u{n}", "new-3", f"10:0{n}:00", inviter="A"))
    ingest(shequn, log)
    db = shequn.settings.database_url
    report = ["report", "invites", "--org", "demo", "--json", "--db", db]
    assert json.loads(runner.invoke(app, report).stdout) == [
        {"inviter": "A", "invited": 10, "effective": 8, "left": 0, "kicked": 0, "flagged": 2}
    ]
    # An operator who keeps one of them makes them count again.
    assert audit(shequn, "decide", "u1", "keep", "--by", "小王").exit_code == 0
    assert json.loads(runner.invoke(app, report).stdout)[0]["effective"] == 9


def test_bad_input_is_refused_by_name_and_changes_nothing(shequn: Shequn) -> None:
    ingest(shequn, [profile("u9", "A00微商货源", avatar=STOCK), joined("u9", "new-3", "10:00:00")])
    unknown = audit(shequn, "decide", "nobody", "kick", "--by", "小王")
    assert unknown.exit_code == 1
    assert "member 'nobody' is not known in this org" in unknown.stderr
    bad_word = audit(shequn, "decide", "u9", "ban", "--by", "小王")
    assert bad_word.exit_code == 1
    assert "decision 'ban' is not one of kick, keep, whitelist" in bad_word.stderr
    bad_thresholds = audit(shequn, "configure", "--review", "80", "--kick", "70")
    assert bad_thresholds.exit_code == 1
    assert "review=80 kick=70: need 0 < review <= kick <= 100" in bad_thresholds.stderr
    bad_audience = audit(shequn, "configure", "--audience", "women")
    assert "audit_audience: 'women' is not one of female, male, any" in bad_audience.stderr
    bad_lang = audit(shequn, "scan", "--lang", "fr")
    assert bad_lang.exit_code == 1
    assert "--lang: 'fr' is not one of zh, en" in bad_lang.stderr
    no_group = audit(shequn, "scan", "--group", "nowhere")
    assert no_group.exit_code == 1
    assert "group 'nowhere' is not known in this org" in no_group.stderr
    with shequn.sessions() as session:
        assert session.scalars(select(AuditDecision)).all() == []
        case = session.get(AuditCase, ("demo", "u9"))
        assert case is not None
        assert case.decision is None
    assert kicks(shequn) == []
    shown = json.loads(audit(shequn, "configure").stdout)
    assert (shown["audit_review"], shown["audit_kick"], shown["audit_audience"]) == (40, 70, "any")


def test_auto_kick_kicks_once_per_stay_whatever_the_duplicates(shequn: Shequn) -> None:
    assert audit(shequn, "configure", "--auto-kick").exit_code == 0
    log = [
        profile("u9", "A00微商货源", avatar=STOCK),
        joined("u9", "new-3", "10:00:00"),
        joined("u9", "old-1", "10:30:00"),
    ]
    ingest(shequn, log)
    ingest(shequn, [*log, profile("u9", "A00微商货源", at="10:40:00", avatar=STOCK)])
    assert kicks(shequn) == [("u9", "new-3", "audit:u9"), ("u9", "old-1", "audit:u9")]
    # The platform carried out the kick; the account comes back to one group: kicked again.
    ingest(shequn, [left("u9", "new-3", "11:00:00"), joined("u9", "new-3", "11:30:00")])
    assert kicks(shequn)[2:] == [("u9", "new-3", "audit:u9")]
    with shequn.sessions() as session:
        action = session.scalars(
            select(ActionRecord).where(ActionRecord.kind == "kick_member").limit(1)
        ).one()
        assert action.payload["score"] == 100
        assert action.payload["reason"]["zh"] == "审核判定为营销号/假号(评分 100)"
    # Auto-kicked members do not wait for review.
    assert json.loads(audit(shequn, "review", "--json").stdout) == []


@pytest.mark.parametrize(("auto_kick", "queued"), [(False, ["k1", "r1"]), (True, ["r1"])])
def test_the_review_queue_holds_undecided_reviews_and_kicks_nobody_carried_out_and_counts_alike(
    shequn: Shequn, auto_kick: bool, queued: list[str]
) -> None:
    now = utc_now()
    cases = [("r1", 50, "review", None), ("k1", 90, "kick", None), ("k2", 95, "kick", "keep"),
             ("r2", 40, "review", "whitelist"), ("p1", 0, "pass", None)]  # fmt: skip
    with shequn.sessions.begin() as session:
        for member, score, verdict, decision in cases:
            session.add(AuditCase(org="demo", member=member, score=score, verdict=verdict,
                                  signals=[], exempt=None, scored_at=now, decision=decision,
                                  decided_by=None, decided_at=None))  # fmt: skip
    policy = audit_policy({"audit_auto_kick": auto_kick})
    with shequn.sessions() as session:
        assert [case.member for case in review_queue(session, "demo", policy=policy)] == queued
        assert review_count(session, "demo", policy=policy) == len(queued)
        paged = review_queue(session, "demo", policy=policy, offset=1, limit=1)
        assert [case.member for case in paged] == queued[1:2]
        assert review_count(session, "other", policy=policy) == 0
