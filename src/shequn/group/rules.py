"""Pure rules for groups: when a group counts as nearly full, and the welcome text."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# Seed practice: open the next group before the platform's hard limit bites.
DEFAULT_CAPACITY_MARGIN = 10


@dataclass(frozen=True)
class Bilingual:
    zh: str
    en: str

    def as_json(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


def capacity_margin(settings: Mapping[str, Any]) -> int:
    margin = settings.get("capacity_margin", DEFAULT_CAPACITY_MARGIN)
    return margin if isinstance(margin, int) and margin >= 0 else DEFAULT_CAPACITY_MARGIN


def has_just_filled(*, member_count: int, capacity: int | None, margin: int) -> bool:
    """True on the join that brings a group to capacity minus the margin, and only on that one."""
    if capacity is None:
        return False
    return member_count == max(capacity - margin, 1)


def nearly_full_task(*, group_name: str, member_count: int, capacity: int) -> Bilingual:
    return Bilingual(
        zh=f"群「{group_name}」已有 {member_count}/{capacity} 人,快满了:请准备新群。",
        en=f"Group “{group_name}” has {member_count}/{capacity} members and is nearly full: "
        "get the next group ready.",
    )


def welcome_text(template: str, *, nickname: str | None, group_name: str) -> str:
    """Fill {nickname} and {group} in the org's welcome template; unknown braces stay as typed."""
    return template.replace("{nickname}", nickname or "").replace("{group}", group_name)


# Newcomers arriving within a minute share one welcome, so a busy group is never flooded.
DEFAULT_WELCOME_WINDOW = timedelta(seconds=60)
DEFAULT_WELCOME_MENTIONS = 20


@dataclass(frozen=True)
class WelcomePolicy:
    template: str
    window: timedelta
    max_mentions: int


def welcome_policy(
    settings: Mapping[str, Any], *, template: str | None = None
) -> WelcomePolicy | None:
    """The org's welcome (or `template` in its place, e.g. a campaign's), or None when there
    is no welcome text."""
    template = template if template is not None else settings.get("welcome_text")
    if not isinstance(template, str) or not template.strip():
        return None
    seconds = settings.get("welcome_window_seconds")
    mentions = settings.get("welcome_max_mentions")
    return WelcomePolicy(
        template=template,
        window=timedelta(seconds=seconds)
        if isinstance(seconds, int) and seconds > 0
        else DEFAULT_WELCOME_WINDOW,
        max_mentions=mentions
        if isinstance(mentions, int) and mentions > 0
        else DEFAULT_WELCOME_MENTIONS,
    )


def welcome_slot(at: datetime, window: timedelta) -> tuple[datetime, datetime]:
    """The window a join falls in, aligned to the epoch so every join of it finds the same one."""
    size = window.total_seconds()
    start = datetime.fromtimestamp(math.floor(at.timestamp() / size) * size, UTC)
    return start, start + window


@dataclass(frozen=True)
class Welcome:
    text: str
    mentions: tuple[str, ...]


def welcome_messages(
    policy: WelcomePolicy, *, newcomers: Sequence[tuple[str, str | None]], group_name: str
) -> list[Welcome]:
    """One message per `max_mentions` newcomers, naming them in {nickname} and @-mentioning them."""
    messages = []
    for start in range(0, len(newcomers), policy.max_mentions):
        chunk = newcomers[start : start + policy.max_mentions]
        names = "、".join(nickname for _, nickname in chunk if nickname)
        text = welcome_text(policy.template, nickname=names, group_name=group_name)
        messages.append(Welcome(text=text, mentions=tuple(member for member, _ in chunk)))
    return messages
