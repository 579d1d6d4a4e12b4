"""Pure rules for groups: when a group counts as nearly full, and the welcome text."""

from collections.abc import Mapping
from dataclasses import dataclass
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
