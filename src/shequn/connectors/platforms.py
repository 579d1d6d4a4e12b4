"""The platform connectors and their HTTP endpoints, as the settings ask for them."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shequn.config import Settings
from shequn.connectors.base import Connector
from shequn.connectors.replay import ReplayGuard
from shequn.connectors.telegram.bot import TelegramBot, TelegramConnector
from shequn.connectors.telegram.intake import take_updates
from shequn.connectors.telegram.webhook import telegram_router
from shequn.connectors.wecom.client import WeComClient
from shequn.connectors.wecom.connector import WeComConnector
from shequn.connectors.wecom.crypto import CallbackKeys
from shequn.connectors.wecom.events import ChatChange
from shequn.connectors.wecom.intake import take_change
from shequn.connectors.wecom.routes import wecom_router
from shequn.member.models import Member

if TYPE_CHECKING:
    from shequn.wiring import Shequn

TELEGRAM = "telegram"
WECOM = "wecom"


def platform_connectors(
    settings: Settings, sessions: sessionmaker[Session]
) -> dict[str, Connector]:
    """A connector for each platform whose settings are given."""
    connectors: dict[str, Connector] = {}
    if settings.has_telegram:
        bot = TelegramBot(token=settings.telegram_bot_token, base_url=settings.telegram_api_url)
        connectors[TELEGRAM] = TelegramConnector(bot, nickname=nicknames(sessions))
    if settings.has_wecom:
        client = WeComClient(
            corp_id=settings.wecom_corp_id,
            corp_secret=settings.wecom_secret,
            base_url=settings.wecom_api_url,
        )
        connectors[WECOM] = WeComConnector(client)
    return connectors


def nicknames(sessions: sessionmaker[Session]) -> Callable[[str, str], str | None]:
    """A member's nickname in an org by platform id, for mentions whose action names nobody;
    read through the app's own store, never another org's member of the same id."""

    def nickname(org: str, member: str) -> str | None:
        with sessions() as session:
            return session.scalar(
                select(Member.nickname)
                .where(Member.org == org, Member.id == member, Member.nickname.is_not(None))
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

        routers.append(wecom_router(keys, on_change, guard=ReplayGuard(shequn.sessions)))
    return routers
