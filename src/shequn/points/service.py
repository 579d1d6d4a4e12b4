"""Points use cases: the ledger kept in the database, earning, expiry, revocation, the mall,
boards, the points report and the choice of KOCs.

Every operation that reads a member's lots and changes them first locks the member's balance row
(PostgreSQL row locks taken in member order; on SQLite the database's one write lock), so two
writers never decide on the same points. The pure ledger decides; this module loads the slice of
it an operation needs and stores what changed.
"""

import secrets
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from types import MappingProxyType
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, delete, false, func, literal, or_, select, update
from sqlalchemy.orm import Session

from shequn.analytics.rules import round_half_up
from shequn.audit.models import AuditCase
from shequn.audit.rules import Decision, Verdict, audit_policy, is_flagged
from shequn.audit.service import flagged_members
from shequn.commerce.models import Order, Refund
from shequn.db import insert_ignoring_conflicts, upsert_adding
from shequn.engine.context import CHUNK, Context, Job
from shequn.group.models import Group, Staff
from shequn.invite.models import InviteCodeRecord
from shequn.invite.rules import (
    Credit,
    FirstJoin,
    InviteCode,
    Standing,
    Stay,
    credit_for,
    standing_at,
)
from shequn.invite.service import InviteQuery, count_invites_as_of
from shequn.kit.ids import stable_id
from shequn.kit.money import format_amount
from shequn.kit.time import local_day, local_time_to_utc
from shequn.member.models import GroupMember, Member, Membership
from shequn.org.models import Org
from shequn.points.ledger import (
    EXPIRY_MONTHS,
    Entry,
    EntryKind,
    Ledger,
    Lot,
    Reservation,
    ReservationStatus,
    Take,
    adjust,
    cancel,
    earn,
    expire,
    fulfil,
    reserve,
    revoke,
)
from shequn.points.models import (
    ItemKind,
    MallItem,
    MallRedemption,
    PointsBalance,
    PointsEntry,
    PointsLot,
    PointsPendingInvite,
    PointsReservation,
    PointsSignIn,
    PointsTally,
    RedemptionStatus,
)
from shequn.points.rules import (
    DEFAULT_RULES,
    DEFAULT_SIGN_IN,
    SIGN_IN_KEYWORDS,
    EarningRule,
    EarnKind,
    KocFacts,
    KocScore,
    Period,
    SignInRule,
    earned,
    koc_scores,
)

EXPIRE_JOB = "points.expire"
REPLY_JOB = "points.reply"
# The expiry runs at 00:05 local on each day lots expire (they expire at 00:00).
EXPIRE_AFTER = timedelta(minutes=5)
KOC_WINDOW = timedelta(days=90)
SIGN_IN_KIND = "sign_in"


class UnknownMember(LookupError):
    def __init__(self, member: str) -> None:
        super().__init__(f"member {member!r} is not known in this org")


class UnknownItem(LookupError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"mall item {sku!r} does not exist in this org")


class UnknownRedemption(LookupError):
    def __init__(self, redemption: str) -> None:
        super().__init__(f"redemption {redemption!r} does not exist in this org")


class UnknownGroup(LookupError):
    def __init__(self, group: str) -> None:
        super().__init__(f"group {group!r} is not known in this org")


class MallRefusal(ValueError):
    """A redemption the mall refuses as things stand: the caller may try again later."""


class ItemInactive(MallRefusal):
    def __init__(self, sku: str) -> None:
        super().__init__(f"mall item {sku!r} is not on offer")


class OutOfStock(MallRefusal):
    def __init__(self, sku: str) -> None:
        super().__init__(f"mall item {sku!r} is out of stock")


class LimitReached(MallRefusal):
    def __init__(self, sku: str, limit: int) -> None:
        super().__init__(f"limit reached: {limit} of {sku!r} per member")


class ConcurrentChange(RuntimeError):
    """Entries another writer stored first; the unit of work must roll back."""


@dataclass(frozen=True)
class PointsPolicy:
    """The org's points settings, each falling back to its documented default."""

    expiry_months: int = EXPIRY_MONTHS
    sign_in: SignInRule = DEFAULT_SIGN_IN
    sign_in_keywords: tuple[str, ...] = SIGN_IN_KEYWORDS
    rules: Mapping[EarnKind, EarningRule] = field(default_factory=lambda: DEFAULT_RULES)
    revoke_on_kick: bool = True
    revoke_flagged: bool = True
    replies: bool = True
    reply_window: timedelta = timedelta(seconds=60)
    lang: str = "zh"
    board_period: Period = Period.WEEK
    board_top: int = 10


def _whole(least: int, most: int | None = None) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        return is_int and least <= cast(int, value) and (most is None or cast(int, value) <= most)

    return check


def _cap(value: object) -> bool:
    return value is None or _whole(0)(value)


def _keywords(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(word, str) and word.strip() for word in value)
    )


def _bonuses(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    return all(str(day).isdigit() and _whole(0)(points) for day, points in value.items())


def _flag(value: object) -> bool:
    return isinstance(value, bool)


class _Settings:
    def __init__(self, settings: Mapping[str, Any], *, strict: bool) -> None:
        self.settings = settings
        self.strict = strict

    def get(
        self, name: str, is_valid: Callable[[object], bool], default: Any, expected: str
    ) -> Any:
        if name not in self.settings:
            return default
        value = self.settings[name]
        if is_valid(value):
            return value
        if self.strict:
            raise ValueError(f"{name}: {value!r} is not {expected}")
        return default


# (setting stem, rule kind): points per action (per yuan for orders) and a daily cap each.
EARNING_SETTINGS = (
    ("message", EarnKind.MESSAGE),
    ("reaction", EarnKind.REACTION),
    ("order", EarnKind.ORDER),
    ("invite", EarnKind.INVITE),
)


def _policy(settings: Mapping[str, Any], *, strict: bool) -> PointsPolicy:
    read = _Settings(settings, strict=strict)
    whole = "a whole number, 0 or more"
    months = read.get("points_expiry_months", _whole(1, 120), EXPIRY_MONTHS, "1-120 months")
    keywords = read.get("points_sign_in_keywords", _keywords, list(SIGN_IN_KEYWORDS), "a list")
    base = read.get("points_sign_in_base", _whole(0), DEFAULT_SIGN_IN.base, whole)
    bonuses = read.get("points_sign_in_bonuses", _bonuses, dict(DEFAULT_SIGN_IN.bonuses),
                       'like {"3": 10, "7": 30}')  # fmt: skip
    cycle = read.get("points_sign_in_cycle", lambda v: v is None or _whole(1)(v),
                     DEFAULT_SIGN_IN.cycle, "a number of days or null")  # fmt: skip
    try:
        sign_in = SignInRule(
            base=base, bonuses=MappingProxyType({int(d): p for d, p in bonuses.items()}),
            cycle=cycle,
        )  # fmt: skip
    except ValueError as error:
        if strict:
            raise ValueError(f"points_sign_in_bonuses: {error}") from None
        sign_in = DEFAULT_SIGN_IN
    rules: dict[EarnKind, EarningRule] = {}
    for stem, kind in EARNING_SETTINGS:
        default = DEFAULT_RULES[kind]
        name = "points_order_per_yuan" if kind is EarnKind.ORDER else f"points_{stem}"
        points = read.get(name, _whole(0), default.points, whole)
        cap = read.get(f"points_{stem}_cap", _cap, default.daily_cap, f"{whole}, or null")
        rules[kind] = EarningRule(kind, points=points, daily_cap=cap, per_yuan=default.per_yuan)
    period = read.get("points_board_period", lambda v: v in tuple(Period), Period.WEEK,
                      "day, week or all")  # fmt: skip
    seconds = read.get("points_reply_window_seconds", _whole(10, 3600), 60, "10-3600 seconds")
    return PointsPolicy(
        expiry_months=months,
        sign_in=sign_in,
        sign_in_keywords=tuple(word.strip() for word in keywords),
        rules=MappingProxyType({**DEFAULT_RULES, **rules}),
        revoke_on_kick=read.get("points_revoke_on_kick", _flag, True, "true or false"),
        revoke_flagged=read.get("points_revoke_flagged", _flag, True, "true or false"),
        replies=read.get("points_replies", _flag, True, "true or false"),
        reply_window=timedelta(seconds=seconds),
        lang=read.get("points_lang", lambda v: v in ("zh", "en"), "zh", "zh or en"),
        board_period=Period(period),
        board_top=read.get("points_board_top", _whole(1, 50), 10, "1-50"),
    )


def points_policy(settings: Mapping[str, Any]) -> PointsPolicy:
    """The org's policy; a malformed setting falls back to its default."""
    # A bad value stored by hand must never stop intake; check_points_settings refuses it when
    # an operator sets it.
    return _policy(settings, strict=False)


def check_points_settings(settings: Mapping[str, Any]) -> PointsPolicy:
    """The policy the settings make, refused by the setting's name when one is malformed."""
    return _policy(settings, strict=True)


def policy_of(context: Context, org: str) -> PointsPolicy:
    return context.memo(("points-policy", org), lambda: points_policy(context.tenant(org).settings))


def is_dialect(session: Session, name: str) -> bool:
    return session.get_bind().dialect.name == name


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def lock_members(session: Session, org: str, members: Collection[str]) -> None:
    """Hold the members' balance rows (created at 0 when missing) until the unit of work ends."""
    wanted = sorted(set(members))
    if not wanted:
        return
    if is_dialect(session, "sqlite"):
        # A write statement takes SQLite's one write lock before anything is read, so what is
        # read next cannot change under us; another writer waits for our commit.
        balances = _table(PointsBalance)
        session.execute(update(balances).where(false()).values(balance=balances.c.balance))
    found = _balance_rows(session, org, wanted)
    missing = [member for member in wanted if member not in found]
    if missing:
        session.execute(
            insert_ignoring_conflicts(session.get_bind().dialect, _table(PointsBalance)),
            [{"org": org, "member": member, "balance": 0} for member in missing],
        )
        # A row another writer created meanwhile is not ours yet: lock it too.
        _balance_rows(session, org, missing)


def _balance_rows(session: Session, org: str, members: list[str]) -> set[str]:
    """Which of these members have a balance row; locked on PostgreSQL, in member order, so two
    lockers never wait on each other in a circle."""
    found: set[str] = set()
    for start in range(0, len(members), CHUNK):
        query = (
            select(PointsBalance.member)
            .where(PointsBalance.org == org,
                   PointsBalance.member.in_(members[start : start + CHUNK]))
            .order_by(PointsBalance.member)
        )  # fmt: skip
        if is_dialect(session, "postgresql"):
            query = query.with_for_update()
        found.update(session.scalars(query))
    return found


def _lot_of(row: Any) -> Lot:
    return Lot(row.id, row.member, row.earned, row.remaining, row.earned_at, row.expires_at)


def _lot_columns() -> tuple[Any, ...]:
    return (PointsLot.id, PointsLot.member, PointsLot.earned, PointsLot.remaining,
            PointsLot.earned_at, PointsLot.expires_at)  # fmt: skip


def load_ledger(
    session: Session,
    org: str,
    members: Collection[str],
    *,
    timezone: str,
    months: int,
    lots: Collection[str] = (),
    reservation: str | None = None,
) -> Ledger:
    """The slice of the org's ledger an operation on these members needs: their lots with points
    left, the lots named, every entry on those lots, and the reservation named."""
    found: dict[str, Lot] = {}
    wanted = sorted(set(members))
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(*_lot_columns()).where(
                PointsLot.org == org, PointsLot.member.in_(wanted[start : start + CHUNK]),
                PointsLot.remaining > 0,
            )
        )  # fmt: skip
        found.update({row.id: _lot_of(row) for row in rows})
    named = sorted(set(lots) - found.keys())
    for start in range(0, len(named), CHUNK):
        rows = session.execute(
            select(*_lot_columns()).where(
                PointsLot.org == org, PointsLot.id.in_(named[start : start + CHUNK])
            )
        )
        found.update({row.id: _lot_of(row) for row in rows})
    ids = sorted(found)
    entries: list[Entry] = []
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(PointsEntry.key, PointsEntry.member, PointsEntry.kind, PointsEntry.amount,
                   PointsEntry.at, PointsEntry.lot, PointsEntry.reason)
            .where(PointsEntry.org == org, PointsEntry.lot.in_(ids[start : start + CHUNK]))
            .order_by(PointsEntry.id)
        )  # fmt: skip
        entries.extend(
            Entry(row.key, row.member, EntryKind(row.kind), row.amount, row.at, row.lot, row.reason)
            for row in rows
        )
    held: tuple[Reservation, ...] = ()
    if reservation is not None:
        record = session.get(PointsReservation, (org, reservation), populate_existing=True)
        if record is not None:
            taken = tuple(Take(str(t["lot"]), int(t["points"])) for t in record.taken)
            held = (Reservation(record.key, record.member, record.points, record.at, taken,
                                ReservationStatus(record.status)),)  # fmt: skip
    return Ledger(
        timezone=timezone, expiry_months=months, entries=tuple(entries),
        lots=tuple(sorted(found.values(), key=lambda lot: (lot.expires_at, lot.earned_at, lot.id))),
        reservations=held,
    )  # fmt: skip


def _entry_row(org: str, entry: Entry, *, group: str | None, now: datetime) -> dict[str, Any]:
    return {
        "org": org, "key": entry.key, "lot": entry.lot, "member": entry.member,
        "kind": str(entry.kind), "amount": entry.amount, "at": entry.at,
        "reason": entry.reason[:300], "group_id": group, "recorded_at": now,
    }  # fmt: skip


def _lot_row(org: str, lot: Lot) -> dict[str, Any]:
    return {
        "org": org, "id": lot.id, "member": lot.member, "earned": lot.earned,
        "remaining": lot.remaining, "earned_at": lot.earned_at, "expires_at": lot.expires_at,
    }  # fmt: skip


def _insert_entries(session: Session, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Insert entries, skipping any whose (key, lot) is stored: returns those written."""
    if not rows:
        return set()
    statement = insert_ignoring_conflicts(session.get_bind().dialect, _table(PointsEntry))
    written = session.execute(statement.returning(PointsEntry.key, PointsEntry.lot), rows)
    return {(key, lot) for key, lot in written}


def add_to_balances(session: Session, org: str, deltas: Mapping[str, int]) -> None:
    """Move balances by the sum of the entries just written, in member order."""
    moved = sorted((member, delta) for member, delta in deltas.items() if delta != 0)
    dialect = session.get_bind().dialect
    balances = _table(PointsBalance)
    gains = [{"org": org, "member": m, "balance": delta} for m, delta in moved if delta > 0]
    if gains:
        # Relative, so earnings need no lock: a row is created at the first one.
        session.execute(upsert_adding(dialect, balances, keys=("org", "member"), add=("balance",)),
                        gains)  # fmt: skip
    losses = [{"o": org, "m": member, "d": delta} for member, delta in moved if delta < 0]
    if losses:
        result = session.execute(
            update(balances)
            .where(balances.c.org == bindparam("o"), balances.c.member == bindparam("m"))
            .values(balance=balances.c.balance + bindparam("d")),
            losses,
        )
        if cast(Any, result).rowcount != len(losses):
            # Entries without their balance would break balance = sum of entries: roll back.
            raise ConcurrentChange("a balance row to lower was missing")


def schedule_expiry(context: Context, org: str, expires_at: datetime) -> None:
    """The expiry job of the local day these points expire on, once per day."""
    context.schedule(
        Job(
            id=stable_id("points-expire", org, expires_at.isoformat()),
            org=org,
            kind=EXPIRE_JOB,
            due_at=expires_at + EXPIRE_AFTER,
            payload={},
        )
    )


def save_ledger(
    context: Context,
    org: str,
    before: Ledger,
    after: Ledger,
    *,
    group: str | None = None,
) -> list[Entry]:
    """Store what an operation changed: new entries, lots and holds, and the balances."""
    session = context.session
    new = list(after.entries[len(before.entries) :])
    rows = [_entry_row(org, entry, group=group, now=context.now) for entry in new]
    if len(_insert_entries(session, rows)) != len(rows):
        raise ConcurrentChange("another writer stored some of these entries first")
    old = {lot.id: lot for lot in before.lots}
    opened = [lot for lot in after.lots if lot.id not in old]
    changed = [lot for lot in after.lots if lot.id in old and lot != old[lot.id]]
    if opened:
        session.execute(
            insert_ignoring_conflicts(session.get_bind().dialect, _table(PointsLot)),
            [_lot_row(org, lot) for lot in opened],
        )
        for lot in opened:
            schedule_expiry(context, org, lot.expires_at)
    # Absolute values are safe: the members' balance rows are locked.
    lots = _table(PointsLot)
    emptied = sorted(lot.id for lot in changed if lot.remaining == 0)
    for start in range(0, len(emptied), CHUNK):
        # Expiry and revocation empty whole lots: one statement for many.
        session.execute(
            update(lots)
            .where(lots.c.org == org, lots.c.id.in_(emptied[start : start + CHUNK]))
            .values(remaining=0)
        )
    partly = [{"o": org, "i": lot.id, "r": lot.remaining} for lot in changed if lot.remaining]
    if partly:
        session.execute(
            update(lots)
            .where(lots.c.org == bindparam("o"), lots.c.id == bindparam("i"))
            .values(remaining=bindparam("r")),
            partly,
        )
    deltas: dict[str, int] = defaultdict(int)
    for entry in new:
        deltas[entry.member] += entry.amount
    add_to_balances(session, org, deltas)
    held = {reservation.key: reservation for reservation in before.reservations}
    for reservation in after.reservations:
        if reservation.key not in held:
            session.add(PointsReservation(
                org=org, key=reservation.key, member=reservation.member,
                points=reservation.points, at=reservation.at, status=str(reservation.status),
                taken=[{"lot": take.lot, "points": take.points} for take in reservation.taken],
            ))  # fmt: skip
        elif held[reservation.key].status != reservation.status:
            record = session.get(PointsReservation, (org, reservation.key))
            if record is not None:
                record.status = str(reservation.status)
    session.flush()
    return new


@dataclass(frozen=True)
class Earning:
    """Points an action earns, decided; booked once per key however often it is offered."""

    member: str
    points: int
    key: str
    at: datetime
    reason: str
    kind: str
    group: str | None


def book_earnings(
    context: Context, org: str, earnings: Sequence[Earning], *, policy: PointsPolicy
) -> set[str]:
    """Write earnings as lots; one whose key was booked before changes nothing. Returns the
    keys booked now. Daily tallies move with them, for the caps."""
    if not earnings:
        return set()
    timezone = context.tenant(org).timezone
    made: dict[str, tuple[Earning, Entry, Lot]] = {}
    for earning in earnings:
        ledger = earn(
            Ledger(timezone=timezone, expiry_months=policy.expiry_months),
            member=earning.member, points=earning.points, key=earning.key, at=earning.at,
            reason=earning.reason,
        )  # fmt: skip
        made.setdefault(earning.key, (earning, ledger.entries[0], ledger.lots[0]))
    rows = [_entry_row(org, e, group=x.group, now=context.now) for x, e, _ in made.values()]
    booked = {key for key, _ in _insert_entries(context.session, rows)}
    lots = [lot for key, (_, _, lot) in made.items() if key in booked]
    if not lots:
        return booked
    context.session.execute(
        insert_ignoring_conflicts(context.session.get_bind().dialect, _table(PointsLot)),
        [_lot_row(org, lot) for lot in lots],
    )
    deltas: dict[str, int] = defaultdict(int)
    for key in sorted(booked):
        earning, entry, lot = made[key]
        deltas[earning.member] += entry.amount
        context.count(
            _table(PointsTally),
            {"org": org, "member": earning.member, "day": local_day(earning.at, timezone),
             "kind": earning.kind},
            add={"points": earning.points},
        )  # fmt: skip
        schedule_expiry(context, org, lot.expires_at)
    add_to_balances(context.session, org, deltas)
    return booked


@dataclass(frozen=True)
class Revocation:
    """Take back a member's points: every open lot credited by `at`, or the one lot named."""

    member: str
    at: datetime
    reason: str
    lot: str | None = None


def revoke_points(
    context: Context, org: str, revocations: Sequence[Revocation], *, policy: PointsPolicy
) -> list[Entry]:
    """Write the revocations, in order; what is already revoked or spent is left as it is."""
    if not revocations:
        return []
    members = {revocation.member for revocation in revocations}
    lock_members(context.session, org, members)
    before = load_ledger(
        context.session, org, members, timezone=context.tenant(org).timezone,
        months=policy.expiry_months,
    )  # fmt: skip
    after = before
    known = {lot.id for lot in before.lots}
    for revocation in revocations:
        if revocation.lot is not None and revocation.lot not in known:
            continue
        after = revoke(after, member=revocation.member, at=revocation.at, lot=revocation.lot,
                       reason=revocation.reason)  # fmt: skip
    return save_ledger(context, org, before, after)


def sweep_flagged(context: Context, org: str) -> list[Entry]:
    """Revoke what members the audit flags still hold, and the invite points they earned others."""
    policy = policy_of(context, org)
    if not policy.revoke_flagged:
        return []
    flagged = sorted(flagged_members(context.session, org))
    revocations: list[Revocation] = []
    for start in range(0, len(flagged), CHUNK):
        chunk = flagged[start : start + CHUNK]
        holders = context.session.scalars(
            select(PointsLot.member)
            .where(PointsLot.org == org, PointsLot.member.in_(chunk), PointsLot.remaining > 0)
            .distinct()
        )
        revocations += [Revocation(m, context.now, "flagged by the audit") for m in holders]
        invites = [f"invite:{member}" for member in chunk]
        for lot_id, owner in context.session.execute(
            select(PointsLot.id, PointsLot.member).where(
                PointsLot.org == org, PointsLot.id.in_(invites), PointsLot.remaining > 0
            )
        ):
            revocations.append(Revocation(owner, context.now, "invitee flagged", lot=lot_id))
    return revoke_points(context, org, revocations, policy=policy)


@dataclass(frozen=True)
class Expired:
    lots: int
    points: int
    revoked: int
    invites: int


def expire_points(context: Context, org: str) -> Expired:
    """The expiry job: an expire entry for every lot whose time is up; flagged members' points
    are revoked first (per the org's settings), and inviters whose newcomers are due are
    credited. Running it again writes nothing."""
    invites = credit_due_invites(context, org)
    revoked = sweep_flagged(context, org)
    policy = policy_of(context, org)
    members = sorted(
        context.session.scalars(
            select(PointsLot.member)
            .where(PointsLot.org == org, PointsLot.remaining > 0,
                   PointsLot.expires_at <= context.now)
            .distinct()
        )
    )  # fmt: skip
    written: list[Entry] = []
    for start in range(0, len(members), CHUNK):
        chunk = members[start : start + CHUNK]
        lock_members(context.session, org, chunk)
        before = load_ledger(context.session, org, chunk, timezone=context.tenant(org).timezone,
                             months=policy.expiry_months)  # fmt: skip
        written += save_ledger(context, org, before, expire(before, context.now))
    return Expired(
        lots=len(written),
        points=-sum(entry.amount for entry in written),
        revoked=-sum(entry.amount for entry in revoked),
        invites=len(invites),
    )


@dataclass(frozen=True)
class DueInvites:
    """Newcomers whose first local day is over: the credits among them that earn, as of then."""

    invitees: list[str]
    credits: list[tuple[Credit, datetime]]

    @property
    def inviters(self) -> set[str]:
        return {credit.inviter for credit, _ in self.credits}


def invite_due_at(joined_at: datetime, *, timezone: str) -> datetime:
    """The end of the newcomer's first local day: when their inviter may be credited."""
    return local_time_to_utc(local_day(joined_at, timezone) + timedelta(days=1), 0, 0, timezone)


def pending_due(session: Session, org: str, *, until: datetime) -> dict[str, datetime]:
    """Newcomers whose first local day ended by `until`, oldest first, a chunk at a time."""
    rows = session.execute(
        select(PointsPendingInvite.invitee, PointsPendingInvite.due_at)
        .where(PointsPendingInvite.org == org, PointsPendingInvite.due_at <= until)
        .order_by(PointsPendingInvite.due_at, PointsPendingInvite.invitee)
        .limit(CHUNK)
    )
    return {invitee: due_at for invitee, due_at in rows}


def due_invites(
    session: Session, org: str, due: Mapping[str, datetime], *, settings: Mapping[str, Any]
) -> DueInvites:
    """The credits among these newcomers that earn, each as of its due time: the newcomer is
    in the group, not kicked, not flagged, and was never credited before."""
    if not due:
        return DueInvites([], [])
    # What this unit of work applied must be seen: the session does not flush by itself.
    session.flush()
    newcomers = list(session.scalars(select(Member).where(Member.org == org, Member.id.in_(due))))
    codes = {
        record.code: InviteCode(record.code, record.owner, record.channel)
        for record in session.scalars(select(InviteCodeRecord).where(
            InviteCodeRecord.org == org,
            InviteCodeRecord.code.in_({m.first_via_code for m in newcomers if m.first_via_code}),
        ))
    }  # fmt: skip
    candidates = {code.owner for code in codes.values()} | {
        member.first_inviter for member in newcomers if member.first_inviter
    }
    keys = {
        member: key
        for member, key in session.execute(
            select(Member.id, Member.first_join_key).where(
                Member.org == org, Member.id.in_(candidates)
            )
        )
        if key is not None
    }
    credits = [
        credit
        for member in newcomers
        if member.first_group and member.first_join_key and member.first_joined_at
        and (credit := credit_for(
            FirstJoin(member.id, member.first_group, member.first_join_key,
                      member.first_joined_at, member.first_inviter, member.first_via_code),
            codes=codes, first_join_keys=keys,
        ))
    ]  # fmt: skip
    credited = set(session.scalars(select(PointsLot.id).where(
        PointsLot.org == org, PointsLot.id.in_([f"invite:{c.invitee}" for c in credits])
    )))  # fmt: skip
    flagged = flagged_members(session, org)
    barred = flagged | _staff_and_crew(session, org, settings)
    stays: dict[str, list[Stay]] = defaultdict(list)
    for row in session.scalars(select(Membership).where(
        Membership.org == org, Membership.member_id.in_([c.invitee for c in credits])
    )):  # fmt: skip
        if any(c.invitee == row.member_id and c.group == row.group_id for c in credits):
            stays[row.member_id].append(Stay(row.joined_at, row.left_at, row.left_reason))
    effective = [
        (credit, due[credit.invitee])
        for credit in credits
        if f"invite:{credit.invitee}" not in credited and credit.inviter not in barred
        and standing_at(stays[credit.invitee], at=due[credit.invitee],
                        is_flagged=credit.invitee in flagged) is Standing.EFFECTIVE
    ]  # fmt: skip
    return DueInvites(invitees=list(due), credits=effective)


def invite_earnings(
    due: DueInvites,
    *,
    rule: EarningRule,
    timezone: str,
    earned_before: Mapping[tuple[str, date], int],
) -> list[Earning]:
    """Invite points for the due credits, within each inviter's daily cap; `earned_before` has
    what an inviter already earned by invites on a local day."""
    earnings: list[Earning] = []
    added: dict[tuple[str, date], int] = defaultdict(int)
    for credit, at in sorted(due.credits, key=lambda pair: (pair[1], pair[0].at, pair[0].invitee)):
        day = local_day(at, timezone)
        so_far = earned_before.get((credit.inviter, day), 0) + added[(credit.inviter, day)]
        points = earned(rule, earned_today_by_kind=so_far)
        if points > 0:
            added[(credit.inviter, day)] += points
            earnings.append(Earning(
                member=credit.inviter, points=points, key=f"invite:{credit.invitee}", at=at,
                reason=f"invited {credit.invitee}", kind=EarnKind.INVITE.value, group=credit.group,
            ))  # fmt: skip
    return earnings


def settle_pending(session: Session, org: str, invitees: Collection[str]) -> None:
    if invitees:
        session.execute(delete(PointsPendingInvite).where(
            PointsPendingInvite.org == org, PointsPendingInvite.invitee.in_(sorted(invitees))
        ))  # fmt: skip


def credit_due_invites(context: Context, org: str) -> set[str]:
    """Credit every inviter whose newcomers are due by now (keys of the lots booked)."""
    policy = policy_of(context, org)
    timezone = context.tenant(org).timezone
    booked: set[str] = set()
    settings = context.tenant(org).settings
    while pending := pending_due(context.session, org, until=context.now):
        due = due_invites(context.session, org, pending, settings=settings)
        lock_members(context.session, org, due.inviters)
        days = {local_day(at, timezone) for _, at in due.credits}
        tallies = tallies_of(context.session, org, [
            (inviter, day, EarnKind.INVITE.value) for inviter in due.inviters for day in days
        ])  # fmt: skip
        earnings = invite_earnings(
            due, rule=policy.rules[EarnKind.INVITE], timezone=timezone,
            earned_before={(member, day): points for (member, day, _), points in tallies.items()},
        )  # fmt: skip
        booked |= book_earnings(context, org, earnings, policy=policy)
        settle_pending(context.session, org, due.invitees)
    return booked


def tallies_of(
    session: Session, org: str, keys: Collection[tuple[str, date, str]]
) -> dict[tuple[str, date, str], int]:
    """Points earned per (member, local day, kind) so far, for these keys (0 when none)."""
    found: dict[tuple[str, date, str], int] = dict.fromkeys(keys, 0)
    members = sorted({member for member, _, _ in keys})
    days = sorted({day for _, day, _ in keys})
    for start in range(0, len(members), CHUNK):
        rows = session.execute(
            select(PointsTally.member, PointsTally.day, PointsTally.kind, PointsTally.points)
            .where(PointsTally.org == org,
                   PointsTally.member.in_(members[start : start + CHUNK]),
                   PointsTally.day.in_(days))
        )  # fmt: skip
        for member, day, kind, points in rows:
            if (member, day, kind) in found:
                found[(member, day, kind)] = points
    return found


def barred_among(
    session: Session,
    org: str,
    members: Collection[str],
    *,
    settings: Mapping[str, Any],
    with_flagged: bool = True,
) -> frozenset[str]:
    """Those of the members who earn nothing: staff, the atmosphere crew, the audit's flagged."""
    crew = audit_policy(settings).crew
    wanted = sorted(set(members))
    barred = {member for member in wanted if member in crew}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        barred.update(
            session.scalars(select(Staff.id).where(Staff.org == org, Staff.id.in_(chunk)))
        )
        cases = session.execute(
            select(AuditCase.member, AuditCase.verdict, AuditCase.decision).where(
                AuditCase.org == org, AuditCase.member.in_(chunk),
                or_(AuditCase.verdict == Verdict.KICK.value,
                    AuditCase.decision == Decision.KICK.value),
            )
        )  # fmt: skip
        barred.update(member for member, verdict, decision in cases
                      if is_flagged(verdict, decision))  # fmt: skip
    return frozenset(barred)


def _staff_and_crew(session: Session, org: str, settings: Mapping[str, Any]) -> frozenset[str]:
    staff = set(session.scalars(select(Staff.id).where(Staff.org == org)))
    return frozenset(staff | audit_policy(settings).crew)


def require_member(session: Session, org: str, member: str) -> None:
    known = session.get(Member, (org, member)) is not None
    if not known and session.get(PointsBalance, (org, member)) is None:
        raise UnknownMember(member)


def adjust_points(
    context: Context, org: str, member: str, points: int, *, reason: str, by: str
) -> list[Entry]:
    """An operator's correction, recorded with who made it and why; never an edit."""
    reason, by = reason.strip(), by.strip()
    if not reason or len(reason) > 200:
        raise ValueError(f"--reason: {reason!r} must say why, in 1-200 characters")
    if not by or len(by) > 80:
        raise ValueError(f"--by: {by!r} must name who corrects, in 1-80 characters")
    if points == 0:
        raise ValueError("points: a correction must move some points (+N or -N)")
    require_member(context.session, org, member)
    policy = policy_of(context, org)
    lock_members(context.session, org, [member])
    before = load_ledger(context.session, org, [member], timezone=context.tenant(org).timezone,
                         months=policy.expiry_months)  # fmt: skip
    after = adjust(before, member=member, points=points, key=f"adjust:{secrets.token_hex(8)}",
                   at=context.now, reason=f"{reason} ({by})")  # fmt: skip
    return save_ledger(context, org, before, after)


@dataclass(frozen=True)
class BalanceView:
    member: str
    balance: int
    spendable: int
    lots: list[Lot]

    def as_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "balance": self.balance,
            "spendable": self.spendable,
            "lots": [
                {"lot": lot.id, "earned": lot.earned, "remaining": lot.remaining,
                 "earned_at": lot.earned_at.isoformat(), "expires_at": lot.expires_at.isoformat()}
                for lot in self.lots
            ],
        }  # fmt: skip


def balance_of(session: Session, org: str, member: str, *, now: datetime) -> BalanceView:
    """The member's balance and the lots it is made of, earliest-expiring first."""
    require_member(session, org, member)
    row = session.get(PointsBalance, (org, member), populate_existing=True)
    lots = [
        _lot_of(lot)
        for lot in session.execute(
            select(*_lot_columns())
            .where(PointsLot.org == org, PointsLot.member == member, PointsLot.remaining > 0)
            .order_by(PointsLot.expires_at, PointsLot.earned_at, PointsLot.id)
        )
    ]
    spendable = sum(lot.remaining for lot in lots if lot.is_open(now))
    return BalanceView(member, 0 if row is None else row.balance, spendable, lots)


def history_of(session: Session, org: str, member: str) -> list[dict[str, Any]]:
    """Every entry of the member in time order, with the balance after each."""
    require_member(session, org, member)
    rows = session.scalars(
        select(PointsEntry)
        .where(PointsEntry.org == org, PointsEntry.member == member)
        .order_by(PointsEntry.at, PointsEntry.id)
    )
    history: list[dict[str, Any]] = []
    running = 0
    for row in rows:
        running += row.amount
        history.append({
            "at": row.at.isoformat(), "kind": row.kind, "points": row.amount, "balance": running,
            "reason": row.reason, "group": row.group_id, "key": row.key, "lot": row.lot,
        })  # fmt: skip
    return history


@dataclass(frozen=True)
class BoardRow:
    rank: int
    member: str
    points: int


def period_bounds(
    period: Period, *, at: datetime, timezone: str
) -> tuple[datetime, datetime] | None:
    """The UTC bounds of the local day, or week from Monday, that holds `at`; None: all time."""
    today = local_day(at, timezone)
    if period is Period.ALL:
        return None
    first = today if period is Period.DAY else today - timedelta(days=today.weekday())
    last = first + timedelta(days=1 if period is Period.DAY else 7)
    return local_time_to_utc(first, 0, 0, timezone), local_time_to_utc(last, 0, 0, timezone)


def earned_by_member(
    session: Session,
    org: str,
    *,
    bounds: tuple[datetime, datetime] | None,
    group: str | None = None,
    members: Collection[str] | None = None,
) -> dict[str, tuple[int, datetime]]:
    """Points earned in the bounds, net of what was revoked of each earning, and when each
    member reached their total: what `rules.board` counts, summed in the database."""
    revokes = (
        select(PointsEntry.lot, func.sum(PointsEntry.amount).label("taken"))
        .where(PointsEntry.org == org, PointsEntry.kind == EntryKind.REVOKE.value)
        .group_by(PointsEntry.lot)
        .subquery()
    )
    net = PointsEntry.amount + func.coalesce(revokes.c.taken, literal(0))
    query = (
        select(PointsEntry.member, func.sum(net), func.max(PointsEntry.at))
        .outerjoin(revokes, revokes.c.lot == PointsEntry.lot)
        .where(PointsEntry.org == org, PointsEntry.kind == EntryKind.EARN.value, net > 0)
        .group_by(PointsEntry.member)
    )
    if bounds is not None:
        query = query.where(PointsEntry.at >= bounds[0], PointsEntry.at < bounds[1])
    if group is not None:
        query = query.where(PointsEntry.group_id == group)
    if members is not None:
        query = query.where(PointsEntry.member.in_(sorted(members)))
    return {member: (int(total), reached) for member, total, reached in session.execute(query)}


def points_board(
    session: Session,
    org: str,
    *,
    period: Period,
    at: datetime,
    timezone: str,
    group: str | None = None,
    top: int | None = None,
) -> list[BoardRow]:
    """The board (排行) of a group or the org: points earned in the period, most first; a tie
    goes to whoever reached the total first, then to the member id."""
    if group is not None and session.get(Group, (org, group)) is None:
        raise UnknownGroup(group)
    totals = earned_by_member(
        session, org, bounds=period_bounds(period, at=at, timezone=timezone), group=group
    )
    ordered = sorted(totals, key=lambda m: (-totals[m][0], totals[m][1], m))
    return [
        BoardRow(rank, member, totals[member][0])
        for rank, member in enumerate(ordered[:top] if top is not None else ordered, start=1)
    ]


@dataclass(frozen=True)
class PointsFigures:
    """One member's line of `shequn report points`."""

    member: str
    balance: int
    earned: int
    spent: int
    expired: int

    def as_json(self) -> dict[str, Any]:
        return {"member": self.member, "balance": self.balance, "earned": self.earned,
                "spent": self.spent, "expired": self.expired}  # fmt: skip


def report_points(session: Session, org: str, *, group: str | None = None) -> list[PointsFigures]:
    """Per member with any entry: balance, points earned by actions, points spent in the mall
    (net of cancelled redemptions) and points expired; highest balance first."""
    kind, amount = PointsEntry.kind, PointsEntry.amount
    returned = (kind == EntryKind.ADJUST.value) & PointsEntry.key.startswith("cancel:")
    query = (
        select(
            PointsEntry.member,
            func.sum(amount),
            func.sum(case((kind == EntryKind.EARN.value, amount), else_=0)),
            func.sum(case((kind == EntryKind.SPEND.value, -amount), (returned, -amount), else_=0)),
            func.sum(case((kind == EntryKind.EXPIRE.value, -amount), else_=0)),
        )
        .where(PointsEntry.org == org)
        .group_by(PointsEntry.member)
    )
    if group is not None:
        if session.get(Group, (org, group)) is None:
            raise UnknownGroup(group)
        present = select(GroupMember.member_id).where(
            GroupMember.org == org, GroupMember.group_id == group, GroupMember.is_member
        )
        query = query.where(PointsEntry.member.in_(present))
    figures = [
        PointsFigures(member, int(balance), int(gained), int(spent), int(expired))
        for member, balance, gained, spent, expired in session.execute(query)
    ]
    return sorted(figures, key=lambda row: (-row.balance, row.member))


@dataclass(frozen=True)
class KocRow:
    """A KOC candidate's rank and the figures behind it."""

    facts: KocFacts
    score: KocScore

    def as_json(self, nickname: str | None) -> dict[str, Any]:
        def share(value: Fraction) -> float:
            return float(round_half_up(value, 4))

        figures = self.score.figures
        return {
            "rank": self.score.rank, "member": self.facts.member, "nickname": nickname,
            "score": share(self.score.score), "points_90d": self.facts.points_earned_90d,
            "effective_invites": self.facts.effective_invites, "orders": self.facts.orders,
            "gmv": format_amount(self.facts.gmv_fen),
            "percentiles": {"points": share(figures.points), "invites": share(figures.invites),
                            "orders": share(figures.orders), "gmv": share(figures.gmv)},
        }  # fmt: skip


def koc_ranking(session: Session, org: str, *, now: datetime, top: int) -> list[KocRow]:
    """Members ranked by the KOC composite (rules.koc_scores): points earned in the last 90
    days, effective invites now, and orders and GMV net of refunds. Staff, the atmosphere crew
    and flagged members are not consumers and are left out."""
    found = session.get(Org, org)
    flagged = flagged_members(session, org)
    barred = flagged | _staff_and_crew(session, org, found.settings if found else {})
    known = session.scalars(select(Member.id).where(Member.org == org))
    members = [member for member in known if member not in barred]
    points = earned_by_member(session, org, bounds=(now - KOC_WINDOW, now + timedelta(seconds=1)))
    invites = {
        count.inviter: count.effective
        for count in count_invites_as_of(session, org, InviteQuery(at=now), flagged=flagged)
    }
    refunds: dict[str, int | None] = {}
    for order_id, refunded in session.execute(
        select(Refund.order_id, Refund.amount).where(Refund.org == org)
    ):
        so_far = refunds.get(order_id, 0)
        refunds[order_id] = None if refunded is None or so_far is None else so_far + refunded
    orders: dict[str, int] = defaultdict(int)
    gmv: dict[str, int] = defaultdict(int)
    for order_id, member, amount in session.execute(
        select(Order.id, Order.member_id, Order.amount).where(Order.org == org)
    ):
        refunded = refunds.get(order_id, 0)
        kept = 0 if refunded is None else max(0, amount - refunded)
        if kept > 0:
            orders[member] += 1
            gmv[member] += kept
    facts = [
        KocFacts(member=member, points_earned_90d=points.get(member, (0, now))[0],
                 effective_invites=invites.get(member, 0), orders=orders[member],
                 gmv_fen=gmv[member])
        for member in sorted(members)
    ]  # fmt: skip
    by_member = {fact.member: fact for fact in facts}
    return [KocRow(by_member[score.member], score) for score in koc_scores(facts)[:top]]


def _item(session: Session, org: str, sku: str, *, lock: bool = False) -> MallItem:
    query = select(MallItem).where(MallItem.org == org, MallItem.sku == sku)
    if lock:
        if is_dialect(session, "sqlite"):
            balances = _table(PointsBalance)
            session.execute(update(balances).where(false()).values(balance=balances.c.balance))
        else:
            query = query.with_for_update()
    item = session.scalars(query.execution_options(populate_existing=True)).first()
    if item is None:
        raise UnknownItem(sku)
    return item


def _check_item(sku: str, name: str, kind: str, price: int, stock: int, limit: int | None) -> None:
    if not sku.strip() or len(sku) > 200 or any(c.isspace() for c in sku):
        raise ValueError(f"sku: {sku!r} must be 1-200 characters without spaces")
    if not name.strip() or len(name) > 200:
        raise ValueError(f"--name: {name!r} must be 1-200 characters")
    if kind not in tuple(ItemKind):
        raise ValueError(f"--kind: {kind!r} is not one of {', '.join(ItemKind)}")
    if price < 1:
        raise ValueError(f"--price: {price} must be 1 point or more")
    if stock < 0:
        raise ValueError(f"--stock: {stock} cannot be negative")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit: {limit} must be 1 or more")


def add_item(
    session: Session,
    org: str,
    sku: str,
    *,
    name: str,
    kind: str,
    price: int,
    stock: int,
    limit: int | None,
    now: datetime,
) -> MallItem:
    """A new item in the points mall; an existing sku is refused, not overwritten."""
    _check_item(sku, name, kind, price, stock, limit)
    if session.get(MallItem, (org, sku)) is not None:
        raise ValueError(f"sku: {sku!r} already exists (change it with: shequn mall item set)")
    item = MallItem(org=org, sku=sku, name=name.strip(), kind=kind, price=price, stock=stock,
                    per_member_limit=limit, is_active=True, created_at=now)  # fmt: skip
    session.add(item)
    session.flush()
    return item


def set_item(
    session: Session,
    org: str,
    sku: str,
    *,
    changes: Mapping[str, Any],
) -> MallItem:
    """Change an item's name, price, stock, limit or whether it is on offer."""
    item = _item(session, org, sku, lock=True)
    values = {"name": item.name, "kind": item.kind, "price": item.price, "stock": item.stock,
              "limit": item.per_member_limit, **changes}  # fmt: skip
    _check_item(sku, values["name"], values["kind"], values["price"], values["stock"],
                values["limit"])  # fmt: skip
    item.name, item.kind, item.price = values["name"].strip(), values["kind"], values["price"]
    item.stock, item.per_member_limit = values["stock"], values["limit"]
    item.is_active = bool(changes.get("active", item.is_active))
    session.flush()
    return item


def items_of(session: Session, org: str) -> list[MallItem]:
    return list(session.scalars(select(MallItem).where(MallItem.org == org).order_by(MallItem.sku)))


def item_json(item: MallItem) -> dict[str, Any]:
    return {"sku": item.sku, "name": item.name, "kind": item.kind, "price": item.price,
            "stock": item.stock, "limit": item.per_member_limit,
            "active": item.is_active}  # fmt: skip


def redemption_json(redemption: MallRedemption, *, balance: int | None = None) -> dict[str, Any]:
    shown = {"redemption": redemption.id, "member": redemption.member, "sku": redemption.sku,
             "points": redemption.points, "status": redemption.status,
             "created_at": redemption.created_at.isoformat()}  # fmt: skip
    return shown if balance is None else {**shown, "balance": balance}


def redeem(
    context: Context, org: str, member: str, sku: str, *, key: str | None = None
) -> MallRedemption:
    """Hold the item's price in points and one of its stock, at once or not at all."""
    session = context.session
    # Locks in one order everywhere: the item, then the member's balance.
    item = _item(session, org, sku, lock=True)
    require_member(session, org, member)
    # With a key, a retried request finds the redemption it made the first time.
    redemption_id = f"r-{secrets.token_hex(8)}" if key is None else stable_id("r", org, key)
    lock_members(session, org, [member])
    earlier = session.get(MallRedemption, (org, redemption_id))
    if earlier is not None:
        return earlier
    if not item.is_active:
        raise ItemInactive(sku)
    if item.per_member_limit is not None:
        taken = session.scalar(
            select(func.count()).select_from(MallRedemption).where(
                MallRedemption.org == org, MallRedemption.member == member,
                MallRedemption.sku == sku,
                MallRedemption.status != RedemptionStatus.CANCELLED.value,
            )
        ) or 0  # fmt: skip
        if taken >= item.per_member_limit:
            raise LimitReached(sku, item.per_member_limit)
    if item.stock < 1:
        raise OutOfStock(sku)
    policy = policy_of(context, org)
    before = load_ledger(session, org, [member], timezone=context.tenant(org).timezone,
                         months=policy.expiry_months)  # fmt: skip
    reservation_key = f"redeem:{redemption_id}"
    after, _ = reserve(before, member=member, points=item.price, key=reservation_key,
                       at=context.now, reason=f"mall {sku}")  # fmt: skip
    save_ledger(context, org, before, after)
    item.stock -= 1
    redemption = MallRedemption(
        org=org, id=redemption_id, member=member, sku=sku, points=item.price,
        reservation=reservation_key, status=RedemptionStatus.HELD.value, created_at=context.now,
        status_at=context.now, status_by=None,
    )  # fmt: skip
    session.add(redemption)
    session.flush()
    return redemption


def _redemption(session: Session, org: str, redemption_id: str) -> MallRedemption:
    found = session.get(MallRedemption, (org, redemption_id), populate_existing=True)
    if found is None:
        raise UnknownRedemption(redemption_id)
    return found


def settle_redemption(
    context: Context, org: str, redemption_id: str, *, fulfilled: bool, by: str
) -> MallRedemption:
    """Fulfil a held redemption (the points stay spent), or cancel it (points and stock come
    back). Doing the same again changes nothing; the other is refused."""
    session = context.session
    found = _redemption(session, org, redemption_id)
    item = _item(session, org, found.sku, lock=True)
    lock_members(session, org, [found.member])
    redemption = _redemption(session, org, redemption_id)
    policy = policy_of(context, org)
    held = session.get(PointsReservation, (org, redemption.reservation), populate_existing=True)
    taken = [str(take["lot"]) for take in held.taken] if held is not None else []
    before = load_ledger(session, org, [redemption.member], lots=taken,
                         reservation=redemption.reservation,
                         timezone=context.tenant(org).timezone,
                         months=policy.expiry_months)  # fmt: skip
    if fulfilled:
        after = fulfil(before, redemption.reservation)
    else:
        after = cancel(before, redemption.reservation, at=context.now, reason="mall cancelled")
    status = (ReservationStatus.FULFILLED if fulfilled else ReservationStatus.CANCELLED).value
    if redemption.status == status:
        return redemption
    save_ledger(context, org, before, after)
    if not fulfilled:
        item.stock += 1
    redemption.status, redemption.status_at, redemption.status_by = status, context.now, by
    session.flush()
    return redemption


def balances_of(session: Session, org: str, members: Iterable[str]) -> dict[str, int]:
    """Current balances of these members (0 for those without a row)."""
    wanted = sorted(set(members))
    found = {member: 0 for member in wanted}
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(PointsBalance.member, PointsBalance.balance).where(
                PointsBalance.org == org, PointsBalance.member.in_(wanted[start : start + CHUNK])
            )
        )
        found.update({member: balance for member, balance in rows})
    return found


def signed_in_on(session: Session, org: str, members: Iterable[str], day: date) -> set[str]:
    """Those of these members who signed in (签到) on the org's local `day`."""
    wanted = sorted(set(members))
    signed: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        signed.update(
            session.scalars(
                select(PointsSignIn.member).where(
                    PointsSignIn.org == org, PointsSignIn.day == day,
                    PointsSignIn.member.in_(wanted[start : start + CHUNK]),
                )
            )
        )  # fmt: skip
    return signed
