"""The WeCom API client against a recorded-answer transport: tokens, retries and errors."""

import asyncio
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx2
import pytest

from shequn.connectors.wecom.client import (
    DEFAULT_BASE_URL,
    MsgTemplateResult,
    RateLimited,
    WeComClient,
    WeComError,
    WeComUnavailable,
)

CORP_ID = "ww55ca070cb9b7eb22"
SECRET = "s3cr3t-app-secret"  # noqa: S105 - a made-up value the tests look for
CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
GROUP_CHAT = {
    "chat_id": CHAT,
    "name": "销售客服群",
    "owner": "ZhuShengBen",
    "create_time": 1572505490,
    "notice": "文明沟通，拒绝脏话",
    "member_list": [
        {
            "userid": "wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA",
            "type": 2,
            "join_time": 1572505491,
            "join_scene": 1,
            "group_nickname": "顾客老王",
            "name": "王语嫣",
        }
    ],
    "admin_list": [{"userid": "sam"}],
    "member_version": "71217227bbd112ecfe3a49c482195cb4",
}
OK = {"errcode": 0, "errmsg": "ok"}

Answer = dict[str, Any] | httpx2.Response
T = TypeVar("T")


class FakeWeCom:
    """Answers gettoken with numbered tokens and every other path from a queue per path."""

    def __init__(self, answers: dict[str, list[Answer]] | None = None) -> None:
        self.answers = answers or {}
        self.requests: list[httpx2.Request] = []
        self.tokens_issued = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/cgi-bin/")
        if path == "gettoken" and "gettoken" not in self.answers:
            self.tokens_issued += 1
            return httpx2.Response(
                200,
                json={**OK, "access_token": f"token-{self.tokens_issued}", "expires_in": 7200},
            )
        answer = self.answers[path].pop(0)
        return answer if isinstance(answer, httpx2.Response) else httpx2.Response(200, json=answer)

    def calls(self, path: str) -> list[httpx2.Request]:
        return [r for r in self.requests if r.url.path == f"/cgi-bin/{path}"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 11, 7, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def run(
    make: Callable[[WeComClient], Coroutine[Any, Any, T]],
    fake: Callable[[httpx2.Request], httpx2.Response],
    clock: Clock | None = None,
) -> T:
    async def go() -> T:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(fake)) as http:
            client = WeComClient(
                corp_id=CORP_ID, corp_secret=SECRET, http=http, clock=clock or Clock()
            )
            return await make(client)

    return asyncio.run(go())


def body(request: httpx2.Request) -> Any:
    return json.loads(request.content)


def test_one_token_serves_two_calls() -> None:
    fake = FakeWeCom({"externalcontact/groupchat/get": [{**OK, "group_chat": GROUP_CHAT}] * 2})

    async def twice(client: WeComClient) -> list[dict[str, Any]]:
        return [await client.groupchat_get(CHAT), await client.groupchat_get(CHAT)]

    first, second = run(twice, fake)

    assert first == second == GROUP_CHAT
    (gettoken,) = fake.calls("gettoken")
    assert dict(gettoken.url.params) == {"corpid": CORP_ID, "corpsecret": SECRET}
    gets = fake.calls("externalcontact/groupchat/get")
    assert [r.url.params["access_token"] for r in gets] == ["token-1", "token-1"]
    assert [body(r) for r in gets] == [{"chat_id": CHAT, "need_name": 1}] * 2
    assert str(gets[0].url).startswith(f"{DEFAULT_BASE_URL}/externalcontact/groupchat/get?")


def test_a_short_lived_token_is_still_reused_for_half_its_life() -> None:
    clock = Clock()
    fake = FakeWeCom(
        {
            "gettoken": [{**OK, "access_token": "brief", "expires_in": 120}],
            "externalcontact/groupchat/get": [{**OK, "group_chat": GROUP_CHAT}] * 2,
        }
    )

    async def a_minute_apart(client: WeComClient) -> None:
        await client.groupchat_get(CHAT)
        clock.now += timedelta(seconds=59)
        await client.groupchat_get(CHAT)

    run(a_minute_apart, fake, clock)

    assert len(fake.calls("gettoken")) == 1


def test_concurrent_calls_fetch_one_token() -> None:
    fake = FakeWeCom({"externalcontact/groupchat/get": [{**OK, "group_chat": GROUP_CHAT}] * 3})

    async def together(client: WeComClient) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(client.groupchat_get(CHAT) for _ in range(3))))

    run(together, fake)

    assert fake.tokens_issued == 1


def test_the_token_is_fetched_again_shortly_before_it_expires() -> None:
    clock = Clock()
    fake = FakeWeCom({"externalcontact/groupchat/get": [{**OK, "group_chat": GROUP_CHAT}] * 3})

    async def over_two_hours(client: WeComClient) -> None:
        await client.groupchat_get(CHAT)
        clock.now += timedelta(seconds=7200 - 301)
        await client.groupchat_get(CHAT)
        clock.now += timedelta(seconds=2)
        await client.groupchat_get(CHAT)

    run(over_two_hours, fake, clock)

    gets = fake.calls("externalcontact/groupchat/get")
    assert [r.url.params["access_token"] for r in gets] == ["token-1", "token-1", "token-2"]


@pytest.mark.parametrize("errcode", [42001, 40014])
def test_a_rejected_token_is_refreshed_once_then_the_call_succeeds(errcode: int) -> None:
    fake = FakeWeCom(
        {
            "externalcontact/groupchat/get": [
                {"errcode": errcode, "errmsg": "access_token expired"},
                {**OK, "group_chat": GROUP_CHAT},
            ]
        }
    )

    result = run(lambda client: client.groupchat_get(CHAT), fake)

    assert result == GROUP_CHAT
    gets = fake.calls("externalcontact/groupchat/get")
    assert [r.url.params["access_token"] for r in gets] == ["token-1", "token-2"]
    assert fake.tokens_issued == 2


def test_a_token_rejected_twice_is_an_error_not_a_loop() -> None:
    expired = {"errcode": 42001, "errmsg": "access_token expired"}
    fake = FakeWeCom({"externalcontact/groupchat/get": [expired, expired, expired]})

    with pytest.raises(WeComError) as raised:
        run(lambda client: client.groupchat_get(CHAT), fake)

    assert raised.value.errcode == 42001
    assert raised.value.path == "externalcontact/groupchat/get"
    assert len(fake.calls("externalcontact/groupchat/get")) == 2
    assert fake.tokens_issued == 2


def test_a_rate_limit_is_raised_with_a_backoff() -> None:
    fake = FakeWeCom(
        {"externalcontact/groupchat/get": [{"errcode": 45009, "errmsg": "api freq out of limit"}]}
    )

    with pytest.raises(RateLimited) as raised:
        run(lambda client: client.groupchat_get(CHAT), fake)

    assert raised.value.errcode == 45009
    assert raised.value.retry_after == timedelta(seconds=60)
    assert len(fake.calls("externalcontact/groupchat/get")) == 1


def test_a_rate_limited_gettoken_is_a_rate_limit_too() -> None:
    fake = FakeWeCom({"gettoken": [{"errcode": 45009, "errmsg": "api freq out of limit"}]})

    with pytest.raises(RateLimited) as raised:
        run(lambda client: client.groupchat_get(CHAT), fake)

    assert raised.value.path == "gettoken"


def test_another_errcode_names_the_path() -> None:
    fake = FakeWeCom(
        {
            "externalcontact/groupchat/get": [
                {"errcode": 90501, "errmsg": "chat is not external group chat"}
            ]
        }
    )

    with pytest.raises(WeComError) as raised:
        run(lambda client: client.groupchat_get(CHAT), fake)

    assert type(raised.value) is WeComError
    assert raised.value.errcode == 90501
    assert raised.value.errmsg == "chat is not external group chat"
    assert raised.value.path == "externalcontact/groupchat/get"
    assert str(raised.value) == (
        "externalcontact/groupchat/get: errcode 90501: chat is not external group chat"
    )


def test_a_bad_secret_fails_at_gettoken_without_showing_it() -> None:
    fake = FakeWeCom({"gettoken": [{"errcode": 40001, "errmsg": "invalid credential"}]})

    with pytest.raises(WeComError) as raised:
        run(lambda client: client.groupchat_get(CHAT), fake)

    assert raised.value.path == "gettoken"
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (httpx2.Response(502, text="Bad Gateway"), "HTTP 502"),
        (httpx2.Response(200, text="<html>"), "not JSON"),
        (httpx2.Response(200, json=[1, 2]), "not a JSON object"),
        (httpx2.Response(200, json=OK), "no group_chat"),
    ],
)
def test_an_unusable_answer_is_unavailable(answer: httpx2.Response, reason: str) -> None:
    fake = FakeWeCom({"externalcontact/groupchat/get": [answer]})

    with pytest.raises(WeComUnavailable, match=reason) as raised:
        run(lambda client: client.groupchat_get(CHAT), fake)

    assert raised.value.path == "externalcontact/groupchat/get"


def test_a_network_failure_is_unavailable_without_the_url() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    with pytest.raises(WeComUnavailable) as raised:
        run(lambda client: client.groupchat_get(CHAT), refuse)

    assert raised.value.path == "gettoken"
    assert SECRET not in str(raised.value)
    assert raised.value.__cause__ is None


def test_add_join_way_sends_a_qr_config_and_returns_its_id() -> None:
    fake = FakeWeCom(
        {
            "externalcontact/groupchat/add_join_way": [
                {**OK, "config_id": "9ad7fa5cdaa6511298498f979c472aaa"}
            ]
        }
    )

    config_id = run(
        lambda client: client.add_join_way(
            chat_ids=[CHAT, "wrOgQhDgAALPUthpRAKvl7mgiQRwAAA"],
            state="inv-u7",
            remark="u7 poster",
            room_base_name="双11福利群",
            room_base_id=10,
        ),
        fake,
    )

    assert config_id == "9ad7fa5cdaa6511298498f979c472aaa"
    (sent,) = fake.calls("externalcontact/groupchat/add_join_way")
    assert body(sent) == {
        "scene": 2,
        "chat_id_list": [CHAT, "wrOgQhDgAALPUthpRAKvl7mgiQRwAAA"],
        "auto_create_room": 1,
        "state": "inv-u7",
        "remark": "u7 poster",
        "room_base_name": "双11福利群",
        "room_base_id": 10,
    }


def test_add_join_way_leaves_out_what_was_not_given() -> None:
    fake = FakeWeCom({"externalcontact/groupchat/add_join_way": [{**OK, "config_id": "c1"}]})

    run(lambda client: client.add_join_way(chat_ids=[CHAT], auto_create_room=False), fake)

    (sent,) = fake.calls("externalcontact/groupchat/add_join_way")
    assert body(sent) == {"scene": 2, "chat_id_list": [CHAT], "auto_create_room": 0}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"chat_ids": []}, "chat_ids"),
        ({"chat_ids": [f"wr{i}" for i in range(6)]}, "chat_ids"),
        ({"chat_ids": [CHAT], "state": "x" * 31}, "state"),
        ({"chat_ids": [CHAT], "room_base_name": "群" * 41}, "room_base_name"),
    ],
)
def test_add_join_way_refuses_what_wecom_would(arguments: dict[str, Any], message: str) -> None:
    fake = FakeWeCom()

    with pytest.raises(ValueError, match=message):
        run(lambda client: client.add_join_way(**arguments), fake)

    assert fake.requests == []


def test_get_join_way_returns_the_config_with_its_qr_code() -> None:
    join_way = {
        "config_id": "9ad7fa5cdaa6511298498f979c472aaa",
        "scene": 2,
        "remark": "u7 poster",
        "auto_create_room": 1,
        "room_base_name": "双11福利群",
        "room_base_id": 10,
        "chat_id_list": [CHAT],
        "qr_code": "http://p.qpic.cn/wwhead/nMl9ssowtibVGyrmvBiaibzDtp/0",
        "state": "inv-u7",
    }
    fake = FakeWeCom({"externalcontact/groupchat/get_join_way": [{**OK, "join_way": join_way}]})

    result = run(lambda client: client.get_join_way("9ad7fa5cdaa6511298498f979c472aaa"), fake)

    assert result == join_way
    (sent,) = fake.calls("externalcontact/groupchat/get_join_way")
    assert body(sent) == {"config_id": "9ad7fa5cdaa6511298498f979c472aaa"}


def test_add_msg_template_sends_to_customer_groups() -> None:
    fake = FakeWeCom(
        {
            "externalcontact/add_msg_template": [
                {**OK, "fail_list": [], "msgid": "msgGCAAAXtWyujaWJHDDGi0mAAAA"}
            ]
        }
    )
    image = {"msgtype": "image", "image": {"media_id": "MEDIA_ID"}}

    result = run(
        lambda client: client.add_msg_template(
            sender="zhangsan", text="今晚8:30,群内抽奖", chat_ids=[CHAT], attachments=[image]
        ),
        fake,
    )

    assert result == MsgTemplateResult(msgid="msgGCAAAXtWyujaWJHDDGi0mAAAA", fail_list=())
    (sent,) = fake.calls("externalcontact/add_msg_template")
    assert body(sent) == {
        "chat_type": "group",
        "sender": "zhangsan",
        "chat_id_list": [CHAT],
        "text": {"content": "今晚8:30,群内抽奖"},
        "attachments": [image],
    }


def test_add_msg_template_needs_something_to_send() -> None:
    with pytest.raises(ValueError, match="text or at least one attachment"):
        run(lambda client: client.add_msg_template(sender="zhangsan"), FakeWeCom())


def test_a_configured_base_url_is_used() -> None:
    fake = FakeWeCom({"externalcontact/groupchat/get": [{**OK, "group_chat": GROUP_CHAT}]})

    async def proxied() -> None:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(fake)) as http:
            client = WeComClient(
                corp_id=CORP_ID,
                corp_secret=SECRET,
                http=http,
                base_url="https://wecom-proxy.internal/cgi-bin/",
            )
            await client.groupchat_get(CHAT)

    asyncio.run(proxied())

    assert {r.url.host for r in fake.requests} == {"wecom-proxy.internal"}
