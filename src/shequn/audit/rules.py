"""Pure rules of the audit: which signals a member's profile shows, and what they add up to.

The practice (seed 000): an operator kicks a marketing account on a combination of signals, and
a good profile whose only fault is a slogan signature may stay. So every signal carries an integer
weight, the score is their sum capped at 100, and the weights fall in three tiers that the
default thresholds (review 40, kick 70) turn into the operator's habits:

- weak (5-20): alone a pass, two at most a review — a man buying a gift, a motivational
  signature, an English name that happens to start with A;
- medium (35): alone a pass — a real 莉莉 or 王姐 exists — but two of them are a kick;
- strong (40-50): alone a review, so an operator looks; with a medium or strong one, a kick
  (the 50s — payments, a contact in the name, a kicked look-alike — even with a weak one).

Staff, the atmosphere crew and whitelisted members are never scored.
"""

import contextlib
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

Audience = Literal["female", "male", "any"]
Gender = Literal["female", "male", "unknown"]
Language = Literal["zh", "en"]
ExemptReason = Literal["staff", "crew", "whitelisted"]

STOCK_PHOTO_FLAG = "stock_photo"
PAYMENT_SCREENSHOTS_FLAG = "payment_screenshots"
# The service counts a member's joins into the org's groups inside this window.
GROUP_BURST_WINDOW = timedelta(minutes=10)


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a secret
    REVIEW = "review"
    KICK = "kick"


@dataclass(frozen=True)
class Signal:
    """One reason to suspect a profile, and the part of the profile that showed it."""

    code: str
    weight: int
    reason_zh: str
    reason_en: str
    evidence: str

    def reason(self, language: Language = "zh") -> str:
        return self.reason_zh if language == "zh" else self.reason_en


@dataclass(frozen=True)
class SignalKind:
    """A signal as the rules define it, before any profile shows it."""

    code: str
    weight: int
    reason_zh: str
    reason_en: str

    def found(self, evidence: str) -> Signal:
        return Signal(self.code, self.weight, self.reason_zh, self.reason_en, evidence)


# Strong: the seed calls each of these a marketing account outright, and a real shopper has
# little reason to show one; still, one alone only asks an operator to look.

# "A" in front sorts a contact to the top of every friend list; followed by digits, more A's,
# symbols or a Chinese name it is that trick, not a name.
A_PREFIX = SignalKind(
    "name_starts_with_a",
    45,
    "昵称以A开头(刷排名的营销号手法)",
    "nickname starts with A (the ranking trick of marketing accounts)",
)
DIGITS_SYMBOLS = SignalKind(
    "name_mostly_digits_symbols",
    40,
    "昵称以数字、符号为主",
    "nickname is mostly digits and symbols",
)
# Influencer photos were bought in bulk for these accounts; a real shopper may use one too,
# which is why it is a review and not a kick on its own.
STOCK_PHOTO = SignalKind(
    "stock_photo_avatar",
    40,
    "头像是网红图(营销号批量购买的头像)",
    "avatar is an influencer stock photo (bought in bulk for marketing accounts)",
)
# Not in the seed's list, but the same judgment: a shop's or recruiter's name is an advert.
BUSINESS_NAME = SignalKind(
    "name_business_words",
    40,
    "昵称带生意字眼(微商、货源、批发等)",
    "nickname advertises a business (micro-business, supply, wholesale and the like)",
)
# Screenshots of payments received are a recruiter's calling card; no shopper posts them.
PAYMENT_SCREENSHOTS = SignalKind(
    "payment_screenshots",
    50,
    "相册在晒收款截图",
    "album shows screenshots of payments received",
)
# A WeChat id or phone number in the nickname advertises with every message the member posts.
CONTACT_IN_NAME = SignalKind(
    "contact_in_name",
    50,
    "昵称里留了微信号或手机号",
    "nickname carries a WeChat id or a phone number",
)
# The same account coming back under the same name or face is the same decision again.
MATCHES_KICKED = SignalKind(
    "matches_kicked_account",
    50,
    "与已踢出的账号同名或同头像",
    "same nickname or avatar as an account already kicked",
)

# Medium: common in marketing names and also in real ones, so one alone passes and two kick.

SISTER_OR_BABY = SignalKind(
    "name_sister_or_baby",
    35,
    "昵称带“XX姐”或“宝宝”",
    "nickname is an “XX姐” (sister) or “宝宝” (baby) name",
)
REDUPLICATION = SignalKind(
    "name_reduplication",
    35,
    "昵称是简单叠字(如芬芬、莉莉、娇娇)",
    "nickname is a plain reduplication (like 芬芬, 莉莉, 娇娇)",
)
# Talk of income and agents is the recruiter's pitch itself, stronger than a motto, yet the seed
# keeps a profile that is otherwise good.
RECRUITING_SLOGAN = SignalKind(
    "slogan_signature",
    35,
    "签名在招代理、晒收入(微商话术)",
    "signature recruits agents or boasts of income (micro-business pitch)",
)
# Advertisers sweep a brand's groups one after another; a shopper joins the one she was invited to.
MANY_GROUPS = SignalKind(
    "joined_many_groups_quickly",
    35,
    "短时间内连进本品牌多个群",
    "joined several of the org's groups within minutes",
)
# Not strong: operators themselves re-add a member at night after a removal for discipline.
REJOINED = SignalKind(
    "rejoined_after_kick",
    35,
    "被踢出后又自行进群",
    "came back after being kicked",
)

# Weak: real members show these every day; they only tip a profile that is already doubtful.

MOTIVATIONAL_SLOGAN = SignalKind(
    "slogan_signature",
    20,
    "签名是励志鸡血语(单独出现可以不踢)",
    "signature is a motivational slogan (alone, no reason to kick)",
)
# Men do buy women's clothes as gifts; the seed's operator kicked them, but only in a campaign
# where every seat in the group was worth a prize.
GENDER_MISMATCH = SignalKind(
    "gender_mismatch",
    20,
    "性别与品牌目标人群不符",
    "gender is not the audience the brand sells to",
)
# Amy, Alice and Anna start with A without any trick: a hint, never a reason on its own.
A_GIVEN_NAME = SignalKind(
    "name_starts_with_a",
    5,
    "英文名以A开头(多半是真名,仅作参考)",
    "an English given name starting with A (usually real; a hint only)",
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Matched on the case-folded, normalised text. A longer word hides the shorter one inside it.
RECRUITING_WORDS = _words(
    "月入 日入 日赚 躺赚 招代理 代理 招募 兼职 微商 货源 加v "
    "加微 加薇 副业 创业 零成本 0成本 在家也能 一部手机 带团队 "
    "被动收入 招商 厂家"
)
MOTIVATIONAL_WORDS = _words(
    "努力 自由 逆袭 财富 改变命运 梦想 成功 奋斗 拼搏 坚持 自律 宝妈 格局 靠自己 人生赢家 正能量"
)
BUSINESS_WORDS = _words(
    "微商 货源 代理 批发 招商 厂家 工厂 一手 代购 总代 招募 创业 "
    "兼职 月入 专卖 女装 服装 美妆 护肤 减肥 瘦身 祛斑 严选 优选 "
    "好物 商贸 电商"
)
# A bare 薇 is a common given name (小薇, 张薇); only 薇 used for 微信 (加薇, 薇信, 薇:) counts.
# The first that matches is the evidence, so the ones that quote the id itself come first.
CONTACT_PATTERNS = (
    re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),
    re.compile(r"(?:qq|扣扣)\s*:?\s*\d{5,}"),
    re.compile(r"(?:(?<![a-z])v|vx|wx|微信|薇)\s*:\s*[a-z0-9_-]{3,}"),
    re.compile(r"(?:加|\+)\s*(?:vx|wx|v|微|薇|威)"),
    re.compile(r"vx|wx|v信|微信|薇信|威信"),
    re.compile(r"薇\s*:"),
)
# 姐 after a name (王姐, 丽丽姐, Lily姐) and 小姐姐; not 林小姐 (Miss Lin), 姐妹 or 姐夫, and not the
# second 姐 of 姐姐, which is a reduplication.
_SISTER = re.compile(r"小姐姐|(?<=\w)(?<![小姐])姐(?![妹夫])")
# 宝宝妈 / 宝宝爸 is a parent naming themselves after their child, not a marketing name.
_BABY = re.compile(r"宝宝(?![妈爸])")
_GIVEN_NAME = re.compile(r"[Aa][a-z]{2,}")

# Characters a reader cannot see; marketing accounts put them inside names to slip past filters.
_INVISIBLE = frozenset(
    chr(code)
    for code in (
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2065),
        *range(0x2066, 0x206A),
        *range(0xFE00, 0xFE10),
        *range(0xE0100, 0xE01F0),
        *range(0xE0000, 0xE0080),
        0x00AD,
        0x034F,
        0x061C,
        0x115F,
        0x1160,
        0x17B4,
        0x17B5,
        0x180E,
        0x2800,
        0x3164,
        0xFEFF,
        0xFFA0,
    )
)
# Letters that look like A and sort like it, and the emoji A.
_A_LOOKALIKES = str.maketrans(
    {"\U0001f170": "A", "\U0001f150": "A", "\u0410": "A", "\u0430": "a", "\u0391": "A"}
)


@dataclass(frozen=True)
class ProfileFacts:
    """What a member's profile shows, as the last member.upserted had it."""

    nickname: str
    gender: Gender = "unknown"
    signature: str | None = None
    avatar_flags: frozenset[str] = frozenset()
    album_flags: frozenset[str] = frozenset()
    avatar_url: str | None = None


@dataclass(frozen=True)
class AuditContext:
    """What the org knows around a profile: its audience, the member's moves, who is exempt.

    kicked_nicknames hold nicknames passed through normalize(); groups_joined_within_window is
    the most of the org's groups the member joined inside GROUP_BURST_WINDOW.
    extra_signals carry signals found elsewhere (a learned model, an operator's report); a
    negative weight speaks for the member.
    """

    audience: Audience = "any"
    groups_joined_within_window: int = 0
    rejoined_after_kick: bool = False
    kicked_nicknames: frozenset[str] = frozenset()
    kicked_avatar_urls: frozenset[str] = frozenset()
    is_staff: bool = False
    is_crew: bool = False
    is_whitelisted: bool = False
    extra_signals: tuple[Signal, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    """Scores at which a profile goes to review and to kick, and what counts as many groups."""

    review: int = 40
    kick: int = 70
    many_groups: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.review <= self.kick <= 100:
            raise ValueError(
                f"thresholds review={self.review} kick={self.kick}: need 0 < review <= kick <= 100"
            )
        if self.many_groups < 2:
            raise ValueError(f"many_groups={self.many_groups}: joining one group is not a sweep")


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Assessment:
    score: int
    verdict: Verdict
    signals: tuple[Signal, ...]
    exempt_reason: ExemptReason | None = None


def _is_invisible(char: str) -> bool:
    category = unicodedata.category(char)
    return char in _INVISIBLE or category == "Cf" or (category == "Cc" and not char.isspace())


# Scoring one profile normalises its nickname several times, and intake scores on every join.
@functools.lru_cache(maxsize=16384)
def normalize(text: str) -> str:
    """The text as a reader sees it: NFKC, invisible characters removed, whitespace collapsed."""
    visible = "".join(char for char in text if not _is_invisible(char))
    # NFKC folds full-width and styled letters (Ａ, 𝐀, Ⓐ) and may yield a filler, so strip again.
    folded = "".join(
        char for char in unicodedata.normalize("NFKC", visible) if not _is_invisible(char)
    )
    return " ".join(folded.split())


def ranking_head(nickname: str) -> str:
    """The nickname from its first letter or digit: emoji and symbols padded in front dropped."""
    text = normalize(nickname).translate(_A_LOOKALIKES)
    for index, char in enumerate(text):
        if unicodedata.category(char)[0] in "LN":
            return text[index:]
    return ""


def _core(text: str) -> str:
    # Emoji and pictographic symbols (category So) decorate real names as often as fake ones.
    return "".join(
        char
        for char in normalize(text)
        if not char.isspace() and unicodedata.category(char) != "So"
    )


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2FA1F


def _words_in(text: str, words: Iterable[str]) -> list[str]:
    found: list[str] = []
    for word in words:
        if word in text and not any(word in longer for longer in found):
            found.append(word)
    return found


def _a_prefix(nickname: str) -> Signal | None:
    head = ranking_head(nickname)
    if not head.startswith(("A", "a")):
        return None
    given = _GIVEN_NAME.match(head)
    if given is not None and set(given.group().lower()) != {"a"}:
        return A_GIVEN_NAME.found(normalize(nickname))
    return A_PREFIX.found(normalize(nickname))


def _digits_symbols(nickname: str) -> Signal | None:
    core = _core(nickname)
    count = sum(1 for char in core if unicodedata.category(char)[0] in "NPS")
    # At least three: a lone "." or "66" is a real person's lazy name as often as not.
    if count >= 3 and count * 2 > len(core):
        return DIGITS_SYMBOLS.found(normalize(nickname))
    return None


def _sister_or_baby(nickname: str) -> Signal | None:
    core = _core(nickname)
    if _SISTER.search(core) or _BABY.search(core):
        return SISTER_OR_BABY.found(normalize(nickname))
    return None


def _reduplication(nickname: str) -> Signal | None:
    core = _core(nickname)
    # Only the bare form: 小芳芳 or 阿娇 are pet names, and 宝宝 is already its own signal.
    if len(core) == 2 and core[0] == core[1] and _is_cjk(core[0]) and core != "宝宝":
        return REDUPLICATION.found(core)
    return None


def _business_name(nickname: str) -> Signal | None:
    words = _words_in(normalize(nickname).casefold(), BUSINESS_WORDS)
    return BUSINESS_NAME.found("、".join(words)) if words else None


def _contact(text: str) -> str | None:
    folded = normalize(text).casefold()
    for pattern in CONTACT_PATTERNS:
        match = pattern.search(folded)
        if match is not None:
            return match.group()
    return None


def _slogan(signature: str | None) -> Signal | None:
    if not signature:
        return None
    text = normalize(signature).casefold()
    recruiting = _words_in(text, RECRUITING_WORDS)
    contact = _contact(signature)
    if contact is not None:
        recruiting.append(contact)
    if recruiting:
        return RECRUITING_SLOGAN.found("、".join(recruiting))
    motivational = _words_in(text, MOTIVATIONAL_WORDS)
    return MOTIVATIONAL_SLOGAN.found("、".join(motivational)) if motivational else None


def profile_signals(facts: ProfileFacts, *, audience: Audience = "any") -> tuple[Signal, ...]:
    """The signals the profile itself shows, whatever the member has done."""
    found = [
        _a_prefix(facts.nickname),
        _digits_symbols(facts.nickname),
        _sister_or_baby(facts.nickname),
        _reduplication(facts.nickname),
        _business_name(facts.nickname),
        _slogan(facts.signature),
    ]
    contact = _contact(facts.nickname)
    if contact is not None:
        found.append(CONTACT_IN_NAME.found(contact))
    if STOCK_PHOTO_FLAG in facts.avatar_flags:
        found.append(STOCK_PHOTO.found(STOCK_PHOTO_FLAG))
    if PAYMENT_SCREENSHOTS_FLAG in facts.album_flags:
        found.append(PAYMENT_SCREENSHOTS.found(PAYMENT_SCREENSHOTS_FLAG))
    if {audience, facts.gender} == {"female", "male"}:
        found.append(GENDER_MISMATCH.found(facts.gender))
    return tuple(signal for signal in found if signal is not None)


def context_signals(
    facts: ProfileFacts, *, context: AuditContext, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[Signal, ...]:
    """The signals from what the member did and whom they resemble, not from the profile."""
    found: list[Signal] = []
    if context.groups_joined_within_window >= thresholds.many_groups:
        found.append(MANY_GROUPS.found(f"{context.groups_joined_within_window} groups"))
    if context.rejoined_after_kick:
        found.append(REJOINED.found("rejoined"))
    nickname = normalize(facts.nickname)
    if nickname and nickname in context.kicked_nicknames:
        found.append(MATCHES_KICKED.found(nickname))
    elif facts.avatar_url and facts.avatar_url in context.kicked_avatar_urls:
        found.append(MATCHES_KICKED.found(facts.avatar_url))
    return tuple(found)


def verdict_for(score: int, *, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Verdict:
    if score >= thresholds.kick:
        return Verdict.KICK
    if score >= thresholds.review:
        return Verdict.REVIEW
    return Verdict.PASS


def exempt_reason_of(context: AuditContext) -> ExemptReason | None:
    if context.is_staff:
        return "staff"
    if context.is_crew:
        return "crew"
    if context.is_whitelisted:
        return "whitelisted"
    return None


def score_profile(
    facts: ProfileFacts, *, context: AuditContext, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> Assessment:
    """The profile's signals, its score (their weights summed, within 0-100) and the verdict."""
    exempt = exempt_reason_of(context)
    if exempt is not None:
        return Assessment(score=0, verdict=Verdict.PASS, signals=(), exempt_reason=exempt)
    signals = tuple(
        sorted(
            (
                *profile_signals(facts, audience=context.audience),
                *context_signals(facts, context=context, thresholds=thresholds),
                *context.extra_signals,
            ),
            key=lambda signal: (-signal.weight, signal.code, signal.evidence),
        )
    )
    score = max(0, min(100, sum(signal.weight for signal in signals)))
    return Assessment(
        score=score, verdict=verdict_for(score, thresholds=thresholds), signals=signals
    )


def groups_joined_within(
    joins: Iterable[tuple[str, datetime]], *, window: timedelta = GROUP_BURST_WINDOW
) -> int:
    """The most distinct groups joined inside any one window, from (group, joined_at) pairs."""
    ordered = sorted(joins, key=lambda join: join[1])
    most = 0
    start = 0
    for end, (_, joined_at) in enumerate(ordered):
        while joined_at - ordered[start][1] > window:
            start += 1
        most = max(most, len({group for group, _ in ordered[start : end + 1]}))
    return most


def to_json(assessment: Assessment, member: str, *, language: Language = "zh") -> dict[str, Any]:
    """The public shape of an assessment: member, score, verdict and each signal's reason."""
    return {
        "member": member,
        "score": assessment.score,
        "verdict": str(assessment.verdict),
        "signals": [
            {"code": signal.code, "weight": signal.weight, "reason": signal.reason(language)}
            for signal in assessment.signals
        ],
    }


class Decision(StrEnum):
    """What an operator decided on a member: kick, keep despite the signals, or trust for good."""

    KICK = "kick"
    KEEP = "keep"
    WHITELIST = "whitelist"


def parse_decision(word: str) -> Decision:
    try:
        return Decision(word.strip().lower())
    except ValueError:
        known = ", ".join(decision.value for decision in Decision)
        raise ValueError(f"decision {word!r} is not one of {known}") from None


def is_flagged(verdict: str, decision: str | None) -> bool:
    """Flagged fake: the latest decision is kick, or nobody decided and the verdict is kick."""
    if decision is not None:
        return decision == Decision.KICK
    return verdict == Verdict.KICK


def queued_verdicts(*, auto_kick: bool) -> tuple[Verdict, ...]:
    """The verdicts an undecided case waits in the operator's queue with: a review, and a kick
    nobody carried out (none, when kicks are automatic)."""
    return (Verdict.REVIEW,) if auto_kick else (Verdict.REVIEW, Verdict.KICK)


@dataclass(frozen=True)
class AuditPolicy:
    """An org's audit settings, read from its settings with the defaults filled in."""

    audience: Audience = "any"
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    # The seed's operator kicks by hand; kicking on the score alone is an org's explicit choice.
    auto_kick: bool = False
    whitelist: frozenset[str] = frozenset()
    crew: frozenset[str] = frozenset()


AUDIENCES: dict[str, Audience] = {"female": "female", "male": "male", "any": "any"}


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _member_ids(value: object) -> frozenset[str] | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return frozenset(item.strip() for item in value if item.strip())


def audit_policy(settings: Mapping[str, Any]) -> AuditPolicy:
    """The org's policy; a malformed setting falls back to its default."""
    # A bad value stored by hand must never stop intake; check_audit_settings refuses it when
    # an operator sets it.
    given = settings.get("audit_audience")
    audience = AUDIENCES.get(given, "any") if isinstance(given, str) else "any"
    review = settings.get("audit_review", DEFAULT_THRESHOLDS.review)
    kick = settings.get("audit_kick", DEFAULT_THRESHOLDS.kick)
    thresholds = DEFAULT_THRESHOLDS
    if _is_whole(review) and _is_whole(kick):
        with contextlib.suppress(ValueError):
            thresholds = Thresholds(review=review, kick=kick)
    auto_kick = settings.get("audit_auto_kick")
    return AuditPolicy(
        audience=audience,
        thresholds=thresholds,
        auto_kick=auto_kick if isinstance(auto_kick, bool) else False,
        whitelist=_member_ids(settings.get("audit_whitelist")) or frozenset(),
        crew=_member_ids(settings.get("audit_crew")) or frozenset(),
    )


def check_audit_settings(settings: Mapping[str, Any]) -> None:
    """Refuse, naming the setting, any audit setting audit_policy would have to ignore."""
    audience = settings.get("audit_audience", "any")
    if not isinstance(audience, str) or audience not in AUDIENCES:
        raise ValueError(f"audit_audience: {audience!r} is not one of {', '.join(AUDIENCES)}")
    for name in ("audit_review", "audit_kick"):
        if name in settings and not _is_whole(settings[name]):
            raise ValueError(f"{name}: {settings[name]!r} is not a whole number")
    Thresholds(
        review=settings.get("audit_review", DEFAULT_THRESHOLDS.review),
        kick=settings.get("audit_kick", DEFAULT_THRESHOLDS.kick),
    )
    if not isinstance(settings.get("audit_auto_kick", False), bool):
        raise ValueError(f"audit_auto_kick: {settings['audit_auto_kick']!r} is not true or false")
    for name in ("audit_whitelist", "audit_crew"):
        if name in settings and _member_ids(settings[name]) is None:
            raise ValueError(f"{name}: {settings[name]!r} is not a list of member ids")


@dataclass(frozen=True)
class Stint:
    """One stay of a member in one of the org's groups, as the audit reads it."""

    group: str
    joined_at: datetime
    left_at: datetime | None
    left_reason: str | None


def rejoined_after_kick(stints: Iterable[Stint], *, forgiven_until: datetime | None = None) -> bool:
    """Whether the member joined any of the org's groups again after being kicked from one.

    Kicks up to `forgiven_until` (the member's latest restore) do not count: the operator
    re-admitted them.
    """
    stays = list(stints)
    kicks = [
        stay.left_at
        for stay in stays
        if stay.left_reason == "kicked"
        and stay.left_at
        and (forgiven_until is None or stay.left_at > forgiven_until)
    ]
    return bool(kicks) and any(stay.joined_at >= min(kicks) for stay in stays)


class Standing(StrEnum):
    """Where a member stands under the group rules (群规), across all of the org's groups."""

    CLEAR = "clear"
    WARNED = "warned"
    KICKED = "kicked"


class Trigger(StrEnum):
    # An offence while fewer warnings than the org allows are live, and one at that count.
    OFFENCE = "offence"
    LAST_OFFENCE = "last_offence"
    EXPIRY = "expiry"
    RESTORE = "restore"


class Step(StrEnum):
    """What a transition makes the engine do."""

    WARN = "warn"
    KICK = "kick"
    NOTHING = "nothing"


# The seed's rule (seed 001): first a warning, second offence removed; warnings expire, and a
# removal is undone by a restore after a private word. A kicked member offending in another
# of the org's groups is removed from that one too: the warnings are already spent.
DISCIPLINE: dict[tuple[Standing, Trigger], tuple[Standing, Step]] = {
    (Standing.CLEAR, Trigger.OFFENCE): (Standing.WARNED, Step.WARN),
    (Standing.CLEAR, Trigger.LAST_OFFENCE): (Standing.KICKED, Step.KICK),
    (Standing.WARNED, Trigger.OFFENCE): (Standing.WARNED, Step.WARN),
    (Standing.WARNED, Trigger.LAST_OFFENCE): (Standing.KICKED, Step.KICK),
    (Standing.WARNED, Trigger.EXPIRY): (Standing.CLEAR, Step.NOTHING),
    (Standing.KICKED, Trigger.OFFENCE): (Standing.KICKED, Step.KICK),
    (Standing.KICKED, Trigger.LAST_OFFENCE): (Standing.KICKED, Step.KICK),
    (Standing.KICKED, Trigger.RESTORE): (Standing.CLEAR, Step.NOTHING),
}


class TransitionRefused(ValueError):
    def __init__(self, standing: Standing, trigger: Trigger) -> None:
        super().__init__(f"a member who is {standing} cannot take a {trigger}")
        self.standing = standing
        self.trigger = trigger


def transition(standing: Standing, trigger: Trigger) -> tuple[Standing, Step]:
    found = DISCIPLINE.get((standing, trigger))
    if found is None:
        raise TransitionRefused(standing, trigger)
    return found


@dataclass(frozen=True)
class Strike:
    """A strike that still stands (not cleared by a restore)."""

    at: datetime
    step: Step
    expires_at: datetime | None


def standing_at(strikes: Iterable[Strike], *, at: datetime) -> tuple[Standing, int]:
    """The member's standing just before `at`, and how many warnings are live then."""
    earlier = [strike for strike in strikes if strike.at <= at]
    if any(strike.step is Step.KICK for strike in earlier):
        return Standing.KICKED, 0
    live = sum(1 for strike in earlier if strike.expires_at is None or strike.expires_at > at)
    if live:
        return Standing.WARNED, live
    if earlier:
        return transition(Standing.WARNED, Trigger.EXPIRY)[0], 0
    return Standing.CLEAR, 0


def on_offence(strikes: Iterable[Strike], *, at: datetime, warnings: int) -> tuple[Standing, Step]:
    """What an offence at `at` earns, given the strikes standing and the warnings allowed."""
    standing, live = standing_at(strikes, at=at)
    trigger = Trigger.LAST_OFFENCE if live >= warnings else Trigger.OFFENCE
    return transition(standing, trigger)
