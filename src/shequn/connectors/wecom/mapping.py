"""A customer group's change plus its groupchat/get details, as contract events; pure."""

# Member entries of groupchat/get (https://developer.work.weixin.qq.com/document/path/92122):
# userid, type (1 employee, 2 customer), join_time, join_scene (1 invited directly, 2 through an
# invite link, 3 scanned the group's QR code), invitor {userid}, name, group_nickname, and
# `state`, the state of the join way (add_join_way) the member came through. shequn gives each
# referrer a join way whose state is their invite code, so `state` is exact attribution.
#
# Ids are made of the group, the member and WeCom's own times, never of the delivery, so a
# callback WeCom sends again (it retries until answered) is stored once.

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shequn.connectors.wecom.events import ChatChange, ChatChangeType, UpdateDetail

SOURCE = "wecom"
QUIT_REMOVED = 1
SCENE_VIA = {1: "direct", 2: "invite_link", 3: "qr"}
MAX_NICKNAME = 200

Event = dict[str, Any]


def needs_details(change: ChatChange) -> bool:
    """Whether the change's events need groupchat/get: names, joins and owners do."""
    if change.change_type is ChatChangeType.DISMISS:
        return False
    return change.update_detail is not UpdateDetail.DEL_MEMBER


def events_of(
    change: ChatChange, details: Mapping[str, Any] | None, *, org: str | None = None
) -> list[Event]:
    """The events one change stands for; `details` is groupchat/get's group_chat, when needed."""
    chat, seconds = change.chat_id, int(change.at.timestamp())
    events: list[Event] = []

    def emit(event_id: str, kind: str, at: datetime, data: dict[str, Any]) -> None:
        event: Event = {"id": event_id, "type": kind, "at": at.isoformat(), "source": SOURCE}
        if org is not None:
            event["org"] = org
        event["data"] = data
        events.append(event)

    if change.change_type is ChatChangeType.DISMISS:
        emit(f"wecom-{chat}-dismissed", "group.dismissed", change.at, {"group": chat})
        return events
    if change.update_detail is UpdateDetail.DEL_MEMBER:
        reason = "kicked" if change.quit_scene == QUIT_REMOVED else "quit"
        for member in change.changed_members:
            data = {"group": chat, "member": member, "reason": reason}
            emit(f"wecom-{chat}-{member}-left-{seconds}", "member.left", change.at, data)
        return events
    if details is None:
        raise ValueError(f"change of group {chat} needs its groupchat/get details")
    group: dict[str, Any] = {"group": chat, "name": str(details.get("name") or chat)[:200]}
    owner = details.get("owner")
    if isinstance(owner, str) and owner:
        group["owner"] = owner
    # A partial upsert: WeCom knows the name and owner, never the store, capacity or tags.
    emit(f"wecom-{chat}-group-{seconds}", "group.upserted", change.at, group)
    if change.change_type is ChatChangeType.CREATE:
        joined: Sequence[str] | None = None
    elif change.update_detail is UpdateDetail.ADD_MEMBER:
        joined = change.changed_members or None
    else:
        return events
    for entry in _members(details):
        member = entry["userid"]
        if joined is not None and member not in joined:
            continue
        at = _instant(entry.get("join_time")) or change.at
        nickname = entry.get("group_nickname") or entry.get("name") or member
        emit(
            f"wecom-{chat}-{member}-profile-{int(at.timestamp())}",
            "member.upserted",
            at,
            {"member": member, "nickname": str(nickname)[:MAX_NICKNAME]},
        )
        emit(
            f"wecom-{chat}-{member}-joined-{int(at.timestamp())}",
            "member.joined",
            at,
            {"group": chat, "member": member, **_arrival(entry)},
        )
    return events


def _arrival(entry: Mapping[str, Any]) -> dict[str, Any]:
    state = entry.get("state")
    if isinstance(state, str) and state:
        return {"via": {"kind": "live_code", "code": state}}
    scene = entry.get("join_scene")
    kind = SCENE_VIA.get(scene, "unknown") if isinstance(scene, int) else "unknown"
    arrival: dict[str, Any] = {"via": {"kind": kind}}
    invitor = entry.get("invitor")
    if isinstance(invitor, Mapping) and isinstance(invitor.get("userid"), str):
        arrival["inviter"] = invitor["userid"]
    return arrival


def _members(details: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    members = details.get("member_list")
    if not isinstance(members, list):
        return []
    return [
        entry
        for entry in members
        if isinstance(entry, Mapping) and isinstance(entry.get("userid"), str) and entry["userid"]
    ]


def _instant(seconds: object) -> datetime | None:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
