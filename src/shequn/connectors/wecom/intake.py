"""WeCom customer-group changes into shequn, and the join ways that attribute newcomers."""

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shequn.connectors.models import WeComChatVersion
from shequn.connectors.wecom.client import MAX_JOIN_WAY_CHATS, MAX_STATE_LENGTH
from shequn.connectors.wecom.connector import WeComConnector
from shequn.connectors.wecom.events import ChatChange, ChatChangeType
from shequn.connectors.wecom.mapping import (
    events_of,
    missed_events,
    misses_callbacks,
    needs_details,
)
from shequn.db import insert_ignoring_conflicts
from shequn.engine.intake import IngestSummary
from shequn.invite.models import InviteCodeRecord
from shequn.invite.service import personal_code
from shequn.kit.time import utc_now
from shequn.member.models import GroupMember

if TYPE_CHECKING:
    from shequn.wiring import Shequn

ORIGIN = "wecom"
JOIN_WAY_CHANNEL = "wecom"
MAX_VERSION = 200


async def take_change(
    shequn: "Shequn", connector: WeComConnector, change: ChatChange
) -> IngestSummary:
    """Fetch what the change needs from WeCom and ingest its events.

    A change whose LastMemVer is not the member version last seen for its group means callbacks
    were missed: the whole member list is read again and the joins and leaves it implies are
    taken in with the change's own events.
    """
    org = shequn.settings.wecom_org or shequn.settings.default_org
    last_seen = await run_in_threadpool(member_version_of, shequn, org, change.chat_id)
    missed = (
        misses_callbacks(last_seen, change) and change.change_type is not ChatChangeType.DISMISS
    )
    details = (
        await connector.runner.run_async(connector.client.groupchat_get(change.chat_id))
        if needs_details(change) or missed
        else None
    )
    events = events_of(change, details, org=org)
    if missed and details is not None:
        held = await run_in_threadpool(members_held, shequn, org, change.chat_id)
        ids = {event["id"] for event in events}
        events += [
            event
            for event in missed_events(change, details, held=held, org=org)
            if event["id"] not in ids
        ]
    intake = shequn.intake(origin=ORIGIN, default_org=org)
    summary = await run_in_threadpool(intake.ingest, [(None, event) for event in events])
    # Moved on only once the events are stored: a callback that fails is retried by WeCom and
    # finds the gap still open.
    if change.member_version is not None:
        await run_in_threadpool(
            remember_member_version, shequn, org, change.chat_id, change.member_version
        )
    return summary


def member_version_of(shequn: "Shequn", org: str, chat: str) -> str | None:
    with shequn.sessions() as session:
        row = session.get(WeComChatVersion, (org, chat))
        return None if row is None else row.version


def members_held(shequn: "Shequn", org: str, chat: str) -> frozenset[str]:
    """Who shequn holds as in the group now."""
    with shequn.sessions() as session:
        return frozenset(
            session.scalars(
                select(GroupMember.member_id).where(
                    GroupMember.org == org, GroupMember.group_id == chat, GroupMember.is_member
                )
            )
        )


def remember_member_version(shequn: "Shequn", org: str, chat: str, version: str) -> None:
    if len(version) > MAX_VERSION:
        # Not WeCom's 32-character digest: kept, it could never be matched again.
        return
    now = utc_now()
    with shequn.sessions.begin() as session:
        session.execute(
            insert_ignoring_conflicts(
                session.get_bind().dialect, cast(Table, WeComChatVersion.__table__)
            ),
            [{"org": org, "chat": chat, "version": version, "seen_at": now}],
        )
        session.execute(
            update(WeComChatVersion)
            .where(WeComChatVersion.org == org, WeComChatVersion.chat == chat)
            .values(version=version, seen_at=now)
        )


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
