"""The platform connectors and their HTTP endpoints, as the settings ask for them."""

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sqlalchemy import Engine, select

from shequn.config import Settings
from shequn.connectors.base import Connector
from shequn.connectors.telegram.bot import TelegramBot, TelegramConnector
from shequn.connectors.telegram.intake import take_updates
from shequn.connectors.telegram.webhook import telegram_router
from shequn.connectors.wecom.client import WeComClient
from shequn.connectors.wecom.connector import WeComConnector
from shequn.connectors.wecom.crypto import CallbackKeys
from shequn.connectors.wecom.events import ChatChange
from shequn.connectors.wecom.intake import take_change
from shequn.connectors.wecom.routes import wecom_router
from shequn.db import create_engine
from shequn.member.models import Member

if TYPE_CHECKING:
    from shequn.wiring import Shequn

TELEGRAM = "telegram"
WECOM = "wecom"


def platform_connectors(settings: Settings) -> dict[str, Connector]:
    """A connector for each platform whose settings are given."""
    connectors: dict[str, Connector] = {}
    if settings.has_telegram:
        bot = TelegramBot(token=settings.telegram_bot_token, base_url=settings.telegram_api_url)
        connectors[TELEGRAM] = TelegramConnector(bot, nickname=nicknames(settings.database_url))
    if settings.has_wecom:
        client = WeComClient(
            corp_id=settings.wecom_corp_id,
            corp_secret=settings.wecom_secret,
            base_url=settings.wecom_api_url,
        )
        connectors[WECOM] = WeComConnector(client)
    return connectors


def nicknames(database_url: str) -> Callable[[str], str | None]:
    """A member's nickname by platform id, for mentions whose action names nobody."""
    engine: Engine | None = None
    lock = threading.Lock()

    def nickname(member: str) -> str | None:
        nonlocal engine
        with lock:
            # Opened on the first mention without a name: most registries never need it.
            if engine is None:
                engine = create_engine(database_url)
        with engine.connect() as connection:
            return connection.scalar(
                select(Member.nickname).where(Member.id == member, Member.nickname.is_not(None))
                .limit(1)
            )  # fmt: skip

    return nickname


def telegram_connector(shequn: "Shequn") -> TelegramConnector | None:
    connector = shequn.registry.connectors.get(TELEGRAM)
    return connector if isinstance(connector, TelegramConnector) else None


def wecom_connector(shequn: "Shequn") -> WeComConnector | None:
    connector = shequn.registry.connectors.get(WECOM)
    return connector if isinstance(connector, WeComConnector) else None


def platform_routers(shequn: "Shequn") -> list[APIRouter]:
    """POST /telegram/webhook (webhook mode) and GET/POST /wecom/callback, when configured."""
    settings = shequn.settings
    routers: list[APIRouter] = []
    telegram = telegram_connector(shequn)
    if telegram is not None and settings.telegram_mode == "webhook":
        bot, bot_id = telegram.bot, telegram.bot.bot_id or 0

        def handle(update: dict[str, Any]) -> None:
            take_updates(shequn, [update], bot_id=bot_id, bot=bot)

        routers.append(telegram_router(settings.telegram_webhook_secret, handle))
    wecom = wecom_connector(shequn)
    if wecom is not None:
        keys = CallbackKeys.from_settings(
            token=settings.wecom_token,
            encoding_aes_key=settings.wecom_encoding_aes_key,
            corp_id=settings.wecom_corp_id,
        )

        async def on_change(change: ChatChange) -> None:
            await take_change(shequn, wecom, change)

        routers.append(wecom_router(keys, on_change))
    return routers
