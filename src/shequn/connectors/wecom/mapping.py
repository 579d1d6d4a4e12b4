"""A customer group's change plus its groupchat/get details, as contract events; pure."""

# Member entries of groupchat/get (https://developer.work.weixin.qq.com/document/path/92122):
# userid, type (1 employee, 2 customer), join_time, join_scene (1 invited directly, 2 through an
# invite link, 3 scanned the group's QR code), invitor {userid}, name, group_nickname, and
# `state`, the state of the join way (add_join_way) the member came through. shequn gives each
# referrer a join way whose state is their invite code, so `state` is exact attribution.
#
# Ids are made of the group, the member and WeCom's own times, never of the delivery, so a
# callback WeCom sends again (it retries until answered) is stored once.

from collections.abc import Collection, Mapping, Sequence
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
        events.append(_event(event_id, kind, at, data, org=org))

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
        if joined is None or entry["userid"] in joined:
            events.extend(_join_events(chat, entry, fallback=change.at, org=org))
    return events


def misses_callbacks(last_seen: str | None, change: ChatChange) -> bool:
    """Whether callbacks were missed: the change does not follow the member version last seen."""
    # With nothing seen yet there is nothing to follow; the first callback only sets the mark.
    return (
        last_seen is not None
        and change.last_member_version is not None
        and change.last_member_version != last_seen
    )


def missed_events(
    change: ChatChange,
    details: Mapping[str, Any],
    *,
    held: Collection[str],
    org: str | None = None,
) -> list[Event]:
    """The joins and leaves the group's whole member list implies against the members shequn
    holds (`held`), beyond the members the change itself names."""
    chat = change.chat_id
    named = set(change.changed_members)
    entries = [entry for entry in _members(details) if entry["userid"] not in named]
    present = {entry["userid"] for entry in entries}
    events: list[Event] = []
    for entry in entries:
        if entry["userid"] not in held:
            events.extend(_join_events(chat, entry, fallback=change.at, org=org))
    # WeCom keeps no record of when a missed leave happened: it is dated by the change that
    # revealed it and named by the member version it was seen at, so a repeat is a duplicate.
    version = details.get("member_version") or change.member_version
    mark = version if isinstance(version, str) and version else str(int(change.at.timestamp()))
    for member in sorted(set(held) - present - named):
        data = {"group": chat, "member": member, "reason": "unknown"}
        event_id = f"wecom-{chat}-{member}-left-v{mark}"
        events.append(_event(event_id, "member.left", change.at, data, org=org))
    return events


def _join_events(
    chat: str, entry: Mapping[str, Any], *, fallback: datetime, org: str | None
) -> list[Event]:
    # Ids carry WeCom's join_time: the same join seen through a callback or through a re-read
    # of the member list is stored once.
    member = entry["userid"]
    at = _instant(entry.get("join_time")) or fallback
    seconds = int(at.timestamp())
    nickname = entry.get("group_nickname") or entry.get("name") or member
    profile = {"member": member, "nickname": str(nickname)[:MAX_NICKNAME]}
    joined = {"group": chat, "member": member, **_arrival(entry)}
    return [
        _event(f"wecom-{chat}-{member}-profile-{seconds}", "member.upserted", at, profile, org=org),
        _event(f"wecom-{chat}-{member}-joined-{seconds}", "member.joined", at, joined, org=org),
    ]


def _event(
    event_id: str, kind: str, at: datetime, data: dict[str, Any], *, org: str | None
) -> Event:
    event: Event = {"id": event_id, "type": kind, "at": at.isoformat(), "source": SOURCE}
    if org is not None:
        event["org"] = org
    event["data"] = data
    return event


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
