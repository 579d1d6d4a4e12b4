"""The Bot API client and the Telegram connector against a recorded-answer transport."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from shequn.connectors.base import Connector
from shequn.connectors.telegram.bot import (
    FloodLimiter,
    InviteLink,
    Mention,
    RateLimited,
    TelegramBot,
    TelegramConnector,
    TelegramRefused,
    TelegramUnavailable,
    render_html,
)
from shequn.engine.action import ActionAwaiting, ActionFailed
from shequn.engine.models import ActionRecord

# A made-up value the tests look for.
TOKEN = "7012345678:AAHk3x-made-up-token_for-tests"  # noqa: S105
GROUP = "-1001987654321"
OTHER_GROUP = "-1001000000002"
MARCO = "5098765432"
LINA = "5012345678"

Answer = dict[str, Any] | httpx2.Response | Exception


def ok(result: Any = True) -> dict[str, Any]:
    return {"ok": True, "result": result}


def refused(code: int, description: str, **parameters: Any) -> httpx2.Response:
    answer: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        answer["parameters"] = parameters
    return httpx2.Response(code, json=answer)


class FakeTelegram:
    """Answers each method from its queue; sendMessage otherwise with numbered Messages."""

    def __init__(self, answers: dict[str, list[Answer]] | None = None) -> None:
        self.answers = answers or {}
        self.requests: list[httpx2.Request] = []
        self.sent = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        method = request.url.path.rsplit("/", 1)[-1]
        queue = self.answers.get(method)
        if queue:
            answer = queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return (
                answer if isinstance(answer, httpx2.Response) else httpx2.Response(200, json=answer)
            )
        if method == "sendMessage":
            self.sent += 1
            message = {
                "message_id": 4200 + self.sent,
                "date": 1730982665,
                "chat": {"id": int(GROUP)},
            }
            return httpx2.Response(200, json=ok(message))
        return httpx2.Response(200, json=ok())

    def calls(self) -> list[tuple[str, Any]]:
        return [(r.url.path.rsplit("/", 1)[-1], json.loads(r.content)) for r in self.requests]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 11, 7, 12, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def bot_for(fake: Callable[[httpx2.Request], httpx2.Response]) -> TelegramBot:
    return TelegramBot(token=TOKEN, http=httpx2.Client(transport=httpx2.MockTransport(fake)))


def connector_for(
    fake: Callable[[httpx2.Request], httpx2.Response],
    *,
    clock: Clock | None = None,
    nickname: Callable[[str, str], str | None] | None = None,
) -> TelegramConnector:
    limiter = FloodLimiter(clock=clock or Clock())
    return TelegramConnector(bot_for(fake), limiter=limiter, nickname=nickname)


def action(
    kind: str, *, group: str | None = GROUP, member: str | None = None, **payload: Any
) -> ActionRecord:
    return ActionRecord(
        id=f"act-{kind}",
        org="demo",
        kind=kind,
        platform="telegram",
        group_id=group,
        member_id=member,
        payload=payload,
        cause="test",
    )


def test_the_connector_is_a_connector() -> None:
    connector: Connector = connector_for(FakeTelegram())

    assert connector.name == "telegram"


def test_a_group_message_is_sent_as_escaped_html_with_its_mentions_as_user_links() -> None:
    fake = FakeTelegram()

    connector_for(fake).perform(
        action(
            "send_message",
            text="今晚8:30 <VIP> 抽奖 & 福利",
            mentions=[MARCO, LINA],
            names={MARCO: "Marco <3", LINA: "Lina & co"},
        )
    )

    assert fake.calls() == [
        (
            "sendMessage",
            {
                "chat_id": -1001987654321,
                "text": "今晚8:30 &lt;VIP&gt; 抽奖 &amp; 福利\n"
                '<a href="tg://user?id=5098765432">Marco &lt;3</a> '
                '<a href="tg://user?id=5012345678">Lina &amp; co</a>',
                "parse_mode": "HTML",
            },
        )
    ]
    assert fake.requests[0].url.path == f"/bot{TOKEN}/sendMessage"
    assert str(fake.requests[0].url).startswith("https://api.telegram.org/")


def test_a_mention_without_a_name_takes_the_nickname_lookup_else_the_id() -> None:
    fake = FakeTelegram()
    nicknames = {("demo", MARCO): "Marco"}

    connector_for(fake, nickname=lambda org, member: nicknames.get((org, member))).perform(
        action("send_message", text="welcome", mentions=[MARCO, LINA])
    )

    assert fake.calls()[0][1]["text"] == (
        'welcome\n<a href="tg://user?id=5098765432">Marco</a> '
        '<a href="tg://user?id=5012345678">5012345678</a>'
    )


def test_html_rendering_escapes_text_and_names_but_not_quotes() -> None:
    mentions = [Mention(5098765432, "<b>Marco</b>")]

    assert render_html('say "hi" & <go>') == 'say "hi" &amp; &lt;go&gt;'
    assert render_html("", mentions) == (
        '<a href="tg://user?id=5098765432">&lt;b&gt;Marco&lt;/b&gt;</a>'
    )


def test_a_direct_message_goes_to_the_members_private_chat() -> None:
    fake = FakeTelegram()

    connector_for(fake).perform(
        action("send_direct_message", group=None, member=MARCO, text="your coupon: A-12")
    )

    assert fake.calls() == [
        ("sendMessage", {"chat_id": 5098765432, "text": "your coupon: A-12", "parse_mode": "HTML"})
    ]


def test_a_warning_mentions_the_warned_member_first() -> None:
    fake = FakeTelegram()

    connector_for(fake).perform(
        action(
            "warn_member",
            member=MARCO,
            text="No ads here, please. A second time means removal.",
            mentions=[LINA, MARCO],
            names={MARCO: "Marco", LINA: "Lina"},
        )
    )

    assert fake.calls() == [
        (
            "sendMessage",
            {
                "chat_id": -1001987654321,
                "text": "No ads here, please. A second time means removal.\n"
                '<a href="tg://user?id=5098765432">Marco</a> '
                '<a href="tg://user?id=5012345678">Lina</a>',
                "parse_mode": "HTML",
            },
        )
    ]


def test_a_kick_bans_then_lifts_the_ban_so_the_member_may_come_back() -> None:
    fake = FakeTelegram()

    connector_for(fake).perform(action("kick_member", member=MARCO, reason={"en": "ads"}))

    assert fake.calls() == [
        ("banChatMember", {"chat_id": -1001987654321, "user_id": 5098765432}),
        (
            "unbanChatMember",
            {"chat_id": -1001987654321, "user_id": 5098765432, "only_if_banned": True},
        ),
    ]


def test_a_kick_asked_to_ban_keeps_the_ban() -> None:
    fake = FakeTelegram()

    connector_for(fake).perform(action("kick_member", member=MARCO, ban=True))

    assert fake.calls() == [("banChatMember", {"chat_id": -1001987654321, "user_id": 5098765432})]


def test_a_rename_sets_the_chat_title() -> None:
    fake = FakeTelegram()

    connector_for(fake).perform(action("rename_group", name="6个月,一起变美"))

    assert fake.calls() == [
        ("setChatTitle", {"chat_id": -1001987654321, "title": "6个月,一起变美"})
    ]


def test_a_rename_without_a_usable_name_fails_for_good_without_a_call() -> None:
    fake = FakeTelegram()

    with pytest.raises(ActionFailed) as failure:
        connector_for(fake).perform(action("rename_group", name="x" * 129))

    assert failure.value.retryable is False
    assert fake.requests == []


def test_a_notice_is_sent_then_pinned() -> None:
    fake = FakeTelegram()

    connector_for(fake).perform(action("set_notice", text="抽奖在群满50人后开始"))

    assert fake.calls() == [
        (
            "sendMessage",
            {"chat_id": -1001987654321, "text": "抽奖在群满50人后开始", "parse_mode": "HTML"},
        ),
        ("pinChatMessage", {"chat_id": -1001987654321, "message_id": 4201}),
    ]


def test_a_notice_whose_pin_failed_is_pinned_on_retry_not_sent_twice() -> None:
    fake = FakeTelegram({"pinChatMessage": [refused(502, "Bad Gateway")]})
    connector = connector_for(fake)
    notice = action("set_notice", text="抽奖在群满50人后开始")

    with pytest.raises(ActionFailed) as failure:
        connector.perform(notice)
    connector.perform(notice)

    assert failure.value.retryable is True
    assert [method for method, _ in fake.calls()] == [
        "sendMessage",
        "pinChatMessage",
        "pinChatMessage",
    ]
    assert fake.calls()[2][1] == {"chat_id": -1001987654321, "message_id": 4201}


def test_a_task_waits_for_a_person_until_its_deadline_and_calls_no_telegram_method() -> None:
    fake, clock = FakeTelegram(), Clock()
    connector = TelegramConnector(bot_for(fake), clock=clock)
    task = action("create_task", title={"zh": "开 3 群", "en": "Open group 3"})

    with pytest.raises(ActionAwaiting) as awaiting:
        connector.perform(task)

    deadline = (clock.now + timedelta(days=3)).isoformat()
    assert awaiting.value.task == {
        "kind": "by_hand", "zh": "开 3 群", "en": "Open group 3", "deadline": deadline,
    }  # fmt: skip
    assert awaiting.value.check_after == timedelta(days=3)
    task.payload = {**task.payload, "task": awaiting.value.task}
    clock.now += timedelta(days=3)
    with pytest.raises(ActionFailed) as failure:
        connector.perform(task)
    assert str(failure.value) == f"not done by its deadline {deadline}: Open group 3"
    assert failure.value.retryable is False
    assert fake.requests == []


def test_an_unknown_kind_fails_for_good() -> None:
    with pytest.raises(ActionFailed) as failure:
        connector_for(FakeTelegram()).perform(action("send_red_packet", text="¥8.88"))

    assert failure.value.retryable is False


def test_a_group_id_that_is_not_a_telegram_chat_id_fails_for_good() -> None:
    fake = FakeTelegram()

    with pytest.raises(ActionFailed, match="'old-1' is not a Telegram id") as failure:
        connector_for(fake).perform(action("send_message", group="old-1", text="hi"))

    assert failure.value.retryable is False
    assert fake.requests == []


def test_a_429_is_rate_limited_for_as_long_as_telegram_says() -> None:
    fake = FakeTelegram(
        {"sendMessage": [refused(429, "Too Many Requests: retry after 7", retry_after=7)]}
    )

    with pytest.raises(RateLimited) as limited:
        bot_for(fake).send_message(-1001987654321, "hi")

    assert limited.value.retry_after == timedelta(seconds=7)
    assert limited.value.retryable is True


def test_a_429_becomes_a_retry_no_sooner_than_telegram_asks() -> None:
    fake = FakeTelegram({"banChatMember": [refused(429, "Too Many Requests", retry_after=31)]})

    with pytest.raises(ActionFailed) as failure:
        connector_for(fake).perform(action("kick_member", member=MARCO))

    assert failure.value.retryable is True
    assert failure.value.retry_after == timedelta(seconds=31)


@pytest.mark.parametrize(
    "answer",
    [
        refused(500, "Internal Server Error"),
        httpx2.Response(502, text="<html>Bad Gateway</html>"),
        httpx2.ReadTimeout("timed out"),
        httpx2.ConnectError("connection refused"),
    ],
)
def test_a_server_error_or_no_answer_is_worth_retrying(answer: Answer) -> None:
    fake = FakeTelegram({"sendMessage": [answer]})

    with pytest.raises(TelegramUnavailable) as unavailable:
        bot_for(fake).send_message(-1001987654321, "hi")
    fake.answers["sendMessage"] = [answer]
    with pytest.raises(ActionFailed) as failure:
        connector_for(fake).perform(action("send_message", text="hi"))

    assert unavailable.value.retryable is True
    assert failure.value.retryable is True
    assert failure.value.retry_after is None


@pytest.mark.parametrize(
    "description", ["Bad Request: chat not found", "Bad Request: user not found"]
)
def test_a_missing_chat_or_user_fails_for_good(description: str) -> None:
    fake = FakeTelegram({"banChatMember": [refused(400, description)]})

    with pytest.raises(ActionFailed) as failure:
        connector_for(fake).perform(action("kick_member", member=MARCO))

    assert failure.value.retryable is False
    assert str(failure.value) == f"banChatMember: {description}"


def test_a_group_that_became_a_supergroup_says_its_new_id() -> None:
    fake = FakeTelegram(
        {
            "sendMessage": [
                refused(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    migrate_to_chat_id=-1001987654321,
                )
            ]
        }
    )

    with pytest.raises(TelegramRefused) as refusal:
        bot_for(fake).send_message(-4012345678, "hi")

    assert refusal.value.error_code == 400
    assert refusal.value.migrate_to_chat_id == -1001987654321
    assert refusal.value.retryable is False


def test_no_error_shows_the_token() -> None:
    answers: list[Answer] = [
        httpx2.ConnectError(f"cannot reach https://api.telegram.org/bot{TOKEN}/sendMessage"),
        refused(401, "Unauthorized"),
        httpx2.Response(502, text="bad gateway"),
    ]
    fake = FakeTelegram({"sendMessage": list(answers)})
    messages = []
    for _ in answers:
        with pytest.raises(ActionFailed) as failure:
            connector_for(fake).perform(action("send_message", text="hi"))
        messages.append(str(failure.value))

    assert all(TOKEN not in message and "AAHk3x" not in message for message in messages)
    assert messages == [
        "sendMessage: ConnectError",
        "sendMessage: Unauthorized",
        "sendMessage: HTTP 502, no Bot API answer",
    ]


def test_the_21st_message_in_a_minute_to_one_group_waits_and_goes_a_minute_later() -> None:
    clock = Clock()
    fake = FakeTelegram()
    connector = connector_for(fake, clock=clock)
    # All at one instant: the overall budget allows a burst of 30, so the group's is what binds.
    for number in range(20):
        connector.perform(action("send_message", text=f"message {number}"))

    with pytest.raises(ActionFailed) as failure:
        connector.perform(action("send_message", text="message 21"))
    connector.perform(action("send_message", group=OTHER_GROUP, text="elsewhere"))
    clock.now += timedelta(minutes=1)
    connector.perform(action("send_message", text="message 21"))

    assert failure.value.retryable is True
    assert failure.value.retry_after == timedelta(seconds=3)
    assert [body["text"] for _, body in fake.calls()][-3:] == [
        "message 19",
        "elsewhere",
        "message 21",
    ]
    assert len(fake.requests) == 22


def test_the_31st_message_in_a_second_across_groups_waits() -> None:
    clock = Clock()
    limiter = FloodLimiter(clock=clock)

    granted = [limiter.reserve(f"-100{number}") for number in range(30)]
    refused_wait = limiter.reserve("-100999")
    clock.now += timedelta(milliseconds=34)

    assert granted == [None] * 30
    assert refused_wait == timedelta(milliseconds=34)
    assert limiter.reserve("-100999") is None


def test_a_refused_reservation_takes_nothing_from_either_budget() -> None:
    clock = Clock()
    limiter = FloodLimiter(per_group=1, overall=2, clock=clock)

    assert limiter.reserve(GROUP) is None
    assert limiter.reserve(GROUP) == timedelta(minutes=1)
    # The refusal above left the overall budget its second token.
    assert limiter.reserve(OTHER_GROUP) is None


def test_kicks_and_renames_spend_no_message_budget() -> None:
    clock = Clock()
    fake = FakeTelegram()
    connector = TelegramConnector(
        bot_for(fake), limiter=FloodLimiter(per_group=1, overall=1, clock=clock)
    )

    connector.perform(action("kick_member", member=MARCO))
    connector.perform(action("rename_group", name="VIP 2"))
    connector.perform(action("send_message", text="hi"))

    assert len(fake.requests) == 4


def test_an_invite_link_is_named_by_the_shequn_invite_code() -> None:
    link = {
        "invite_link": "https://t.me/+Xq3fV9aLm0Y2ZjU1",
        "creator": {"id": 7012345678, "is_bot": True, "first_name": "Shequn"},
        "creates_join_request": True,
        "is_primary": False,
        "is_revoked": False,
        "name": "inv-u7",
    }
    fake = FakeTelegram({"createChatInviteLink": [ok(link)]})

    made = bot_for(fake).create_chat_invite_link(
        -1001987654321, name="inv-u7", creates_join_request=True
    )

    assert made == InviteLink(
        url="https://t.me/+Xq3fV9aLm0Y2ZjU1", name="inv-u7", creates_join_request=True
    )
    assert fake.calls() == [
        (
            "createChatInviteLink",
            {"chat_id": -1001987654321, "name": "inv-u7", "creates_join_request": True},
        )
    ]


def test_an_invite_link_name_longer_than_telegram_allows_is_refused_before_calling() -> None:
    fake = FakeTelegram()

    with pytest.raises(ValueError, match="at most 32"):
        bot_for(fake).create_chat_invite_link(-1001987654321, name="inv-" + "x" * 29)

    assert fake.requests == []


def test_the_remaining_methods_send_what_the_bot_api_documents() -> None:
    fake = FakeTelegram()
    bot = bot_for(fake)
    until = datetime(2024, 11, 8, 12, 30, tzinfo=UTC)

    bot.restrict_chat_member(
        -1001987654321, 5098765432, permissions={"can_send_messages": False}, until_date=until
    )
    bot.delete_message(-1001987654321, 4120)
    bot.pin_chat_message(-1001987654321, 4120, disable_notification=True)
    bot.approve_chat_join_request(-1001987654321, 5098765432)
    bot.decline_chat_join_request(-1001987654321, 5012345678)
    bot.ban_chat_member(-1001987654321, 5012345678, until_date=until, revoke_messages=True)

    assert fake.calls() == [
        (
            "restrictChatMember",
            {
                "chat_id": -1001987654321,
                "user_id": 5098765432,
                "permissions": {"can_send_messages": False},
                "until_date": 1731069000,
            },
        ),
        ("deleteMessage", {"chat_id": -1001987654321, "message_id": 4120}),
        (
            "pinChatMessage",
            {"chat_id": -1001987654321, "message_id": 4120, "disable_notification": True},
        ),
        ("approveChatJoinRequest", {"chat_id": -1001987654321, "user_id": 5098765432}),
        ("declineChatJoinRequest", {"chat_id": -1001987654321, "user_id": 5012345678}),
        (
            "banChatMember",
            {
                "chat_id": -1001987654321,
                "user_id": 5012345678,
                "until_date": 1731069000,
                "revoke_messages": True,
            },
        ),
    ]


def test_a_configured_base_url_is_used() -> None:
    fake = FakeTelegram()
    bot = TelegramBot(
        token=TOKEN,
        http=httpx2.Client(transport=httpx2.MockTransport(fake)),
        base_url="http://127.0.0.1:8081/",
    )

    bot.delete_message(-1001987654321, 1)

    assert str(fake.requests[0].url) == f"http://127.0.0.1:8081/bot{TOKEN}/deleteMessage"


def test_the_bot_knows_its_own_id_from_its_token() -> None:
    assert bot_for(FakeTelegram()).bot_id == 7012345678
    assert TelegramBot(token="not-a-token").bot_id is None  # noqa: S106 - a made-up value
