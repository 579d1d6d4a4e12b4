"""The audit's use cases: score members into cases, record decisions, say who is flagged."""

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shequn.audit.learning import TextModel, learn_min, learned_signal, model_from_json
from shequn.audit.models import AuditCase, AuditDecision, AuditModel, AuditRestore, KickedLook
from shequn.audit.rules import (
    Assessment,
    AuditContext,
    AuditPolicy,
    Decision,
    Gender,
    ProfileFacts,
    Signal,
    Stint,
    Verdict,
    audit_policy,
    check_audit_settings,
    groups_joined_within,
    is_flagged,
    normalize,
    parse_decision,
    queued_verdicts,
    rejoined_after_kick,
    score_profile,
)
from shequn.db import insert_ignoring_conflicts
from shequn.engine.action import Action, ActionKind
from shequn.engine.context import CHUNK, Context
from shequn.group.models import Group, Staff
from shequn.kit.ids import stable_id
from shequn.member.models import GroupMember, Member, Membership
from shequn.org.models import Org
from shequn.org.service import UnknownOrg, save_org

GENDERS: dict[str, Gender] = {"female": "female", "male": "male"}


class UnknownMember(LookupError):
    def __init__(self, member: str) -> None:
        super().__init__(f"member {member!r} is not known in this org")


class UnknownGroup(LookupError):
    def __init__(self, group: str) -> None:
        super().__init__(f"group {group!r} is not known in this org")


def nickname_look(nickname: str | None) -> str | None:
    shown = normalize(nickname or "")
    return stable_id("nickname", shown) if shown else None


def avatar_look(url: str | None) -> str | None:
    return stable_id("avatar", url) if url else None


def looks_of(member: Member) -> list[str]:
    """Keys of the nickname and avatar the member wears now."""
    looks = (nickname_look(member.nickname), avatar_look(member.avatar_url))
    return [look for look in looks if look is not None]


@dataclass
class KickedLooks:
    """Which kicked members wore a look, for the looks asked about in this unit of work."""

    session: Session
    org: str
    wearers: dict[str, set[str]] = field(default_factory=dict)

    def ask(self, looks: Collection[str | None]) -> None:
        missing = sorted({look for look in looks if look and look not in self.wearers})
        for look in missing:
            self.wearers[look] = set()
        for start in range(0, len(missing), CHUNK):
            rows = self.session.execute(
                select(KickedLook.look, KickedLook.member).where(
                    KickedLook.org == self.org, KickedLook.look.in_(missing[start : start + CHUNK])
                )
            )
            for look, member in rows:
                self.wearers[look].add(member)

    def add(self, look: str, member: str) -> None:
        self.ask([look])
        self.wearers[look].add(member)

    def worn_by_others(self, look: str | None, member: str) -> bool:
        # A member's own kick is not a look-alike: coming back is the rejoin signal, and
        # operators re-add members they removed for discipline.
        if look is None:
            return False
        self.ask([look])
        return bool(self.wearers[look] - {member})


def policy_of(context: Context, org: str) -> AuditPolicy:
    return context.memo(("audit-policy", org), lambda: audit_policy(context.tenant(org).settings))


def kicked_looks(context: Context, org: str) -> KickedLooks:
    return context.memo(("audit-kicked", org), lambda: KickedLooks(context.session, org))


def remember_kicked(context: Context, org: str, members: Collection[str]) -> None:
    """Keep the nicknames and avatars kicked members wore, to know their look-alikes later."""
    found: list[dict[str, str]] = []
    for member_id in sorted(members):
        member = context.rows.get(Member, (org, member_id))
        if member is not None:
            found.extend(
                {"org": org, "look": look, "member": member_id} for look in looks_of(member)
            )
    if not found:
        return
    dialect = context.session.get_bind().dialect
    context.session.execute(
        insert_ignoring_conflicts(dialect, cast(Table, KickedLook.__table__)), found
    )
    for row in found:
        kicked_looks(context, org).add(row["look"], row["member"])


def refresh_kicked_looks(context: Context, org: str) -> None:
    """Remember the looks of every member ever kicked: also kicks from before the audit.

    A member restored after their latest kick is no longer a kicked account.
    """
    last_kicks = context.session.execute(
        select(Membership.member_id, func.max(Membership.left_at))
        .where(Membership.org == org, Membership.left_reason == "kicked")
        .group_by(Membership.member_id)
    )
    restored = latest_restores(context.session, org)
    kicked = sorted(
        member
        for member, kicked_at in last_kicks
        if member not in restored or (kicked_at is not None and kicked_at > restored[member])
    )
    for start in range(0, len(kicked), CHUNK):
        chunk = kicked[start : start + CHUNK]
        context.rows.prefetch(Member, [(org, member) for member in chunk])
        remember_kicked(context, org, chunk)


def _groups_of(context: Context, org: str) -> dict[str, set[str]]:
    """Per member, every group of the org they ever joined, as far as this unit of work knows."""
    return context.memo(("audit-groups", org), dict)


def prime_members(context: Context, org: str, members: Collection[str]) -> None:
    """Load what scoring reads of these members in a few queries per chunk, not one by one."""
    groups_of = _groups_of(context, org)
    # Called per event with one member: test membership, never copy the memo's keys.
    wanted = sorted({member for member in members if member not in groups_of})
    if not wanted:
        return
    keys = [(org, member) for member in wanted]
    context.rows.prefetch(Member, keys)
    context.rows.prefetch(Staff, keys)
    context.rows.prefetch(AuditCase, keys)
    stints: list[tuple[str, str, str, int]] = []
    for member in wanted:
        groups_of[member] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        standings = context.session.scalars(
            select(GroupMember).where(GroupMember.org == org, GroupMember.member_id.in_(chunk))
        )
        for loaded in standings:
            standing = context.rows.keep(loaded)
            groups_of[standing.member_id].add(standing.group_id)
            stints.extend(
                (org, standing.group_id, standing.member_id, number)
                for number in range(1, standing.stints + 1)
            )
    context.rows.prefetch(Membership, stints)
    restores = _restored_at(context, org)
    for start in range(0, len(wanted), CHUNK):
        restores.update(latest_restores(context.session, org, wanted[start : start + CHUNK]))
    profiles = [context.rows.get(Member, key) for key in keys]
    kicked_looks(context, org).ask(
        [look for member in profiles if member for look in looks_of(member)]
    )


def restored_stints(session: Session, org: str) -> frozenset[tuple[str, str, int]]:
    """(group, member, stint) of every stay whose kick an operator undid: a leave, not a kick."""
    rows = session.execute(
        select(AuditRestore.group_id, AuditRestore.member, AuditRestore.stint).where(
            AuditRestore.org == org, AuditRestore.stint.is_not(None)
        )
    )
    return frozenset((group, member, stint) for group, member, stint in rows if stint is not None)


def latest_restores(
    session: Session, org: str, members: Collection[str] | None = None
) -> dict[str, datetime]:
    """When each member (of `members`, or of the org) was last restored into a group."""
    query = select(AuditRestore.member, func.max(AuditRestore.restored_at)).where(
        AuditRestore.org == org
    )
    if members is not None:
        query = query.where(AuditRestore.member.in_(sorted(members)))
    rows = session.execute(query.group_by(AuditRestore.member))
    return {member: at for member, at in rows if at is not None}


def _restored_at(context: Context, org: str) -> dict[str, datetime]:
    return context.memo(("audit-restored", org), dict)


def note_restore(context: Context, org: str, member_id: str, at: datetime) -> None:
    prime_members(context, org, [member_id])
    _restored_at(context, org)[member_id] = at


def text_model(context: Context, org: str) -> TextModel | None:
    """The org's learned text model, once it has learned from enough decisions."""

    def load() -> TextModel | None:
        row = context.session.get(AuditModel, org)
        if row is None:
            return None
        model = model_from_json(row.counts, fakes=row.fakes, genuines=row.genuine)
        minimum = learn_min(context.tenant(org).settings)
        return model if model.is_ready(min_decisions=minimum) else None

    return context.memo(("audit-model", org), load)


def note_join(context: Context, org: str, member_id: str, group_id: str) -> None:
    """A join applied in this unit of work, not yet in the database the member was primed from."""
    prime_members(context, org, [member_id])
    _groups_of(context, org)[member_id].add(group_id)


def _stints(context: Context, org: str, member_id: str) -> list[Stint]:
    prime_members(context, org, [member_id])
    found = []
    for group_id in sorted(_groups_of(context, org)[member_id]):
        standing = context.rows.get(GroupMember, (org, group_id, member_id))
        for number in range(1, (standing.stints if standing else 0) + 1):
            row = context.rows.get(Membership, (org, group_id, member_id, number))
            if row is not None:
                found.append(Stint(group_id, row.joined_at, row.left_at, row.left_reason))
    return found


def profile_of(member: Member) -> ProfileFacts:
    return ProfileFacts(
        nickname=member.nickname or "",
        gender=GENDERS.get(member.gender, "unknown"),
        signature=member.signature,
        avatar_flags=frozenset(member.avatar_flags),
        album_flags=frozenset(member.album_flags),
        avatar_url=member.avatar_url,
    )


def assess(context: Context, org: str, member: Member, case: AuditCase | None) -> Assessment:
    """Score the member's profile against what the org knows around it."""
    policy = policy_of(context, org)
    facts = profile_of(member)
    stints = _stints(context, org, member.id)
    looks = kicked_looks(context, org)
    nickname = nickname_look(facts.nickname)
    avatar = avatar_look(facts.avatar_url)
    looks.ask([nickname, avatar])
    nicknames = (
        frozenset({normalize(facts.nickname)})
        if looks.worn_by_others(nickname, member.id)
        else frozenset()
    )
    avatars = (
        frozenset({facts.avatar_url or ""})
        if looks.worn_by_others(avatar, member.id)
        else frozenset()
    )
    around = AuditContext(
        audience=policy.audience,
        groups_joined_within_window=groups_joined_within(
            (stint.group, stint.joined_at) for stint in stints
        ),
        rejoined_after_kick=rejoined_after_kick(
            stints, forgiven_until=_restored_at(context, org).get(member.id)
        ),
        kicked_nicknames=nicknames,
        kicked_avatar_urls=avatars,
        is_staff=context.rows.get(Staff, (org, member.id)) is not None,
        is_crew=member.id in policy.crew,
        is_whitelisted=member.id in policy.whitelist
        or (case is not None and case.decision == Decision.WHITELIST),
        extra_signals=_learned(context, org, facts),
    )
    return score_profile(facts, context=around, thresholds=policy.thresholds)


def _learned(context: Context, org: str, facts: ProfileFacts) -> tuple[Signal, ...]:
    model = text_model(context, org)
    if model is None:
        return ()
    signal = learned_signal(model, facts.nickname, facts.signature)
    return () if signal is None else (signal,)


def rescore(context: Context, org: str, member_id: str, *, may_kick: bool = True) -> AuditCase:
    """Score the member into their case; with auto-kick on, carry out a flagged kick verdict."""
    member = context.rows.get(Member, (org, member_id))
    if member is None:
        raise UnknownMember(member_id)
    case = context.rows.get(AuditCase, (org, member_id))
    assessment = assess(context, org, member, case)
    case = _store(context, org, member_id, case, assessment)
    if (
        may_kick
        and policy_of(context, org).auto_kick
        and assessment.verdict is Verdict.KICK
        and is_flagged(case.verdict, case.decision)
    ):
        kick_everywhere(context, org, member_id, cause=f"audit:{member_id}", score=case.score)
    return case


def _store(
    context: Context, org: str, member_id: str, case: AuditCase | None, assessment: Assessment
) -> AuditCase:
    signals = [signal_json(signal) for signal in assessment.signals]
    if case is None:
        return context.rows.new(
            AuditCase, org=org, member=member_id, score=assessment.score,
            verdict=str(assessment.verdict), signals=signals, exempt=assessment.exempt_reason,
            scored_at=context.now, decision=None, decided_by=None, decided_at=None,
        )  # fmt: skip
    # Joins and profile updates rescore often; a row rewritten only on a change stays cheap,
    # and scored_at tells when the assessment last changed.
    if (case.score, case.verdict, case.signals, case.exempt) != (
        assessment.score, str(assessment.verdict), signals, assessment.exempt_reason,
    ):  # fmt: skip
        case.score, case.verdict = assessment.score, str(assessment.verdict)
        case.signals, case.exempt = signals, assessment.exempt_reason
        case.scored_at = context.now
    return case


def signal_json(signal: Signal) -> dict[str, Any]:
    return {
        "code": signal.code,
        "weight": signal.weight,
        "reason_zh": signal.reason_zh,
        "reason_en": signal.reason_en,
        "evidence": signal.evidence,
    }


def assessment_of(case: AuditCase) -> Assessment:
    """The stored case as the rules' Assessment, for printing it in their public shape."""
    signals = tuple(
        Signal(
            code=str(item["code"]),
            weight=int(item["weight"]),
            reason_zh=str(item["reason_zh"]),
            reason_en=str(item["reason_en"]),
            evidence=str(item["evidence"]),
        )
        for item in case.signals
    )
    return Assessment(score=case.score, verdict=Verdict(case.verdict), signals=signals)


def whereabouts(context: Context, org: str, group_id: str, member_id: str) -> dict[str, str]:
    """Group and member by id and by name: where a platform cannot act, an operator task needs
    to say whom to remove from which group (or add back) in words a person can find."""
    group = context.rows.get(Group, (org, group_id))
    member = context.rows.get(Member, (org, member_id))
    return {
        "group": group_id,
        "group_name": (group.name if group is not None else "") or group_id,
        "member_name": (member.nickname if member is not None else "") or member_id,
    }


def kick_everywhere(
    context: Context, org: str, member_id: str, *, cause: str, score: int
) -> list[str]:
    """A kick action into every group the member is in now; returns those groups."""
    prime_members(context, org, [member_id])
    kicked = []
    for group_id in sorted(_groups_of(context, org)[member_id]):
        standing = context.rows.get(GroupMember, (org, group_id, member_id))
        if standing is None or not standing.is_member:
            continue
        group = context.rows.get(Group, (org, group_id))
        context.emit(
            Action(
                # Once per stay: a member kicked and back again is kicked again, once.
                id=stable_id("audit-kick", org, group_id, member_id, standing.joined_key),
                org=org,
                kind=ActionKind.KICK_MEMBER,
                cause=cause,
                platform=None if group is None else group.platform,
                group=group_id,
                member=member_id,
                payload={
                    "reason": {
                        "zh": f"审核判定为营销号/假号(评分 {score})",
                        "en": f"the audit found a marketing or fake account (score {score})",
                    },
                    "score": score,
                    **whereabouts(context, org, group_id, member_id),
                },
            )
        )
        kicked.append(group_id)
    return kicked


@dataclass(frozen=True)
class Decided:
    decision: AuditDecision
    case: AuditCase
    kicked_from: list[str]


def decide(
    context: Context, org: str, member_id: str, word: str, *, by: str, note: str | None = None
) -> Decided:
    """Record an operator's decision; a kick is carried out in every group the member is in."""
    decision = parse_decision(word)
    by = by.strip()
    if not by or len(by) > 200:
        raise ValueError(f"--by: {by!r} must name who decides, in 1-200 characters")
    if note is not None and len(note) > 1000:
        raise ValueError("--note: at most 1000 characters")
    if context.rows.get(Member, (org, member_id)) is None:
        raise UnknownMember(member_id)
    case = context.rows.get(AuditCase, (org, member_id)) or rescore(
        context, org, member_id, may_kick=False
    )
    case.decision, case.decided_by, case.decided_at = str(decision), by, context.now
    record = AuditDecision(
        org=org, member=member_id, decision=str(decision), decided_by=by, decided_at=context.now,
        note=note,
    )  # fmt: skip
    context.session.add(record)
    context.session.flush()
    # A whitelist takes effect at once: the member is exempt from here on.
    case = rescore(context, org, member_id, may_kick=False)
    kicked_from: list[str] = []
    if decision is Decision.KICK:
        kicked_from = kick_everywhere(
            context, org, member_id, cause=f"audit-decision:{record.id}", score=case.score
        )
    return Decided(decision=record, case=case, kicked_from=kicked_from)


def scan(
    context: Context,
    org: str,
    *,
    group: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[AuditCase]:
    """Rescore every member of the org (or everyone in `group` now); strongest cases first."""
    session = context.session
    if group is None:
        query = select(Member.id).where(Member.org == org)
    else:
        if session.get(Group, (org, group)) is None:
            raise UnknownGroup(group)
        query = select(GroupMember.member_id).where(
            GroupMember.org == org, GroupMember.group_id == group, GroupMember.is_member
        )
    members = sorted(session.scalars(query))
    refresh_kicked_looks(context, org)
    cases: list[AuditCase] = []
    for start in range(0, len(members), CHUNK):
        chunk = members[start : start + CHUNK]
        prime_members(context, org, chunk)
        cases.extend(rescore(context, org, member) for member in chunk)
        if on_progress is not None:
            on_progress(len(chunk))
    session.flush()
    return sorted(cases, key=lambda case: (-case.score, case.member))


def count_members(session: Session, org: str, *, group: str | None = None) -> int:
    if group is None:
        query = select(func.count()).select_from(Member).where(Member.org == org)
    else:
        query = (
            select(func.count())
            .select_from(GroupMember)
            .where(GroupMember.org == org, GroupMember.group_id == group, GroupMember.is_member)
        )
    return session.scalar(query) or 0


def _queued(org: str, policy: AuditPolicy) -> list[ColumnElement[bool]]:
    verdicts = [str(verdict) for verdict in queued_verdicts(auto_kick=policy.auto_kick)]
    return [AuditCase.org == org, AuditCase.decision.is_(None), AuditCase.verdict.in_(verdicts)]


def review_queue(
    session: Session, org: str, *, policy: AuditPolicy, offset: int = 0, limit: int | None = None
) -> list[AuditCase]:
    """Undecided cases an operator should look at, strongest first; a page of them with
    `limit`."""
    query = select(AuditCase).where(*_queued(org, policy))
    query = query.order_by(AuditCase.score.desc(), AuditCase.member).offset(offset).limit(limit)
    return list(session.scalars(query))


def is_queued(session: Session, org: str, member: str, *, policy: AuditPolicy) -> bool:
    """Whether the member's case is in review_queue, read alone."""
    query = select(AuditCase.member).where(*_queued(org, policy), AuditCase.member == member)
    return session.scalar(query) is not None


def review_count(session: Session, org: str, *, policy: AuditPolicy) -> int:
    """How many cases review_queue holds, counted by the database."""
    query = select(func.count()).select_from(AuditCase).where(*_queued(org, policy))
    return int(session.scalar(query) or 0)


def decisions_of(session: Session, org: str, *, member: str | None = None) -> list[AuditDecision]:
    query = select(AuditDecision).where(AuditDecision.org == org)
    if member is not None:
        query = query.where(AuditDecision.member == member)
    return list(session.scalars(query.order_by(AuditDecision.decided_at, AuditDecision.id)))


# The cases is_flagged may say yes to: a kick verdict or a kick decision.
FLAGGABLE = or_(AuditCase.verdict == Verdict.KICK.value, AuditCase.decision == Decision.KICK.value)


def flagged_members(session: Session, org: str) -> frozenset[str]:
    """Members the audit marks fake: they stop counting for invites (is_flagged decides)."""
    rows = session.execute(select(AuditCase.member, AuditCase.verdict, AuditCase.decision)
                           .where(AuditCase.org == org, FLAGGABLE))  # fmt: skip
    return frozenset(member for member, verdict, decision in rows if is_flagged(verdict, decision))


def flagged_among(session: Session, org: str, members: Collection[str]) -> frozenset[str]:
    """flagged_members, of these members only: probed a chunk at a time, so what a batch asks
    costs what the batch holds, not what the org has flagged over the years."""
    wanted, flagged = sorted(set(members)), set[str]()
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(AuditCase.member, AuditCase.verdict, AuditCase.decision).where(
                AuditCase.org == org, AuditCase.member.in_(wanted[start : start + CHUNK]), FLAGGABLE
            )
        )
        flagged.update(member for member, verdict, decision in rows
                       if is_flagged(verdict, decision))  # fmt: skip
    return frozenset(flagged)


def configure_audit(
    session: Session, org: str, *, changes: Mapping[str, Any], now: datetime
) -> AuditPolicy:
    """Change the org's audit settings; refused, naming the setting, when one is malformed."""
    current = session.get(Org, org)
    if current is None:
        raise UnknownOrg(org)
    check_audit_settings({**current.settings, **changes})
    saved, _ = save_org(
        session, org, name=None, timezone=current.timezone, settings=dict(changes), now=now
    )
    return audit_policy(saved.settings)
