"""Step texts: sandboxed Jinja2, every variable named in advance so a typo fails at check time."""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateRuntimeError,
    TemplateSyntaxError,
    meta,
)
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

# What the check renders each template with: numbers where the live values are numbers.
SAMPLES: Mapping[str, Any] = {
    "members": 100, "day": 1, "days": 5, "countdown": 4, "group": "示例群", "group_id": "g-1",
    "campaign": "double11", "date": "2026-11-11", "time": "20:30",
    "leaderboard": "1. 小美 120", "line": "今晚8:30,群内抽奖", "prize": "连衣裙", "draw_at": "20:30",
}  # fmt: skip

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
    named = meta.find_undeclared_variables(parsed)
    for name in sorted(named - known):
        problems.append(
            TemplateProblem(
                _line_of(source, name),
                f"unknown template variable {name!r} (known: {', '.join(sorted(known))})",
            )
        )
    if not problems:
        # A template can parse and still fail on every run ("{{ price * 0.45 }}" on text).
        try:
            render(source, {name: SAMPLES.get(name, "示例") for name in named})
        except TemplateError as error:
            problems.append(TemplateProblem(1, f"template fails when rendered: {error}"))
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
    """Render one checked template; an undefined value raises instead of printing nothing, and
    any other failure (arithmetic on text, 1/0) is a TemplateError too."""
    try:
        return _compiled(source).render(**values).strip()
    except TemplateError:
        raise
    except Exception as error:
        raise TemplateRuntimeError(f"{type(error).__name__}: {error}") from error
