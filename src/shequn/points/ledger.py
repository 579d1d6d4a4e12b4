"""The points ledger: lots that expire, spends that take the earliest-expiring points first,
holds for the points mall, and corrections that are always new entries, never edits.

Every entry moves one member's points in exactly one lot. The entries of one operation share
its key (a spend that takes from three lots writes three entries), and an operation whose key
was seen before is a no-op that returns the earlier result, whatever its other arguments: the
first delivery wins. The service stores entries unique by (key, lot).

What always holds, for every member:

- a lot's remaining is the sum of the entries naming it, and 0 <= remaining <= earned;
- so the balance, the sum of the member's entries, is the sum of the remaining of all the
  member's lots, and it is never below zero;
- spendable(at), what a spend at `at` may take, is the remaining of the lots with
  expires_at > at; it is at most the balance.

Before the expiry job ran, the balance still counts lots whose time is up: they are not
spendable, and balance − spendable(now) is exactly their remaining. After expire(ledger, now)
no lot with expires_at <= now has points left, so balance = spendable(now).

Expiry: points earned on local day D (in the ledger's zone) may be spent through the day before
D's date `expiry_months` later, and expire at 00:00 local on that date (earned 15 Jan 2024: the
last day is 14 Jan 2025). When that month has no such date they last through its final day
(earned 29 Feb 2024: the last day is 28 Feb 2025, they expire at 00:00 on 1 Mar 2025). So every
earning lasts at least `expiry_months` months counting its own day, and a later earning never
expires before an earlier one.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from shequn.kit.time import DEFAULT_TIMEZONE, local_day, local_time_to_utc, zone

EXPIRY_MONTHS = 12
# Keys the ledger derives itself; a caller's key with one of these prefixes could block them.
EXPIRE_PREFIX = "expire:"
REVOKE_PREFIX = "revoke:"
CANCEL_PREFIX = "cancel:"
RESERVED_PREFIXES = (EXPIRE_PREFIX, REVOKE_PREFIX, CANCEL_PREFIX)


class EntryKind(StrEnum):
    EARN = "earn"
    SPEND = "spend"
    EXPIRE = "expire"
    REVOKE = "revoke"
    # Operator corrections and returned mall holds; never counted as earned on leaderboards.
    ADJUST = "adjust"


class ReservationStatus(StrEnum):
    HELD = "held"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


class PointsError(ValueError):
    """An operation the ledger refuses."""


class InsufficientPoints(PointsError):
    """A spend, hold or downward correction for more than the member may spend at that time."""

    def __init__(self, balance: int, wanted: int) -> None:
        super().__init__(f"{wanted} points wanted, {balance} spendable")
        self.balance = balance
        self.wanted = wanted


class ReservationClosed(PointsError):
    """Cancelling a fulfilled hold, or fulfilling a cancelled one."""


class UnknownReservation(LookupError):
    pass


class UnknownLot(LookupError):
    pass


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must carry a UTC offset, got {moment.isoformat()}")


_SIGNS = {
    EntryKind.EARN: 1,
    EntryKind.SPEND: -1,
    EntryKind.EXPIRE: -1,
    EntryKind.REVOKE: -1,
    EntryKind.ADJUST: 0,
}


@dataclass(frozen=True)
class Entry:
    """One movement of one member's points in one lot; + for earn and upward adjust."""

    key: str
    member: str
    kind: EntryKind
    amount: int
    at: datetime
    lot: str
    reason: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.at, "at")
        sign = _SIGNS[self.kind]
        if self.amount == 0 or self.amount * sign < 0:
            raise ValueError(f"a {self.kind} entry cannot move {self.amount} points")


@dataclass(frozen=True)
class Lot:
    """Points that arrived together and expire together."""

    id: str
    member: str
    earned: int
    remaining: int
    earned_at: datetime
    expires_at: datetime

    def is_open(self, at: datetime) -> bool:
        """Whether its points may still be spent at `at`."""
        return self.expires_at > at


@dataclass(frozen=True)
class Take:
    """Points a spend or hold took from one lot."""

    lot: str
    points: int


@dataclass(frozen=True)
class Reservation:
    """Points held for a mall redemption until it is fulfilled or cancelled."""

    key: str
    member: str
    points: int
    at: datetime
    taken: tuple[Take, ...]
    status: ReservationStatus = ReservationStatus.HELD


@dataclass(frozen=True)
class Ledger:
    """An org's points: every entry, every lot and every mall hold; operations return new ones."""

    timezone: str = DEFAULT_TIMEZONE
    expiry_months: int = EXPIRY_MONTHS
    entries: tuple[Entry, ...] = ()
    lots: tuple[Lot, ...] = ()
    reservations: tuple[Reservation, ...] = ()
    _operations: dict[str, tuple[Entry, ...]] = field(init=False, repr=False, compare=False)
    _lot_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        zone(self.timezone)
        if self.expiry_months < 1:
            raise ValueError(f"points must last a month or more, got {self.expiry_months}")
        operations: dict[str, list[Entry]] = {}
        for entry in self.entries:
            operations.setdefault(entry.key, []).append(entry)
        frozen = {key: tuple(rows) for key, rows in operations.items()}
        object.__setattr__(self, "_operations", frozen)
        object.__setattr__(self, "_lot_index", {lot.id: i for i, lot in enumerate(self.lots)})

    def has_seen(self, key: str) -> bool:
        # A hold always writes entries, so its key is among the operations too.
        return key in self._operations

    def operation(self, key: str) -> tuple[Entry, ...]:
        """The entries the operation with this key wrote; none for a key never seen."""
        return self._operations.get(key, ())

    def lot(self, lot_id: str) -> Lot:
        if lot_id not in self._lot_index:
            raise UnknownLot(f"no lot {lot_id!r}")
        return self.lots[self._lot_index[lot_id]]

    def lots_of(self, member: str) -> tuple[Lot, ...]:
        return tuple(lot for lot in self.lots if lot.member == member)

    def entries_of(self, member: str) -> tuple[Entry, ...]:
        return tuple(entry for entry in self.entries if entry.member == member)

    def balance(self, member: str) -> int:
        """The sum of the member's entries: held mall points are already out of it."""
        return sum(entry.amount for entry in self.entries if entry.member == member)

    def spendable(self, member: str, *, at: datetime) -> int:
        """What a spend at `at` may take: the remaining of the member's lots still open then."""
        return sum(lot.remaining for lot in self.lots_of(member) if lot.is_open(at))

    def reservation(self, key: str) -> Reservation:
        for reservation in self.reservations:
            if reservation.key == key:
                return reservation
        raise UnknownReservation(f"no reservation {key!r}")


def _anniversary(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    try:
        return date(year, month + 1, day.day)
    except ValueError:
        # 31 March + 1 month, 29 Feb + 12 months: the points last through the month's last day.
        year, month = divmod(index + 1, 12)
        return date(year, month + 1, 1)


def expiry_for(earned_at: datetime, *, timezone: str, months: int = EXPIRY_MONTHS) -> datetime:
    """When points earned at `earned_at` expire: 00:00 local on their local day's date
    `months` later, or on the 1st of the month after when that date does not exist."""
    return expiry_on(local_day(earned_at, timezone), timezone=timezone, months=months)


def expiry_on(day: date, *, timezone: str, months: int = EXPIRY_MONTHS) -> datetime:
    """When points earned on the local `day` expire (see `expiry_for`)."""
    return local_time_to_utc(_anniversary(day, months), 0, 0, timezone)


def _require_key(key: str) -> None:
    if not key:
        raise ValueError("an operation needs an idempotency key")
    if key.startswith(RESERVED_PREFIXES):
        raise ValueError(
            f"key {key!r}: keys starting with {', '.join(RESERVED_PREFIXES)} are the ledger's"
        )


def _require_positive(points: int) -> None:
    if points <= 0:
        raise ValueError(f"points must be 1 or more, got {points}")


def _book(ledger: Ledger, rows: Sequence[Entry], *, opened: Sequence[Lot] = ()) -> Ledger:
    """The ledger with new lots opened empty and the rows applied to their lots."""
    lots = list(ledger.lots)
    index = dict(ledger._lot_index)
    for lot in opened:
        if lot.id in index:
            raise PointsError(f"lot {lot.id!r} already exists")
        index[lot.id] = len(lots)
        lots.append(lot)
    for row in rows:
        lot = lots[index[row.lot]]
        remaining = lot.remaining + row.amount
        if lot.member != row.member or not 0 <= remaining <= lot.earned:
            raise PointsError(f"entry {row.key!r} does not fit lot {lot.id!r}")
        lots[index[row.lot]] = replace(lot, remaining=remaining)
    return replace(ledger, entries=ledger.entries + tuple(rows), lots=tuple(lots))


def _fifo(lot: Lot) -> tuple[datetime, datetime, str]:
    return lot.expires_at, lot.earned_at, lot.id


def _takes(ledger: Ledger, member: str, points: int, at: datetime) -> tuple[Take, ...]:
    """Points taken from the earliest-expiring open lots first."""
    available = sorted(
        (lot for lot in ledger.lots_of(member) if lot.remaining > 0 and lot.is_open(at)),
        key=_fifo,
    )
    spendable = sum(lot.remaining for lot in available)
    if spendable < points:
        raise InsufficientPoints(balance=spendable, wanted=points)
    takes: list[Take] = []
    wanted = points
    for lot in available:
        if wanted == 0:
            break
        taken = min(wanted, lot.remaining)
        takes.append(Take(lot.id, taken))
        wanted -= taken
    return tuple(takes)


def _take_rows(
    takes: Iterable[Take], *, key: str, member: str, kind: EntryKind, at: datetime, reason: str
) -> list[Entry]:
    return [Entry(key, member, kind, -take.points, at, take.lot, reason) for take in takes]


def _open_lot(
    ledger: Ledger,
    *,
    kind: EntryKind,
    member: str,
    points: int,
    key: str,
    at: datetime,
    reason: str,
) -> Ledger:
    _require_aware(at, "at")
    expires_at = expiry_for(at, timezone=ledger.timezone, months=ledger.expiry_months)
    entry, lot = filled_lot(kind=kind, member=member, points=points, key=key, at=at,
                            reason=reason, expires_at=expires_at)  # fmt: skip
    return _book(ledger, [entry], opened=[replace(lot, remaining=0)])


def filled_lot(
    *,
    kind: EntryKind,
    member: str,
    points: int,
    key: str,
    at: datetime,
    reason: str,
    expires_at: datetime,
) -> tuple[Entry, Lot]:
    """The entry and the lot of points arriving at once, as `earn` books them into a ledger:
    for storing many earnings without building a ledger for each."""
    # The lot is named after the operation that filled it, so "revoke that invite's points"
    # can name the earning's key.
    entry = Entry(key, member, kind, points, at, key, reason)
    return entry, Lot(key, member, points, points, at, expires_at)


def earn(
    ledger: Ledger, *, member: str, points: int, key: str, at: datetime, reason: str = ""
) -> Ledger:
    """Points earned by an action: a new lot, named after the key, expiring per the ledger."""
    _require_key(key)
    if ledger.has_seen(key):
        return ledger
    _require_positive(points)
    return _open_lot(
        ledger, kind=EntryKind.EARN, member=member, points=points, key=key, at=at, reason=reason
    )


def require_earning(*, key: str, points: int, at: datetime) -> None:
    """What `earn` refuses, for callers that store earnings without building a ledger."""
    _require_key(key)
    _require_positive(points)
    _require_aware(at, "at")


def spend(
    ledger: Ledger, *, member: str, points: int, key: str, at: datetime, reason: str = ""
) -> Ledger:
    """Points spent at once, earliest-expiring first; more than is spendable raises."""
    _require_key(key)
    if ledger.has_seen(key):
        return ledger
    _require_positive(points)
    _require_aware(at, "at")
    takes = _takes(ledger, member, points, at)
    rows = _take_rows(takes, key=key, member=member, kind=EntryKind.SPEND, at=at, reason=reason)
    return _book(ledger, rows)


def adjust(
    ledger: Ledger, *, member: str, points: int, key: str, at: datetime, reason: str
) -> Ledger:
    """An operator's correction: up opens a lot like an earning, down takes like a spend."""
    _require_key(key)
    if ledger.has_seen(key):
        return ledger
    if points == 0:
        raise ValueError("a correction must move some points")
    if points > 0:
        return _open_lot(
            ledger,
            kind=EntryKind.ADJUST,
            member=member,
            points=points,
            key=key,
            at=at,
            reason=reason,
        )
    _require_aware(at, "at")
    takes = _takes(ledger, member, -points, at)
    rows = _take_rows(takes, key=key, member=member, kind=EntryKind.ADJUST, at=at, reason=reason)
    return _book(ledger, rows)


def reserve(
    ledger: Ledger, *, member: str, points: int, key: str, at: datetime, reason: str = ""
) -> tuple[Ledger, Reservation]:
    """Hold points for a mall redemption: spent now, returned if the redemption is cancelled."""
    _require_key(key)
    if ledger.has_seen(key):
        try:
            return ledger, ledger.reservation(key)
        except UnknownReservation:
            raise PointsError(f"key {key!r} belongs to an entry, not a reservation") from None
    _require_positive(points)
    _require_aware(at, "at")
    takes = _takes(ledger, member, points, at)
    rows = _take_rows(takes, key=key, member=member, kind=EntryKind.SPEND, at=at, reason=reason)
    reservation = Reservation(key, member, points, at, takes)
    booked = _book(ledger, rows)
    return replace(booked, reservations=(*booked.reservations, reservation)), reservation


def _with_status(ledger: Ledger, key: str, status: ReservationStatus) -> Ledger:
    reservations = tuple(
        replace(r, status=status) if r.key == key else r for r in ledger.reservations
    )
    return replace(ledger, reservations=reservations)


def fulfil(ledger: Ledger, reservation_key: str) -> Ledger:
    """Mark a hold final: the item went out, its points stay spent. The entries do not change."""
    reservation = ledger.reservation(reservation_key)
    if reservation.status is ReservationStatus.FULFILLED:
        return ledger
    if reservation.status is ReservationStatus.CANCELLED:
        raise ReservationClosed(f"reservation {reservation_key!r} was cancelled")
    return _with_status(ledger, reservation_key, ReservationStatus.FULFILLED)


def _expiry_row(lot: Lot, *, moved_at: datetime) -> Entry:
    """The entry that takes what is left of a lot whose time is up."""
    # Dated no earlier than the lot's last movement, so a lot's entries read in time order never
    # go below zero, even for a hold returned after its points' time was up.
    when = max(lot.expires_at, moved_at)
    key = EXPIRE_PREFIX + lot.id
    return Entry(key, lot.member, EntryKind.EXPIRE, -lot.remaining, when, lot.id, "expired")


def cancel(ledger: Ledger, reservation_key: str, *, at: datetime, reason: str = "") -> Ledger:
    """Return a hold's points into new lots that keep the expiry of the lots they came from."""
    reservation = ledger.reservation(reservation_key)
    if reservation.status is ReservationStatus.CANCELLED:
        return ledger
    if reservation.status is ReservationStatus.FULFILLED:
        raise ReservationClosed(f"reservation {reservation_key!r} was fulfilled")
    _require_aware(at, "at")
    key = CANCEL_PREFIX + reservation_key
    # New lots, not the old ones refilled: an old lot may already carry its one expire entry,
    # and a refill would leave points that no later job could take.
    sources = [(take, ledger.lot(take.lot)) for take in reservation.taken]
    opened = [
        Lot(
            f"{key}:{source.id}", source.member, take.points, 0, source.earned_at, source.expires_at
        )
        for take, source in sources
    ]
    restored = [
        Entry(key, lot.member, EntryKind.ADJUST, lot.earned, at, lot.id, reason or "cancelled")
        for lot in opened
    ]
    booked = _book(ledger, restored, opened=opened)
    # Holding points must not save them from expiry: those that expired meanwhile come back
    # already expired, in the same step, so the balance never shows them.
    expired = [
        _expiry_row(booked.lot(lot.id), moved_at=at) for lot in opened if not lot.is_open(at)
    ]
    booked = _book(booked, expired)
    return _with_status(booked, reservation_key, ReservationStatus.CANCELLED)


def revoke(
    ledger: Ledger, *, member: str, at: datetime, lot: str | None = None, reason: str
) -> Ledger:
    """Take back what is left of a member's open lots (a kicked or fake account): one lot, or,
    with no lot named, every lot credited by `at`. Spent points stay spent and held ones stay
    held: settle the member's mall holds first, as a cancelled hold comes back into new lots."""
    _require_aware(at, "at")
    opened_at: dict[str, datetime] = {}
    for entry in ledger.entries_of(member):
        opened_at.setdefault(entry.lot, entry.at)
    if lot is None:
        # What the member had at `at`: a lot credited later (re-added and earning honestly
        # since) is left alone, so running it again only takes an earning that arrived late.
        targets = tuple(t for t in ledger.lots_of(member) if opened_at[t.id] <= at)
    else:
        targets = (ledger.lot(lot),)
        if targets[0].member != member:
            raise PointsError(f"lot {lot!r} is not {member!r}'s")
    # Lots whose time is up are left to the expiry job, so "expired" and "revoked" stay
    # separate in the member's history.
    rows = [
        Entry(REVOKE_PREFIX + t.id, member, EntryKind.REVOKE, -t.remaining, at, t.id, reason)
        for t in targets
        if t.remaining > 0 and t.is_open(at) and not ledger.has_seen(REVOKE_PREFIX + t.id)
    ]
    return _book(ledger, rows) if rows else ledger


def expire(ledger: Ledger, now: datetime) -> Ledger:
    """The expiry job: an expire entry for each lot whose time is up and still has points."""
    _require_aware(now, "now")
    moved_at: dict[str, datetime] = {}
    for entry in ledger.entries:
        moved_at[entry.lot] = max(entry.at, moved_at.get(entry.lot, entry.at))
    rows = [
        _expiry_row(lot, moved_at=moved_at[lot.id])
        for lot in ledger.lots
        if lot.remaining > 0 and not lot.is_open(now)
    ]
    return _book(ledger, rows) if rows else ledger
