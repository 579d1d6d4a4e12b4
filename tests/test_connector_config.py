"""Platform settings: checked up front with the variable named; connectors and routes follow them."""

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.connect import tasks_app
from shequn.config import Settings
from shequn.connectors.platforms import nicknames, platform_connectors
from shequn.wiring import Shequn, open_shequn
from tests.conftest import event, ingest

TOKEN = "7012345678:AAHk3x-made-up-token_for-tests"  # noqa: S105 - made up
TELEGRAM = {"telegram_bot_token": TOKEN, "telegram_webhook_secret": "s3cret"}
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
WECOM = {
    "wecom_corp_id": "ww8c0ffee5d1a2b3c4", "wecom_secret": "app-secret",
    "wecom_token": "QDG6eK", "wecom_encoding_aes_key": AES_KEY,
}  # fmt: skip


def problems(**fields: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as error:
        Settings(**fields)  # type: ignore[arg-type]
    return [(str(item["loc"][0]), item["msg"].removeprefix("Value error, ")) for item in error.value.errors()]  # fmt: skip


def test_no_platform_settings_means_no_platform_connectors(shequn: Shequn) -> None:
    assert platform_connectors(Settings(), shequn.sessions) == {}


def test_both_platforms_set_up_give_both_connectors(shequn: Shequn) -> None:
    settings = Settings(**TELEGRAM, **WECOM)
    assert sorted(platform_connectors(settings, shequn.sessions)) == ["telegram", "wecom"]


def test_a_mentions_nickname_is_read_from_the_store_within_the_actions_org(
    shequn: Shequn,
) -> None:
    ingest(shequn, [
        event("m1", "member.upserted", "2020-11-07T10:00:00", {"member": "501", "nickname": "小美"}),
        event("m2", "member.upserted", "2020-11-07T10:00:00", {"member": "501", "nickname": "Eve"},
              org="other"),
    ])  # fmt: skip
    nickname = nicknames(shequn.sessions)
    assert [nickname("demo", "501"), nickname("other", "501"), nickname("demo", "502")] == [
        "小美", "Eve", None
    ]  # fmt: skip


def test_a_token_that_is_not_botfathers_is_refused() -> None:
    assert problems(telegram_bot_token="12:abc") == [  # noqa: S106 - made up
        ("telegram_bot_token", "not a bot token as BotFather gives it (digits:letters)")
    ]


def test_webhook_mode_needs_a_secret_and_polling_does_not() -> None:
    assert problems(telegram_bot_token=TOKEN) == [
        ("telegram_webhook_secret", "required with SHEQUN_TELEGRAM_BOT_TOKEN in webhook mode "
                                    "(or set SHEQUN_TELEGRAM_MODE=polling)"),
    ]  # fmt: skip
    assert Settings(telegram_bot_token=TOKEN, telegram_mode="polling").has_telegram


def test_wecom_needs_all_four_values_and_names_the_missing_ones() -> None:
    assert problems(wecom_corp_id="ww8c0ffee5d1a2b3c4", wecom_token="QDG6eK") == [  # noqa: S106
        ("wecom_encoding_aes_key", "WeCom needs all of SHEQUN_WECOM_CORP_ID, SHEQUN_WECOM_SECRET, "
         "SHEQUN_WECOM_TOKEN, SHEQUN_WECOM_ENCODING_AES_KEY: missing SHEQUN_WECOM_SECRET, "
         "SHEQUN_WECOM_ENCODING_AES_KEY"),
    ]  # fmt: skip
    assert problems(**{**WECOM, "wecom_encoding_aes_key": AES_KEY[:-1]}) == [
        ("wecom_encoding_aes_key", "must be 43 characters, not 42")
    ]


def test_a_command_stops_on_a_bad_setting_naming_the_variable(tmp_path: object) -> None:
    env = {"SHEQUN_TELEGRAM_BOT_TOKEN": TOKEN, "SHEQUN_TELEGRAM_MODE": "webhook",
           "SHEQUN_TELEGRAM_WEBHOOK_SECRET": "has spaces"}  # fmt: skip
    result = CliRunner().invoke(tasks_app, ["list"], env=env)
    assert result.exit_code == 2
    assert "SHEQUN_TELEGRAM_WEBHOOK_SECRET: Value error, 1-256 characters of A-Z" in result.output


def test_the_app_serves_the_endpoints_of_the_platforms_set_up(settings: Settings) -> None:
    def answers(configured: Settings) -> tuple[int, int]:
        shequn = open_shequn(configured)
        try:
            with TestClient(create_app(shequn, run_worker=False)) as client:
                # Unsigned: refused where the endpoint exists, not found where it does not.
                telegram = client.post("/telegram/webhook", json={"update_id": 1})
                wecom = client.get("/wecom/callback")
                return telegram.status_code, wecom.status_code
        finally:
            shequn.close()

    assert answers(settings) == (404, 404)
    both = settings.model_copy(update={**TELEGRAM, **WECOM})
    assert answers(both) == (401, 422)
    # Polling takes updates itself: no webhook to expose.
    assert answers(both.model_copy(update={"telegram_mode": "polling"})) == (404, 422)
