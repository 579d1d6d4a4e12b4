"""Telegram updates into shequn: mapped to contract events and taken in like any other source."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from shequn.connectors.telegram.bot import ALLOWED_UPDATES, TelegramBot
from shequn.connectors.telegram.mapping import JoinRequest, map_updates
from shequn.engine.intake import IngestSummary
from shequn.invite.models import InviteCodeRecord
from shequn.invite.service import personal_code

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


def take_updates(shequn: "Shequn", updates: Iterable[object], *, bot_id: int) -> Taken:
    """Map updates and ingest their events; redelivered updates change nothing (stable ids)."""
    org = shequn.settings.telegram_org or shequn.settings.default_org
    mapped = map_updates(updates, bot_id=bot_id, org=org)
    intake = shequn.intake(origin=ORIGIN, default_org=org)
    summary = intake.ingest((None, event) for event in mapped.events)
    return Taken(summary, mapped.join_requests, mapped.skipped)


def poll_once(
    shequn: "Shequn", bot: TelegramBot, *, offset: int | None, timeout: int, bot_id: int
) -> tuple[Taken, int | None]:
    """One getUpdates round; returns what it took and the offset that confirms it."""
    updates = bot.get_updates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES)
    taken = take_updates(shequn, updates, bot_id=bot_id)
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
