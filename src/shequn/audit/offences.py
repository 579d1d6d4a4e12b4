"""Pure rules of group discipline (群规): which messages are offences, and the org's settings.

Seed 001: ads, links and pulling members away privately are what operators police; floods and
mass @-mentions are the same nuisance in volume. Staff, the atmosphere crew and whitelisted
members are never struck; the service checks that before it asks these rules.
"""

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from shequn.audit.rules import CONTACT_PATTERNS, Language, normalize

WarnBy = Literal["group", "direct"]


@dataclass(frozen=True)
class OffenceKind:
    code: str
    reason_zh: str
    reason_en: str


LINK = OffenceKind("link", "发链接", "posting a link")
QR_IMAGE = OffenceKind("qr_image", "发二维码图片", "posting a QR code image")
MINI_PROGRAM = OffenceKind("mini_program", "发小程序卡片", "posting a mini-program card")
CONTACT_CARD = OffenceKind("contact_card", "发个人名片(私下拉人)", "posting a contact card")
AD_KEYWORD = OffenceKind("ad_keyword", "发广告", "posting an advert")
FLOOD = OffenceKind("flood", "刷屏", "flooding the group")
MASS_MENTION = OffenceKind("mass_mention", "群发@他人", "mass @-mentions")

OFFENCE_KINDS: dict[str, OffenceKind] = {
    kind.code: kind
    for kind in (LINK, QR_IMAGE, MINI_PROGRAM, CONTACT_CARD, AD_KEYWORD, FLOOD, MASS_MENTION)
}


@dataclass(frozen=True)
class Offence:
    """One breach of the group rules, and the part of the message that showed it."""

    code: str
    evidence: str

    @property
    def kind(self) -> OffenceKind:
        return OFFENCE_KINDS[self.code]


# Matched on the normalised, case-folded text with spaces removed, so "加 v" and "加\u200bv"
# are caught as "加v". The simulator's and the seed's adverts are the examples.
DEFAULT_AD_WORDS: tuple[str, ...] = (
    "加v", "加微", "加薇", "加我", "私聊", "私我", "招代理", "代理", "兼职", "月入", "日赚", "日入",
    "躺赚", "货源", "一件代发", "厂家直销", "免费拿样", "刷单", "返利", "副业", "一部手机",
    "dm me", "message me", "add me", "wholesale", "earn from home", "supplier", "whatsapp",
)  # fmt: skip
_URL = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|(?<![\w.@-])(?:[a-z0-9-]+\.)+(?:com|cn|net|org|top|xyz|vip|cc|me|io|shop|club|site|info"
    r"|link|ly|co|tk|app)(?![a-z0-9-])(?:/\S*)?"
)
_QR_MARKERS = re.compile(r"二维码|扫码|扫一扫|长按识别|(?<![a-z])qr(?![a-z])")


@dataclass(frozen=True)
class MessageFacts:
    kind: str
    text: str | None = None
    mentions: Sequence[str] = ()


ALL_OFFENCES = frozenset(OFFENCE_KINDS)


@dataclass(frozen=True)
class DisciplinePolicy:
    """An org's group rules with the defaults filled in (README: audit settings)."""

    offences: frozenset[str] = ALL_OFFENCES
    ad_words: tuple[str, ...] = DEFAULT_AD_WORDS
    flood_messages: int = 6
    flood_seconds: int = 10
    mass_mentions: int = 5
    # Warnings before the kick: 1 is the seed's "first a warning, second offence removed".
    warnings: int = 1
    warning_hours: int = 7 * 24
    warn_by: WarnBy = "group"
    delete_offending: bool = True
    lang: Language = "zh"

    @functools.cached_property
    def folded_words(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_squeezed(word) for word in self.ad_words if word.strip()))

    @property
    def warning_for(self) -> timedelta:
        return timedelta(hours=self.warning_hours)

    @property
    def flood_window(self) -> timedelta:
        return timedelta(seconds=self.flood_seconds)

    def enabled(self, code: str) -> bool:
        return code in self.offences


def _squeezed(text: str) -> str:
    return "".join(normalize(text).casefold().split())


def _link(facts: MessageFacts, folded: str) -> str | None:
    match = _URL.search(folded)
    if match is not None:
        return match.group()[:100]
    return "link" if facts.kind == "link" else None


def _ad_words(squeezed: str, words: Iterable[str]) -> list[str]:
    """The words found, in the order the message says them; a longer word hides one inside it."""
    found = [word for word in words if word in squeezed]
    kept = [word for word in found if not any(word != other and word in other for other in found)]
    return sorted(kept, key=lambda word: (squeezed.index(word), word))


def message_offences(facts: MessageFacts, *, policy: DisciplinePolicy) -> tuple[Offence, ...]:
    """The offences a message shows by itself; a flood needs the member's recent messages."""
    text = facts.text or ""
    folded = normalize(text).casefold()
    squeezed = "".join(folded.split())
    found: list[Offence] = []
    link = _link(facts, folded)
    if link is not None:
        found.append(Offence(LINK.code, link))
    if facts.kind == "image" and _QR_MARKERS.search(folded):
        found.append(Offence(QR_IMAGE.code, text[:100]))
    if facts.kind == "mini_program":
        found.append(Offence(MINI_PROGRAM.code, text[:100] or "mini_program"))
    if facts.kind == "card":
        found.append(Offence(CONTACT_CARD.code, text[:100] or "card"))
    words = _ad_words(squeezed, policy.folded_words)
    contact = next((m.group() for p in CONTACT_PATTERNS if (m := p.search(squeezed))), None)
    if contact is not None and not any(contact in word for word in words):
        words.append(contact)
    if words:
        found.append(Offence(AD_KEYWORD.code, "、".join(words)))
    mentioned = len(set(facts.mentions))
    if mentioned >= policy.mass_mentions:
        found.append(Offence(MASS_MENTION.code, f"{mentioned} mentions"))
    return tuple(offence for offence in found if policy.enabled(offence.code))


def to_millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def add_to_tail(
    tail: Sequence[int], at: datetime, *, policy: DisciplinePolicy
) -> tuple[list[int], bool]:
    """The member's message times with this one added, and whether they now make a flood.

    A flood is `flood_messages` messages within `flood_seconds`; once struck, the tail starts
    over, so one burst is one offence, not one per message past the limit. The caller asks
    only when floods are struck.
    """
    now = to_millis(at)
    window = policy.flood_seconds * 1000
    times = sorted([*tail, now])
    recent = [moment for moment in times if now - window <= moment <= now + window]
    # Any window holding this message will do: a late delivery can complete a flood too.
    for start in recent:
        if start > now:
            break
        inside = sum(1 for moment in recent if start <= moment <= start + window)
        if start + window >= now and inside >= policy.flood_messages:
            return [], True
    # Only the latest few can still complete a flood.
    return recent[-(policy.flood_messages - 1) :], False


def reason_of(offences: Sequence[Offence]) -> dict[str, str]:
    kinds = list(dict.fromkeys(offence.kind for offence in offences))
    return {
        "zh": "、".join(kind.reason_zh for kind in kinds),
        "en": ", ".join(kind.reason_en for kind in kinds),
    }


def warning_text(
    nickname: str, reason: Mapping[str, str], *, warnings_left: int, lang: Language
) -> str:
    """What the member reads: the rule broken, and that the next breach means removal."""
    if lang == "en":
        more = "next time" if warnings_left <= 0 else f"after {warnings_left} more warning(s)"
        return (
            f"@{nickname} reminder of the group rules: no {reason['en']}. "
            f"This is a warning; {more} you will be removed from the group."
        )
    more = "再次违反" if warnings_left <= 0 else f"再警告 {warnings_left} 次后"
    return f"@{nickname} 请遵守群规,不要{reason['zh']}。本次为警告,{more}将被移出群聊。"


def kick_reason(reason: Mapping[str, str], *, strikes: int) -> dict[str, str]:
    return {
        "zh": f"违反群规({reason['zh']}),第 {strikes} 次违规,已警告过",
        "en": f"broke the group rules ({reason['en']}), offence {strikes} after a warning",
    }


_KEYS: dict[str, tuple[int, int]] = {
    "audit_flood_messages": (2, 1000),
    "audit_flood_seconds": (1, 86_400),
    "audit_mass_mentions": (2, 1000),
    "audit_warnings": (0, 100),
    "audit_warning_hours": (1, 24 * 365),
}
_ATTRIBUTES = {
    "audit_flood_messages": "flood_messages",
    "audit_flood_seconds": "flood_seconds",
    "audit_mass_mentions": "mass_mentions",
    "audit_warnings": "warnings",
    "audit_warning_hours": "warning_hours",
}
DISCIPLINE_KEYS = (
    "audit_offences", "audit_ad_words", *_KEYS, "audit_warn_by", "audit_delete_offending",
    "audit_lang",
)  # fmt: skip


def _problem(name: str, value: object) -> str | None:
    if name in _KEYS:
        low, high = _KEYS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"{name}: {value!r} is not a whole number from {low} to {high}"
        return None
    if name == "audit_offences":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return f"audit_offences: {value!r} is not a list of offence codes"
        unknown = sorted(set(value) - ALL_OFFENCES)
        if unknown:
            return f"audit_offences: {', '.join(unknown)}: not one of {', '.join(sorted(ALL_OFFENCES))}"
        return None
    if name == "audit_ad_words":
        if not isinstance(value, list) or not all(
            isinstance(item, str) and 0 < len(item.strip()) <= 50 for item in value
        ):
            return f"audit_ad_words: {value!r} is not a list of words of 1-50 characters"
        return None
    if name == "audit_warn_by":
        return (
            None
            if value in ("group", "direct")
            else f"audit_warn_by: {value!r} is not group or direct"
        )
    if name == "audit_delete_offending":
        return None if isinstance(value, bool) else f"{name}: {value!r} is not true or false"
    if name == "audit_lang":
        return None if value in ("zh", "en") else f"audit_lang: {value!r} is not zh or en"
    return None


def check_discipline_settings(settings: Mapping[str, Any]) -> None:
    """Refuse, naming the setting, any group-rule setting discipline_policy would ignore."""
    for name in DISCIPLINE_KEYS:
        if name in settings:
            problem = _problem(name, settings[name])
            if problem is not None:
                raise ValueError(problem)


def discipline_policy(settings: Mapping[str, Any]) -> DisciplinePolicy:
    """The org's group rules; a malformed setting falls back to its default."""
    # A bad value stored by hand must never stop intake; check_discipline_settings refuses it
    # when an operator sets it.
    given = {
        name: settings[name]
        for name in DISCIPLINE_KEYS
        if name in settings and _problem(name, settings[name]) is None
    }
    numbers = {_ATTRIBUTES[name]: value for name, value in given.items() if name in _ATTRIBUTES}
    offences = given.get("audit_offences")
    words = given.get("audit_ad_words")
    return DisciplinePolicy(
        offences=ALL_OFFENCES if offences is None else frozenset(offences),
        ad_words=DEFAULT_AD_WORDS if words is None else tuple(words),
        warn_by=given.get("audit_warn_by", "group"),
        delete_offending=given.get("audit_delete_offending", True),
        lang=given.get("audit_lang", "zh"),
        **numbers,
    )


def discipline_json(policy: DisciplinePolicy) -> dict[str, Any]:
    """The policy under its settings' names, as `audit discipline` prints it."""
    return {
        "audit_offences": sorted(policy.offences),
        "audit_ad_words": list(policy.ad_words),
        "audit_flood_messages": policy.flood_messages,
        "audit_flood_seconds": policy.flood_seconds,
        "audit_mass_mentions": policy.mass_mentions,
        "audit_warnings": policy.warnings,
        "audit_warning_hours": policy.warning_hours,
        "audit_warn_by": policy.warn_by,
        "audit_delete_offending": policy.delete_offending,
        "audit_lang": policy.lang,
    }
