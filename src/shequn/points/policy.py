"""The org's points settings: what each action earns, caps, expiry, sign-in keywords and
replies, each falling back to its documented default."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, cast

from shequn.engine.context import Context
from shequn.points.ledger import EXPIRY_MONTHS
from shequn.points.rules import (
    DEFAULT_RULES,
    DEFAULT_SIGN_IN,
    SIGN_IN_KEYWORDS,
    EarningRule,
    EarnKind,
    Period,
    SignInRule,
)


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
    # A "show your order" image (晒单) earns for an order paid at most this many days before.
    show_order_days: int = 7


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
    # A quiz's own points are set when it starts; this is the default, and the cap is daily.
    ("quiz", EarnKind.QUIZ),
    ("show_order", EarnKind.SHOW_ORDER),
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
        show_order_days=read.get("points_show_order_days", _whole(1, 365), 7, "1-365 days"),
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
