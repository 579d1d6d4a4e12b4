"""Pure rules of lotteries: who may enter a draw, win limits, the start condition, and
"Nth like wins"."""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shequn.lottery.proof import Entrant, require_aware

WIN_WINDOW = timedelta(days=3)
MIN_MEMBERS_TO_START = 50


def _folded(text: str) -> str:
    # Members retype the line on phones: full-width commas, spaces, a missing colon.
    kept = (c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())
    return "".join(kept)


def says_keyword(text: str | None, keyword: str) -> bool:
    """Whether a message repeats the announced line ("今晚8:30,群内抽奖"), ignoring width,
    case, spaces and punctuation."""
    wanted = _folded(keyword)
    return bool(text) and bool(wanted) and wanted in _folded(text or "")


@dataclass(frozen=True)
class WinRecord:
    """One win by a member in any of the org's groups."""

    member: str
    won_at: datetime

    def __post_init__(self) -> None:
        require_aware(self.won_at, "won_at")


def within_win_limit(
    member: str,
    *,
    at: datetime,
    past_wins: Iterable[WinRecord],
    window: timedelta = WIN_WINDOW,
    max_wins: int = 1,
) -> bool:
    """Whether the member won fewer than max_wins times in the window that ends at `at`."""
    require_aware(at, "at")
    # The window is open at its start: a win exactly `window` ago has left it, so a 20:30 winner
    # may win again at 20:30 three evenings later. It runs on the calendar of `at`'s zone (pass
    # the org's zone), so a daylight-saving change does not move that evening.
    start = at - window
    recent = sum(
        1
        for win in past_wins
        if win.member == member and start < win.won_at.astimezone(at.tzinfo) <= at
    )
    return recent < max_wins


@dataclass(frozen=True)
class Candidate:
    """What is known of a member when a draw's entries are counted."""

    member: str
    is_member: bool
    # None: in the group since before its joins were recorded, which is before any cutoff.
    joined_at: datetime | None
    is_staff: bool
    is_flagged: bool
    points: int
    said_keyword: bool
    signed_in: bool
    active_today: bool


@dataclass(frozen=True)
class Eligibility:
    """Who may enter a draw, as the operator announced it."""

    joined_before: datetime | None = None
    min_points: int = 0
    require_keyword: bool = False
    require_sign_in: bool = False
    require_active_today: bool = False
    exclude_staff: bool = True
    exclude_flagged: bool = True
    win_window: timedelta = WIN_WINDOW
    max_wins: int = 1


class ExclusionReason(StrEnum):
    # Checked in this order and only the first failure is given: who the candidate is, when
    # they came, what they already won, then what they did today.
    NOT_MEMBER = "not_member"
    STAFF = "staff"
    FLAGGED = "flagged"
    JOINED_AFTER_CUTOFF = "joined_after_cutoff"
    WON_RECENTLY = "won_recently"
    BELOW_MIN_POINTS = "below_min_points"
    NO_KEYWORD = "no_keyword"
    NOT_SIGNED_IN = "not_signed_in"
    NOT_ACTIVE_TODAY = "not_active_today"


@dataclass(frozen=True)
class Exclusion:
    member: str
    reason: ExclusionReason


@dataclass(frozen=True)
class Screening:
    entrants: tuple[Entrant, ...]
    exclusions: tuple[Exclusion, ...]


def exclusion_for(
    candidate: Candidate,
    *,
    eligibility: Eligibility,
    at: datetime,
    past_wins: Iterable[WinRecord],
) -> ExclusionReason | None:
    """The first rule the candidate fails, in ExclusionReason's order; None when they may enter."""
    rules, joined_at = eligibility, candidate.joined_at
    failed = {
        ExclusionReason.NOT_MEMBER: not candidate.is_member,
        ExclusionReason.STAFF: rules.exclude_staff and candidate.is_staff,
        ExclusionReason.FLAGGED: rules.exclude_flagged and candidate.is_flagged,
        ExclusionReason.JOINED_AFTER_CUTOFF: (
            rules.joined_before is not None
            and joined_at is not None
            and joined_at >= rules.joined_before
        ),
        ExclusionReason.WON_RECENTLY: not within_win_limit(
            candidate.member,
            at=at,
            past_wins=past_wins,
            window=rules.win_window,
            max_wins=rules.max_wins,
        ),
        ExclusionReason.BELOW_MIN_POINTS: candidate.points < rules.min_points,
        ExclusionReason.NO_KEYWORD: rules.require_keyword and not candidate.said_keyword,
        ExclusionReason.NOT_SIGNED_IN: rules.require_sign_in and not candidate.signed_in,
        ExclusionReason.NOT_ACTIVE_TODAY: rules.require_active_today and not candidate.active_today,
    }
    return next((reason for reason in ExclusionReason if failed[reason]), None)


def eligible_entrants(
    candidates: Iterable[Candidate],
    *,
    eligibility: Eligibility,
    at: datetime,
    past_wins: Iterable[WinRecord],
) -> Screening:
    """Entrants (weight 1) in the candidates' order, and why each of the others is left out."""
    wins_of: dict[str, list[WinRecord]] = {}
    for win in past_wins:
        wins_of.setdefault(win.member, []).append(win)
    entrants: list[Entrant] = []
    exclusions: list[Exclusion] = []
    seen: set[str] = set()
    for candidate in candidates:
        if candidate.member in seen:
            raise ValueError(f"candidate {candidate.member!r} appears twice")
        seen.add(candidate.member)
        reason = exclusion_for(
            candidate, eligibility=eligibility, at=at, past_wins=wins_of.get(candidate.member, [])
        )
        if reason is None:
            entrants.append(Entrant(candidate.member))
        else:
            exclusions.append(Exclusion(member=candidate.member, reason=reason))
    return Screening(entrants=tuple(entrants), exclusions=tuple(exclusions))


def has_started(member_count: int, *, min_members: int = MIN_MEMBERS_TO_START) -> bool:
    """Whether a group may hold its lottery: "it starts once the group reaches 50 members"."""
    return member_count >= min_members


@dataclass(frozen=True)
class Reaction:
    """A like on the game's post, as the platform delivered it."""

    member: str
    at: datetime
    # The order the platform delivered likes in: breaks ties of `at`, which has coarse seconds.
    arrival: int
    # Taken back by the deadline; a like taken back after it stood when the count was taken.
    removed: bool = False


@dataclass(frozen=True)
class NthWin:
    position: int
    member: str
    at: datetime


def nth_like_winners(
    reactions: Iterable[Reaction],
    *,
    n: int,
    every: bool = False,
    deadline: datetime,
    excluded: frozenset[str] = frozenset(),
) -> tuple[NthWin, ...]:
    """Who holds the Nth like at the deadline, and with `every` also the 2Nth, 3Nth and so on."""
    if n < 1:
        raise ValueError(f"n must be 1 or more, got {n}")
    require_aware(deadline, "deadline")
    # A like taken back never held a place: the member's first like still standing is their
    # place, which is what everyone scrolling the post sees when the count is taken.
    standing = sorted(
        (r for r in reactions if not r.removed and r.at <= deadline),
        key=lambda r: (r.at, r.arrival, r.member),
    )
    wins: list[NthWin] = []
    counted: set[str] = set()
    for reaction in standing:
        # Staff and flagged accounts take no place, so they cannot shift who lands on N.
        if reaction.member in counted or reaction.member in excluded:
            continue
        counted.add(reaction.member)
        position = len(counted)
        if position == n or (every and position % n == 0):
            wins.append(NthWin(position=position, member=reaction.member, at=reaction.at))
    return tuple(wins)
