"""WeCom end to end, offline: a fake WeCom API on loopback, callbacks sealed by wechatpy."""

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner
from wechatpy.enterprise.crypto import WeChatCrypto

from shequn.cli.connect import tasks_app, wecom_app
from shequn.config import Settings
from shequn.connectors.models import WeComChatVersion
from shequn.connectors.platforms import platform_routers
from shequn.connectors.wecom.crypto import parse_xml
from shequn.engine.action import Action, ActionKind
from shequn.engine.dispatch import dispatch_due
from shequn.engine.models import ActionRecord, ActionStatus, EventRecord
from shequn.group.models import Group
from shequn.kit.time import utc_now
from shequn.member.models import GroupMember, Member
from shequn.wiring import Shequn, open_shequn
from tests.conftest import empty_store

# Made-up values the tests look for.
CORP_ID = "ww8c0ffee5d1a2b3c4"
CORP_SECRET = "app-secret-for-tests"  # noqa: S105
TOKEN = "QDG6eK"  # noqa: S105
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
OWNER = "zhangsan"
CUSTOMER = "wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA"
GROUP_CHAT: dict[str, Any] = {
    "chat_id": CHAT, "name": "老粉1群", "owner": OWNER, "create_time": 1572505490,
    "member_list": [
        {"userid": OWNER, "type": 1, "join_time": 1572505491, "join_scene": 1,
         "group_nickname": "客服小张", "name": "张三"},
        {"userid": CUSTOMER, "type": 2, "join_time": 1730982665, "join_scene": 3,
         "invitor": {"userid": OWNER}, "name": "王明", "state": "inv-u7-3f2a1c"},
    ],
    "admin_list": [], "member_version": "71217227bbd112ecfe3a49c482195cb4",
}  # fmt: skip


class FakeWeCom:
    """The WeCom server API calls shequn makes, answered as WeCom answers them, every call kept."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.confirmed = False
        # WeCom's answer for a send it refused (2: not a friend, 3: sent already today).
        self.refused: int | None = None
        self.members = list(GROUP_CHAT["member_list"])
        # How many groupchat/get calls WeCom answers "system busy" before answering again.
        self.busy = 0
        self.app = FastAPI()
        self.app.get("/cgi-bin/gettoken")(self.gettoken)
        self.app.post("/cgi-bin/externalcontact/{path:path}")(self.answer)

    async def gettoken(self, corpid: str, corpsecret: str) -> dict[str, Any]:
        self.calls.append(("gettoken", {"corpid": corpid}))
        if (corpid, corpsecret) != (CORP_ID, CORP_SECRET):
            return {"errcode": 40001, "errmsg": "invalid credential"}
        return {"errcode": 0, "errmsg": "ok", "access_token": "token-1", "expires_in": 7200}

    async def answer(self, path: str, request: Request) -> dict[str, Any]:
        payload = await request.json()
        self.calls.append((path, payload))
        if request.query_params.get("access_token") != "token-1":
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if path == "groupchat/get" and self.busy:
            self.busy -= 1
            return {"errcode": -1, "errmsg": "system busy"}
        if path == "groupchat/get":
            return {"errcode": 0, "errmsg": "ok",
                    "group_chat": {**GROUP_CHAT, "member_list": self.members}}  # fmt: skip
        if path == "add_msg_template":
            return {"errcode": 0, "errmsg": "ok", "msgid": "msgGCAAAXtWyujaWJHDDGi0mACAAAA",
                    "fail_list": []}  # fmt: skip
        if path == "get_groupmsg_send_result":
            status = self.refused or (1 if self.confirmed else 0)
            return {"errcode": 0, "errmsg": "ok", "next_cursor": "", "send_list": [
                {"chat_id": CHAT, "userid": OWNER, "status": status, "send_time": 1730990000},
            ]}  # fmt: skip
        if path == "groupchat/add_join_way":
            return {"errcode": 0, "errmsg": "ok", "config_id": "9ad7fa5cdaa6511298498f979c472aaa"}
        if path == "groupchat/get_join_way":
            return {"errcode": 0, "errmsg": "ok", "join_way": {
                "config_id": payload["config_id"], "scene": 2,
                "qr_code": "https://wework.qpic.cn/wwpic/made-up-qr/0"}}  # fmt: skip
        return {"errcode": 60020, "errmsg": f"not faked: {path}"}

    def paths(self) -> list[str]:
        return [path for path, _ in self.calls]


@pytest.fixture
def wecom_api() -> Iterator[tuple[FakeWeCom, str]]:
    fake = FakeWeCom()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield fake, f"http://127.0.0.1:{port}/cgi-bin"
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def platform_settings(settings: Settings, wecom_api: tuple[FakeWeCom, str]) -> Settings:
    return settings.model_copy(
        update={
            "wecom_corp_id": CORP_ID, "wecom_secret": CORP_SECRET, "wecom_token": TOKEN,
            "wecom_encoding_aes_key": AES_KEY, "wecom_org": "demo", "wecom_api_url": wecom_api[1],
        }
    )  # fmt: skip


@pytest.fixture
def wecom(platform_settings: Settings) -> Iterator[Shequn]:
    opened = open_shequn(platform_settings)
    empty_store(opened)
    yield opened
    empty_store(opened)
    opened.close()


@pytest.fixture
def client(wecom: Shequn) -> Iterator[TestClient]:
    app = FastAPI()
    for router in platform_routers(wecom):
        app.include_router(router)
    with TestClient(app) as test_client:
        yield test_client


def change(detail: str, *, scene: str = "", created: int = 1730982665) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{CHAT}]]></ChatId><ChangeType><![CDATA[update]]></ChangeType>"
        f"<UpdateDetail><![CDATA[{detail}]]></UpdateDetail>{scene}"
        f"<MemChangeCnt>1</MemChangeCnt><MemChangeList><Item>{CUSTOMER}</Item></MemChangeList>"
        "</xml>"
    )


def sealed(inner: str, *, nonce: str, timestamp: str | None = None) -> tuple[dict[str, str], str]:
    """The query and body WeCom would POST, sealed by wechatpy, an independent implementation."""
    timestamp = timestamp or str(int(time.time()))
    reply = parse_xml(
        WeChatCrypto(TOKEN, AES_KEY, CORP_ID).encrypt_message(inner, nonce, timestamp)
    )
    encrypt, signature = reply.findtext("Encrypt") or "", reply.findtext("MsgSignature") or ""
    query = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]>" \
           "</Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>"  # fmt: skip
    return query, body


def events_stored(shequn: Shequn) -> int:
    with shequn.sessions() as session:
        return session.scalar(select(func.count()).select_from(EventRecord)) or 0


def test_the_callback_url_check_answers_the_decrypted_echostr(client: TestClient) -> None:
    query, body = sealed("1616140317555161061", nonce="1597212914")
    echostr = parse_xml(body).findtext("Encrypt")
    answer = client.get("/wecom/callback", params={**query, "echostr": echostr})
    assert (answer.status_code, answer.text) == (200, "1616140317555161061")
    forged = client.get("/wecom/callback", params={**query, "nonce": "another", "echostr": echostr})
    assert forged.status_code == 401


def test_a_join_callback_fetches_the_group_and_credits_the_join_ways_referrer(
    wecom: Shequn, client: TestClient, wecom_api: tuple[FakeWeCom, str]
) -> None:
    fake, _ = wecom_api
    query, body = sealed(change("add_member", scene="<JoinScene>3</JoinScene>"), nonce="n1")
    answer = client.post("/wecom/callback", params=query, content=body)
    assert (answer.status_code, answer.text) == (200, "success")
    assert fake.calls == [
        ("gettoken", {"corpid": CORP_ID}),
        ("groupchat/get", {"chat_id": CHAT, "need_name": 1}),
    ]
    with wecom.sessions() as session:
        group = session.get(Group, ("demo", CHAT))
        customer = session.get(Member, ("demo", CUSTOMER))
        standing = session.get(GroupMember, ("demo", CHAT, CUSTOMER))
        assert group is not None
        assert customer is not None
        assert standing is not None
        assert (group.name, group.owner, group.member_count) == ("老粉1群", OWNER, 1)
        assert (customer.nickname, customer.first_via_kind, customer.first_via_code) == (
            "王明", "live_code", "inv-u7-3f2a1c",
        )  # fmt: skip
        assert (standing.is_member, customer.platform) == (True, "wecom")
    stored = events_stored(wecom)
    assert stored == 3  # group.upserted, member.upserted, member.joined
    # The very same request again is a replay; WeCom's own retry (a new nonce) is a duplicate.
    assert client.post("/wecom/callback", params=query, content=body).status_code == 401
    query, body = sealed(change("add_member", scene="<JoinScene>3</JoinScene>"), nonce="n2")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    assert events_stored(wecom) == stored


def test_a_quit_callback_is_a_leave_without_asking_wecom(
    wecom: Shequn, client: TestClient, wecom_api: tuple[FakeWeCom, str]
) -> None:
    fake, _ = wecom_api
    query, body = sealed(change("del_member", scene="<QuitScene>1</QuitScene>"), nonce="n3")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    assert fake.calls == []
    with wecom.sessions() as session:
        left = session.scalars(select(EventRecord)).one()
        assert (left.type, left.data) == (
            "member.left", {"group": CHAT, "member": CUSTOMER, "reason": "kicked"},
        )  # fmt: skip


@pytest.mark.parametrize(
    ("tamper", "status"),
    [
        ("signature", 401),
        ("stale", 401),
        ("body", 400),
    ],
)
def test_forged_stale_and_malformed_callbacks_are_refused_and_write_nothing(
    wecom: Shequn, client: TestClient, wecom_api: tuple[FakeWeCom, str], tamper: str, status: int
) -> None:
    stale = str(int(time.time()) - 3600) if tamper == "stale" else None
    query, body = sealed(change("add_member"), nonce="n4", timestamp=stale)
    if tamper == "signature":
        query["msg_signature"] = "0" * 40
    if tamper == "body":
        body = "<xml><Encrypt>"
    assert client.post("/wecom/callback", params=query, content=body).status_code == status
    assert (events_stored(wecom), wecom_api[0].calls) == (0, [])


def test_a_replay_to_another_worker_or_after_a_restart_is_refused(
    wecom: Shequn, client: TestClient, platform_settings: Settings
) -> None:
    query, body = sealed(change("del_member", scene="<QuitScene>0</QuitScene>"), nonce="n5")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    for _worker_or_restart in range(2):
        other = open_shequn(platform_settings)
        app = FastAPI()
        for router in platform_routers(other):
            app.include_router(router)
        with TestClient(app) as second:
            replay = second.post("/wecom/callback", params=query, content=body)
        other.close()
        assert (replay.status_code, replay.json()["detail"]) == (
            401, f"ReplayedNonce: nonce 'n5' at timestamp {query['timestamp']} was already taken in",
        )  # fmt: skip
    assert events_stored(wecom) == 1


def test_a_callback_that_failed_is_let_in_when_wecom_retries_it(
    wecom: Shequn, wecom_api: tuple[FakeWeCom, str]
) -> None:
    fake, _ = wecom_api
    fake.busy = 1
    app = FastAPI()
    for router in platform_routers(wecom):
        app.include_router(router)
    query, body = sealed(change("add_member", scene="<JoinScene>3</JoinScene>"), nonce="n6")
    with TestClient(app, raise_server_exceptions=False) as wecom_side:
        failed = wecom_side.post("/wecom/callback", params=query, content=body)
        assert (failed.status_code, events_stored(wecom)) == (500, 0)

        retry = wecom_side.post("/wecom/callback", params=query, content=body)
        assert (retry.status_code, retry.text) == (200, "success")
        assert events_stored(wecom) == 3
        assert wecom_side.post("/wecom/callback", params=query, content=body).status_code == 401


def test_a_signed_callback_that_cannot_be_read_is_refused_and_not_held_against_a_resend(
    wecom: Shequn, client: TestClient
) -> None:
    unreadable = change("add_member").replace("<ChatId>", "<Chat>").replace("</ChatId>", "</Chat>")
    query, body = sealed(unreadable, nonce="n7")
    for _sent_again in range(2):
        refused = client.post("/wecom/callback", params=query, content=body)
        assert (refused.status_code, refused.json()) == (400, {"detail": "ChatId: required"})
    assert events_stored(wecom) == 0


def decide(shequn: Shequn, *actions: Action) -> None:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=utc_now())
        for action in actions:
            context.emit(action)
        context.flush()


def record(shequn: Shequn, action_id: str) -> ActionRecord:
    with shequn.sessions() as session:
        found = session.get(ActionRecord, action_id)
        assert found is not None
        return found


def cli_env(settings: Settings, tmp_path: Path, api: str) -> dict[str, str]:
    return {
        "SHEQUN_DATABASE_URL": settings.database_url, "SHEQUN_WECOM_CORP_ID": CORP_ID,
        "SHEQUN_WECOM_SECRET": CORP_SECRET, "SHEQUN_WECOM_TOKEN": TOKEN,
        "SHEQUN_WECOM_ENCODING_AES_KEY": AES_KEY, "SHEQUN_WECOM_ORG": "demo",
        "SHEQUN_WECOM_API_URL": api, "SHEQUN_ACTION_LOG": str(tmp_path / "actions.jsonl"),
    }  # fmt: skip


def test_a_kick_becomes_an_operator_task_with_its_reason_done_once_the_member_is_gone(
    wecom: Shequn, platform_settings: Settings, wecom_api: tuple[FakeWeCom, str], tmp_path: Path
) -> None:
    fake, api = wecom_api
    kick = Action(
        id="k1", org="demo", kind=ActionKind.KICK_MEMBER, cause="audit:case-1", platform="wecom",
        group=CHAT, member=CUSTOMER, payload={"reason": "广告号 · ad account"},
    )  # fmt: skip
    decide(wecom, kick)
    now = utc_now()
    assert dispatch_due(wecom.sessions, wecom.registry, now=now) == {"awaiting": 1}
    assert fake.calls == []  # WeCom has no call for it: a person does it
    listed = CliRunner().invoke(
        tasks_app, ["list", "--json"], env=cli_env(platform_settings, tmp_path, api)
    )
    assert listed.exit_code == 0, listed.output
    [task] = json.loads(listed.stdout)
    deadline = task["payload"]["task"].pop("deadline")
    assert (task["id"], task["status"], task["payload"]) == ("k1", "awaiting", {
        "reason": "广告号 · ad account",
        "task": {"kind": "by_hand", "zh": f"将成员 {CUSTOMER} 移出群 {CHAT}",
                 "en": f"Remove {CUSTOMER} from group {CHAT}", "check": "absent",
                 "reason": "广告号 · ad account"},
    })  # fmt: skip
    assert timedelta(0) <= datetime.fromisoformat(deadline) - now - timedelta(days=3) < timedelta(minutes=1)  # fmt: skip
    # A quarter of an hour on, the customer is still in the group: the task waits on.
    assert dispatch_due(wecom.sessions, wecom.registry, now=now + timedelta(minutes=15)) == {
        "awaiting": 1
    }
    fake.members = [m for m in fake.members if m["userid"] != CUSTOMER]
    assert dispatch_due(wecom.sessions, wecom.registry, now=now + timedelta(minutes=30)) == {
        "sent": 1
    }
    assert [path for path in fake.paths() if path != "gettoken"] == ["groupchat/get"] * 2
    assert (record(wecom, "k1").status, record(wecom, "k1").attempts) == (ActionStatus.SENT, 1)


def test_a_task_nothing_can_check_is_closed_by_hand(
    wecom: Shequn, platform_settings: Settings, wecom_api: tuple[FakeWeCom, str], tmp_path: Path
) -> None:
    notice = Action(
        id="n1", org="demo", kind=ActionKind.SET_NOTICE, cause="campaign:day-2",
        platform="wecom", group=CHAT, payload={"text": "今晚8:30,群内抽奖"},
    )  # fmt: skip
    decide(wecom, notice)
    assert dispatch_due(wecom.sessions, wecom.registry, now=utc_now()) == {"awaiting": 1}
    env = cli_env(platform_settings, tmp_path, wecom_api[1])
    done = CliRunner().invoke(tasks_app, ["done", "n1"], env=env)
    assert (done.exit_code, done.stdout) == (0, "done 已完成 n1\n")
    assert record(wecom, "n1").status == ActionStatus.SENT
    assert CliRunner().invoke(tasks_app, ["list", "--json"], env=env).stdout == "[]\n"
    again = CliRunner().invoke(tasks_app, ["done", "n1"], env=env)
    assert again.exit_code == 1
    assert "action n1 is sent, not awaiting" in again.output


def test_a_group_post_becomes_a_group_send_the_owner_confirms(
    wecom: Shequn, wecom_api: tuple[FakeWeCom, str]
) -> None:
    fake, _ = wecom_api
    post = Action(
        id="p1", org="demo", kind=ActionKind.SEND_MESSAGE, cause="lottery:announce",
        platform="wecom", group=CHAT, payload={"text": "今晚8:30,群内抽奖"},
    )  # fmt: skip
    decide(wecom, post)
    now = utc_now()
    assert dispatch_due(wecom.sessions, wecom.registry, now=now) == {"awaiting": 1}
    assert fake.calls[1:] == [
        ("groupchat/get", {"chat_id": CHAT, "need_name": 1}),
        ("add_msg_template", {"chat_type": "group", "sender": OWNER, "chat_id_list": [CHAT],
                              "text": {"content": "今晚8:30,群内抽奖"}}),
    ]  # fmt: skip
    task = record(wecom, "p1").payload["task"]
    assert (task["kind"], task["msgid"], task["sender"]) == (
        "group_send", "msgGCAAAXtWyujaWJHDDGi0mACAAAA", OWNER,
    )  # fmt: skip
    # Not confirmed yet: still awaiting, looked at again five minutes on.
    checked = now + timedelta(minutes=5)
    assert dispatch_due(wecom.sessions, wecom.registry, now=checked) == {"awaiting": 1}
    fake.confirmed = True
    assert dispatch_due(wecom.sessions, wecom.registry, now=checked + timedelta(minutes=5)) == {
        "sent": 1
    }
    sends = [path for path in fake.paths() if path != "gettoken"]
    assert sends == [
        "groupchat/get", "add_msg_template", "get_groupmsg_send_result",
        "get_groupmsg_send_result",
    ]  # fmt: skip
    assert (record(wecom, "p1").status, record(wecom, "p1").attempts) == (ActionStatus.SENT, 1)


def test_a_group_send_wecom_refused_fails_instead_of_counting_as_sent(
    wecom: Shequn, wecom_api: tuple[FakeWeCom, str]
) -> None:
    fake, _ = wecom_api
    post = Action(
        id="p3", org="demo", kind=ActionKind.SEND_MESSAGE, cause="campaign:teaser",
        platform="wecom", group=CHAT, payload={"text": "明天有惊喜", "sender": OWNER},
    )  # fmt: skip
    decide(wecom, post)
    now = utc_now()
    assert dispatch_due(wecom.sessions, wecom.registry, now=now) == {"awaiting": 1}
    fake.refused = 3
    checked = now + timedelta(minutes=5)
    assert dispatch_due(wecom.sessions, wecom.registry, now=checked) == {"failed": 1}
    assert record(wecom, "p3").last_error == "WeCom did not send the group message (status 3)"


def test_a_group_send_nobody_confirms_fails_at_its_deadline(
    wecom: Shequn, wecom_api: tuple[FakeWeCom, str]
) -> None:
    deadline = utc_now() + timedelta(seconds=1)
    post = Action(
        id="p2", org="demo", kind=ActionKind.SEND_MESSAGE, cause="campaign:teaser",
        platform="wecom", group=CHAT, payload={"text": "明天有惊喜", "sender": OWNER,
                                               "deadline": deadline.isoformat()},
    )  # fmt: skip
    decide(wecom, post)
    assert dispatch_due(wecom.sessions, wecom.registry, now=utc_now()) == {"awaiting": 1}
    time.sleep(1.1)
    assert dispatch_due(wecom.sessions, wecom.registry, now=utc_now() + timedelta(minutes=5)) == {
        "failed": 1
    }
    failed = record(wecom, "p2")
    assert failed.last_error == (
        f"not done by its deadline {deadline.isoformat()}: "
        f"{OWNER} to confirm the group send to group {CHAT} in WeCom"
    )


def test_a_referrers_join_way_carries_their_invite_code_as_its_state(
    wecom: Shequn, platform_settings: Settings, wecom_api: tuple[FakeWeCom, str], tmp_path: Path
) -> None:
    fake, api = wecom_api
    env = cli_env(platform_settings, tmp_path, api)
    args = ["joinway", "--referrer", "u7", "--group", CHAT, "--group", "wrOther", "--json"]
    made = CliRunner().invoke(wecom_app, args, env=env)
    assert made.exit_code == 0, made.output
    shown = json.loads(made.stdout)
    assert shown["qr_code"] == "https://wework.qpic.cn/wwpic/made-up-qr/0"
    assert shown["code"].startswith("inv-u7-")
    assert fake.calls[1:] == [
        ("groupchat/add_join_way", {"scene": 2, "chat_id_list": [CHAT, "wrOther"],
                                    "auto_create_room": 1, "state": shown["code"],
                                    "remark": "shequn u7"}),
        ("groupchat/get_join_way", {"config_id": "9ad7fa5cdaa6511298498f979c472aaa"}),
    ]  # fmt: skip
    # Made once: asking again shows the same code and QR without calling WeCom.
    again = CliRunner().invoke(wecom_app, args, env=env)
    assert (json.loads(again.stdout), len(fake.calls)) == (shown, 3)


NEWBIE = "wmOgQhDgAAnEwb1e0000000000AAAA"
LATECOMER = "wmOgQhDgAAlAte2c0000000000AAAA"


def versioned(detail: str, member: str, *, last: str, current: str, created: int) -> str:
    """A change_external_chat callback carrying WeCom's member versions, as add/del_member do."""
    scene = "<JoinScene>3</JoinScene>" if detail == "add_member" else "<QuitScene>0</QuitScene>"
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{CHAT}]]></ChatId><ChangeType><![CDATA[update]]></ChangeType>"
        f"<UpdateDetail><![CDATA[{detail}]]></UpdateDetail>{scene}"
        f"<MemChangeCnt>1</MemChangeCnt><MemChangeList><Item>{member}</Item></MemChangeList>"
        f"<LastMemVer>{last}</LastMemVer><CurMemVer>{current}</CurMemVer></xml>"
    )


def customer(userid: str, name: str, joined: int, state: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"userid": userid, "type": 2, "join_time": joined, "join_scene": 3,
                             "invitor": {"userid": OWNER}, "name": name}  # fmt: skip
    if state is not None:
        entry["state"] = state
    return entry


def stored_events(shequn: Shequn) -> list[tuple[str, str, dict[str, Any]]]:
    with shequn.sessions() as session:
        rows = session.scalars(select(EventRecord).order_by(EventRecord.key)).all()
        return [(row.event_id, row.type, row.data) for row in rows]


def in_group(shequn: Shequn) -> dict[str, bool]:
    with shequn.sessions() as session:
        rows = session.scalars(select(GroupMember).where(GroupMember.group_id == CHAT)).all()
        return {row.member_id: row.is_member for row in rows}


def test_a_member_version_gap_rereads_the_member_list_and_takes_in_the_missed_joins_and_leaves(
    wecom: Shequn, client: TestClient, wecom_api: tuple[FakeWeCom, str]
) -> None:
    fake, _ = wecom_api
    # Given the owner and the customer are in the group, as shequn saw them arrive (v1).
    fake.members = [dict(entry) for entry in GROUP_CHAT["member_list"]]
    first = versioned("add_member", CUSTOMER, last="v0", current="v1", created=1730982665)
    query, body = sealed(first, nonce="v1")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    # The owner came in when the group was created (its callback predates shequn).
    wecom.intake(origin="test", default_org="demo").ingest([(None, {
        "id": "owner-in", "type": "member.joined", "at": "2019-10-31T07:04:51+00:00",
        "source": "test", "org": "demo", "data": {"group": CHAT, "member": OWNER},
    })])  # fmt: skip
    assert in_group(wecom) == {OWNER: True, CUSTOMER: True}
    # When WeCom's callbacks for v2 (a newcomer) and v3 (the customer leaving) never arrive,
    # and the next one (v3 → v4, a latecomer) does.
    fake.members = [
        GROUP_CHAT["member_list"][0],
        customer(NEWBIE, "小红", 1730990000, state="inv-u7-3f2a1c"),
        customer(LATECOMER, "小美", 1730993600),
    ]
    calls = len(fake.calls)
    late = versioned("add_member", LATECOMER, last="v3", current="v4", created=1730993600)
    query, body = sealed(late, nonce="v4")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    # Then the list is read once, and its joins and leaves come in with deterministic ids.
    assert fake.paths()[calls:] == ["groupchat/get"]
    version = GROUP_CHAT["member_version"]
    added = [(event_id, kind) for event_id, kind, _ in stored_events(wecom)]
    assert added[-6:] == [
        (f"wecom-{CHAT}-{NEWBIE}-profile-1730990000", "member.upserted"),
        (f"wecom-{CHAT}-{NEWBIE}-joined-1730990000", "member.joined"),
        (f"wecom-{CHAT}-group-1730993600", "group.upserted"),
        (f"wecom-{CHAT}-{LATECOMER}-profile-1730993600", "member.upserted"),
        (f"wecom-{CHAT}-{LATECOMER}-joined-1730993600", "member.joined"),
        (f"wecom-{CHAT}-{CUSTOMER}-left-v{version}", "member.left"),
    ]
    left = next(data for event_id, _, data in stored_events(wecom) if "-left-" in event_id)
    assert left == {"group": CHAT, "member": CUSTOMER, "reason": "unknown"}
    assert in_group(wecom) == {OWNER: True, CUSTOMER: False, NEWBIE: True, LATECOMER: True}
    with wecom.sessions() as session:
        newbie = session.get(Member, ("demo", NEWBIE))
        assert newbie is not None
        assert (newbie.first_via_kind, newbie.first_via_code) == ("live_code", "inv-u7-3f2a1c")
        mark = session.get(WeComChatVersion, ("demo", CHAT))
        assert mark is not None
        assert mark.version == "v4"
    # WeCom's retry of the same callback (a new nonce) stores nothing new.
    stored = events_stored(wecom)
    query, body = sealed(late, nonce="v4-retry")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    assert events_stored(wecom) == stored


def test_a_callback_that_follows_the_last_version_seen_reads_nothing_more(
    wecom: Shequn, client: TestClient, wecom_api: tuple[FakeWeCom, str]
) -> None:
    fake, _ = wecom_api
    joined = versioned("add_member", CUSTOMER, last="v0", current="v1", created=1730982665)
    query, body = sealed(joined, nonce="f1")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    calls = len(fake.calls)
    quit_ = versioned("del_member", CUSTOMER, last="v1", current="v2", created=1730986265)
    query, body = sealed(quit_, nonce="f2")
    assert client.post("/wecom/callback", params=query, content=body).status_code == 200
    assert fake.calls[calls:] == []  # a leave in sequence needs no member list
    assert stored_events(wecom)[-1] == (
        f"wecom-{CHAT}-{CUSTOMER}-left-1730986265", "member.left",
        {"group": CHAT, "member": CUSTOMER, "reason": "quit"},
    )  # fmt: skip
    with wecom.sessions() as session:
        mark = session.get(WeComChatVersion, ("demo", CHAT))
        assert mark is not None
        assert mark.version == "v2"
