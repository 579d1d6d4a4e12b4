"""WeCom customer-group change callbacks (change_external_chat), decrypted, as frozen values."""

# Field names and meanings: 客户群变更事件 in WeCom's 事件格式 pages,
# https://developer.work.weixin.qq.com/document/path/92130 (an app of one's own corp) and
# https://developer.work.weixin.qq.com/document/path/92277 (a third-party app: InfoType,
# AuthCorpId and TimeStamp where the former has Event, ToUserName and CreateTime).

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from shequn.connectors.wecom.crypto import parse_xml

CHANGE_EXTERNAL_CHAT = "change_external_chat"

E = TypeVar("E", bound=StrEnum)

# JoinScene, sent with add_member.
JOIN_BY_MEMBER_INVITE = 0  # invited by a member, directly or through an invite link
JOIN_BY_QR_CODE = 3  # scanned the group's QR code
# QuitScene, sent with del_member.
QUIT_BY_THEMSELVES = 0
QUIT_REMOVED_BY_OWNER_OR_ADMIN = 1


class ChatChangeType(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DISMISS = "dismiss"


class UpdateDetail(StrEnum):
    ADD_MEMBER = "add_member"
    DEL_MEMBER = "del_member"
    CHANGE_OWNER = "change_owner"
    CHANGE_NAME = "change_name"
    CHANGE_NOTICE = "change_notice"


class ChatChangeError(ValueError):
    """A change_external_chat payload that cannot be read, naming the field."""


@dataclass(frozen=True)
class ChatChange:
    """One customer group's change as WeCom reported it; member ids come only with joins/quits."""

    chat_id: str
    change_type: ChatChangeType
    at: datetime
    corp_id: str | None = None
    update_detail: UpdateDetail | None = None
    join_scene: int | None = None
    quit_scene: int | None = None
    member_change_count: int | None = None
    changed_members: tuple[str, ...] = ()
    last_member_version: str | None = None
    member_version: str | None = None


def parse_chat_change(inner_xml: str | bytes) -> ChatChange:
    """Read the decrypted inner XML of a change_external_chat callback."""
    root = parse_xml(inner_xml)
    event = _text(root, "Event") or _text(root, "InfoType")
    if event != CHANGE_EXTERNAL_CHAT:
        raise ChatChangeError(f"Event: expected {CHANGE_EXTERNAL_CHAT}, got {event!r}")
    chat_id = _required(root, "ChatId")
    change_type = _choice(ChatChangeType, _required(root, "ChangeType"), "ChangeType")
    at = _time(root)
    corp_id = _text(root, "ToUserName") or _text(root, "AuthCorpId")
    if change_type is not ChatChangeType.UPDATE:
        return ChatChange(chat_id=chat_id, change_type=change_type, at=at, corp_id=corp_id)
    detail = _choice(UpdateDetail, _required(root, "UpdateDetail"), "UpdateDetail")
    is_join = detail is UpdateDetail.ADD_MEMBER
    is_quit = detail is UpdateDetail.DEL_MEMBER
    # WeCom's own example carries QuitScene 0 on an add_member; kept, it would read as
    # "left by themselves", so each scene is kept only for the detail it describes.
    return ChatChange(
        chat_id=chat_id,
        change_type=change_type,
        at=at,
        corp_id=corp_id,
        update_detail=detail,
        join_scene=_integer(root, "JoinScene") if is_join else None,
        quit_scene=_integer(root, "QuitScene") if is_quit else None,
        member_change_count=_integer(root, "MemChangeCnt") if is_join or is_quit else None,
        changed_members=_members(root) if is_join or is_quit else (),
        last_member_version=_text(root, "LastMemVer"),
        member_version=_text(root, "CurMemVer"),
    )


def _members(root: ET.Element) -> tuple[str, ...]:
    found = root.find("MemChangeList")
    if found is None:
        return ()
    items = found.findall("Item")
    if items:
        return tuple(text for item in items if (text := (item.text or "").strip()))
    # The older form: one text of comma-separated ids.
    return tuple(part for raw in (found.text or "").split(",") if (part := raw.strip()))


def _text(root: ET.Element, name: str) -> str | None:
    found = root.find(name)
    if found is None:
        return None
    return (found.text or "").strip() or None


def _required(root: ET.Element, name: str) -> str:
    value = _text(root, name)
    if value is None:
        raise ChatChangeError(f"{name}: required")
    return value


def _integer(root: ET.Element, name: str) -> int | None:
    value = _text(root, name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise ChatChangeError(f"{name}: {value!r} is not a whole number")
    return int(value)


def _time(root: ET.Element) -> datetime:
    name = "CreateTime" if root.find("CreateTime") is not None else "TimeStamp"
    seconds = _integer(root, name)
    if seconds is None:
        raise ChatChangeError("CreateTime: required")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ChatChangeError(f"{name}: {seconds} is out of range") from None


def _choice(kind: type[E], value: str, name: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ChatChangeError(f"{name}: {value!r} is not one of {allowed}") from None
