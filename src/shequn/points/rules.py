"""Pure rules of points: sign-in (签到), earning with daily caps, quizzes, leaderboards and the
choice of KOCs. The ledger that holds the points is in `shequn.points.ledger`."""

import unicodedata
from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType

from shequn.kit.money import MINOR_PER_MAIN
from shequn.kit.time import local_day, zone
from shequn.points.ledger import Entry, EntryKind

SIGN_IN_KEYWORDS = ("签到", "打卡", "/signin")


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def is_sign_in(text: str | None, keywords: Iterable[str] = SIGN_IN_KEYWORDS) -> bool:
    """Whether the whole message is a sign-in keyword: "签到" counts, "我签到了" does not."""
    said = spoken(text)
    return said is not None and said in plain_keywords(tuple(keywords))


def spoken(text: str | None) -> str | None:
    """A message as a keyword is matched against it (None for an empty one): check it once,
    then ask `plain_keywords(...)` of every command."""
    if not text:
        return None
    said = _plain(text)
    if said.startswith("/"):
        # In a group, Telegram addresses a command to one bot: "/signin@shequn_bot".
        said = said.partition("@")[0]
    return said


@lru_cache(maxsize=256)
def plain_keywords(keywords: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_plain(keyword) for keyword in keywords)


def _default_bonuses() -> Mapping[int, int]:
    return MappingProxyType({3: 10, 7: 30})


@dataclass(frozen=True)
class SignInRule:
    """Points for a sign-in: `base` every day, plus a bonus on the streak days in `bonuses`.

    The defaults, 5 a day with +10 on the 3rd and +30 on the 7th day of a streak, make a full
    week worth 75 points, so a member comes back every morning rather than now and then (the
    seed's groups held 25%+ daily active on a morning sign-in and an evening quiz). With `cycle`
    the bonuses come round again (the 10th day is the 3rd of the second week), so a loyal member
    never runs out of them; with None they are paid once per streak.
    """

    base: int = 5
    bonuses: Mapping[int, int] = field(default_factory=_default_bonuses)
    cycle: int | None = 7

    def __post_init__(self) -> None:
        if self.base < 0 or any(points < 0 for points in self.bonuses.values()):
            raise ValueError("sign-in points cannot be negative")
        if any(day < 1 for day in self.bonuses):
            raise ValueError("bonus days count from 1, the first day of a streak")
        if self.cycle is not None and any(day > self.cycle for day in self.bonuses):
            raise ValueError(f"a bonus day is beyond the {self.cycle}-day cycle")

    def points_for(self, streak: int) -> int:
        """Points for the sign-in that makes a streak of `streak` days."""
        day = streak if self.cycle is None else (streak - 1) % self.cycle + 1
        return self.base + self.bonuses.get(day, 0)


DEFAULT_SIGN_IN = SignInRule()


@dataclass(frozen=True)
class SignInResult:
    counted: bool
    local_day: date
    streak: int
    points: int


def sign_in(
    history: Iterable[date], *, at: datetime, timezone: str, rule: SignInRule = DEFAULT_SIGN_IN
) -> SignInResult:
    """A sign-in at `at`, given the local days the member signed in before: counted once per
    local day in the org's zone; the streak is the run of consecutive days ending today."""
    today = local_day(at, timezone)
    days = set(history)
    counted = today not in days
    days.add(today)
    streak = 0
    while today - timedelta(days=streak) in days:
        streak += 1
    return SignInResult(
        counted=counted,
        local_day=today,
        streak=streak,
        points=rule.points_for(streak) if counted else 0,
    )


class EarnKind(StrEnum):
    MESSAGE = "message"
    REACTION = "reaction"
    QUIZ = "quiz"
    SHOW_ORDER = "show_order"
    INVITE = "invite"
    ORDER = "order"


@dataclass(frozen=True)
class EarningRule:
    """Points for one kind of action, or with `per_yuan` for each yuan of an order, capped per
    member per local day."""

    kind: EarnKind
    points: int
    daily_cap: int | None = None
    per_yuan: bool = False

    def __post_init__(self) -> None:
        if self.points < 0 or (self.daily_cap is not None and self.daily_cap < 0):
            raise ValueError(f"{self.kind}: points and caps cannot be negative")


def earned(rule: EarningRule, *, earned_today_by_kind: int, amount_fen: int | None = None) -> int:
    """Points this action earns, given the points the member already earned today under the
    rule: never past the daily cap; for orders, whole points for the exact amount, rounded down."""
    if rule.per_yuan:
        if amount_fen is None or amount_fen < 0:
            raise ValueError(f"{rule.kind}: points per yuan need the amount in fen")
        points = amount_fen * rule.points // MINOR_PER_MAIN
    else:
        points = rule.points
    if rule.daily_cap is None:
        return points
    return max(0, min(points, rule.daily_cap - earned_today_by_kind))


# A morning sign-in and an evening quiz are the daily habit (see DEFAULT_SIGN_IN); the rest
# rewards what makes a group sell. Chatter and likes are capped low: a good group carries about
# 200 messages a day, and points must not pay anyone to flood it. Invites are not capped: they
# are counted net of leavers and audited, and the seed's 200 KOCs brought 6,000 members in three
# days, 30 each, which a cap would have throttled.
DEFAULT_RULES: Mapping[EarnKind, EarningRule] = MappingProxyType(
    {
        EarnKind.MESSAGE: EarningRule(EarnKind.MESSAGE, points=1, daily_cap=10),
        EarnKind.REACTION: EarningRule(EarnKind.REACTION, points=1, daily_cap=5),
        # Each member earns once per quiz (the service keys the entry by quiz and member); the
        # cap lets an evening quiz or two a day pay in full, not a quiz every ten minutes.
        EarnKind.QUIZ: EarningRule(EarnKind.QUIZ, points=10, daily_cap=30),
        # Buyers showing their order (晒单) are the proof non-buyers trust; once a day is enough.
        EarnKind.SHOW_ORDER: EarningRule(EarnKind.SHOW_ORDER, points=20, daily_cap=20),
        EarnKind.INVITE: EarningRule(EarnKind.INVITE, points=20),
        EarnKind.ORDER: EarningRule(EarnKind.ORDER, points=1, per_yuan=True),
    }
)


def _answer_form(text: str) -> str:
    # Phones type full-width letters, spaces and a closing "。"; none of that makes an answer wrong.
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in folded if unicodedata.category(c)[0] not in "PZC")


@dataclass(frozen=True)
class Quiz:
    """An evening quiz: any of `answers` is right while it is open, [opens_at, closes_at)."""

    question: str
    answers: tuple[str, ...]
    opens_at: datetime
    closes_at: datetime

    def __post_init__(self) -> None:
        if not self.answers or not all(_answer_form(answer) for answer in self.answers):
            raise ValueError(f"quiz {self.question!r} needs answers with letters or digits")
        if not self.opens_at < self.closes_at:
            raise ValueError(f"quiz {self.question!r} closes before it opens")


def is_correct(quiz: Quiz, text: str | None, *, at: datetime) -> bool:
    """Whether a message, posted at `at`, is a right answer inside the quiz's window, ignoring
    width, case, spaces and punctuation."""
    if not text or not quiz.opens_at <= at < quiz.closes_at:
        return False
    return _answer_form(text) in {_answer_form(answer) for answer in quiz.answers}


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    ALL = "all"


def _period_days(period: Period, today: date) -> tuple[date, date] | None:
    """The first local day of the period and the first after it; None for all time."""
    if period is Period.DAY:
        return today, today + timedelta(days=1)
    if period is Period.WEEK:
        monday = today - timedelta(days=today.weekday())
        return monday, monday + timedelta(days=7)
    return None


def board(
    entries: Iterable[Entry], *, period: Period, at: datetime, timezone: str
) -> list[tuple[str, int]]:
    """Points earned in the local day, week (from Monday) or all time that holds `at`, most
    first; a tie goes to whoever reached the total first, then to the member id."""
    days = _period_days(period, local_day(at, timezone))
    earnings: list[Entry] = []
    revoked: dict[str, int] = {}
    for entry in entries:
        if entry.kind is EntryKind.REVOKE:
            revoked[entry.lot] = revoked.get(entry.lot, 0) - entry.amount
        elif entry.kind is EntryKind.EARN and (
            days is None or days[0] <= local_day(entry.at, timezone) < days[1]
        ):
            earnings.append(entry)
    totals: dict[str, int] = {}
    reached: dict[str, datetime] = {}
    for entry in earnings:
        # The audit removes fake accounts after the fact; a board that still showed what they
        # farmed would reward the gaming it exists to stop. Spending and expiry do not count
        # against a total: the board is what was earned, not what is left.
        net = entry.amount - revoked.get(entry.lot, 0)
        if net <= 0:
            continue
        totals[entry.member] = totals.get(entry.member, 0) + net
        reached[entry.member] = max(entry.at, reached.get(entry.member, entry.at))
    ordered = sorted(totals, key=lambda member: (-totals[member], reached[member], member))
    return [(member, totals[member]) for member in ordered]


@dataclass(frozen=True)
class KocFacts:
    """What a member did in the org, as figures to choose KOCs (关键意见消费者) by."""

    member: str
    points_earned_90d: int
    effective_invites: int
    orders: int
    gmv_fen: int

    def __post_init__(self) -> None:
        figures = (self.points_earned_90d, self.effective_invites, self.orders, self.gmv_fen)
        if any(figure < 0 for figure in figures):
            raise ValueError(f"member {self.member!r}: KOC figures cannot be negative")


_ONE_FIFTH = Fraction(1, 5)
_TWO_FIFTHS = Fraction(2, 5)


@dataclass(frozen=True)
class KocWeights:
    """How much each figure counts; only their proportions matter.

    Invites weigh most: what makes a KOC is bringing people in (the seed's 200 KOCs brought
    6,000 members in three days). Purchases together weigh as much, split between repeat buying
    (a VIP group's threshold is two purchases) and money spent: a KOC who buys is the proof
    others trust. Points, the seed's first sieve (the top 500 by points), weigh least, being
    the easiest to pile up by chatter alone.
    """

    points: Fraction = _ONE_FIFTH
    invites: Fraction = _TWO_FIFTHS
    orders: Fraction = _ONE_FIFTH
    gmv: Fraction = _ONE_FIFTH

    def __post_init__(self) -> None:
        weights = [getattr(self, f.name) for f in fields(self)]
        if any(weight < 0 for weight in weights) or sum(weights) == 0:
            raise ValueError("KOC weights must be 0 or more, and not all 0")


DEFAULT_KOC_WEIGHTS = KocWeights()


@dataclass(frozen=True)
class KocFigures:
    """Percentile ranks in the org, 0..1: the share of the other members each figure beats."""

    points: Fraction
    invites: Fraction
    orders: Fraction
    gmv: Fraction


@dataclass(frozen=True)
class KocScore:
    member: str
    score: Fraction
    rank: int
    figures: KocFigures


def _percentile_ranks(values: Sequence[int]) -> list[Fraction]:
    # Members beaten over other members: a zero is worth nothing however many share it, and one
    # big spender does not squash everyone else towards zero as a share of the maximum would.
    ordered = sorted(values)
    others = len(values) - 1
    if others == 0:
        return [Fraction(0) for _ in values]
    return [Fraction(bisect_left(ordered, value), others) for value in values]


def _weighted(figures: KocFigures, weights: KocWeights) -> Fraction:
    total = weights.points + weights.invites + weights.orders + weights.gmv
    return (
        weights.points * figures.points
        + weights.invites * figures.invites
        + weights.orders * figures.orders
        + weights.gmv * figures.gmv
    ) / total


def koc_scores(
    members: Iterable[KocFacts], *, weights: KocWeights = DEFAULT_KOC_WEIGHTS
) -> list[KocScore]:
    """Every member scored by the weighted mean of their percentile ranks, best first; exact
    fractions, so equal scores are equal and ties go to the member id."""
    facts = list(members)
    if len({fact.member for fact in facts}) != len(facts):
        raise ValueError("a member appears twice among the KOC facts")
    points = _percentile_ranks([fact.points_earned_90d for fact in facts])
    invites = _percentile_ranks([fact.effective_invites for fact in facts])
    orders = _percentile_ranks([fact.orders for fact in facts])
    gmv = _percentile_ranks([fact.gmv_fen for fact in facts])
    scored = [
        (fact.member, _weighted(figures, weights), figures)
        for fact, figures in zip(facts, map(KocFigures, points, invites, orders, gmv), strict=True)
    ]
    scored.sort(key=lambda row: (-row[1], row[0]))
    return [
        KocScore(member=member, score=score, rank=rank, figures=figures)
        for rank, (member, score, figures) in enumerate(scored, start=1)
    ]


QUIZ_WORDS = {
    "zh": {
        "ask": "【有奖问答】{question}\n{until} 前在群里回复答案,答对得 {points} 积分!",
        "reveal": "【答案揭晓】{question}\n答案:{answer}\n共 {count} 人答对。",
        "or": " / ",
    },
    "en": {
        "ask": "Quiz: {question}\nReply in the group by {until}: a right answer earns {points} "
        "points!",
        "reveal": "Quiz answer: {question}\nAnswer: {answer}\n{count} answered right.",
        "or": " / ",
    },
}


def quiz_question_text(quiz: Quiz, *, points: int, timezone: str, lang: str) -> str:
    """The post that asks the question, with its local closing time and its points."""
    words = QUIZ_WORDS[lang]
    until = quiz.closes_at.astimezone(zone(timezone)).strftime("%m-%d %H:%M")
    return words["ask"].format(question=quiz.question, until=until, points=points)


def quiz_answer_text(quiz: Quiz, *, correct: int, lang: str) -> str:
    """The post that closes a quiz: the accepted answers and how many members had one right."""
    words = QUIZ_WORDS[lang]
    answer = words["or"].join(quiz.answers)
    return words["reveal"].format(question=quiz.question, answer=answer, count=correct)


@dataclass(frozen=True)
class PaidOrder:
    """An order a member paid, as "show your order" (晒单) points see it."""

    order: str
    paid_at: datetime


def order_to_show(
    orders: Iterable[PaidOrder], *, at: datetime, days: int, shown: Collection[str]
) -> str | None:
    """The order an image posted at `at` shows: the latest paid within `days` before it and not
    shown before; None when there is none (an image without a recent order earns nothing)."""
    window = [
        order
        for order in orders
        if at - timedelta(days=days) <= order.paid_at <= at and order.order not in shown
    ]
    if not window:
        return None
    return max(window, key=lambda order: (order.paid_at, order.order)).order
