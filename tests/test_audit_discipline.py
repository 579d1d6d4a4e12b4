"""Group discipline in the engine: offences are struck as messages arrive, a warning first, a
kick on the second, and every kick can be undone."""

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from shequn.audit.models import AuditCase, AuditRestore, AuditStrike
from shequn.audit.service import decide, flagged_members
from shequn.cli.audit import audit_app
from shequn.engine.models import ActionRecord, ActionStatus
from shequn.invite.service import InviteQuery, count_invites_as_of
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()


def group(group_id: str, owner: str = "op-1", source: str = "telegram") -> dict[str, Any]:
    data = {"group": group_id, "name": f"{group_id} 女装福利群", "owner": owner}
    return event(f"g-{group_id}", "group.upserted", "2020-11-07T08:00:00", data, source=source)


def profile(member: str, nickname: str, source: str = "telegram") -> dict[str, Any]:
    data = {"member": member, "nickname": nickname}
    return event(f"p-{member}", "member.upserted", "2020-11-07T08:30:00", data, source=source)


def joined(member: str, group_id: str, at: str, source: str = "telegram") -> dict[str, Any]:
    data = {"group": group_id, "member": member}
    return event(f"j-{member}-{group_id}-{at}", "member.joined", at, data, source=source)


def kicked(member: str, group_id: str, at: str) -> dict[str, Any]:
    data = {"group": group_id, "member": member, "reason": "kicked", "by": "op-1"}
    return event(f"l-{member}-{group_id}-{at}", "member.left", at, data)


def said(
    message: str, member: str, group_id: str, at: str, text: str | None = None, *,
    kind: str = "text", mentions: list[str] | None = None, source: str = "telegram",
) -> dict[str, Any]:  # fmt: skip
    data = {"group": group_id, "member": member, "message": message, "kind": kind,
            "text": text, "mentions": mentions or []}  # fmt: skip
    return event(f"m-{message}", "message.posted", at, data, source=source)


def actions(shequn: Shequn, *kinds: str) -> list[ActionRecord]:
    with shequn.sessions() as session:
        query = select(ActionRecord).order_by(ActionRecord.created_at, ActionRecord.id)
        rows = session.scalars(query).all()
    return sorted(
        (row for row in rows if not kinds or row.kind in kinds),
        key=lambda row: (str(row.payload.get("message", "")), row.kind),
    )


def steps(shequn: Shequn) -> list[tuple[str, str, str, str, bool]]:
    """(member, group, message, step, cleared) of every strike, in time order."""
    with shequn.sessions() as session:
        rows = session.scalars(select(AuditStrike).order_by(AuditStrike.at)).all()
        return [(r.member, r.group_id, r.message, r.step, r.cleared_at is not None) for r in rows]


def cli(shequn: Shequn, *args: str) -> Any:
    return runner.invoke(audit_app, [*args, "--org", "demo", "--db", shequn.settings.database_url])


COMMUNITY = [
    group("old-1"), group("new-3", owner="op-2"),
    profile("u5", "小美"), joined("u5", "old-1", "2020-11-07T09:00:00"),
    joined("u5", "new-3", "2020-11-07T09:05:00"),
]  # fmt: skip


def test_first_a_warning_second_offence_removed_then_a_private_word_and_re_adding_at_night(
    shequn: Shequn,
) -> None:
    ingest(shequn, [*COMMUNITY, said("m1", "u5", "old-1", "2020-11-07T10:00:00",
                                     "新款看这里 https://shop.example.com/p/1")])  # fmt: skip
    warned = actions(shequn, "warn_member")
    assert [(a.group_id, a.member_id, a.platform) for a in warned] == [("old-1", "u5", "telegram")]
    assert (
        warned[0].payload["text"]
        == "@小美 请遵守群规,不要发链接。本次为警告,再次违反将被移出群聊。"
    )
    assert warned[0].payload["mentions"] == ["u5"]
    assert [a.payload["message"] for a in actions(shequn, "delete_message")] == ["m1"]

    ingest(shequn, [said("m2", "u5", "old-1", "2020-11-07T15:00:00", "加v了解详情,一件代发")])
    kicks = actions(shequn, "kick_member")
    assert [(a.group_id, a.member_id) for a in kicks] == [("old-1", "u5")]
    assert kicks[0].payload["reason"] == {
        "zh": "违反群规(发广告),第 2 次违规,已警告过",
        "en": "broke the group rules (posting an advert), offence 2 after a warning",
    }
    assert kicks[0].payload["offences"] == [{"code": "ad_keyword", "evidence": "加v、一件代发"}]
    assert steps(shequn) == [("u5", "old-1", "m1", "warn", False),
                             ("u5", "old-1", "m2", "kick", False)]  # fmt: skip

    # The platform carries the kick out; in the evening the operator has a private word.
    ingest(shequn, [kicked("u5", "old-1", "2020-11-07T15:00:05")])
    restored = cli(shequn, "restore", "u5", "--by", "小王", "--note", "私聊过,答应不再发广告")
    assert restored.exit_code == 0, restored.output
    assert "old-1" in restored.stdout
    restores = actions(shequn, "restore_member")
    assert [(a.group_id, a.member_id, a.platform) for a in restores] == [
        ("old-1", "u5", "telegram")
    ]
    assert restores[0].payload["reason"] == {
        "zh": "小王 恢复入群:私聊过,答应不再发广告",
        "en": "restored by 小王: 私聊过,答应不再发广告",
    }
    with shequn.sessions() as session:
        record = session.scalars(select(AuditRestore)).one()
        assert (record.member, record.group_id, record.restored_by) == ("u5", "old-1", "小王")
    assert steps(shequn) == [("u5", "old-1", "m1", "warn", True),
                             ("u5", "old-1", "m2", "kick", True)]  # fmt: skip

    # Re-added at night: not a suspicious comeback, and the next slip is a warning again.
    ingest(shequn, [joined("u5", "old-1", "2020-11-07T22:00:00"),
                    said("m3", "u5", "old-1", "2020-11-08T10:00:00", "www.taobao.com")])  # fmt: skip
    with shequn.sessions() as session:
        case = session.get(AuditCase, ("demo", "u5"))
        assert case is not None
        assert "rejoined_after_kick" not in [signal["code"] for signal in case.signals]
    assert steps(shequn)[-1] == ("u5", "old-1", "m3", "warn", False)
    assert len(actions(shequn, "kick_member")) == 1

    # A second removal is just as reversible as the first.
    ingest(shequn, [said("m4", "u5", "old-1", "2020-11-08T11:00:00", "私聊我拿货"),
                    kicked("u5", "old-1", "2020-11-08T11:00:05")])  # fmt: skip
    assert len(actions(shequn, "kick_member")) == 2
    assert cli(shequn, "restore", "u5", "--by", "小王").exit_code == 0
    assert len(actions(shequn, "restore_member")) == 2
    again = cli(shequn, "restore", "u5", "--by", "小王")
    assert "member 'u5' was not kicked from any group" in again.output


def test_strikes_count_across_the_orgs_groups(shequn: Shequn) -> None:
    ingest(shequn, [
        *COMMUNITY,
        said("m1", "u5", "old-1", "2020-11-07T10:00:00", "招代理,月入过万,私聊"),
        said("m2", "u5", "new-3", "2020-11-07T10:30:00", "厂家直销,免费拿样"),
    ])  # fmt: skip
    assert [(a.kind, a.group_id) for a in actions(shequn, "warn_member", "kick_member")] == [
        ("warn_member", "old-1"), ("kick_member", "new-3"),
    ]  # fmt: skip
    listed = cli(shequn, "strikes", "--member", "u5", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    # The warning of 2020 has long expired; a kick counts until a restore.
    assert [(r["group"], r["step"], r["counts"]) for r in rows] == [
        ("old-1", "warn", False), ("new-3", "kick", True),
    ]  # fmt: skip
    assert rows[0] == {
        "member": "u5", "group": "old-1", "message": "m1", "at": "2020-11-07T02:00:00+00:00",
        "step": "warn", "offences": [{"code": "ad_keyword", "evidence": "招代理、月入、私聊"}],
        "expires_at": "2020-11-14T02:00:00+00:00", "cleared_at": None, "cleared_by": None,
        "counts": False,
    }  # fmt: skip


def test_a_warning_that_expired_does_not_count(shequn: Shequn) -> None:
    ingest(shequn, [
        *COMMUNITY,
        said("m1", "u5", "old-1", "2020-11-07T10:00:00", "https://a.example.com"),
        said("m2", "u5", "old-1", "2020-11-15T10:00:00", "https://b.example.com"),
    ])  # fmt: skip
    assert [s[3] for s in steps(shequn)] == ["warn", "warn"]
    assert actions(shequn, "kick_member") == []


def test_staff_and_the_atmosphere_crew_post_links_freely(shequn: Shequn) -> None:
    configured = runner.invoke(audit_app, ["configure", "--crew", "c1", "--org", "demo",
                                           "--db", shequn.settings.database_url])  # fmt: skip
    assert configured.exit_code == 0, configured.output
    ingest(shequn, [
        *COMMUNITY,
        said("m1", "op-1", "old-1", "2020-11-07T20:00:00", "今晚新款 https://mp.example.com/s"),
        said("m2", "op-1", "old-1", "2020-11-07T20:01:00", kind="mini_program"),
        said("m3", "c1", "old-1", "2020-11-07T20:02:00", "已下单 https://mp.example.com/s"),
    ])  # fmt: skip
    assert steps(shequn) == []
    assert actions(shequn, "warn_member", "kick_member", "delete_message") == []


def test_a_flood_of_six_messages_in_ten_seconds_is_one_offence(shequn: Shequn) -> None:
    burst = [
        said(f"f{n}", "u5", "old-1", f"2020-11-07T10:00:{2 * n:02d}", "抢抢抢") for n in range(8)
    ]
    # Split over batches of three: the tail carries over from one batch to the next.
    ingest(shequn, [*COMMUNITY, *burst], batch_size=3)
    assert steps(shequn) == [("u5", "old-1", "f5", "warn", False)]
    warned = actions(shequn, "warn_member")
    assert warned[0].payload["reason"] == {"zh": "刷屏", "en": "flooding the group"}


def test_a_flood_delivered_one_message_at_a_time_is_still_seen(shequn: Shequn) -> None:
    # A webhook delivers each message as its own batch.
    ingest(shequn, COMMUNITY)
    for n in range(6):
        ingest(shequn, [said(f"f{n}", "u5", "old-1", f"2020-11-07T10:00:0{n}", "抢")])
    assert steps(shequn) == [("u5", "old-1", "f5", "warn", False)]


def test_five_messages_in_ten_seconds_are_chat_not_a_flood(shequn: Shequn) -> None:
    ingest(shequn, [*COMMUNITY, *(
        said(f"f{n}", "u5", "old-1", f"2020-11-07T10:00:{2 * n:02d}", "好看") for n in range(5)
    )])  # fmt: skip
    assert steps(shequn) == []


def test_mass_mentions_are_an_offence(shequn: Shequn) -> None:
    ingest(shequn, [*COMMUNITY, said("m1", "u5", "old-1", "2020-11-07T10:00:00", "快来看",
                                     mentions=[f"u{n}" for n in range(10, 16)])])  # fmt: skip
    assert [s[3] for s in steps(shequn)] == ["warn"]


def test_a_redelivered_message_strikes_once(shequn: Shequn) -> None:
    offending = said("m1", "u5", "old-1", "2020-11-07T10:00:00", "加v了解详情")
    ingest(shequn, [*COMMUNITY, offending])
    again = ingest(shequn, [offending])
    assert again.duplicates == 1
    assert len(steps(shequn)) == 1
    assert len(actions(shequn, "warn_member")) == 1


def test_wecom_kicks_and_restores_carry_reason_and_group_for_an_operator_task(
    shequn: Shequn,
) -> None:
    ingest(shequn, [
        group("wc-1", source="wecom"), profile("w7", "A00批发", source="wecom"),
        joined("w7", "wc-1", "2020-11-07T09:00:00", source="wecom"),
        said("m1", "w7", "wc-1", "2020-11-07T10:00:00", "一件代发", source="wecom"),
        said("m2", "w7", "wc-1", "2020-11-07T10:05:00", "www.pifa.cn", source="wecom"),
    ])  # fmt: skip
    kick = actions(shequn, "kick_member")[0]
    assert (kick.platform, kick.group_id, kick.member_id) == ("wecom", "wc-1", "w7")
    assert kick.payload["group"] == "wc-1"
    assert kick.payload["group_name"] == "wc-1 女装福利群"
    assert kick.payload["member_name"] == "A00批发"
    assert kick.payload["reason"]["zh"] == "违反群规(发链接),第 2 次违规,已警告过"
    assert (
        kick.payload["reason"]["en"]
        == "broke the group rules (posting a link), offence 2 after a warning"
    )
    # WeCom cannot kick by API: the dispatcher leaves the kick waiting for an employee.
    with shequn.sessions.begin() as session:
        waiting = session.get(ActionRecord, kick.id)
        assert waiting is not None
        waiting.status = ActionStatus.AWAITING
    # A private word, and the kick is undone before anyone carried it out.
    assert cli(shequn, "restore", "w7", "--group", "wc-1", "--by", "小王").exit_code == 0
    withdrawn = actions(shequn, "kick_member")[0]
    assert (withdrawn.status, withdrawn.last_error) == ("failed", "withdrawn: restored by 小王")
    # Not yet removed: the member is still in, so there is nobody to add back.
    assert actions(shequn, "restore_member") == []
    # Once the employee has removed them (WeCom reports it), restoring asks to add them back.
    ingest(shequn, [event("k-w7", "member.left", "2020-11-07T11:00:00",
                          {"group": "wc-1", "member": "w7", "reason": "kicked"}, source="wecom")])  # fmt: skip
    assert cli(shequn, "restore", "w7", "--group", "wc-1", "--by", "小王").exit_code == 0
    restore = actions(shequn, "restore_member")[0]
    assert (restore.platform, restore.payload["group_name"]) == ("wecom", "wc-1 女装福利群")
    assert restore.payload["reason"] == {"zh": "小王 恢复入群", "en": "restored by 小王"}


def test_a_kick_still_in_the_outbox_is_withdrawn_by_a_restore_and_never_sent(
    shequn: Shequn,
) -> None:
    ingest(shequn, [
        group("old-1"), profile("u5", "小美"), joined("u5", "old-1", "2020-11-07T09:00:00"),
        said("m1", "u5", "old-1", "2020-11-07T10:00:00", "一件代发"),
        said("m2", "u5", "old-1", "2020-11-07T10:05:00", "www.pifa.cn"),
    ])  # fmt: skip
    assert [a.status for a in actions(shequn, "kick_member")] == ["pending"]
    assert cli(shequn, "restore", "u5", "--by", "小王").exit_code == 0
    kick = actions(shequn, "kick_member")[0]
    assert (kick.status, kick.last_error) == ("failed", "withdrawn: restored by 小王")
    # The member never left the group: there is nothing to re-admit.
    assert actions(shequn, "restore_member") == []


def test_a_member_the_audit_kicked_is_restored_and_counts_again(shequn: Shequn) -> None:
    ingest(shequn, [*COMMUNITY, profile("u9", "A00微商货源"),
                    joined("u9", "new-3", "2020-11-07T10:00:00")])  # fmt: skip
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        decide(context, "demo", "u9", "kick", by="小王")
        context.flush()
    with shequn.sessions() as session:
        assert flagged_members(session, "demo") == frozenset({"u9"})
    ingest(shequn, [kicked("u9", "new-3", "2020-11-07T11:00:00")])
    restored = cli(shequn, "restore", "u9", "--by", "小王", "--note", "是老顾客的妹妹")
    assert restored.exit_code == 0, restored.output
    with shequn.sessions() as session:
        assert flagged_members(session, "demo") == frozenset()
    decisions = json.loads(cli(shequn, "decisions", "--member", "u9", "--json").stdout)
    assert [(d["decision"], d["by"], d["note"]) for d in decisions] == [
        ("kick", "小王", None), ("keep", "小王", "restored: 是老顾客的妹妹"),
    ]  # fmt: skip


def test_restore_refuses_a_member_never_kicked_and_changes_nothing(shequn: Shequn) -> None:
    ingest(shequn, COMMUNITY)
    refused = cli(shequn, "restore", "u5", "--by", "小王")
    assert refused.exit_code == 1
    assert "member 'u5' was not kicked from any group" in refused.output
    wrong_group = cli(shequn, "restore", "u5", "--group", "nowhere", "--by", "小王")
    assert "group 'nowhere' is not known" in wrong_group.output
    unknown = cli(shequn, "restore", "u404", "--by", "小王")
    assert "member 'u404' is not known" in unknown.output
    assert actions(shequn, "restore_member") == []


def test_settings_are_validated_naming_the_key_and_change_nothing_when_refused(
    shequn: Shequn,
) -> None:
    changed = cli(shequn, "settings", "--warnings", "2", "--flood-messages", "8",
                  "--warn-by", "direct", "--keep-offending")  # fmt: skip
    assert changed.exit_code == 0, changed.output
    shown = json.loads(changed.stdout)
    assert (shown["audit_warnings"], shown["audit_flood_messages"]) == (2, 8)
    assert (shown["audit_warn_by"], shown["audit_delete_offending"]) == ("direct", False)
    assert shown["audit_flood_seconds"] == 10
    assert shown["audit_learn_min"] == 30
    refused = cli(shequn, "settings", "--flood-seconds", "0", "--warnings", "5")
    assert refused.exit_code == 1
    assert "audit_flood_seconds: 0 is not a whole number from 1 to 86400" in refused.output
    assert json.loads(cli(shequn, "settings").stdout) == shown


def test_a_direct_warning_and_kept_messages_follow_the_orgs_settings(shequn: Shequn) -> None:
    assert cli(shequn, "settings", "--warn-by", "direct", "--keep-offending",
               "--lang", "en").exit_code == 0  # fmt: skip
    ingest(shequn, [*COMMUNITY, said("m1", "u5", "old-1", "2020-11-07T10:00:00", "add me")])
    assert [a.kind for a in actions(shequn)] == ["send_direct_message"]
    assert actions(shequn)[0].payload["text"].startswith("@小美 reminder of the group rules")


def test_a_restored_invitee_counts_for_their_inviter_again_once_back_in_the_group(
    shequn: Shequn,
) -> None:
    # A pulls u8 in; u8 is kicked for an advert, restored after a word, and re-added at night.
    invited = event("j-u8", "member.joined", "2020-11-07T09:00:00",
                    {"group": "old-1", "member": "u8", "inviter": "a"})  # fmt: skip
    ingest(shequn, [group("old-1"), profile("a", "阿美"), joined("a", "old-1", "2020-11-07T08:30:00"),
                    profile("u8", "小红"), invited, kicked("u8", "old-1", "2020-11-07T10:00:00")])  # fmt: skip
    end_of_day = datetime(2020, 11, 7, 16, 0, tzinfo=UTC)

    def counted() -> tuple[int, int]:
        with shequn.sessions() as session:
            [row] = count_invites_as_of(session, "demo", InviteQuery(at=end_of_day))
        return row.effective, row.kicked

    assert counted() == (0, 1)
    assert cli(shequn, "restore", "u8", "--by", "小王").exit_code == 0
    ingest(shequn, [joined("u8", "old-1", "2020-11-07T14:00:00")])
    assert counted() == (1, 0)
