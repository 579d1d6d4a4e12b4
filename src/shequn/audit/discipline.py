"""Group discipline's use cases: strike offending messages, warn then kick, restore a member."""

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shequn.audit.learning import check_learning_settings, learn_min
from shequn.audit.models import (
    AuditCase,
    AuditDecision,
    AuditMessageTail,
    AuditRestore,
    AuditStrike,
    KickedLook,
)
from shequn.audit.offences import (
    FLOOD,
    DisciplinePolicy,
    MessageFacts,
    Offence,
    add_to_tail,
    check_discipline_settings,
    discipline_json,
    discipline_policy,
    kick_reason,
    message_offences,
    reason_of,
    to_millis,
    warning_text,
)
from shequn.audit.rules import (
    Decision,
    Standing,
    Step,
    Strike,
    Trigger,
    on_offence,
    standing_at,
    transition,
)
from shequn.audit.service import (
    UnknownGroup,
    UnknownMember,
    note_restore,
    policy_of,
    rescore,
    whereabouts,
)
from shequn.contract import MessagePosted
from shequn.engine.action import Action, ActionKind
from shequn.engine.context import CHUNK, Context
from shequn.engine.event import Event
from shequn.engine.models import ActionRecord, ActionStatus
from shequn.group.models import Group, Staff
from shequn.kit.ids import stable_id
from shequn.member.models import GroupMember, Member, Membership
from shequn.org.models import Org
from shequn.org.service import UnknownOrg, save_org


def discipline_of(context: Context, org: str) -> DisciplinePolicy:
    return context.memo(
        ("audit-discipline", org), lambda: discipline_policy(context.tenant(org).settings)
    )


def _found(context: Context) -> dict[tuple[str, str], tuple[Offence, ...]]:
    """The offences each message of the batch shows by itself, found once in the prefetch."""
    return context.memo(("audit-offences",), dict)


def _offences_of(context: Context, event: Event, data: MessagePosted) -> tuple[Offence, ...]:
    found = _found(context).get((event.source, event.id))
    if found is not None:
        return found
    facts = MessageFacts(data.kind, data.text, data.mentions)
    return message_offences(facts, policy=discipline_of(context, event.org))


def prefetch_messages(context: Context, events: Sequence[Event]) -> None:
    """Load the batch's message tails, and what striking its offenders reads, in a few queries
    per chunk, not one per message."""
    tails: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    offenders: dict[str, set[str]] = defaultdict(set)
    groups: dict[str, set[tuple[str, str]]] = defaultdict(set)
    found = _found(context)
    for event in events:
        if not isinstance(event.data, MessagePosted):
            continue
        data = event.data
        tails[event.org].add((event.org, data.group, data.member))
        batch = _tails(context, event.org)
        batch.last = (event.source, event.id)
        batch.latest = max(batch.latest or event.at, event.at)
        facts = MessageFacts(data.kind, data.text, data.mentions)
        offences = message_offences(facts, policy=discipline_of(context, event.org))
        found[(event.source, event.id)] = offences
        if offences:
            offenders[event.org].add(data.member)
            groups[event.org].add((event.org, data.group))
    for org, keys in tails.items():
        if discipline_of(context, org).enabled(FLOOD.code):
            context.rows.prefetch(AuditMessageTail, keys)
    for org, members in offenders.items():
        people = [(org, member) for member in members]
        for model in (Staff, AuditCase, Member):
            context.rows.prefetch(model, people)
        context.rows.prefetch(Group, groups[org])
        load_strikes(context, org, members)


def load_strikes(context: Context, org: str, members: Collection[str]) -> None:
    known = _standing(context, org)
    wanted = sorted({member for member in members if member not in known})
    for member in wanted:
        known[member] = []
    for start in range(0, len(wanted), CHUNK):
        rows = context.session.scalars(
            select(AuditStrike)
            .where(
                AuditStrike.org == org,
                AuditStrike.member.in_(wanted[start : start + CHUNK]),
                AuditStrike.cleared_at.is_(None),
            )
            .order_by(AuditStrike.at, AuditStrike.id)
        )
        for row in rows:
            known[row.member].append(row)


def _standing(context: Context, org: str) -> dict[str, list[AuditStrike]]:
    return context.memo(("audit-strikes", org), dict)


def is_exempt(context: Context, org: str, member_id: str) -> bool:
    """Staff, the atmosphere crew and whitelisted members post what they like."""
    policy = policy_of(context, org)
    if member_id in policy.crew or member_id in policy.whitelist:
        return True
    if context.rows.get(Staff, (org, member_id)) is not None:
        return True
    case = context.rows.get(AuditCase, (org, member_id))
    return case is not None and case.decision == Decision.WHITELIST


@dataclass
class _Tails:
    """The batch's message times per (group, member), written once after its last message."""

    times: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    last: tuple[str, str] | None = None
    latest: datetime | None = None


def _tails(context: Context, org: str) -> _Tails:
    return context.memo(("audit-tails", org), _Tails)


def _flooded(context: Context, event: Event, data: MessagePosted, policy: DisciplinePolicy) -> bool:
    batch = _tails(context, event.org)
    key = (data.group, data.member)
    if key not in batch.times:
        stored = context.rows.get(AuditMessageTail, (event.org, *key))
        batch.times[key] = list(stored.times) if stored is not None else []
    batch.times[key], flooded = add_to_tail(batch.times[key], event.at, policy=policy)
    return flooded


def _write_tails(context: Context, org: str, policy: DisciplinePolicy) -> None:
    """Keep only the times a later batch can still make a flood with: a message arriving in
    time order comes after this batch's latest, so older ones are dropped (and no row kept)."""
    batch = _tails(context, org)
    if batch.latest is None:
        return
    since = to_millis(batch.latest - policy.flood_window)
    for (group_id, member_id), times in sorted(batch.times.items()):
        kept = [moment for moment in times if moment >= since]
        stored = context.rows.get(AuditMessageTail, (org, group_id, member_id))
        if stored is None and kept:
            context.rows.add(
                AuditMessageTail(org=org, group_id=group_id, member=member_id, times=kept)
            )
        elif stored is not None and not kept:
            context.rows.remove(stored)
        elif stored is not None and stored.times != kept:
            stored.times = kept
    batch.times.clear()


def standing_strikes(context: Context, org: str, member_id: str) -> list[AuditStrike]:
    """The member's strikes not cleared by a restore, in this unit of work's latest state."""
    load_strikes(context, org, [member_id])
    return _standing(context, org)[member_id]


def _strikes(rows: Sequence[AuditStrike]) -> list[Strike]:
    return [Strike(row.at, Step(row.step), row.expires_at) for row in rows]


def _counting(strikes: Sequence[Strike], at: datetime) -> int:
    """This offence and the strikes still counting at its time."""
    return 1 + sum(
        1
        for known in strikes
        if known.at <= at and (known.expires_at is None or known.expires_at > at)
    )


def on_message(context: Context, event: Event) -> None:
    """Strike a message that breaks the group rules: a warning first, then a kick."""
    data = event.payload(MessagePosted)
    policy = discipline_of(context, event.org)
    offences = list(_offences_of(context, event, data))
    if policy.enabled(FLOOD.code) and _flooded(context, event, data, policy):
        offences.append(
            Offence(FLOOD.code, f"{policy.flood_messages} messages in {policy.flood_seconds}s")
        )
    if offences and not is_exempt(context, event.org, data.member):
        strike(context, event, data, offences, policy)
    batch = _tails(context, event.org)
    if batch.last in (None, (event.source, event.id)):
        if batch.latest is None:
            batch.latest = event.at
        _write_tails(context, event.org, policy)


def strike(
    context: Context,
    event: Event,
    data: MessagePosted,
    offences: Sequence[Offence],
    policy: DisciplinePolicy,
) -> AuditStrike | None:
    org, member_id = event.org, data.member
    rows = standing_strikes(context, org, member_id)
    strike_id = stable_id("audit-strike", event.source, event.id)
    if any(row.id == strike_id for row in rows):
        return None
    strikes = _strikes(rows)
    _, live = standing_at(strikes, at=event.at)
    _, step = on_offence(strikes, at=event.at, warnings=policy.warnings)
    row = AuditStrike(
        org=org, id=strike_id, member=member_id, group_id=data.group, message=data.message,
        offences=[{"code": o.code, "evidence": o.evidence} for o in offences], at=event.at,
        step=str(step), expires_at=event.at + policy.warning_for if step is Step.WARN else None,
        cleared_at=None, cleared_by=None,
    )  # fmt: skip
    context.session.add(row)
    rows.append(row)
    rows.sort(key=lambda known: (known.at, known.id))
    reason = reason_of(offences)
    group = context.rows.get(Group, (org, data.group))
    platform = None if group is None else group.platform
    cause = f"audit-strike:{strike_id}"
    places = whereabouts(context, org, data.group, member_id)
    common: dict[str, Any] = {
        "reason": reason, "offences": row.offences, "message": data.message, **places,
    }  # fmt: skip
    if policy.delete_offending:
        context.emit(Action(
            id=stable_id("audit-delete", strike_id), org=org, kind=ActionKind.DELETE_MESSAGE,
            cause=cause, platform=platform, group=data.group, member=member_id, payload=common,
        ))  # fmt: skip
    if step is Step.WARN:
        text = warning_text(
            places["member_name"], reason, warnings_left=policy.warnings - live - 1,
            lang=policy.lang,
        )  # fmt: skip
        kind = (
            ActionKind.WARN_MEMBER if policy.warn_by == "group" else ActionKind.SEND_DIRECT_MESSAGE
        )
        context.emit(Action(
            id=stable_id("audit-warn", strike_id), org=org, kind=kind, cause=cause,
            platform=platform, group=data.group, member=member_id,
            payload={**common, "text": text, "mentions": [member_id]},
        ))  # fmt: skip
    elif step is Step.KICK:
        context.emit(Action(
            id=stable_id("audit-discipline-kick", strike_id), org=org,
            kind=ActionKind.KICK_MEMBER, cause=cause, platform=platform, group=data.group,
            member=member_id,
            payload={**common, "reason": kick_reason(reason, strikes=_counting(strikes, event.at))},
        ))  # fmt: skip
    return row


def kicked_groups(session: Session, org: str, member_id: str) -> dict[str, int | None]:
    """Groups the member was kicked from and not restored to since, each with the stay the
    platform reported kicked (None: a discipline kick or an outbox kick not reported yet)."""
    restores = session.execute(
        select(AuditRestore.group_id, AuditRestore.stint, AuditRestore.restored_at).where(
            AuditRestore.org == org, AuditRestore.member == member_id
        )
    ).all()
    undone = {(group_id, stint) for group_id, stint, _ in restores}
    last_restore: dict[str, datetime] = {}
    for group_id, _, at in restores:
        last_restore[group_id] = max(at, last_restore.get(group_id, at))
    found: dict[str, int | None] = {}
    kicks = session.scalars(
        select(AuditStrike.group_id).where(
            AuditStrike.org == org,
            AuditStrike.member == member_id,
            AuditStrike.cleared_at.is_(None),
            AuditStrike.step == Step.KICK.value,
        )
    )
    found.update(dict.fromkeys(kicks))
    pending = session.execute(
        select(ActionRecord.group_id, ActionRecord.created_at).where(
            ActionRecord.org == org,
            ActionRecord.member_id == member_id,
            ActionRecord.kind == ActionKind.KICK_MEMBER.value,
            # Awaiting: a WeCom kick waits for an employee; it can still be undone.
            ActionRecord.status.in_((ActionStatus.PENDING, ActionStatus.AWAITING)),
        )
    )
    for target, created_at in pending:
        # Both times are the engine's clock: a restore after the kick was decided undoes it.
        if target is not None and (target not in last_restore or last_restore[target] < created_at):
            found[target] = None
    standings = session.scalars(
        select(GroupMember).where(GroupMember.org == org, GroupMember.member_id == member_id)
    )
    for standing in standings:
        if standing.is_member or (standing.group_id, standing.stints) in undone:
            continue
        last = session.get(Membership, (org, standing.group_id, member_id, standing.stints))
        if last is not None and last.left_reason == "kicked":
            found[standing.group_id] = standing.stints
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class Restored:
    member: str
    groups: list[str]
    cleared: int
    lifted_kick_decision: bool


def withdraw_kicks(
    context: Context, org: str, member_id: str, groups: Collection[str], *, by: str
) -> dict[str, str]:
    """Kicks of the member still owed in these groups are withdrawn (marked failed, with why),
    so a restore is never followed by the kick it undid. Returns the groups and statuses."""
    owed = context.session.scalars(
        select(ActionRecord).where(
            ActionRecord.org == org,
            ActionRecord.member_id == member_id,
            ActionRecord.kind == ActionKind.KICK_MEMBER.value,
            ActionRecord.group_id.in_(sorted(groups)),
            ActionRecord.status.in_((ActionStatus.PENDING, ActionStatus.AWAITING)),
        )
    ).all()
    withdrawn: dict[str, str] = {}
    for action in owed:
        if action.group_id is None:
            continue
        withdrawn[action.group_id] = action.status
        action.status, action.done_at = ActionStatus.FAILED, context.now
        action.last_error = f"withdrawn: restored by {by}"[:1000]
    return withdrawn


def restore(
    context: Context,
    org: str,
    member_id: str,
    *,
    by: str,
    group: str | None = None,
    note: str | None = None,
) -> Restored:
    """Re-admit a kicked member (into `group`, or every group they were kicked from).

    Clears the strikes standing in those groups and every warning, lifts an audit kick
    decision (recorded as keep), and records who restored and when.
    """
    by = by.strip()
    if not by or len(by) > 200:
        raise ValueError(f"--by: {by!r} must name who restores, in 1-200 characters")
    if note is not None and len(note) > 1000:
        raise ValueError("--note: at most 1000 characters")
    session = context.session
    member = context.rows.get(Member, (org, member_id))
    if member is None:
        raise UnknownMember(member_id)
    if group is not None and context.rows.get(Group, (org, group)) is None:
        raise UnknownGroup(group)
    kicked = kicked_groups(session, org, member_id)
    case = context.rows.get(AuditCase, (org, member_id))
    flagged = case is not None and case.decision == Decision.KICK
    if group is not None and group not in kicked:
        raise ValueError(f"member {member_id!r} was not kicked from group {group!r}")
    if not kicked and not flagged:
        raise ValueError(f"member {member_id!r} was not kicked from any group")
    targets = [group] if group is not None else list(kicked)
    rows = standing_strikes(context, org, member_id)
    standing, _ = standing_at(_strikes(rows), at=context.now)
    if standing is Standing.KICKED:
        # The table says what a restore may do; a kick by hand has no strikes to clear.
        transition(standing, Trigger.RESTORE)
    cleared = [row for row in rows if row.step == Step.WARN or row.group_id in targets]
    for row in cleared:
        row.cleared_at, row.cleared_by = context.now, by
        rows.remove(row)
    withdrawn = withdraw_kicks(context, org, member_id, targets, by=by)
    for group_id in targets:
        record = AuditRestore(
            org=org, member=member_id, group_id=group_id, stint=kicked.get(group_id),
            restored_by=by, restored_at=context.now, note=note,
        )  # fmt: skip
        session.add(record)
        session.flush()
        place = context.rows.get(GroupMember, (org, group_id, member_id))
        if group_id in withdrawn and place is not None and place.is_member:
            # The kick was withdrawn before anyone carried it out: nothing to re-admit.
            continue
        found = context.rows.get(Group, (org, group_id))
        said = f":{note}" if note else ""
        context.emit(Action(
            id=stable_id("audit-restore", org, str(record.id)), org=org,
            kind=ActionKind.RESTORE_MEMBER, cause=f"audit-restore:{record.id}",
            platform=None if found is None else found.platform, group=group_id,
            member=member_id,
            payload={
                "reason": {"zh": f"{by} 恢复入群{said}",
                           "en": f"restored by {by}" + (f": {note}" if note else "")},
                "by": by, "note": note, **whereabouts(context, org, group_id, member_id),
            },
        ))  # fmt: skip
    note_restore(context, org, member_id, context.now)
    if set(targets) >= set(kicked):
        # Kicked nowhere any more: look-alikes of this member are no longer suspicious.
        session.execute(
            delete(KickedLook).where(KickedLook.org == org, KickedLook.member == member_id)
        )
    if flagged:
        assert case is not None
        words = "restored" + (f": {note}" if note else "")
        case.decision, case.decided_by, case.decided_at = str(Decision.KEEP), by, context.now
        session.add(AuditDecision(
            org=org, member=member_id, decision=str(Decision.KEEP), decided_by=by,
            decided_at=context.now, note=words[:1000],
        ))  # fmt: skip
    session.flush()
    rescore(context, org, member_id, may_kick=False)
    return Restored(member_id, targets, len(cleared), flagged)


def strikes_of(session: Session, org: str, *, member: str | None = None) -> list[AuditStrike]:
    query = select(AuditStrike).where(AuditStrike.org == org)
    if member is not None:
        query = query.where(AuditStrike.member == member)
    return list(session.scalars(query.order_by(AuditStrike.at, AuditStrike.id)))


def strike_json(row: AuditStrike, *, now: datetime) -> dict[str, Any]:
    """The public shape of a strike, as `audit strikes --json` prints it."""
    counts = row.cleared_at is None and (row.expires_at is None or row.expires_at > now)
    return {
        "member": row.member,
        "group": row.group_id,
        "message": row.message,
        "at": row.at.isoformat(),
        "step": row.step,
        "offences": row.offences,
        "expires_at": None if row.expires_at is None else row.expires_at.isoformat(),
        "cleared_at": None if row.cleared_at is None else row.cleared_at.isoformat(),
        "cleared_by": row.cleared_by,
        "counts": counts,
    }


def restores_of(session: Session, org: str, *, member: str | None = None) -> list[AuditRestore]:
    query = select(AuditRestore).where(AuditRestore.org == org)
    if member is not None:
        query = query.where(AuditRestore.member == member)
    return list(session.scalars(query.order_by(AuditRestore.id)))


def configure_discipline(
    session: Session, org: str, *, changes: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """Change the org's group rules and learning settings; refused, naming the setting, when
    one is malformed. Returns them all, defaults filled in."""
    current = session.get(Org, org)
    if current is None:
        raise UnknownOrg(org)
    merged = {**current.settings, **changes}
    check_discipline_settings(merged)
    check_learning_settings(merged)
    saved, _ = save_org(
        session, org, name=None, timezone=current.timezone, settings=dict(changes), now=now
    )
    return discipline_settings(saved.settings)


def discipline_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **discipline_json(discipline_policy(settings)),
        "audit_learn_min": learn_min(settings),
    }
