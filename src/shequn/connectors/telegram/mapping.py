"""Telegram Bot API updates, as Telegram sends them, mapped to contract events; never raises."""

# Field names follow the Bot API reference, https://core.telegram.org/bots/api: Update, Message,
# MessageEntity, ChatMemberUpdated, ChatMember, ChatInviteLink, MessageReactionUpdated,
# ReactionType and ChatJoinRequest.
#
# Invite attribution. A chat_member update names the link a newcomer came through, but Telegram
# cuts every link the bot did not make itself short ("https://t.me/+AbCdEf…"), so a link's text
# cannot carry a shequn invite code. The bot therefore makes one link per inviter with
# createChatInviteLink(name=<the shequn invite code>): a join through it arrives with that link
# and its `name`, and the invite module credits the code's owner. A link made by a person or by
# another bot keeps its shortened text as the code: stable per link, so still a channel to
# compare, but never a shequn code.
#
# Joins and leaves. Telegram reports them twice: as chat_member updates (only to a bot that is
# an administrator and lists "chat_member" in allowed_updates; they carry the invite link) and as
# new_chat_members / left_chat_member service messages (to any bot; no link, and Telegram may
# leave them out in large supergroups). chat_member is the source by default and the service
# messages are skipped. Either way a join or leave's id is made of the group, the member, the
# change and its second, not of the update, so a change seen both ways is stored once whenever
# Telegram stamps both with the same second.

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard

SOURCE = "telegram"
GROUP_CHAT_TYPES = frozenset({"group", "supergroup"})
# In the group in these statuses; "restricted" only while its is_member is true.
PRESENT_STATUSES = frozenset({"creator", "administrator", "member"})
MAX_NICKNAME = 200

Kind = Literal[
    "text", "image", "link", "mini_program", "red_packet", "file", "video", "voice", "card"
]
# Checked in order: an animation also carries `document`, kept by Telegram for old clients.
CONTENT_KINDS: tuple[tuple[str, Kind], ...] = (
    ("animation", "video"),
    ("photo", "image"),
    ("sticker", "image"),
    ("video", "video"),
    ("video_note", "video"),
    ("voice", "voice"),
    ("audio", "file"),
    ("document", "file"),
    ("contact", "card"),
)
# The contract has no "other" kind; a location, poll, dice, game or story still counts as a
# member speaking, so it is posted as a card rather than dropped.
CATCH_ALL_KIND: Kind = "card"
LINK_ENTITIES = frozenset({"url", "text_link"})
# Messages that record something happening in the chat rather than a member posting. One
# Telegram adds later and that is missing here would count as a card until it is listed.
SERVICE_FIELDS = frozenset(
    {
        "new_chat_members", "left_chat_member", "new_chat_title", "new_chat_photo",
        "delete_chat_photo", "group_chat_created", "supergroup_chat_created",
        "channel_chat_created", "message_auto_delete_timer_changed", "migrate_to_chat_id",
        "migrate_from_chat_id", "pinned_message", "successful_payment", "refunded_payment",
        "users_shared", "chat_shared", "gift", "unique_gift", "connected_website",
        "write_access_allowed", "passport_data", "proximity_alert_triggered", "boost_added",
        "chat_background_set", "forum_topic_created", "forum_topic_edited", "forum_topic_closed",
        "forum_topic_reopened", "general_forum_topic_hidden", "general_forum_topic_unhidden",
        "giveaway_created", "giveaway_completed", "video_chat_scheduled", "video_chat_started",
        "video_chat_ended", "video_chat_participants_invited", "web_app_data",
        "paid_message_price_changed", "checklist_tasks_done", "checklist_tasks_added",
        "direct_message_price_changed",
    }
)  # fmt: skip


@dataclass(frozen=True)
class JoinRequest:
    """Someone asked to join a group that approves newcomers: kept for the audit, not an event."""

    id: str
    org: str | None
    group: str
    member: str
    # The private chat the bot may write to for 5 minutes, until the request is answered.
    user_chat_id: str
    at: datetime
    nickname: str
    username: str | None
    bio: str | None
    invite_code: str | None
    is_bot: bool


@dataclass(frozen=True)
class Mapped:
    """What updates gave: contract events, join requests, and why anything was left out."""

    events: list[dict[str, Any]] = field(default_factory=list)
    join_requests: list[JoinRequest] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def map_update(
    update: object,
    *,
    bot_id: int,
    org: str | None = None,
    chat_member_updates: bool = True,
    usernames: Mapping[str, str] | None = None,
) -> Mapped:
    """Map one Update; `bot_id` tells our invite links apart, `usernames` resolves @mentions."""
    # `chat_member_updates`: the bot receives chat_member updates, so the service messages about
    # the same joins and leaves are skipped. `usernames`: username (without "@") → member id.
    if not isinstance(update, Mapping):
        return Mapped(skipped=[f"update is a {type(update).__name__}, not a JSON object"])
    update_id = update.get("update_id")
    if not _is_int(update_id):
        return Mapped(skipped=["update has no integer update_id"])
    known = {name.lower().removeprefix("@"): member for name, member in (usernames or {}).items()}
    builder = _Builder(
        update_id=update_id,
        org=org,
        bot_id=bot_id,
        chat_member_updates=chat_member_updates,
        usernames=known,
    )
    parts = [name for name in update if name != "update_id"]
    if not parts:
        builder.skip("carries nothing")
    for name in parts:
        builder.map_part(name, update[name])
    return Mapped(builder.events, builder.join_requests, builder.skipped)


def map_updates(
    updates: Iterable[object],
    *,
    bot_id: int,
    org: str | None = None,
    chat_member_updates: bool = True,
    usernames: Mapping[str, str] | None = None,
) -> Mapped:
    """Map a batch (a getUpdates answer's `result`), in order."""
    events: list[dict[str, Any]] = []
    join_requests: list[JoinRequest] = []
    skipped: list[str] = []
    for update in updates:
        mapped = map_update(
            update,
            bot_id=bot_id,
            org=org,
            chat_member_updates=chat_member_updates,
            usernames=usernames,
        )
        events.extend(mapped.events)
        join_requests.extend(mapped.join_requests)
        skipped.extend(mapped.skipped)
    return Mapped(events, join_requests, skipped)


def invite_code(link: Mapping[str, Any], *, bot_id: int) -> str | None:
    """The code a ChatInviteLink stands for: its name if our bot made it, else its (cut) text."""
    creator = link.get("creator")
    name = _text(link, "name")
    if name is not None and isinstance(creator, Mapping) and creator.get("id") == bot_id:
        return name
    return _text(link, "invite_link")


def nickname_of(user: Mapping[str, Any]) -> str:
    """First and last name as Telegram shows them, else the username, else the id."""
    names = (_text(user, "first_name"), _text(user, "last_name"))
    nickname = " ".join(name.strip() for name in names if name is not None)
    return (nickname or _text(user, "username") or str(user.get("id", "")))[:MAX_NICKNAME]


class _Skip(Exception):
    """This part of an update maps to nothing; the message says why."""


@dataclass(frozen=True)
class _User:
    id: str
    nickname: str
    username: str | None
    is_bot: bool


@dataclass
class _Builder:
    update_id: int
    org: str | None
    bot_id: int
    chat_member_updates: bool
    usernames: Mapping[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)
    join_requests: list[JoinRequest] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def map_part(self, name: str, body: object) -> None:
        mapper = _MAPPERS.get(name)
        if mapper is None:
            self.skip(f"{name} updates are not mapped")
            return
        if not isinstance(body, Mapping):
            self.skip(f"{name} is not a JSON object")
            return
        events, join_requests = len(self.events), len(self.join_requests)
        try:
            mapper(self, body)
        except (_Skip, TypeError, ValueError, OverflowError) as error:
            # All of a part or none of it: a join without its profile would be scored blind.
            del self.events[events:]
            del self.join_requests[join_requests:]
            self.skip(f"{name}: {error}")

    def skip(self, reason: str) -> None:
        self.skipped.append(f"update {self.update_id}: {reason}")

    def id(self, suffix: str = "") -> str:
        return f"tg-{self.update_id}-{suffix}" if suffix else f"tg-{self.update_id}"

    def emit(self, event_id: str, kind: str, at: datetime, data: dict[str, Any]) -> None:
        event: dict[str, Any] = {
            "id": event_id,
            "type": kind,
            "at": at.isoformat(),
            "source": SOURCE,
        }
        if self.org is not None:
            event["org"] = self.org
        event["data"] = data
        self.events.append(event)


def _map_chat_member(builder: _Builder, body: Mapping[str, Any]) -> None:
    group, _ = _group_of(body)
    old, new = _object(body, "old_chat_member"), _object(body, "new_chat_member")
    user, actor = _user(new, "user"), _user(body, "from")
    was, now = _is_present(old), _is_present(new)
    if was == now:
        where = "in" if now else "out of"
        change = f"{old.get('status')} → {new.get('status')}"
        raise _Skip(f"{user.id} stays {where} group {group} ({change})")
    seconds = _integer(body, "date")
    at = _instant(seconds)
    # Upserts carry only what Telegram knows (a group's title, a member's name) and so keep what
    # an operator set; still none on every join or leave: the title comes with my_chat_member
    # and renames, and one name per join is enough.
    if now:
        # The profile first: the audit scores a newcomer when the join arrives.
        _upsert_member(builder, at, user, suffix="member")
        data = {"group": group, "member": user.id, **_arrival(builder, body, actor, user)}
        builder.emit(_membership_id(group, user.id, "joined", seconds), "member.joined", at, data)
    else:
        data = _departure(group, user, actor, kicked=new.get("status") == "kicked")
        builder.emit(_membership_id(group, user.id, "left", seconds), "member.left", at, data)


def _map_my_chat_member(builder: _Builder, body: Mapping[str, Any]) -> None:
    group, title = _group_of(body)
    if not _is_present(_object(body, "new_chat_member")):
        raise _Skip(f"the bot is no longer in group {group}")
    # The bot arriving is the first shequn hears of a group: name it before any traffic. Like a
    # rename below, this upsert carries the name only: store, owner, capacity and tags stay.
    at = _instant(_integer(body, "date"))
    builder.emit(builder.id(), "group.upserted", at, {"group": group, "name": title})


def _map_message(builder: _Builder, body: Mapping[str, Any]) -> None:
    group, _ = _group_of(body)
    seconds = _integer(body, "date")
    at = _instant(seconds)
    if "new_chat_members" in body or "left_chat_member" in body:
        _map_service_membership(builder, body, group, seconds, at)
        return
    title = _text(body, "new_chat_title")
    if title is not None:
        builder.emit(builder.id(), "group.upserted", at, {"group": group, "name": title})
        return
    service = sorted(SERVICE_FIELDS.intersection(body))
    if service:
        raise _Skip(f"service message {service[0]} is not a member posting")
    sender_chat = body.get("sender_chat")
    if isinstance(sender_chat, Mapping):
        # An anonymous admin or a linked channel: nobody to count as active.
        raise _Skip(f"sent on behalf of chat {sender_chat.get('id')}, not by a member")
    user = _user(body, "from")
    message = str(_integer(body, "message_id"))
    # A caption is a media message's text, with its own entities.
    is_text = "text" in body
    raw_text = body.get("text" if is_text else "caption")
    text = raw_text if isinstance(raw_text, str) else None
    entities = _entities(body.get("entities" if is_text else "caption_entities"))
    data: dict[str, Any] = {
        "group": group,
        "member": user.id,
        "message": message,
        "kind": _kind(body, text, entities),
    }
    if text is not None:
        data["text"] = text
    mentions = _mentions(text, entities, builder.usernames)
    if mentions:
        data["mentions"] = mentions
    builder.emit(builder.id(), "message.posted", at, data)


def _map_service_membership(
    builder: _Builder, body: Mapping[str, Any], group: str, seconds: int, at: datetime
) -> None:
    if builder.chat_member_updates:
        raise _Skip("service message: joins and leaves are taken from chat_member updates")
    actor = _user(body, "from")
    left = body.get("left_chat_member")
    if isinstance(left, Mapping):
        user = _user_of(left)
        if user.id == str(builder.bot_id):
            raise _Skip(f"the bot left group {group}")
        data = _departure(group, user, actor, kicked=False)
        builder.emit(_membership_id(group, user.id, "left", seconds), "member.left", at, data)
        return
    joined = body.get("new_chat_members")
    if not isinstance(joined, list):
        raise _Skip("new_chat_members: not a list")
    for raw in joined:
        if not isinstance(raw, Mapping):
            raise _Skip("new_chat_members: an entry is not an object")
        user = _user_of(raw)
        if user.id == str(builder.bot_id):
            continue
        _upsert_member(builder, at, user, suffix=f"member-{user.id}")
        # A service message names who added someone, never the link they came through.
        arrival: dict[str, Any] = (
            {"via": {"kind": "unknown"}}
            if actor.id == user.id
            else {"inviter": actor.id, "via": {"kind": "direct"}}
        )
        data = {"group": group, "member": user.id, **arrival}
        builder.emit(_membership_id(group, user.id, "joined", seconds), "member.joined", at, data)


def _map_reaction(builder: _Builder, body: Mapping[str, Any]) -> None:
    group, _ = _group_of(body)
    if not isinstance(body.get("user"), Mapping):
        raise _Skip(f"an anonymous reaction, on behalf of a chat, in group {group}")
    user = _user(body, "user")
    message = str(_integer(body, "message_id"))
    at = _instant(_integer(body, "date"))
    old, new = _reactions(body, "old_reaction"), _reactions(body, "new_reaction")
    # Removals first: a member swapping 👍 for ❤️ holds one reaction at every moment.
    changes = [("reaction.removed", emoji) for emoji in old if emoji not in new]
    changes += [("reaction.added", emoji) for emoji in new if emoji not in old]
    if not changes:
        raise _Skip(f"reactions of {user.id} on message {message} did not change")
    for number, (kind, emoji) in enumerate(changes):
        data = {"group": group, "member": user.id, "message": message, "emoji": emoji}
        builder.emit(builder.id(str(number) if number else ""), kind, at, data)


def _map_join_request(builder: _Builder, body: Mapping[str, Any]) -> None:
    group, _ = _group_of(body)
    user = _user(body, "from")
    link = body.get("invite_link")
    builder.join_requests.append(
        JoinRequest(
            id=builder.id(),
            org=builder.org,
            group=group,
            member=user.id,
            user_chat_id=str(_integer(body, "user_chat_id")),
            at=_instant(_integer(body, "date")),
            nickname=user.nickname,
            username=user.username,
            bio=_text(body, "bio"),
            invite_code=invite_code(link, bot_id=builder.bot_id)
            if isinstance(link, Mapping)
            else None,
            is_bot=user.is_bot,
        )
    )


_MAPPERS: dict[str, Callable[[_Builder, Mapping[str, Any]], None]] = {
    "message": _map_message,
    "chat_member": _map_chat_member,
    "my_chat_member": _map_my_chat_member,
    "message_reaction": _map_reaction,
    "chat_join_request": _map_join_request,
}


def _arrival(
    builder: _Builder, body: Mapping[str, Any], actor: _User, user: _User
) -> dict[str, Any]:
    link = body.get("invite_link")
    if isinstance(link, Mapping):
        via: dict[str, Any] = {"kind": "invite_link"}
        code = invite_code(link, bot_id=builder.bot_id)
        if code is not None:
            via["code"] = code
        return {"via": via}
    if body.get("via_chat_folder_invite_link") is True:
        return {"via": {"kind": "invite_link"}}
    # Checked before the actor: on an approved request `from` is the approving admin.
    if body.get("via_join_request") is True or actor.id == user.id:
        return {"via": {"kind": "unknown"}}
    return {"inviter": actor.id, "via": {"kind": "direct"}}


def _departure(group: str, user: _User, actor: _User, *, kicked: bool) -> dict[str, Any]:
    # Removed by someone else even without a ban: an admin removing a member in a basic group
    # moves them straight to "left".
    removed_by = actor.id if actor.id != user.id else None
    data: dict[str, Any] = {
        "group": group,
        "member": user.id,
        "reason": "kicked" if kicked or removed_by is not None else "quit",
    }
    if removed_by is not None:
        data["by"] = removed_by
    return data


def _upsert_member(builder: _Builder, at: datetime, user: _User, *, suffix: str) -> None:
    data = {"member": user.id, "nickname": user.nickname}
    builder.emit(builder.id(suffix), "member.upserted", at, data)


def _membership_id(group: str, member: str, change: str, seconds: int) -> str:
    return f"tg-{group}-{member}-{change}-{seconds}"


def _is_present(chat_member: Mapping[str, Any]) -> bool:
    status = chat_member.get("status")
    if status == "restricted":
        return chat_member.get("is_member") is True
    return status in PRESENT_STATUSES


def _kind(body: Mapping[str, Any], text: str | None, entities: list[Mapping[str, Any]]) -> Kind:
    for name, kind in CONTENT_KINDS:
        if name in body:
            return kind
    if "text" in body and text is not None:
        return "link" if any(e.get("type") in LINK_ENTITIES for e in entities) else "text"
    return CATCH_ALL_KIND


def _mentions(
    text: str | None, entities: list[Mapping[str, Any]], usernames: Mapping[str, str]
) -> list[str]:
    # A text_mention carries the user; a plain @username carries only the name, which stays in
    # the text and becomes a member id only when the caller knows that username.
    mentions: list[str] = []
    for entity in entities:
        member: str | None = None
        user = entity.get("user")
        if entity.get("type") == "text_mention" and isinstance(user, Mapping):
            member = str(user["id"]) if _is_int(user.get("id")) else None
        elif entity.get("type") == "mention" and text is not None:
            member = usernames.get(_entity_text(text, entity).removeprefix("@").lower())
        if member is not None and member not in mentions:
            mentions.append(member)
    return mentions


def _entity_text(text: str, entity: Mapping[str, Any]) -> str:
    # Offsets and lengths count UTF-16 code units: an emoji before a mention counts twice.
    offset, length = entity.get("offset"), entity.get("length")
    if not _is_int(offset) or not _is_int(length) or offset < 0 or length < 0:
        return ""
    units = text.encode("utf-16-le")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le", errors="replace")


def _entities(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [entity for entity in value if isinstance(entity, Mapping)]


def _reactions(body: Mapping[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list):
        raise _Skip(f"{name}: not a list")
    labels: list[str] = []
    for reaction in value:
        if not isinstance(reaction, Mapping):
            raise _Skip(f"{name}: an entry is not an object")
        label = _reaction_label(reaction)
        if label not in labels:
            labels.append(label)
    return labels


def _reaction_label(reaction: Mapping[str, Any]) -> str:
    kind = reaction.get("type")
    if kind == "emoji":
        emoji = _text(reaction, "emoji")
        if emoji is None:
            raise _Skip("an emoji reaction without its emoji")
        return emoji
    if kind == "custom_emoji":
        custom = reaction.get("custom_emoji_id")
        if not isinstance(custom, str) or not custom:
            raise _Skip("a custom emoji reaction without its id")
        return f"custom_emoji:{custom}"
    # "paid" (a star reaction) and any type Telegram adds later keep their type as the label.
    return str(kind)


def _group_of(body: Mapping[str, Any]) -> tuple[str, str]:
    chat = _object(body, "chat")
    chat_id = _integer(chat, "id")
    chat_type = chat.get("type")
    if chat_type not in GROUP_CHAT_TYPES:
        raise _Skip(f"{chat_type} chat {chat_id} is not a group")
    return str(chat_id), _text(chat, "title") or str(chat_id)


def _user(parent: Mapping[str, Any], name: str) -> _User:
    return _user_of(_object(parent, name))


def _user_of(user: Mapping[str, Any]) -> _User:
    return _User(
        id=str(_integer(user, "id")),
        nickname=nickname_of(user),
        username=_text(user, "username"),
        is_bot=user.get("is_bot") is True,
    )


def _instant(seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Skip(f"date: {seconds} is out of range") from None


def _object(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    if not isinstance(value, Mapping):
        raise _Skip(f"{name}: missing or not an object")
    return value


def _integer(parent: Mapping[str, Any], name: str) -> int:
    value = parent.get(name)
    if not _is_int(value):
        raise _Skip(f"{name}: missing or not an integer")
    return value


def _text(parent: Mapping[str, Any], name: str) -> str | None:
    value = parent.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
