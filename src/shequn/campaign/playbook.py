"""Playbooks: YAML read node by node, so every problem names its file, line and column.

All problems of a file are collected and reported together; a playbook with any problem is
never planned or scheduled.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path

import yaml

from shequn.campaign.templates import KIND_VARIABLES, VARIABLES, check_template
from shequn.kit.money import AmountError, parse_amount
from shequn.kit.time import TimeError, parse_clock

LANGS = ("zh", "en")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
BUILT_IN = ("double11",)


class StepKind(StrEnum):
    MESSAGE = "message"
    IMAGE = "image"
    LINK = "link"
    MINI_PROGRAM = "mini_program"
    TEASE = "tease"
    MENTION_ALL = "mention_all"
    REPEAT = "repeat"
    LOTTERY = "lottery"
    COUPONS = "coupons"
    PRICE = "price"
    RENAME = "rename"
    NOTICE = "notice"
    SIGN_IN = "sign_in"
    LEADERBOARD = "leaderboard"


class FieldType(StrEnum):
    TEXT = "text"  # a template, or {zh: …, en: …}
    STRING = "string"
    CLOCK = "clock"
    AMOUNT = "amount"
    BOOL = "bool"
    COUNT = "count"
    PRIZE = "prize"


# Per kind: field → (type, required). `id`, `day`, `at`, `kind`, `segments` are common to all.
FIELDS: Mapping[StepKind, Mapping[str, tuple[FieldType, bool]]] = {
    StepKind.MESSAGE: {"text": (FieldType.TEXT, True)},
    StepKind.IMAGE: {"image": (FieldType.STRING, True), "text": (FieldType.TEXT, False)},
    StepKind.LINK: {"url": (FieldType.STRING, True), "text": (FieldType.TEXT, True)},
    StepKind.MINI_PROGRAM: {
        "app": (FieldType.STRING, True),
        "path": (FieldType.STRING, True),
        "text": (FieldType.TEXT, True),
    },
    StepKind.TEASE: {"text": (FieldType.TEXT, True)},
    StepKind.MENTION_ALL: {"text": (FieldType.TEXT, True)},
    StepKind.REPEAT: {"line": (FieldType.STRING, True), "text": (FieldType.TEXT, True)},
    StepKind.LOTTERY: {
        "prize": (FieldType.PRIZE, True),
        "draw_at": (FieldType.CLOCK, True),
        "keyword": (FieldType.STRING, False),
        "keyword_from": (FieldType.CLOCK, False),
        "min_members": (FieldType.COUNT, False),
    },
    StepKind.COUPONS: {"coupon": (FieldType.STRING, True)},
    StepKind.PRICE: {"sku": (FieldType.STRING, True), "price": (FieldType.AMOUNT, True)},
    StepKind.RENAME: {"name": (FieldType.TEXT, True)},
    StepKind.NOTICE: {"text": (FieldType.TEXT, True)},
    StepKind.SIGN_IN: {"open": (FieldType.BOOL, True)},
    StepKind.LEADERBOARD: {"text": (FieldType.TEXT, True), "top": (FieldType.COUNT, False)},
}
COMMON = ("id", "day", "at", "kind", "segments", "essential")
TOP_LEVEL = ("name", "description", "days", "lang", "segments", "variables", "steps")
# Kinds that post into the group: they count against its budget and keep quiet hours.
SENDS = frozenset(
    {
        StepKind.MESSAGE,
        StepKind.IMAGE,
        StepKind.LINK,
        StepKind.MINI_PROGRAM,
        StepKind.TEASE,
        StepKind.MENTION_ALL,
        StepKind.REPEAT,
        StepKind.LEADERBOARD,
    }
)
# Kinds that act on the whole org once, not on each group.
ORG_WIDE = frozenset({StepKind.PRICE})
KINDS = frozenset(kind.value for kind in StepKind)
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PlaybookError(ValueError):
    """Every problem found in one playbook, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class Text:
    """A template in one or both languages."""

    variants: Mapping[str, str]

    def pick(self, lang: str) -> str:
        """The wanted language, else the other one: a zh-only playbook still runs for en."""
        return self.variants.get(lang) or next(iter(self.variants.values()))


@dataclass(frozen=True)
class Step:
    id: str
    day: int
    hour: int
    minute: int
    kind: StepKind
    segments: tuple[str, ...]
    texts: Mapping[str, Text] = field(default_factory=dict)
    # Literal fields: strings, amounts in minor units, counts, booleans.
    values: Mapping[str, str | int | bool] = field(default_factory=dict)
    line: int = 0
    # The evening's event: members' chatter never crowds it out (the post cap still applies).
    essential: bool = False

    @property
    def at(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class Playbook:
    name: str
    description: str
    days: int
    lang: str
    segments: Mapping[str, tuple[str, ...]]
    variables: Mapping[str, str]
    steps: tuple[Step, ...]

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


def load_playbook(name_or_path: str) -> tuple[Playbook, str]:
    """A built-in playbook by name (`double11`) or a YAML file; returns it and its source."""
    if name_or_path in BUILT_IN:
        source = (
            resources.files("shequn.campaign")
            .joinpath("playbooks", f"{name_or_path}.yaml")
            .read_text(encoding="utf-8")
        )
        return parse_playbook(source, file=f"{name_or_path}.yaml"), source
    path = Path(name_or_path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        message = f"cannot read the playbook ({error}); built-in: {', '.join(BUILT_IN)}"
        raise PlaybookError([Problem(name_or_path, 1, 1, message)]) from None
    return parse_playbook(source, file=path.name), source


def parse_playbook(source: str, *, file: str = "playbook.yaml") -> Playbook:
    """Read and validate a playbook; raises PlaybookError listing every problem."""
    reader = _Reader(file)
    try:
        root = yaml.compose(source)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise PlaybookError([Problem(file, line, column, f"YAML: {error.problem}")]) from None
    except yaml.YAMLError as error:
        raise PlaybookError([Problem(file, 1, 1, f"YAML: {error}")]) from None
    playbook = reader.playbook(root)
    if reader.problems or playbook is None:
        raise PlaybookError(reader.problems)
    return playbook


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def fail(self, node: yaml.Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, message))

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping (key: value lines)")
            return {}
        found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
            if name in found:
                self.fail(key, f"{what}: {name!r} is given twice")
            found[name] = (key, value)
        return found

    def scalar(self, node: yaml.Node, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, f"{what} must be a single value")
            return None
        return str(node.value)

    def integer(self, node: yaml.Node, what: str, *, least: int) -> int | None:
        text = self.scalar(node, what)
        if text is None:
            return None
        if not re.fullmatch(r"-?\d+", text.strip()) or int(text) < least:
            self.fail(node, f"{what}: {text!r} is not a whole number of at least {least}")
            return None
        return int(text)

    def identifier(self, node: yaml.Node, what: str) -> str | None:
        text = self.scalar(node, what)
        if text is not None and not ID_PATTERN.match(text):
            self.fail(node, f"{what}: {text!r} may only hold letters, digits and _ . - (≤ 64)")
            return None
        return text

    def playbook(self, root: yaml.Node | None) -> Playbook | None:
        if root is None:
            self.problems.append(Problem(self.file, 1, 1, "the playbook is empty"))
            return None
        top = self.mapping(root, "the playbook")
        if not top:
            return None
        for key_name, (key, _value) in top.items():
            if key_name not in TOP_LEVEL:
                self.fail(key, f"unknown key {key_name!r} (known: {', '.join(TOP_LEVEL)})")
        for needed in ("name", "days", "steps"):
            if needed not in top:
                self.fail(root, f"the playbook needs {needed!r}")
        name = self.identifier(top["name"][1], "name") if "name" in top else None
        description = ""
        if "description" in top:
            description = self.scalar(top["description"][1], "description") or ""
        days = self.integer(top["days"][1], "days", least=1) if "days" in top else None
        lang = "zh"
        if "lang" in top:
            lang = self.scalar(top["lang"][1], "lang") or lang
            if lang not in LANGS:
                self.fail(top["lang"][1], f"lang: {lang!r} is not one of {', '.join(LANGS)}")
        segments = self.segments(top["segments"][1]) if "segments" in top else {}
        variables = self.variables(top["variables"][1]) if "variables" in top else {}
        steps = []
        if "steps" in top:
            steps = self.steps(top["steps"][1], days=days, segments=segments, variables=variables)
        if name is None or days is None:
            return None
        return Playbook(name=name, description=description, days=days, lang=lang,
                        segments=segments, variables=variables, steps=tuple(steps))  # fmt: skip

    def segments(self, node: yaml.Node) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = {}
        for name, (key, value) in self.mapping(node, "segments").items():
            if self.identifier(key, "segment") is None:
                continue
            tags = self.names(value, f"segment {name!r}")
            if not tags:
                self.fail(value, f"segment {name!r}: list the group tags it takes, e.g. [old]")
            found[name] = tags
        return found

    def names(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode):
            return (str(node.value),)
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"{what}: write one name or a list of names")
            return ()
        names = [self.scalar(item, what) for item in node.value]
        return tuple(name for name in names if name)

    def variables(self, node: yaml.Node) -> dict[str, str]:
        found = {}
        for name, (key, value) in self.mapping(node, "variables").items():
            if not name.isidentifier():
                self.fail(key, f"variable {name!r}: use letters, digits and _ only")
            elif name in VARIABLES:
                self.fail(key, f"variable {name!r} is built in; choose another name")
            text = self.scalar(value, f"variable {name!r}")
            if text is not None:
                found[name] = text
        return found

    def steps(
        self,
        node: yaml.Node,
        *,
        days: int | None,
        segments: Mapping[str, tuple[str, ...]],
        variables: Mapping[str, str],
    ) -> list[Step]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.fail(node, "steps must be a list of steps (- id: …)")
            return []
        steps = []
        seen: dict[str, int] = {}
        for item in node.value:
            step = self.step(item, days=days, segments=segments, variables=variables)
            if step is None:
                continue
            if step.id in seen:
                self.fail(item, f"step id {step.id!r} is already used on line {seen[step.id]}")
                continue
            seen[step.id] = step.line
            steps.append(step)
        return steps

    def step(
        self,
        node: yaml.Node,
        *,
        days: int | None,
        segments: Mapping[str, tuple[str, ...]],
        variables: Mapping[str, str],
    ) -> Step | None:
        entries = self.mapping(node, "a step")
        if not entries:
            return None
        before = len(self.problems)
        for name in ("id", "day", "at", "kind"):
            if name not in entries:
                self.fail(node, f"the step needs {name!r}")
        step_id = self.identifier(entries["id"][1], "id") if "id" in entries else None
        day = self.integer(entries["day"][1], "day", least=1) if "day" in entries else None
        if day is not None and days is not None and day > days:
            self.fail(entries["day"][1], f"day: {day} is after the playbook's last day ({days})")
        clock = self.clock(entries["at"][1], "at") if "at" in entries else None
        kind: StepKind | None = None
        if "kind" in entries:
            text = self.scalar(entries["kind"][1], "kind")
            if text is not None and text not in KINDS:
                known = ", ".join(kind.value for kind in StepKind)
                self.fail(entries["kind"][1], f"unknown step kind {text!r} (known: {known})")
            elif text is not None:
                kind = StepKind(text)
        chosen: tuple[str, ...] = ()
        if "segments" in entries:
            value = entries["segments"][1]
            chosen = self.names(value, "segments")
            for segment in chosen:
                if segment not in segments:
                    defined = ", ".join(sorted(segments)) or "none"
                    self.fail(value, f"unknown segment {segment!r} (defined: {defined})")
        essential = False
        if "essential" in entries:
            flag = self.literal(entries["essential"][1], "essential", FieldType.BOOL)
            essential = flag is True
            if essential and kind is not None and kind not in SENDS:
                self.fail(entries["essential"][0], f"essential: a {kind} step posts nothing")
        if kind is None:
            return None
        texts, values = self.fields(entries, kind, variables=variables)
        draw_at = values.get("draw_at")
        if (
            clock is not None
            and isinstance(draw_at, str)
            and draw_at <= f"{clock[0]:02d}:{clock[1]:02d}"
        ):
            # The lottery is set up (and its commitment posted) at the step, before its draw.
            self.fail(entries["draw_at"][1], f"draw_at: {draw_at} is not after the step's at")
        if len(self.problems) > before or step_id is None or day is None or clock is None:
            return None
        return Step(id=step_id, day=day, hour=clock[0], minute=clock[1], kind=kind,
                    segments=chosen, texts=texts, values=values,
                    line=node.start_mark.line + 1, essential=essential)  # fmt: skip

    def clock(self, node: yaml.Node, what: str) -> tuple[int, int] | None:
        text = self.scalar(node, what)
        if text is None:
            return None
        try:
            return parse_clock(text.strip())
        except TimeError:
            self.fail(node, f"{what}: {text!r} is not a local time of day like 20:30")
            return None

    def fields(
        self,
        entries: Mapping[str, tuple[yaml.Node, yaml.Node]],
        kind: StepKind,
        *,
        variables: Mapping[str, str],
    ) -> tuple[dict[str, Text], dict[str, str | int | bool]]:
        spec = FIELDS[kind]
        for name, (key, _value) in entries.items():
            if name not in spec and name not in COMMON:
                known = ", ".join([*COMMON, *spec])
                self.fail(key, f"a {kind} step has no field {name!r} (known: {known})")
        texts: dict[str, Text] = {}
        values: dict[str, str | int | bool] = {}
        known_names = (
            frozenset(VARIABLES) | frozenset(variables) | KIND_VARIABLES.get(kind, frozenset())
        )
        for name, (field_type, required) in spec.items():
            if name not in entries:
                if required:
                    first = next(iter(entries.values()))[0]
                    self.fail(first, f"a {kind} step needs {name!r}")
                continue
            value = entries[name][1]
            if field_type is FieldType.TEXT:
                text = self.text(value, name, known=known_names)
                if text is not None:
                    texts[name] = text
                continue
            literal = self.literal(value, name, field_type)
            if literal is not None:
                values[name] = literal
        return texts, values

    def literal(self, node: yaml.Node, name: str, field_type: FieldType) -> str | int | bool | None:
        if field_type is FieldType.COUNT:
            return self.integer(node, name, least=0)
        text = self.scalar(node, name)
        if text is None:
            return None
        if field_type is FieldType.CLOCK:
            clock = self.clock(node, name)
            return None if clock is None else f"{clock[0]:02d}:{clock[1]:02d}"
        if field_type is FieldType.AMOUNT:
            try:
                return parse_amount(text)
            except AmountError as error:
                self.fail(node, f"{name}: {error}")
                return None
        if field_type is FieldType.BOOL:
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            self.fail(node, f"{name}: {text!r} is not true or false")
            return None
        if field_type is FieldType.PRIZE:
            prize_name, _, rest = text.partition(":")
            count, _, cost = rest.partition(":")
            try:
                readable = bool(prize_name.strip()) and count.isdigit() and int(count) >= 1
                readable = readable and (not cost or parse_amount(cost) >= 0)
            except AmountError:
                readable = False
            if not readable:
                self.fail(node, f"{name}: {text!r}: write NAME:COUNT[:COST], e.g. 连衣裙:1:199.00")
                return None
        if not text.strip():
            self.fail(node, f"{name}: may not be empty")
            return None
        return text

    def text(self, node: yaml.Node, name: str, *, known: frozenset[str]) -> Text | None:
        variants: dict[str, tuple[yaml.Node, str]] = {}
        if isinstance(node, yaml.ScalarNode):
            variants["*"] = (node, str(node.value))
        elif isinstance(node, yaml.MappingNode):
            for lang, (key, value) in self.mapping(node, name).items():
                if lang not in LANGS:
                    self.fail(key, f"{name}: {lang!r} is not a language ({', '.join(LANGS)})")
                    continue
                source = self.scalar(value, f"{name}.{lang}")
                if source is not None:
                    variants[lang] = (value, source)
        else:
            self.fail(node, f"{name}: write a text, or zh: and en: texts")
            return None
        failed = False
        for value, source in variants.values():
            if not source.strip():
                self.fail(value, f"{name}: may not be empty")
                failed = True
                continue
            # A block scalar (| or >) starts on the line after its indicator.
            block = isinstance(value, yaml.ScalarNode) and value.style in ("|", ">")
            first = value.start_mark.line + 1 + (1 if block else 0)
            for problem in check_template(source, known=known):
                line = first + problem.line - 1
                column = value.start_mark.column + 1 if problem.line == 1 else 1
                self.problems.append(Problem(self.file, line, column, f"{name}: {problem.message}"))
                failed = True
        if failed or not variants:
            return None
        if "*" in variants:
            return Text({"*": variants["*"][1]})
        return Text({lang: source for lang, (_node, source) in variants.items()})
