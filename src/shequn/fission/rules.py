"""Pure rules of fission campaigns: which tiers an inviter has reached, and which to flag."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shequn.kit.money import AmountError, format_amount, parse_amount


class RewardKind(StrEnum):
    COUPON = "coupon"
    POINTS = "points"
    GIFT = "gift"


class GrantMode(StrEnum):
    # Grant as soon as the count is reached, or once at the end, after the audit had its say.
    ON_REACH = "reach"
    AT_END = "end"


@dataclass(frozen=True)
class Tier:
    """A tier of effective invites and its reward; `points` are paid into the points ledger
    when the tier is granted (0: the reward is not points, or is handed out by hand)."""

    count: int
    kind: RewardKind
    name: str
    cost: int
    points: int = 0

    def as_json(self) -> dict[str, Any]:
        shown = {"count": self.count, "kind": str(self.kind), "name": self.name, "cost": self.cost}
        return {**shown, "points": self.points} if self.points else shown


TIER_SYNTAX = (
    "write COUNT:KIND:NAME:COST, e.g. 3:coupon:¥20券:20.00; COUNT:points:N, e.g. 7:points:200; "
    "or COUNT:KIND:NAME:COST:N to pay N points too"
)


def _whole(text: str, tier: str, what: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"tier {tier!r}: {what} must be a whole number of 1 or more")
    return int(text)


def parse_tier(text: str) -> Tier:
    """ "3:coupon:¥20 无门槛券:20.00" — effective invites, reward kind, name, cost in yuan;
    "7:points:200" — 200 points into the ledger; a fifth part adds points to any reward:
    "10:gift:连衣裙:199.00:100"."""
    parts = text.split(":")
    if len(parts) == 3 and parts[1] == RewardKind.POINTS:
        points = _whole(parts[2], text, "the points")
        parts = [parts[0], parts[1], f"{points} 积分", "0", parts[2]]
    if len(parts) not in (4, 5):
        raise ValueError(f"tier {text!r}: {TIER_SYNTAX}")
    count, kind, name, cost = parts[:4]
    _whole(count, text, "the count")
    if kind not in set(RewardKind):
        raise ValueError(f"tier {text!r}: the kind must be one of {', '.join(RewardKind)}")
    if not name.strip():
        raise ValueError(f"tier {text!r}: the reward needs a name")
    try:
        minor = parse_amount(cost)
    except AmountError as error:
        raise ValueError(f"tier {text!r}: cost {error}") from None
    points = _whole(parts[4], text, "the points") if len(parts) == 5 else 0
    return Tier(int(count), RewardKind(kind), name.strip(), minor, points)


def tiers_of(raw: Iterable[Mapping[str, Any]]) -> list[Tier]:
    return [
        Tier(int(item["count"]), RewardKind(item["kind"]), str(item["name"]), int(item["cost"]),
             int(item.get("points", 0)))
        for item in raw
    ]  # fmt: skip


@dataclass(frozen=True)
class TierChanges:
    grant: tuple[Tier, ...]
    flag: tuple[Tier, ...]


def tier_changes(tiers: Sequence[Tier], *, effective: int, granted: set[int]) -> TierChanges:
    """Tiers reached and not yet granted are granted; granted tiers the count fell below are
    flagged for the operator (the reward is kept: it was earned in good faith at the time)."""
    return TierChanges(
        grant=tuple(t for t in tiers if t.count <= effective and t.count not in granted),
        flag=tuple(t for t in tiers if t.count > effective and t.count in granted),
    )


def describe_cost(tier: Tier) -> str:
    return format_amount(tier.cost)


@dataclass(frozen=True)
class PosterText:
    """What a poster says; the drawing lives in poster.py, so the engine never loads Pillow."""

    headline: str
    nickname: str
    lines: tuple[str, ...]
    call: str = "长按识别二维码 入群 · Scan to join"


POSTER_WORDS = {
    "zh": {"tier": "邀请 {count} 位好友 → {name}", "call": "长按识别二维码 入群"},
    "en": {"tier": "Invite {count} friends → {name}", "call": "Scan the code to join"},
}


def poster_lines(tiers: Sequence[Tier], *, lang: str) -> tuple[str, ...]:
    """One line per tier, lowest first: what the poster promises."""
    words = POSTER_WORDS[lang]
    ordered = sorted(tiers, key=lambda tier: tier.count)
    return tuple(words["tier"].format(count=tier.count, name=tier.name) for tier in ordered)


@dataclass(frozen=True)
class Told:
    """The last progress an inviter was told: the count, and when."""

    effective: int
    at: datetime


def is_progress_due(
    effective: int, told: Told | None, *, now: datetime, interval: timedelta
) -> bool:
    """Tell an inviter when their effective count has risen, at most once per interval; a
    falling count is not news to announce."""
    if effective <= 0:
        return False
    if told is None:
        return True
    return effective > told.effective and now - told.at >= interval


PROGRESS_WORDS = {
    "zh": {
        "next": "{name}:已有 {effective} 位有效邀请,再邀 {more} 位得「{reward}」",
        "done": "{name}:已有 {effective} 位有效邀请,全部奖励已达成!",
    },
    "en": {
        "next": "{name}: {effective} effective, {more} more for {reward}",
        "done": "{name}: {effective} effective, every reward reached!",
    },
}


def progress_line(name: str, effective: int, tiers: Sequence[Tier], *, lang: str) -> str:
    """ "3 effective, 2 more for the gift": the next tier is what spurs an inviter on."""
    words = PROGRESS_WORDS[lang]
    ahead = sorted((tier for tier in tiers if tier.count > effective), key=lambda t: t.count)
    if not ahead:
        return words["done"].format(name=name, effective=effective)
    return words["next"].format(
        name=name, effective=effective, more=ahead[0].count - effective, reward=ahead[0].name
    )


BOARD_WORDS = {
    "zh": {"title": "「{campaign}」邀请排行榜", "row": "{rank}. {name} {effective} 人", "empty": "还没有有效邀请,快来邀请好友吧!"},
    "en": {"title": "“{campaign}” invite leaderboard", "row": "{rank}. {name} {effective}", "empty": "No effective invites yet: invite your friends!"},
}  # fmt: skip


def board_text(campaign: str, rows: Sequence[tuple[str, int]], *, lang: str) -> str:
    """The leaderboard post (比): rank, name and effective invites, best first."""
    words = BOARD_WORDS[lang]
    lines = [words["title"].format(campaign=campaign)]
    lines += [
        words["row"].format(rank=rank, name=name, effective=effective)
        for rank, (name, effective) in enumerate(rows, start=1)
    ]
    return "\n".join(lines if rows else [*lines, words["empty"]])


DEFAULT_WELCOME = {
    "zh": "欢迎 {nickname} 加入{group}!「{campaign}」进行中:{tiers}。邀请好友入群即可累计,好友退群不计。",
    "en": "Welcome {nickname} to {group}! “{campaign}” is on: {tiers}. Invite friends to join; "
    "friends who leave do not count.",
}


def campaign_welcome(
    template: str | None, *, campaign: str, tiers: Sequence[Tier], lang: str
) -> str:
    """The campaign's welcome with {campaign} and {tiers} filled in; {nickname} and {group}
    are left for the group's welcome to fill."""
    text = DEFAULT_WELCOME[lang] if template is None else template
    separator = ";" if lang == "zh" else "; "
    promised = separator.join(poster_lines(tiers, lang=lang))
    return text.replace("{campaign}", campaign).replace("{tiers}", promised)
