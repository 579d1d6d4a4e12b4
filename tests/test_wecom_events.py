"""Reading WeCom's change_external_chat callbacks, in the shapes its documentation shows."""

from datetime import UTC, datetime

import pytest

from shequn.connectors.wecom.crypto import MalformedXml
from shequn.connectors.wecom.events import (
    JOIN_BY_QR_CODE,
    QUIT_REMOVED_BY_OWNER_OR_ADMIN,
    ChatChange,
    ChatChangeError,
    ChatChangeType,
    UpdateDetail,
    parse_chat_change,
)

CORP = "ww55ca070cb9b7eb22"
CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
AT = datetime.fromtimestamp(1403610513, UTC)


def callback(change_type: str, body: str = "") -> str:
    return f"""<xml>
	<ToUserName><![CDATA[{CORP}]]></ToUserName>
	<FromUserName><![CDATA[sys]]></FromUserName>
	<CreateTime>1403610513</CreateTime>
	<MsgType><![CDATA[event]]></MsgType>
	<Event><![CDATA[change_external_chat]]></Event>
	<ChatId><![CDATA[{CHAT}]]></ChatId>
	<ChangeType><![CDATA[{change_type}]]></ChangeType>{body}
</xml>"""


def update(detail: str, body: str = "") -> str:
    return callback("update", f"\n\t<UpdateDetail><![CDATA[{detail}]]></UpdateDetail>{body}")


VERSIONS = """
	<LastMemVer>9c3f97c2ada667dfb5f6d03308d963e1</LastMemVer>
	<CurMemVer>71217227bbd112ecfe3a49c482195cb4</CurMemVer>"""


def test_a_new_group_is_a_create() -> None:
    assert parse_chat_change(callback("create")) == ChatChange(
        chat_id=CHAT, change_type=ChatChangeType.CREATE, at=AT, corp_id=CORP
    )


def test_a_dismissed_group_is_a_dismiss() -> None:
    change = parse_chat_change(callback("dismiss"))

    assert change.change_type is ChatChangeType.DISMISS
    assert change.chat_id == CHAT
    assert change.update_detail is None
    assert change.changed_members == ()


def test_members_joining_by_qr_code_listed_as_items() -> None:
    body = f"""
	<JoinScene>3</JoinScene>
	<QuitScene>0</QuitScene>
	<MemChangeCnt>2</MemChangeCnt>
	<MemChangeList>
		<Item><![CDATA[wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA]]></Item>
		<Item><![CDATA[wmOgQhDgAAuXFJGwbve4g4iXknfOBBBB]]></Item>
	</MemChangeList>{VERSIONS}"""

    assert parse_chat_change(update("add_member", body)) == ChatChange(
        chat_id=CHAT,
        change_type=ChatChangeType.UPDATE,
        at=AT,
        corp_id=CORP,
        update_detail=UpdateDetail.ADD_MEMBER,
        join_scene=JOIN_BY_QR_CODE,
        quit_scene=None,
        member_change_count=2,
        changed_members=("wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA", "wmOgQhDgAAuXFJGwbve4g4iXknfOBBBB"),
        last_member_version="9c3f97c2ada667dfb5f6d03308d963e1",
        member_version="71217227bbd112ecfe3a49c482195cb4",
    )


def test_a_member_removed_listed_as_comma_separated_text() -> None:
    body = f"""
	<JoinScene>0</JoinScene>
	<QuitScene>1</QuitScene>
	<MemChangeCnt>3</MemChangeCnt>
	<MemChangeList><![CDATA[wmA, wmB,wmC,]]></MemChangeList>{VERSIONS}"""

    change = parse_chat_change(update("del_member", body))

    assert change.update_detail is UpdateDetail.DEL_MEMBER
    assert change.quit_scene == QUIT_REMOVED_BY_OWNER_OR_ADMIN
    assert change.join_scene is None
    assert change.member_change_count == 3
    assert change.changed_members == ("wmA", "wmB", "wmC")


def test_a_single_member_in_the_text_form() -> None:
    body = (
        "<QuitScene>0</QuitScene><MemChangeCnt>1</MemChangeCnt><MemChangeList>wmA</MemChangeList>"
    )

    assert parse_chat_change(update("del_member", body)).changed_members == ("wmA",)


def test_a_join_without_a_member_list_has_only_the_count() -> None:
    body = "<JoinScene>0</JoinScene><MemChangeCnt>10</MemChangeCnt>"

    change = parse_chat_change(update("add_member", body))

    assert change.member_change_count == 10
    assert change.changed_members == ()
    assert change.member_version is None


def test_an_empty_member_list_is_no_members() -> None:
    body = "<JoinScene>0</JoinScene><MemChangeCnt>0</MemChangeCnt><MemChangeList></MemChangeList>"

    assert parse_chat_change(update("add_member", body)).changed_members == ()


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("change_owner", UpdateDetail.CHANGE_OWNER),
        ("change_name", UpdateDetail.CHANGE_NAME),
        ("change_notice", UpdateDetail.CHANGE_NOTICE),
    ],
)
def test_group_setting_changes_carry_no_member_fields(detail: str, expected: UpdateDetail) -> None:
    # As WeCom's example shows, scene fields may ride along; they mean nothing here.
    body = (
        f"<JoinScene>0</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>0</MemChangeCnt>{VERSIONS}"
    )

    assert parse_chat_change(update(detail, body)) == ChatChange(
        chat_id=CHAT,
        change_type=ChatChangeType.UPDATE,
        at=AT,
        corp_id=CORP,
        update_detail=expected,
        last_member_version="9c3f97c2ada667dfb5f6d03308d963e1",
        member_version="71217227bbd112ecfe3a49c482195cb4",
    )


def test_the_third_party_shape_reads_the_same() -> None:
    xml = """<xml>
	<SuiteId><![CDATA[ww4asffe99e54c0f4c]]></SuiteId>
	<AuthCorpId><![CDATA[wxf8b4f85f3a794e77]]></AuthCorpId>
	<InfoType><![CDATA[change_external_chat]]></InfoType>
	<TimeStamp>1403610513</TimeStamp>
	<ChatId><![CDATA[wrx7HUARsKwGRaQBVKPBTcEyzdHA4HrQ]]></ChatId>
	<ChangeType><![CDATA[update]]></ChangeType>
	<UpdateDetail><![CDATA[add_member]]></UpdateDetail>
	<JoinScene>0</JoinScene>
	<MemChangeCnt>1</MemChangeCnt>
	<MemChangeList><Item>wmZ</Item></MemChangeList>
</xml>"""

    change = parse_chat_change(xml)

    assert change.corp_id == "wxf8b4f85f3a794e77"
    assert change.at == AT
    assert change.chat_id == "wrx7HUARsKwGRaQBVKPBTcEyzdHA4HrQ"
    assert change.changed_members == ("wmZ",)


def test_another_event_is_not_a_chat_change() -> None:
    xml = callback("create").replace("change_external_chat", "change_external_contact")

    with pytest.raises(ChatChangeError, match="Event: expected change_external_chat"):
        parse_chat_change(xml)


@pytest.mark.parametrize(
    ("xml", "field"),
    [
        (callback("create").replace(f"<ChatId><![CDATA[{CHAT}]]></ChatId>", ""), "ChatId"),
        (callback("merge"), "ChangeType"),
        (callback("update"), "UpdateDetail"),
        (update("rename_everyone"), "UpdateDetail"),
        (update("add_member", "<MemChangeCnt>many</MemChangeCnt>"), "MemChangeCnt"),
        (update("add_member", "<JoinScene>-1</JoinScene>"), "JoinScene"),
        (callback("create").replace("<CreateTime>1403610513</CreateTime>", ""), "CreateTime"),
    ],
)
def test_an_unreadable_field_is_named(xml: str, field: str) -> None:
    with pytest.raises(ChatChangeError, match=f"^{field}:"):
        parse_chat_change(xml)


def test_a_doctype_in_the_inner_xml_is_refused() -> None:
    with pytest.raises(MalformedXml):
        parse_chat_change('<!DOCTYPE xml [<!ENTITY e "x">]>' + callback("create"))


def test_a_chat_change_is_frozen() -> None:
    change = parse_chat_change(callback("create"))

    with pytest.raises(AttributeError):
        change.chat_id = "other"  # type: ignore[misc]
