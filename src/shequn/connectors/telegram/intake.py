"""Telegram updates into shequn: mapped to contract events and taken in like any other source."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from shequn.connectors.telegram.bot import ALLOWED_UPDATES, TelegramBot
from shequn.connectors.telegram.mapping import JoinRequest, map_updates
from shequn.connectors.telegram.requests import Answered, answer_join_requests
from shequn.engine.intake import IngestSummary
from shequn.invite.models import InviteCodeRecord
from shequn.invite.service import personal_code
from shequn.kit.time import utc_now

if TYPE_CHECKING:
    from shequn.wiring import Shequn

ORIGIN = "telegram"
# Telegram's own limit on an invite link's name, which carries the shequn invite code.
MAX_CODE = 32
LINK_CHANNEL = "telegram"


@dataclass(frozen=True)
class Taken:
    """What one delivery or poll gave: the intake's summary, join requests and skipped parts."""

    summary: IngestSummary
    join_requests: list[JoinRequest]
    skipped: list[str]
    answered: Answered = field(default_factory=Answered)


def take_updates(
    shequn: "Shequn", updates: Iterable[object], *, bot_id: int, bot: TelegramBot | None = None
) -> Taken:
    """Map updates, ingest their events and, with a bot, answer join requests as the org says;
    redelivered updates change nothing (stable ids, one decision per request)."""
    org = shequn.settings.telegram_org or shequn.settings.default_org
    mapped = map_updates(updates, bot_id=bot_id, org=org)
    intake = shequn.intake(origin=ORIGIN, default_org=org)
    summary = intake.ingest((None, event) for event in mapped.events)
    answered = (
        answer_join_requests(shequn, bot, mapped.join_requests, default_org=org, now=utc_now())
        if bot is not None and mapped.join_requests
        else Answered()
    )
    return Taken(summary, mapped.join_requests, mapped.skipped, answered)


def poll_once(
    shequn: "Shequn", bot: TelegramBot, *, offset: int | None, timeout: int, bot_id: int
) -> tuple[Taken, int | None]:
    """One getUpdates round; returns what it took and the offset that confirms it."""
    updates = bot.get_updates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES)
    taken = take_updates(shequn, updates, bot_id=bot_id, bot=bot)
    ids = [
        update["update_id"]
        for update in updates
        if isinstance(update, dict) and isinstance(update.get("update_id"), int)
    ]
    # Confirmed only after the events are stored: a crash before then gets them again.
    return taken, (max(ids) + 1 if ids else offset)


def invite_link_for(
    session: Session,
    bot: TelegramBot,
    org: str,
    *,
    group: str,
    member: str,
    now: datetime,
    channel: str = LINK_CHANNEL,
) -> InviteCodeRecord:
    """The member's own invite link into a group, named by their invite code; made once."""
    record = personal_code(session, org, owner=member, group=group, channel=channel, now=now)
    if record.link is None:
        if len(record.code) > MAX_CODE:
            raise ValueError(
                f"invite code {record.code!r} is longer than Telegram's {MAX_CODE} characters"
            )
        record.link = bot.create_chat_invite_link(int(group), name=record.code).url
        session.flush()
    return record


def summary_json(taken: Taken) -> dict[str, Any]:
    return {
        **taken.summary.as_json(),
        "join_requests": len(taken.join_requests),
        "skipped": taken.skipped,
    }
