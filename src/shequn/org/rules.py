"""Which org settings staff may change from the dashboard and the API, each checked by the
rules of the domain that reads it. No I/O."""

from collections.abc import Mapping
from typing import Any

from shequn.audit.learning import check_learning_settings
from shequn.audit.offences import DISCIPLINE_KEYS, check_discipline_settings
from shequn.audit.rules import check_audit_settings
from shequn.campaign.rules import BudgetError, check_budget
from shequn.kit.time import TimeError, zone
from shequn.points.policy import EARNING_SETTINGS, check_points_settings

NAME_LENGTH = 200
# As long as a fission campaign's own welcome may be.
WELCOME_LENGTH = 2000
ORG_FIELDS = ("name", "timezone")
# (setting, least value) of the whole-number welcome and capacity settings.
GROUP_NUMBERS = {"welcome_window_seconds": 1, "welcome_max_mentions": 1, "capacity_margin": 0}
GROUP_SETTINGS = ("welcome_text", *GROUP_NUMBERS)
AUDIT_SETTINGS = (
    "audit_audience", "audit_review", "audit_kick", "audit_auto_kick", "audit_whitelist",
    "audit_crew", *DISCIPLINE_KEYS, "audit_learn_min",
)  # fmt: skip
POINTS_SETTINGS = (
    "points_expiry_months", "points_sign_in_keywords", "points_sign_in_base",
    "points_sign_in_bonuses", "points_sign_in_cycle",
    *(f"points_{'order_per_yuan' if stem == 'order' else stem}" for stem, _ in EARNING_SETTINGS),
    *(f"points_{stem}_cap" for stem, _ in EARNING_SETTINGS),
    "points_revoke_on_kick", "points_revoke_flagged", "points_replies",
    "points_reply_window_seconds", "points_lang", "points_board_period", "points_board_top",
    "points_show_order_days",
)  # fmt: skip
# The message budget is one setting holding its three parts; a change merges into it.
CAMPAIGN = "campaign"
CHANGEABLE = frozenset({*ORG_FIELDS, *GROUP_SETTINGS, *AUDIT_SETTINGS, *POINTS_SETTINGS,
                        CAMPAIGN})  # fmt: skip


class SettingRefused(ValueError):
    """A change refused; `name` is the setting's (`campaign.daily_posts` for a budget part)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


def _is_whole(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _check_org(changes: Mapping[str, Any]) -> None:
    if "name" in changes:
        name = changes["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_LENGTH:
            raise SettingRefused("name", f"{name!r} is not a name of 1-{NAME_LENGTH} characters")
    if "timezone" in changes:
        timezone = changes["timezone"]
        if not isinstance(timezone, str):
            raise SettingRefused("timezone", f"{timezone!r} is not an IANA zone name")
        try:
            zone(timezone)
        except TimeError as error:
            raise SettingRefused("timezone", str(error)) from None


def _check_group(changes: Mapping[str, Any]) -> None:
    text = changes.get("welcome_text", "")
    if not isinstance(text, str) or len(text) > WELCOME_LENGTH:
        raise SettingRefused(
            "welcome_text", f"not a text of at most {WELCOME_LENGTH} characters (empty: none)"
        )
    for name, least in GROUP_NUMBERS.items():
        if name in changes and not _is_whole(changes[name], least):
            raise SettingRefused(name, f"{changes[name]!r} is not a whole number, {least} or more")


def _named(error: ValueError, changed: list[str]) -> SettingRefused:
    # The domains' checks mostly name the setting first ("audit_kick: …"); one that names
    # none (review above kick) is put on the first setting changed.
    name, sep, reason = str(error).partition(": ")
    if sep and name in CHANGEABLE:
        return SettingRefused(name, reason)
    return SettingRefused(changed[0], str(error))


def check_changes(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes as they are to be saved, or SettingRefused naming the first bad setting.

    `current` is the org's settings with its name and timezone; a `campaign` change holds only
    the budget parts it changes and comes back merged with the others."""
    unknown = sorted(set(changes) - CHANGEABLE)
    if unknown:
        raise SettingRefused(unknown[0], "not a setting changed here; see `shequn --help`")
    _check_org(changes)
    _check_group(changes)
    saved = dict(changes)
    merged = {**current, **changes}
    audit = [name for name in AUDIT_SETTINGS if name in changes]
    try:
        if audit:
            check_audit_settings(merged)
            check_discipline_settings(merged)
            check_learning_settings(merged)
    except ValueError as error:
        raise _named(error, audit) from None
    points = [name for name in POINTS_SETTINGS if name in changes]
    try:
        if points:
            check_points_settings(merged)
    except ValueError as error:
        raise _named(error, points) from None
    if CAMPAIGN in changes:
        given = changes[CAMPAIGN]
        if not isinstance(given, Mapping):
            raise SettingRefused(CAMPAIGN, f"{given!r} is not an object of budget settings")
        own = {**(current.get(CAMPAIGN) or {}), **given}
        try:
            check_budget(own)
        except BudgetError as error:
            raise SettingRefused(f"{CAMPAIGN}.{error.name}", error.reason) from None
        saved[CAMPAIGN] = own
    return saved
