"""One settings object, read from the environment (SHEQUN_*) and overridable by CLI flags."""

import base64
import binascii
import re
from typing import Literal

from pydantic import ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shequn.kit.time import DEFAULT_TIMEZONE

DEFAULT_DATABASE_URL = "sqlite:///./shequn.db"

# BotFather's tokens: the bot's numeric id, a colon, then the secret part.
_TELEGRAM_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,}")
# setWebhook's own rule for secret_token.
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
WECOM_FIELDS = ("wecom_corp_id", "wecom_secret", "wecom_token", "wecom_encoding_aes_key")


def env_name(field: str) -> str:
    return f"SHEQUN_{field.upper()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHEQUN_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    default_org: str = "default"
    timezone: str = DEFAULT_TIMEZONE
    batch_size: int = 1000
    # Where the built-in log connector appends what it would have sent; empty: keep it only in the outbox.
    action_log: str = "shequn-actions.jsonl"
    max_body_bytes: int = 20 * 1024 * 1024
    # Where members reach this server: the base of the /j/ORG/CODE links printed on posters.
    public_url: str = "http://127.0.0.1:8000"

    # Telegram: a bot from BotFather. Empty token: no Telegram connector.
    telegram_bot_token: str = ""
    telegram_mode: Literal["webhook", "polling"] = "webhook"
    # Checked against X-Telegram-Bot-Api-Secret-Token on every webhook delivery.
    telegram_webhook_secret: str = ""
    # Events from the bot's groups go to this org; empty: the default org.
    telegram_org: str = ""
    telegram_api_url: str = "https://api.telegram.org"

    # WeCom (企业微信): the corp, a self-built app's secret, and its callback's Token and
    # EncodingAESKey. All four or none: no corp id, no WeCom connector.
    wecom_corp_id: str = ""
    wecom_secret: str = ""
    wecom_token: str = ""
    wecom_encoding_aes_key: str = ""
    wecom_agent_id: int | None = None
    wecom_org: str = ""
    wecom_api_url: str = "https://qyapi.weixin.qq.com/cgi-bin"

    @property
    def has_telegram(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def has_wecom(self) -> bool:
        return bool(self.wecom_corp_id)

    @field_validator("telegram_bot_token")
    @classmethod
    def _telegram_token(cls, value: str) -> str:
        value = value.strip()
        if value and not _TELEGRAM_TOKEN.fullmatch(value):
            raise ValueError("not a bot token as BotFather gives it (digits:letters)")
        return value

    @field_validator("telegram_webhook_secret", mode="after")
    @classmethod
    def _telegram_secret(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if value and not _TELEGRAM_SECRET.fullmatch(value):
            raise ValueError("1-256 characters of A-Z, a-z, 0-9, _ and -")
        token, mode = info.data.get("telegram_bot_token"), info.data.get("telegram_mode")
        if token and mode == "webhook" and not value:
            raise ValueError(
                f"required with {env_name('telegram_bot_token')} in webhook mode "
                f"(or set {env_name('telegram_mode')}=polling)"
            )
        return value

    @field_validator("wecom_encoding_aes_key", mode="after")
    @classmethod
    def _wecom_complete(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        given = {name: bool(info.data.get(name)) for name in WECOM_FIELDS[:-1]}
        given["wecom_encoding_aes_key"] = bool(value)
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(env_name(name) for name, present in given.items() if not present)
            raise ValueError(f"WeCom needs all of {', '.join(map(env_name, WECOM_FIELDS))}: "
                             f"missing {missing}")  # fmt: skip
        if value:
            if len(value) != 43:
                raise ValueError(f"must be 43 characters, not {len(value)}")
            try:
                base64.b64decode(value + "=", validate=True)
            except binascii.Error:
                raise ValueError("not base64, as the WeCom admin console shows it") from None
        return value
