"""Telegram updates, in the Bot API's own shapes, mapped to contract events."""

from datetime import UTC, datetime
from typing import Any

import pytest

from shequn.connectors.telegram.mapping import (
    JoinRequest,
    Mapped,
    invite_code,
    map_update,
    map_updates,
    nickname_of,
)
from shequn.contract import PAYLOADS
from shequn.engine.event import Event, parse_event

BOT_ID = 7012345678
BOT = {"id": BOT_ID, "is_bot": True, "first_name": "Shequn", "username": "shequn_helper_bot"}
LINA = {
    "id": 5012345678,
    "is_bot": False,
    "first_name": "Lina",
    "last_name": "Chen",
    "username": "lina_c",
    "language_code": "en",
}
MARCO = {"id": 5098765432, "is_bot": False, "first_name": "Marco", "username": "marco_r"}
ADMIN = {"id": 6011112222, "is_bot": False, "first_name": "Wen", "last_name": "(staff)"}
CHAT = {"id": -1001987654321, "title": "Spring picks · VIP", "type": "supergroup"}
GROUP = "-1001987654321"
DATE = 1730982665
AT = "2024-11-07T12:31:05+00:00"

OUR_LINK = {
    "invite_link": "https://t.me/+Xq3fV9aLm0Y2ZjU1",
    "creator": BOT,
    "creates_join_request": False,
    "is_primary": False,
    "is_revoked": False,
    "name": "inv-u7",
}
# Telegram cuts a link the bot did not make: only its start and "…" reach the bot.
STAFF_LINK = {
    "invite_link": "https://t.me/+Rk9…",
    "creator": ADMIN,
    "creates_join_request": False,
    "is_primary": False,
    "is_revoked": False,
    "name": "Spring poster",
}


def left(user: dict[str, Any]) -> dict[str, Any]:
    return {"user": user, "status": "left"}


def member(user: dict[str, Any]) -> dict[str, Any]:
    return {"user": user, "status": "member"}


def chat_member(
    update_id: int,
    *,
    old: dict[str, Any],
    new: dict[str, Any],
    actor: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "chat_member": {
            "chat": CHAT,
            "from": actor,
            "date": DATE,
            "old_chat_member": old,
            "new_chat_member": new,
            **extra,
        },
    }


def message(update_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {"message_id": 4120, "from": LINA, "chat": CHAT, "date": DATE, **fields},
    }


def mapped(update: object, **options: Any) -> Mapped:
    """Map and check every event against the contract, as intake would."""
    result = map_update(update, bot_id=BOT_ID, **options)
    for event in result.events:
        parsed = parse_event(event, payloads=PAYLOADS, default_org="demo")
        assert isinstance(parsed, Event), parsed
    return result


def test_a_join_through_a_link_our_bot_made_carries_the_links_name_as_the_invite_code() -> None:
    update = chat_member(
        880001, old=left(MARCO), new=member(MARCO), actor=MARCO, invite_link=OUR_LINK
    )

    assert mapped(update) == Mapped(
        events=[
            {
                "id": "tg-880001-member",
                "type": "member.upserted",
                "at": AT,
                "source": "telegram",
                "data": {"member": "5098765432", "nickname": "Marco"},
            },
            {
                "id": f"tg-{GROUP}-5098765432-joined-{DATE}",
                "type": "member.joined",
                "at": AT,
                "source": "telegram",
                "data": {
                    "group": GROUP,
                    "member": "5098765432",
                    "via": {"kind": "invite_link", "code": "inv-u7"},
                },
            },
        ]
    )


def test_a_join_through_a_link_a_person_made_keeps_the_shortened_link_as_its_code() -> None:
    update = chat_member(
        880002, old=left(MARCO), new=member(MARCO), actor=MARCO, invite_link=STAFF_LINK
    )

    joined = mapped(update).events[-1]

    assert joined["data"]["via"] == {"kind": "invite_link", "code": "https://t.me/+Rk9…"}
    assert "inviter" not in joined["data"]


def test_a_link_named_by_another_bot_is_not_taken_for_ours() -> None:
    other_bot = {**OUR_LINK, "creator": {**BOT, "id": 7999999999}}

    assert invite_code(other_bot, bot_id=BOT_ID) == "https://t.me/+Xq3fV9aLm0Y2ZjU1"
    assert invite_code(OUR_LINK, bot_id=BOT_ID) == "inv-u7"
    assert invite_code({**OUR_LINK, "name": None}, bot_id=BOT_ID) == OUR_LINK["invite_link"]


def test_a_member_added_by_another_is_a_direct_invite_by_them() -> None:
    update = chat_member(880003, old=left(MARCO), new=member(MARCO), actor=LINA)

    joined = mapped(update).events[-1]

    assert joined["data"] == {
        "group": GROUP,
        "member": "5098765432",
        "inviter": "5012345678",
        "via": {"kind": "direct"},
    }


def test_a_join_with_no_link_and_no_one_adding_is_of_unknown_origin() -> None:
    update = chat_member(880004, old=left(MARCO), new=member(MARCO), actor=MARCO)

    assert mapped(update).events[-1]["data"]["via"] == {"kind": "unknown"}


def test_an_approved_join_request_does_not_credit_the_approving_admin() -> None:
    update = chat_member(
        880005, old=left(MARCO), new=member(MARCO), actor=ADMIN, via_join_request=True
    )

    joined = mapped(update).events[-1]["data"]

    assert joined["via"] == {"kind": "unknown"}
    assert "inviter" not in joined


def test_a_join_through_a_chat_folder_link_is_an_invite_link_without_a_code() -> None:
    update = chat_member(
        880006, old=left(MARCO), new=member(MARCO), actor=MARCO, via_chat_folder_invite_link=True
    )

    assert mapped(update).events[-1]["data"]["via"] == {"kind": "invite_link"}


def test_a_restricted_member_is_in_the_group_only_while_is_member_holds() -> None:
    restricted_out = {"user": MARCO, "status": "restricted", "is_member": False}
    restricted_in = {"user": MARCO, "status": "restricted", "is_member": True}

    rejoined = mapped(chat_member(880007, old=restricted_out, new=restricted_in, actor=MARCO))
    muted = mapped(chat_member(880008, old=member(MARCO), new=restricted_in, actor=ADMIN))

    assert [e["type"] for e in rejoined.events] == ["member.upserted", "member.joined"]
    assert muted == Mapped(
        skipped=[
            "update 880008: chat_member: 5098765432 stays in group -1001987654321 "
            "(member → restricted)"
        ]
    )


def test_a_member_leaving_by_themselves_quits() -> None:
    update = chat_member(880009, old=member(MARCO), new=left(MARCO), actor=MARCO)

    assert mapped(update) == Mapped(
        events=[
            {
                "id": f"tg-{GROUP}-5098765432-left-{DATE}",
                "type": "member.left",
                "at": AT,
                "source": "telegram",
                "data": {"group": GROUP, "member": "5098765432", "reason": "quit"},
            }
        ]
    )


def test_a_member_banned_by_an_admin_is_kicked_by_that_admin() -> None:
    banned = {"user": MARCO, "status": "kicked", "until_date": 0}

    left_event = mapped(chat_member(880010, old=member(MARCO), new=banned, actor=ADMIN)).events

    assert left_event[0]["data"] == {
        "group": GROUP,
        "member": "5098765432",
        "reason": "kicked",
        "by": "6011112222",
    }


def test_a_member_removed_without_a_ban_is_still_kicked() -> None:
    update = chat_member(880011, old=member(MARCO), new=left(MARCO), actor=ADMIN)

    assert mapped(update).events[0]["data"]["reason"] == "kicked"


def test_lifting_a_ban_after_a_kick_is_no_membership_change() -> None:
    banned = {"user": MARCO, "status": "kicked", "until_date": 0}

    result = mapped(chat_member(880012, old=banned, new=left(MARCO), actor=BOT))

    assert result.events == []
    assert result.skipped == [
        "update 880012: chat_member: 5098765432 stays out of group -1001987654321 (kicked → left)"
    ]


def test_the_org_goes_on_the_envelope_when_given() -> None:
    update = chat_member(880013, old=member(MARCO), new=left(MARCO), actor=MARCO)

    event = mapped(update, org="brand-a").events[0]

    assert list(event) == ["id", "type", "at", "source", "org", "data"]
    assert event["org"] == "brand-a"


def test_a_text_message_with_mentions_keeps_the_ids_telegram_or_the_caller_knows() -> None:
    # "🎉" is two UTF-16 code units: the offsets after it count it twice.
    text = "🎉 @marco_r and Wen, see @someone_else tonight"
    update = message(
        880020,
        text=text,
        entities=[
            {"type": "mention", "offset": 3, "length": 8},
            {"type": "text_mention", "offset": 16, "length": 3, "user": ADMIN},
            {"type": "mention", "offset": 25, "length": 13},
        ],
    )

    result = mapped(update, usernames={"@Marco_R": "5098765432"})

    assert result == Mapped(
        events=[
            {
                "id": "tg-880020",
                "type": "message.posted",
                "at": AT,
                "source": "telegram",
                "data": {
                    "group": GROUP,
                    "member": "5012345678",
                    "message": "4120",
                    "kind": "text",
                    "text": text,
                    "mentions": ["5098765432", "6011112222"],
                },
            }
        ]
    )


def test_a_plain_username_mention_without_a_known_id_stays_only_in_the_text() -> None:
    update = message(
        880021, text="@marco_r hi", entities=[{"type": "mention", "offset": 0, "length": 8}]
    )

    data = mapped(update).events[0]["data"]

    assert data["text"] == "@marco_r hi"
    assert "mentions" not in data


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ({"text": "早上好"}, "text"),
        (
            {
                "text": "sale: https://shop.example/s",
                "entities": [{"type": "url", "offset": 6, "length": 22}],
            },
            "link",
        ),
        (
            {
                "text": "our shop",
                "entities": [
                    {"type": "text_link", "offset": 4, "length": 4, "url": "https://shop.example"}
                ],
            },
            "link",
        ),
        (
            {"photo": [{"file_id": "AgAC1", "file_unique_id": "AQAD1", "width": 90, "height": 67}]},
            "image",
        ),
        (
            {"sticker": {"file_id": "CAAC1", "type": "regular", "width": 512, "height": 512}},
            "image",
        ),
        ({"video": {"file_id": "BAAC1", "width": 720, "height": 1280, "duration": 14}}, "video"),
        ({"video_note": {"file_id": "DQAC1", "length": 240, "duration": 9}}, "video"),
        ({"animation": {"file_id": "CgAC1"}, "document": {"file_id": "CgAC1"}}, "video"),
        ({"voice": {"file_id": "AwAC1", "duration": 4}}, "voice"),
        ({"audio": {"file_id": "CQAC1", "duration": 180}}, "file"),
        ({"document": {"file_id": "BQAC1", "file_name": "price-list.pdf"}}, "file"),
        ({"contact": {"phone_number": "+8613800000000", "first_name": "Ann"}}, "card"),
        ({"location": {"latitude": 31.23, "longitude": 121.47}}, "card"),
        ({"poll": {"id": "5", "question": "Which colour?", "options": []}}, "card"),
        ({"dice": {"emoji": "🎲", "value": 6}}, "card"),
    ],
)
def test_each_telegram_content_maps_to_a_contract_kind(content: dict[str, Any], kind: str) -> None:
    data = mapped(message(880030, **content)).events[0]["data"]

    assert data["kind"] == kind


def test_a_caption_is_the_text_of_a_media_message() -> None:
    update = message(
        880031,
        photo=[{"file_id": "AgAC1", "file_unique_id": "AQAD1", "width": 90, "height": 67}],
        caption="new arrivals for Lina",
        caption_entities=[{"type": "text_mention", "offset": 17, "length": 4, "user": LINA}],
    )

    data = mapped(update).events[0]["data"]

    assert data == {
        "group": GROUP,
        "member": "5012345678",
        "message": "4120",
        "kind": "image",
        "text": "new arrivals for Lina",
        "mentions": ["5012345678"],
    }


def test_a_message_sent_on_behalf_of_a_chat_counts_for_no_member() -> None:
    anonymous = {
        "id": 1087968824,
        "is_bot": True,
        "first_name": "Group",
        "username": "GroupAnonymousBot",
    }
    update = message(880032, text="notice", sender_chat=CHAT, **{"from": anonymous})

    assert mapped(update) == Mapped(
        skipped=["update 880032: message: sent on behalf of chat -1001987654321, not by a member"]
    )


def test_a_private_chat_is_not_a_group() -> None:
    update = {
        "update_id": 880033,
        "message": {
            "message_id": 12,
            "from": LINA,
            "chat": {"id": 5012345678, "first_name": "Lina", "type": "private"},
            "date": DATE,
            "text": "/start",
        },
    }

    assert mapped(update).skipped == [
        "update 880033: message: private chat 5012345678 is not a group"
    ]


def test_service_joins_are_left_to_chat_member_updates_by_default() -> None:
    update = message(880040, **{"from": MARCO, "new_chat_members": [MARCO]})

    assert mapped(update) == Mapped(
        skipped=[
            "update 880040: message: service message: joins and leaves are taken from "
            "chat_member updates"
        ]
    )


def test_without_chat_member_updates_service_joins_become_joins() -> None:
    update = message(880041, **{"from": LINA, "new_chat_members": [MARCO, BOT]})

    result = mapped(update, chat_member_updates=False)

    assert result.events == [
        {
            "id": "tg-880041-member-5098765432",
            "type": "member.upserted",
            "at": AT,
            "source": "telegram",
            "data": {"member": "5098765432", "nickname": "Marco"},
        },
        {
            "id": f"tg-{GROUP}-5098765432-joined-{DATE}",
            "type": "member.joined",
            "at": AT,
            "source": "telegram",
            "data": {
                "group": GROUP,
                "member": "5098765432",
                "inviter": "5012345678",
                "via": {"kind": "direct"},
            },
        },
    ]


def test_a_join_seen_both_ways_in_the_same_second_has_one_id() -> None:
    through_update = mapped(chat_member(880042, old=left(MARCO), new=member(MARCO), actor=MARCO))
    through_service = mapped(
        message(880043, **{"from": MARCO, "new_chat_members": [MARCO]}), chat_member_updates=False
    )

    assert through_update.events[-1]["id"] == through_service.events[-1]["id"]
    assert through_service.events[-1]["data"]["via"] == {"kind": "unknown"}


def test_without_chat_member_updates_a_service_leave_becomes_a_leave() -> None:
    quit_update = message(880044, **{"from": MARCO, "left_chat_member": MARCO})
    kick_update = message(880045, **{"from": ADMIN, "left_chat_member": MARCO})

    quit_data = mapped(quit_update, chat_member_updates=False).events[0]["data"]
    kick_data = mapped(kick_update, chat_member_updates=False).events[0]["data"]

    assert quit_data == {"group": GROUP, "member": "5098765432", "reason": "quit"}
    assert kick_data == {
        "group": GROUP,
        "member": "5098765432",
        "reason": "kicked",
        "by": "6011112222",
    }


def test_a_new_title_renames_the_group() -> None:
    update = message(880046, new_chat_title="Spring picks · VIP 2")

    assert mapped(update).events == [
        {
            "id": "tg-880046",
            "type": "group.upserted",
            "at": AT,
            "source": "telegram",
            "data": {"group": GROUP, "name": "Spring picks · VIP 2"},
        }
    ]


def test_other_service_messages_are_not_posts() -> None:
    update = message(880047, pinned_message={"message_id": 4100, "chat": CHAT, "date": 0})

    assert mapped(update) == Mapped(
        skipped=["update 880047: message: service message pinned_message is not a member posting"]
    )


def test_a_changed_reaction_is_a_removal_then_each_addition() -> None:
    update = {
        "update_id": 880050,
        "message_reaction": {
            "chat": CHAT,
            "message_id": 4120,
            "user": MARCO,
            "date": DATE,
            "old_reaction": [{"type": "emoji", "emoji": "👍"}],
            "new_reaction": [
                {"type": "emoji", "emoji": "❤"},
                {"type": "custom_emoji", "custom_emoji_id": "5368324170671202286"},
            ],
        },
    }
    marco_on_4120 = {"group": GROUP, "member": "5098765432", "message": "4120"}

    result = mapped(update)

    assert [(e["id"], e["type"], e["data"]) for e in result.events] == [
        ("tg-880050", "reaction.removed", {**marco_on_4120, "emoji": "👍"}),
        ("tg-880050-1", "reaction.added", {**marco_on_4120, "emoji": "❤"}),
        (
            "tg-880050-2",
            "reaction.added",
            {**marco_on_4120, "emoji": "custom_emoji:5368324170671202286"},
        ),
    ]
    assert {e["at"] for e in result.events} == {AT}


def test_an_anonymous_reaction_counts_for_no_member() -> None:
    update = {
        "update_id": 880051,
        "message_reaction": {
            "chat": CHAT,
            "message_id": 4120,
            "actor_chat": CHAT,
            "date": DATE,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "🔥"}],
        },
    }

    assert mapped(update).skipped == [
        "update 880051: message_reaction: an anonymous reaction, on behalf of a chat, "
        "in group -1001987654321"
    ]


def test_a_join_request_is_kept_for_the_audit_and_is_no_event() -> None:
    update = {
        "update_id": 880060,
        "chat_join_request": {
            "chat": CHAT,
            "from": MARCO,
            "user_chat_id": 5098765432,
            "date": DATE,
            "bio": "代理 招商 日入过千",
            "invite_link": {**OUR_LINK, "creates_join_request": True},
        },
    }

    assert mapped(update, org="brand-a") == Mapped(
        join_requests=[
            JoinRequest(
                id="tg-880060",
                org="brand-a",
                group=GROUP,
                member="5098765432",
                user_chat_id="5098765432",
                at=datetime(2024, 11, 7, 12, 31, 5, tzinfo=UTC),
                nickname="Marco",
                username="marco_r",
                bio="代理 招商 日入过千",
                invite_code="inv-u7",
                is_bot=False,
            )
        ]
    )


def test_the_bot_joining_a_group_names_the_group() -> None:
    update = {
        "update_id": 880070,
        "my_chat_member": {
            "chat": CHAT,
            "from": ADMIN,
            "date": DATE,
            "old_chat_member": left(BOT),
            "new_chat_member": {"user": BOT, "status": "administrator", "can_invite_users": True},
        },
    }

    assert mapped(update).events == [
        {
            "id": "tg-880070",
            "type": "group.upserted",
            "at": AT,
            "source": "telegram",
            "data": {"group": GROUP, "name": "Spring picks · VIP"},
        }
    ]


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        (
            {"update_id": 880080, "edited_message": {}},
            "update 880080: edited_message updates are not mapped",
        ),
        ({"update_id": 880081, "poll": {"id": "5"}}, "update 880081: poll updates are not mapped"),
        ({"update_id": 880082}, "update 880082: carries nothing"),
        ({"update_id": 880083, "message": "hi"}, "update 880083: message is not a JSON object"),
        (
            {"update_id": 880084, "message": {"message_id": 1, "date": DATE, "text": "hi"}},
            "update 880084: message: chat: missing or not an object",
        ),
        (
            {"update_id": 880085, "message": {"message_id": 1, "chat": CHAT, "date": "today"}},
            "update 880085: message: date: missing or not an integer",
        ),
        ({"message": {}}, "update has no integer update_id"),
        (["not", "an", "update"], "update is a list, not a JSON object"),
    ],
)
def test_what_cannot_be_mapped_is_skipped_with_a_reason(update: object, reason: str) -> None:
    assert mapped(update) == Mapped(skipped=[reason])


def test_a_part_that_fails_halfway_leaves_no_events_behind() -> None:
    # Marco's join is mapped before the second entry turns out unreadable: neither is kept.
    update = message(880090, **{"from": LINA, "new_chat_members": [MARCO, {"first_name": "?"}]})

    assert mapped(update, chat_member_updates=False) == Mapped(
        skipped=["update 880090: message: id: missing or not an integer"]
    )


def test_a_date_out_of_range_is_skipped() -> None:
    update = chat_member(880091, old=left(MARCO), new=member(MARCO), actor=MARCO)
    update["chat_member"]["date"] = 10**20

    assert mapped(update) == Mapped(
        skipped=["update 880091: chat_member: date: 100000000000000000000 is out of range"]
    )


def test_a_batch_maps_in_order() -> None:
    updates = [
        message(880100, text="first"),
        {"update_id": 880101, "poll": {}},
        message(880102, text="second"),
    ]

    result = map_updates(updates, bot_id=BOT_ID)

    assert [e["id"] for e in result.events] == ["tg-880100", "tg-880102"]
    assert result.skipped == ["update 880101: poll updates are not mapped"]


def test_a_nickname_is_the_name_as_shown_else_the_username() -> None:
    assert nickname_of(LINA) == "Lina Chen"
    assert nickname_of({"id": 1, "first_name": " ", "username": "lina_c"}) == "lina_c"
    assert nickname_of({"id": 1, "first_name": ""}) == "1"
