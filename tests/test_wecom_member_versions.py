"""Missed WeCom callbacks, told by member versions, and the joins and leaves they imply; pure."""

from datetime import UTC, datetime
from typing import Any

from shequn.connectors.wecom.events import ChatChange, ChatChangeType, UpdateDetail
from shequn.connectors.wecom.mapping import missed_events, misses_callbacks

CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
AT = datetime(2024, 11, 7, 14, 0, tzinfo=UTC)


def joined(member: str, *, last: str | None, current: str | None) -> ChatChange:
    return ChatChange(
        chat_id=CHAT, change_type=ChatChangeType.UPDATE, at=AT,
        update_detail=UpdateDetail.ADD_MEMBER, join_scene=3, member_change_count=1,
        changed_members=(member,), last_member_version=last, member_version=current,
    )  # fmt: skip


def test_a_change_following_the_version_last_seen_missed_nothing() -> None:
    assert not misses_callbacks("v3", joined("wmC", last="v3", current="v4"))


def test_a_change_after_another_version_means_callbacks_were_missed() -> None:
    assert misses_callbacks("v1", joined("wmC", last="v3", current="v4"))


def test_without_a_version_seen_or_given_nothing_can_be_told_missing() -> None:
    assert not misses_callbacks(None, joined("wmC", last="v3", current="v4"))
    assert not misses_callbacks("v1", joined("wmC", last=None, current=None))


def test_the_member_list_gives_joins_for_newcomers_and_unknown_leaves_for_the_gone() -> None:
    details: dict[str, Any] = {
        "member_version": "v4",
        "member_list": [
            {"userid": "owner", "type": 1, "join_time": 1572505491, "join_scene": 1},
            {"userid": "wmB", "type": 2, "join_time": 1730990000, "join_scene": 3,
             "name": "小红", "state": "inv-u7-3f2a1c"},
            {"userid": "wmC", "type": 2, "join_time": 1730993600, "join_scene": 3},
        ],
    }  # fmt: skip

    events = missed_events(
        joined("wmC", last="v3", current="v4"), details, held={"owner", "wmA"}, org="demo"
    )

    assert [(event["id"], event["type"], event["data"]) for event in events] == [
        (f"wecom-{CHAT}-wmB-profile-1730990000", "member.upserted",
         {"member": "wmB", "nickname": "小红"}),
        (f"wecom-{CHAT}-wmB-joined-1730990000", "member.joined",
         {"group": CHAT, "member": "wmB", "via": {"kind": "live_code", "code": "inv-u7-3f2a1c"}}),
        (f"wecom-{CHAT}-wmA-left-vv4", "member.left",
         {"group": CHAT, "member": "wmA", "reason": "unknown"}),
    ]  # fmt: skip
    assert {event["org"] for event in events} == {"demo"}
    assert events[2]["at"] == AT.isoformat()
