"""Telegram end to end, offline: a fake Bot API on loopback, shequn's own webhook and dispatcher."""

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from shequn.cli.connect import tasks_app, telegram_app
from shequn.config import Settings
from shequn.connectors.models import TelegramJoinRequest
from shequn.connectors.platforms import platform_routers, telegram_connector
from shequn.connectors.telegram.bot import ALLOWED_UPDATES, MUTED
from shequn.connectors.telegram.intake import invite_link_for
from shequn.connectors.telegram.webhook import SECRET_HEADER
from shequn.engine.action import Action, ActionKind
from shequn.engine.dispatch import dispatch_due
from shequn.engine.models import ActionRecord, ActionStatus, EventRecord
from shequn.kit.time import utc_now
from shequn.member.models import GroupMember, Member
from shequn.org.models import Org
from shequn.wiring import Shequn, open_shequn
from tests.conftest import empty_store

# Made-up values the tests look for.
TOKEN = "7012345678:AAHk3x-made-up-token_for-tests"  # noqa: S105
SECRET = "s3cr3t_Token-for-tests"  # noqa: S105
BOT = {"id": 7012345678, "is_bot": True, "first_name": "Shequn", "username": "shequn_helper_bot"}
LINA = {"id": 5012345678, "is_bot": False, "first_name": "Lina", "last_name": "Chen"}
MARCO = {"id": 5098765432, "is_bot": False, "first_name": "Marco", "username": "marco_r"}
CHAT = {"id": -1001987654321, "title": "Spring picks · VIP", "type": "supergroup"}
GROUP = "-1001987654321"
DATE = 1730982665
NOW = datetime(2024, 11, 7, 12, 40, tzinfo=UTC)


class FakeBotApi:
    """The Bot API's methods shequn calls, answered as Telegram answers them, every call kept."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refusals: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.updates: list[dict[str, Any]] = []
        self.sent = 0
        self.app = FastAPI()
        self.app.post("/bot{token}/{method}")(self.answer)

    async def answer(self, token: str, method: str, request: Request) -> JSONResponse:
        body = await request.body()
        payload: dict[str, Any] = json.loads(body) if body else {}
        self.calls.append((method, payload))
        if token != TOKEN:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        queue = self.refusals.get(method)
        if queue:
            status, answer = queue.pop(0)
            return JSONResponse(answer, status)
        return JSONResponse({"ok": True, "result": self.result(method, payload)})

    def result(self, method: str, payload: dict[str, Any]) -> Any:
        if method == "sendMessage":
            self.sent += 1
            return {"message_id": 4200 + self.sent, "date": DATE, "chat": CHAT,
                    "text": payload["text"]}  # fmt: skip
        if method == "createChatInviteLink":
            return {"invite_link": f"https://t.me/+made{len(self.calls)}", "creator": BOT,
                    "creates_join_request": False, "is_primary": False, "is_revoked": False,
                    "name": payload["name"]}  # fmt: skip
        if method == "getUpdates":
            offset = payload.get("offset", 0)
            return [update for update in self.updates if update["update_id"] >= offset]
        return True

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]


@pytest.fixture
def bot_api() -> Iterator[tuple[FakeBotApi, str]]:
    fake = FakeBotApi()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def platform_settings(settings: Settings, bot_api: tuple[FakeBotApi, str]) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": TOKEN,
            "telegram_webhook_secret": SECRET,
            "telegram_org": "demo",
            "telegram_api_url": bot_api[1],
        }
    )


@pytest.fixture
def telegram(platform_settings: Settings) -> Iterator[Shequn]:
    opened = open_shequn(platform_settings)
    empty_store(opened)
    yield opened
    empty_store(opened)
    opened.close()


def join_through(link: dict[str, Any], update_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "chat_member": {
            "chat": CHAT, "from": MARCO, "date": DATE, "invite_link": link,
            "old_chat_member": {"user": MARCO, "status": "left"},
            "new_chat_member": {"user": MARCO, "status": "member"},
        },
    }  # fmt: skip


def events_stored(shequn: Shequn) -> int:
    with shequn.sessions() as session:
        return session.scalar(select(func.count()).select_from(EventRecord)) or 0


def test_a_join_through_a_members_own_link_is_credited_to_them_and_redelivery_changes_nothing(
    telegram: Shequn, bot_api: tuple[FakeBotApi, str]
) -> None:
    fake, _ = bot_api
    connector = telegram_connector(telegram)
    assert connector is not None
    with telegram.sessions.begin() as session:
        telegram.registry.tenancy.ensure(session, ["demo"], NOW)
        code = invite_link_for(
            session, connector.bot, "demo", group=GROUP, member=str(LINA["id"]), now=NOW
        )
        code_name, url = code.code, code.link
    assert fake.calls == [("createChatInviteLink", {"chat_id": int(GROUP), "name": code_name})]
    link = {"invite_link": url, "creator": BOT, "name": code_name, "creates_join_request": False,
            "is_primary": False, "is_revoked": False}  # fmt: skip
    app = FastAPI()
    for router in platform_routers(telegram):
        app.include_router(router)
    with TestClient(app) as client:
        delivery = join_through(link, 880001)
        assert client.post("/telegram/webhook", json=delivery, headers={SECRET_HEADER: "x"}).status_code == 401  # fmt: skip
        assert events_stored(telegram) == 0
        for _ in range(2):  # Telegram delivers again when an answer is lost
            answer = client.post(
                "/telegram/webhook", json=delivery, headers={SECRET_HEADER: SECRET}
            )
            assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert events_stored(telegram) == 2  # member.upserted and member.joined, once
    with telegram.sessions() as session:
        marco = session.get(Member, ("demo", str(MARCO["id"])))
        standing = session.get(GroupMember, ("demo", GROUP, str(MARCO["id"])))
        assert marco is not None
        assert standing is not None
        assert (marco.nickname, marco.first_via_kind, marco.first_via_code, marco.platform) == (
            "Marco", "invite_link", code_name, "telegram",
        )  # fmt: skip
        assert standing.is_member


def test_polling_takes_updates_and_confirms_them_with_the_next_offset(
    telegram: Shequn, platform_settings: Settings, bot_api: tuple[FakeBotApi, str], tmp_path: Path
) -> None:
    fake, url = bot_api
    fake.updates = [
        {"update_id": 880010, "message": {"message_id": 4120, "from": LINA, "chat": CHAT,
                                           "date": DATE, "text": "早上好"}},
        join_through({"invite_link": "https://t.me/+Rk9…", "creator": LINA}, 880011),
    ]  # fmt: skip
    env = {
        "SHEQUN_DATABASE_URL": platform_settings.database_url,
        "SHEQUN_TELEGRAM_BOT_TOKEN": TOKEN,
        "SHEQUN_TELEGRAM_MODE": "polling",
        "SHEQUN_TELEGRAM_ORG": "demo",
        "SHEQUN_TELEGRAM_API_URL": url,
        "SHEQUN_ACTION_LOG": str(tmp_path / "actions.jsonl"),
    }
    result = CliRunner().invoke(telegram_app, ["poll", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "accepted": 3, "duplicates": 0, "rejected": [], "join_requests": 0, "skipped": [],
    }  # fmt: skip
    assert fake.calls == [
        ("deleteWebhook", {}),
        ("getUpdates", {"timeout": 0, "allowed_updates": list(ALLOWED_UPDATES)}),
        ("getUpdates", {"timeout": 0, "allowed_updates": list(ALLOWED_UPDATES),
                        "offset": 880012, "limit": 1}),
    ]  # fmt: skip
    with telegram.sessions() as session:
        marco = session.get(Member, ("demo", str(MARCO["id"])))
        assert marco is not None
        assert (marco.first_via_kind, marco.first_via_code) == ("invite_link", "https://t.me/+Rk9…")


def decide(shequn: Shequn, *actions: Action) -> None:
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo", now=NOW)
        for action in actions:
            context.emit(action)
        context.flush()


def action(action_id: str, kind: ActionKind, **fields: Any) -> Action:
    return Action(
        id=action_id, org="demo", kind=kind, cause="test", platform="telegram", group=GROUP,
        **fields,
    )  # fmt: skip


def outbox(shequn: Shequn) -> list[tuple[str, ActionStatus, int, datetime]]:
    with shequn.sessions() as session:
        rows = session.scalars(select(ActionRecord).order_by(ActionRecord.id)).all()
        return [(row.id, row.status, row.attempts, row.next_attempt_at) for row in rows]


def test_a_group_message_reaches_the_bot_api_as_html_with_text_mentions(
    telegram: Shequn, bot_api: tuple[FakeBotApi, str]
) -> None:
    fake, _ = bot_api
    decide(
        telegram,
        action("a1", ActionKind.SEND_MESSAGE, payload={
            "text": "欢迎 <新朋友> & 老朋友", "mentions": [str(MARCO["id"])],
            "names": {str(MARCO["id"]): "Marco"},
        }),
    )  # fmt: skip
    assert dispatch_due(telegram.sessions, telegram.registry, now=NOW) == {"sent": 1}
    assert fake.calls == [
        ("sendMessage", {
            "chat_id": int(GROUP), "parse_mode": "HTML",
            "text": '欢迎 &lt;新朋友&gt; &amp; 老朋友\n<a href="tg://user?id=5098765432">Marco</a>',
        }),
    ]  # fmt: skip


def test_a_429_is_a_wait_not_a_failure_and_its_retry_after_is_honoured(
    telegram: Shequn, bot_api: tuple[FakeBotApi, str]
) -> None:
    fake, _ = bot_api
    fake.refusals["sendMessage"] = [
        (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
               "parameters": {"retry_after": 7}}),
    ]  # fmt: skip
    decide(
        telegram,
        action("a1", ActionKind.SEND_MESSAGE, payload={"text": "今晚8:30,群内抽奖"}),
        action("a2", ActionKind.SEND_MESSAGE, payload={"text": "抽奖规则"}),
    )
    tally = dispatch_due(telegram.sessions, telegram.registry, now=NOW)
    assert tally == {"pending": 1, "deferred": 1}
    later = NOW + timedelta(seconds=7)
    assert outbox(telegram) == [
        ("a1", ActionStatus.PENDING, 0, later),
        ("a2", ActionStatus.PENDING, 0, later),
    ]
    assert dispatch_due(telegram.sessions, telegram.registry, now=NOW + timedelta(seconds=6)) == {}
    assert dispatch_due(telegram.sessions, telegram.registry, now=later) == {"sent": 2}
    texts = [payload["text"] for method, payload in fake.calls if method == "sendMessage"]
    assert texts == ["今晚8:30,群内抽奖", "今晚8:30,群内抽奖", "抽奖规则"]
    assert [(row[0], row[1], row[2]) for row in outbox(telegram)] == [
        ("a1", ActionStatus.SENT, 1),
        ("a2", ActionStatus.SENT, 1),
    ]


def test_restore_delete_restrict_and_pin_are_the_bot_api_calls_they_name(
    telegram: Shequn, bot_api: tuple[FakeBotApi, str]
) -> None:
    fake, _ = bot_api
    marco = str(MARCO["id"])
    decide(
        telegram,
        action("a1", ActionKind.RESTORE_MEMBER, member=marco),
        action("a2", ActionKind.DELETE_MESSAGE, payload={"message": "4120"}),
        action("a3", ActionKind.RESTRICT_MEMBER, member=marco,
               payload={"until": "2024-11-08T20:30:00+08:00"}),
        action("a4", ActionKind.PIN_MESSAGE, payload={"message": 4121}),
        action("a5", ActionKind.PIN_MESSAGE, payload={}),
    )  # fmt: skip
    tally = dispatch_due(telegram.sessions, telegram.registry, now=NOW)
    assert tally == {"sent": 4, "failed": 1}
    assert fake.calls == [
        ("unbanChatMember", {"chat_id": int(GROUP), "user_id": MARCO["id"],
                             "only_if_banned": True}),
        ("deleteMessage", {"chat_id": int(GROUP), "message_id": 4120}),
        ("restrictChatMember", {"chat_id": int(GROUP), "user_id": MARCO["id"],
                                "permissions": MUTED, "until_date": 1731069000}),
        ("pinChatMessage", {"chat_id": int(GROUP), "message_id": 4121}),
    ]  # fmt: skip
    with telegram.sessions() as session:
        failed = session.get(ActionRecord, "a5")
        assert failed is not None
        assert failed.last_error == "pin_message needs the message id as payload.message"


def test_a_mention_without_a_name_shows_the_members_stored_nickname(
    telegram: Shequn, bot_api: tuple[FakeBotApi, str]
) -> None:
    fake, _ = bot_api
    marco = str(MARCO["id"])
    profile = {"id": "tg-1", "type": "member.upserted", "at": "2024-11-07T12:31:05+00:00",
               "source": "telegram", "org": "demo", "data": {"member": marco, "nickname": "Marco R"}}  # fmt: skip
    assert telegram.intake(origin="test").ingest([(None, profile)]).accepted == 1
    decide(telegram, action("a1", ActionKind.SEND_MESSAGE, payload={"text": "欢迎", "mentions": [marco]}))  # fmt: skip
    assert dispatch_due(telegram.sessions, telegram.registry, now=NOW) == {"sent": 1}
    assert fake.calls[0][1]["text"] == '欢迎\n<a href="tg://user?id=5098765432">Marco R</a>'


MEI = {"id": 5011112222, "is_bot": False, "first_name": "AAA小美"}
SELLER = {"id": 5033334444, "is_bot": False, "first_name": "A货源批发"}


def join_request(user: dict[str, Any], update_id: int, bio: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"chat": CHAT, "from": user, "user_chat_id": user["id"], "date": DATE}
    if bio is not None:
        request["bio"] = bio
    return {"update_id": update_id, "chat_join_request": request}


def cli_env(settings: Settings, tmp_path: Path, url: str) -> dict[str, str]:
    return {
        "SHEQUN_DATABASE_URL": settings.database_url, "SHEQUN_TELEGRAM_BOT_TOKEN": TOKEN,
        "SHEQUN_TELEGRAM_WEBHOOK_SECRET": SECRET, "SHEQUN_TELEGRAM_ORG": "demo",
        "SHEQUN_TELEGRAM_API_URL": url, "SHEQUN_ACTION_LOG": str(tmp_path / "actions.jsonl"),
    }  # fmt: skip


def deliver(shequn: Shequn, *updates: dict[str, Any]) -> list[int]:
    app = FastAPI()
    for router in platform_routers(shequn):
        app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        return [
            client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
            .status_code
            for update in updates
        ]  # fmt: skip


def requests_kept(shequn: Shequn) -> list[tuple[str, str, int | None, str | None, bool]]:
    with shequn.sessions() as session:
        rows = session.scalars(
            select(TelegramJoinRequest).order_by(TelegramJoinRequest.member_id)
        ).all()
        return [
            (row.member_id, row.decision, row.score, row.verdict, row.answered_at is not None)
            for row in rows
        ]


def test_join_requests_wait_for_an_admin_unless_the_org_says_otherwise(
    telegram: Shequn, bot_api: tuple[FakeBotApi, str]
) -> None:
    fake, _ = bot_api
    assert deliver(telegram, join_request(LINA, 880100)) == [200]
    assert (fake.calls, requests_kept(telegram)) == ([], [])


def test_with_approve_every_request_is_approved_once_even_when_telegram_delivers_it_twice(
    telegram: Shequn, platform_settings: Settings, bot_api: tuple[FakeBotApi, str], tmp_path: Path
) -> None:
    fake, url = bot_api
    env = cli_env(platform_settings, tmp_path, url)
    chosen = CliRunner().invoke(telegram_app, ["join-requests", "approve"], env=env)
    assert (chosen.exit_code, chosen.stdout) == (0, "org demo: telegram_join_requests = approve\n")
    assert deliver(telegram, join_request(SELLER, 880101), join_request(SELLER, 880101)) == [200, 200]  # fmt: skip
    assert fake.calls == [
        ("approveChatJoinRequest", {"chat_id": int(GROUP), "user_id": SELLER["id"]}),
    ]
    assert requests_kept(telegram) == [(str(SELLER["id"]), "approved", None, None, True)]


def test_a_bad_mode_is_refused_and_changes_nothing(
    telegram: Shequn, platform_settings: Settings, bot_api: tuple[FakeBotApi, str], tmp_path: Path
) -> None:
    env = cli_env(platform_settings, tmp_path, bot_api[1])
    refused = CliRunner().invoke(telegram_app, ["join-requests", "allow"], env=env)
    assert refused.exit_code == 1
    assert "telegram_join_requests: 'allow' is not one of ignore, approve, screen" in refused.output
    with telegram.sessions() as session:
        assert session.get(Org, "demo") is None


def test_screening_approves_a_pass_declines_a_kick_and_leaves_a_review_to_a_person(
    telegram: Shequn, platform_settings: Settings, bot_api: tuple[FakeBotApi, str], tmp_path: Path
) -> None:
    fake, url = bot_api
    env = cli_env(platform_settings, tmp_path, url)
    assert CliRunner().invoke(telegram_app, ["join-requests", "screen"], env=env).exit_code == 0
    statuses = deliver(
        telegram,
        join_request(LINA, 880110, bio="Mum of two, love spring dresses"),
        join_request(SELLER, 880111, bio="一手货源 招代理"),
        join_request(MEI, 880112, bio="每天进步一点点,奋斗成就梦想"),
    )
    assert statuses == [200, 200, 200]
    assert fake.calls == [
        ("approveChatJoinRequest", {"chat_id": int(GROUP), "user_id": LINA["id"]}),
        ("declineChatJoinRequest", {"chat_id": int(GROUP), "user_id": SELLER["id"]}),
    ]
    assert requests_kept(telegram) == [
        (str(MEI["id"]), "review", 65, "review", False),
        (str(LINA["id"]), "approved", 0, "pass", True),
        (str(SELLER["id"]), "declined", 100, "kick", True),
    ]
    # The review is an operator's task: awaiting in the outbox, listed with the request.
    assert dispatch_due(telegram.sessions, telegram.registry, now=utc_now()) == {"awaiting": 1}
    tasks = CliRunner().invoke(tasks_app, ["list", "--json"], env=env)
    [task] = json.loads(tasks.stdout)
    assert (task["kind"], task["status"], task["member"]) == ("create_task", "awaiting", str(MEI["id"]))  # fmt: skip
    assert task["payload"]["task"]["en"].startswith("Review the join request of AAA小美 (5011112222) (score 65)")  # fmt: skip
    waiting = CliRunner().invoke(telegram_app, ["requests", "--json"], env=env)
    [request] = json.loads(waiting.stdout)
    assert (request["member"], request["bio"], request["decision"]) == (
        str(MEI["id"]), "每天进步一点点,奋斗成就梦想", "review",
    )  # fmt: skip
    # The operator approves: Telegram is told, the request is answered and the task done.
    args = ["answer", "approve", "--group", GROUP, "--member", str(MEI["id"]), "--by", "小王"]
    answered = CliRunner().invoke(telegram_app, args, env=env)
    assert answered.exit_code == 0, answered.output
    assert fake.calls[-1] == ("approveChatJoinRequest", {"chat_id": int(GROUP), "user_id": MEI["id"]})  # fmt: skip
    assert requests_kept(telegram)[0] == (str(MEI["id"]), "approved", 65, "review", True)
    assert CliRunner().invoke(tasks_app, ["list", "--json"], env=env).stdout == "[]\n"
    again = CliRunner().invoke(telegram_app, args, env=env)
    assert again.exit_code == 1
    assert (
        f"no join request of member {MEI['id']} to group {GROUP} waits for review" in again.output
    )


def test_an_approval_telegram_failed_to_take_is_made_again_on_redelivery(
    telegram: Shequn, platform_settings: Settings, bot_api: tuple[FakeBotApi, str], tmp_path: Path
) -> None:
    fake, url = bot_api
    env = cli_env(platform_settings, tmp_path, url)
    assert CliRunner().invoke(telegram_app, ["join-requests", "approve"], env=env).exit_code == 0
    fake.refusals["approveChatJoinRequest"] = [
        (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}),
    ]
    update = join_request(LINA, 880120)
    # Answered 500, so Telegram delivers the update again; the second approval goes through.
    assert deliver(telegram, update, update, update) == [500, 200, 200]
    assert fake.methods() == ["approveChatJoinRequest", "approveChatJoinRequest"]
    assert requests_kept(telegram) == [(str(LINA["id"]), "approved", None, None, True)]
