"""The ledger as stored: balance locks, loading the slice of the ledger an operation needs,
storing what it changed, booking earnings and revocations, and the daily tallies caps read.

Every operation that reads a member's lots and changes them first locks the member's balance row
(PostgreSQL row locks taken in member order; on SQLite the database's one write lock), so two
writers never decide on the same points. The pure ledger decides; this module loads the slice of
it an operation needs and stores what changed.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, false, select, update
from sqlalchemy.orm import Session

from shequn.db import insert_ignoring_conflicts, upsert_adding
from shequn.engine.context import CHUNK, Context, Job
from shequn.kit.ids import stable_id
from shequn.kit.time import local_day
from shequn.member.models import Member
from shequn.points.ledger import (
    Entry,
    EntryKind,
    Ledger,
    Lot,
    Reservation,
    ReservationStatus,
    Take,
    expiry_on,
    filled_lot,
    require_earning,
    revoke,
)
from shequn.points.models import (
    PointsBalance,
    PointsEntry,
    PointsLot,
    PointsReservation,
    PointsSignIn,
    PointsTally,
)
from shequn.points.policy import PointsPolicy

EXPIRE_JOB = "points.expire"
REPLY_JOB = "points.reply"
# The expiry runs at 00:05 local on each day lots expire (they expire at 00:00).
EXPIRE_AFTER = timedelta(minutes=5)

SIGN_IN_KIND = "sign_in"


class UnknownMember(LookupError):
    def __init__(self, member: str) -> None:
        super().__init__(f"member {member!r} is not known in this org")


class ConcurrentChange(RuntimeError):
    """Entries another writer stored first; the unit of work must roll back."""


def is_dialect(session: Session, name: str) -> bool:
    return session.get_bind().dialect.name == name


def table_of(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def lock_members(session: Session, org: str, members: Collection[str]) -> None:
    """Hold the members' balance rows (created at 0 when missing) until the unit of work ends."""
    wanted = sorted(set(members))
    if not wanted:
        return
    if is_dialect(session, "sqlite"):
        # A write statement takes SQLite's one write lock before anything is read, so what is
        # read next cannot change under us; another writer waits for our commit.
        balances = table_of(PointsBalance)
        session.execute(update(balances).where(false()).values(balance=balances.c.balance))
    found = _balance_rows(session, org, wanted)
    missing = [member for member in wanted if member not in found]
    if missing:
        session.execute(
            insert_ignoring_conflicts(session.get_bind().dialect, table_of(PointsBalance)),
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


def lot_of(row: Any) -> Lot:
    return Lot(row.id, row.member, row.earned, row.remaining, row.earned_at, row.expires_at)


def lot_columns() -> tuple[Any, ...]:
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
            select(*lot_columns()).where(
                PointsLot.org == org, PointsLot.member.in_(wanted[start : start + CHUNK]),
                PointsLot.remaining > 0,
            )
        )  # fmt: skip
        found.update({row.id: lot_of(row) for row in rows})
    named = sorted(set(lots) - found.keys())
    for start in range(0, len(named), CHUNK):
        rows = session.execute(
            select(*lot_columns()).where(
                PointsLot.org == org, PointsLot.id.in_(named[start : start + CHUNK])
            )
        )
        found.update({row.id: lot_of(row) for row in rows})
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
    statement = insert_ignoring_conflicts(session.get_bind().dialect, table_of(PointsEntry))
    written = session.execute(statement.returning(PointsEntry.key, PointsEntry.lot), rows)
    return {(key, lot) for key, lot in written}


def add_to_balances(session: Session, org: str, deltas: Mapping[str, int]) -> None:
    """Move balances by the sum of the entries just written, in member order."""
    moved = sorted((member, delta) for member, delta in deltas.items() if delta != 0)
    dialect = session.get_bind().dialect
    balances = table_of(PointsBalance)
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
            insert_ignoring_conflicts(session.get_bind().dialect, table_of(PointsLot)),
            [_lot_row(org, lot) for lot in opened],
        )
        for expires_at in sorted({lot.expires_at for lot in opened}):
            schedule_expiry(context, org, expires_at)
    # Absolute values are safe: the members' balance rows are locked.
    lots = table_of(PointsLot)
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
    # Earnings are many and independent: each is the lot `earn` would open, built directly,
    # with the expiry worked out once per local day.
    expiries: dict[date, datetime] = {}
    made: dict[str, tuple[Earning, date, Entry, Lot]] = {}
    for earning in earnings:
        require_earning(key=earning.key, points=earning.points, at=earning.at)
        if earning.key in made:
            continue
        day = local_day(earning.at, timezone)
        if day not in expiries:
            expiries[day] = expiry_on(day, timezone=timezone, months=policy.expiry_months)
        entry, lot = filled_lot(
            kind=EntryKind.EARN, member=earning.member, points=earning.points, key=earning.key,
            at=earning.at, reason=earning.reason, expires_at=expiries[day],
        )  # fmt: skip
        made[earning.key] = (earning, day, entry, lot)
    rows = [_entry_row(org, e, group=x.group, now=context.now) for x, _, e, _ in made.values()]
    booked = {key for key, _ in _insert_entries(context.session, rows)}
    if not booked:
        return booked
    context.session.execute(
        insert_ignoring_conflicts(context.session.get_bind().dialect, table_of(PointsLot)),
        [_lot_row(org, made[key][3]) for key in made if key in booked],
    )
    deltas: dict[str, int] = defaultdict(int)
    expiring: set[datetime] = set()
    tallies = table_of(PointsTally)
    for key in sorted(booked):
        earning, day, entry, lot = made[key]
        deltas[earning.member] += entry.amount
        context.count(
            tallies, {"org": org, "member": earning.member, "day": day, "kind": earning.kind},
            add={"points": earning.points},
        )  # fmt: skip
        expiring.add(lot.expires_at)
    for expires_at in sorted(expiring):
        schedule_expiry(context, org, expires_at)
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


def require_member(session: Session, org: str, member: str) -> None:
    known = session.get(Member, (org, member)) is not None
    if not known and session.get(PointsBalance, (org, member)) is None:
        raise UnknownMember(member)


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
