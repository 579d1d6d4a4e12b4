"""Step texts: sandboxed Jinja2, every variable named in advance so a typo fails at check time."""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

# What every step's text may use; a playbook's own `variables` and a few per-kind names add to it.
VARIABLES: Mapping[str, str] = {
    "group": "the group's name",
    "group_id": "the group's platform id",
    "members": "the group's member count when the step runs",
    "campaign": "the playbook's name",
    "day": "the campaign day of the step (day 1 is the start date)",
    "days": "how many days the campaign lasts",
    "countdown": "days from the step's day to the last day (0 on the last day)",
    "date": "the step's local date, 2026-11-11",
    "time": "the step's local time, 20:30",
    "leaderboard": "the group's top members by points, one per line: 1. 小美 120",
}
# Names only some kinds bring: the line members repeat, the lottery's prize and draw time.
KIND_VARIABLES: Mapping[str, frozenset[str]] = {
    "repeat": frozenset({"line"}),
    "lottery": frozenset({"prize", "draw_at"}),
}

# Members and operators read these texts; nothing in them is HTML.
_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@dataclass(frozen=True)
class TemplateProblem:
    """A template that cannot be used; `line` is relative to the template's first line (1)."""

    line: int
    message: str


def check_template(source: str, *, known: frozenset[str]) -> list[TemplateProblem]:
    """Syntax errors and variables that are not in `known`, each with the line it is on."""
    try:
        parsed = _ENVIRONMENT.parse(source)
    except TemplateSyntaxError as error:
        return [TemplateProblem(error.lineno or 1, f"template syntax error: {error.message}")]
    problems = []
    for name in sorted(meta.find_undeclared_variables(parsed) - known):
        problems.append(
            TemplateProblem(
                _line_of(source, name),
                f"unknown template variable {name!r} (known: {', '.join(sorted(known))})",
            )
        )
    return problems


def _line_of(source: str, name: str) -> int:
    for number, text in enumerate(source.splitlines(), start=1):
        if name in text:
            return number
    return 1


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    # Compiling costs far more than rendering, and a campaign renders each text in every group.
    return _ENVIRONMENT.from_string(source)


def render(source: str, values: Mapping[str, Any]) -> str:
    """Render one checked template; an undefined value raises instead of printing nothing."""
    return _compiled(source).render(**values).strip()
