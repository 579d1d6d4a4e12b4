"""WeCom customer-group changes into shequn, and the join ways that attribute newcomers."""

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shequn.connectors.wecom.client import MAX_JOIN_WAY_CHATS, MAX_STATE_LENGTH
from shequn.connectors.wecom.connector import WeComConnector
from shequn.connectors.wecom.events import ChatChange
from shequn.connectors.wecom.mapping import events_of, needs_details
from shequn.engine.intake import IngestSummary
from shequn.invite.models import InviteCodeRecord
from shequn.invite.service import personal_code

if TYPE_CHECKING:
    from shequn.wiring import Shequn

ORIGIN = "wecom"
JOIN_WAY_CHANNEL = "wecom"


async def take_change(
    shequn: "Shequn", connector: WeComConnector, change: ChatChange
) -> IngestSummary:
    """Fetch what the change needs from WeCom and ingest its events."""
    details = (
        await connector.runner.run_async(connector.client.groupchat_get(change.chat_id))
        if needs_details(change)
        else None
    )
    org = shequn.settings.wecom_org or shequn.settings.default_org
    events = events_of(change, details, org=org)
    intake = shequn.intake(origin=ORIGIN, default_org=org)
    return await run_in_threadpool(intake.ingest, [(None, event) for event in events])


def join_way_for(
    session: Session,
    connector: WeComConnector,
    org: str,
    *,
    referrer: str,
    groups: Sequence[str],
    now: datetime,
    auto_create_room: bool = True,
    room_base_name: str | None = None,
) -> InviteCodeRecord:
    """The referrer's own group QR code (a join way whose state is their invite code); made once.

    A live code's pool (up to 5 groups, the first with room taking each newcomer) becomes the
    join way's groups; with auto_create_room WeCom opens a new group when all are full.
    """
    if not 1 <= len(groups) <= MAX_JOIN_WAY_CHATS:
        raise ValueError(f"groups: 1 to {MAX_JOIN_WAY_CHATS} WeCom groups, not {len(groups)}")
    record = personal_code(
        session, org, owner=referrer, group=None, channel=JOIN_WAY_CHANNEL, now=now
    )
    if len(record.code) > MAX_STATE_LENGTH:
        raise ValueError(
            f"invite code {record.code!r} is longer than WeCom's {MAX_STATE_LENGTH}-character state"
        )
    if record.link is None:
        config_id = connector.runner.run(
            connector.client.add_join_way(
                chat_ids=list(groups),
                state=record.code,
                remark=f"shequn {referrer}"[:30],
                auto_create_room=auto_create_room,
                room_base_name=room_base_name,
            )
        )
        join_way = connector.runner.run(connector.client.get_join_way(config_id))
        qr_code = join_way.get("qr_code")
        if not isinstance(qr_code, str) or not qr_code:
            raise ValueError(f"WeCom gave join way {config_id} no qr_code")
        record.link = qr_code
        session.flush()
    return record
