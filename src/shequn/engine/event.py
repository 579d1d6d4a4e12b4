"""The envelope every event arrives in, and its parsing. Payload models come from the registry."""

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shequn.kit.time import TimeError, offset_minutes, parse_instant, to_utc

MAX_ID_LENGTH = 200
Payload = TypeVar("Payload", bound=BaseModel)


@dataclass(frozen=True)
class Rejection:
    """One event refused at intake: which one, where it stood, and why."""

    id: str | None
    line: int | None
    error: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "line": self.line, "error": self.error}


@dataclass(frozen=True)
class Event:
    """An accepted, validated event. `key` orders it: UTC time, then arrival (batch, position)."""

    org: str
    source: str
    id: str
    type: str
    at: datetime
    offset_minutes: int
    data: BaseModel
    line: int | None = None
    batch: int = 0
    position: int = 0
    key: str = field(default="", compare=False)

    @property
    def group(self) -> str | None:
        value = getattr(self.data, "group", None)
        return value if isinstance(value, str) else None

    @property
    def member(self) -> str | None:
        value = getattr(self.data, "member", None)
        return value if isinstance(value, str) else None

    def payload(self, model: builtins.type[Payload]) -> Payload:
        if not isinstance(self.data, model):
            raise TypeError(f"event {self.id} of type {self.type} is not a {model.__name__}")
        return self.data

    def placed(self, batch: int, position: int) -> "Event":
        # Built directly: `dataclasses.replace` costs twice as much, once per event.
        return Event(
            self.org, self.source, self.id, self.type, self.at, self.offset_minutes, self.data,
            self.line, batch, position, order_key(self.at, batch, position),
        )  # fmt: skip


def order_key(at: datetime, batch: int, position: int) -> str:
    """A sortable text: events of a group are applied in order of `at`, then arrival."""
    utc = to_utc(at)
    # Spelled out rather than strftime'd: this runs once per event and is twice as fast.
    return (
        f"{utc.year:04d}{utc.month:02d}{utc.day:02d}T{utc.hour:02d}{utc.minute:02d}"
        f"{utc.second:02d}{utc.microsecond:06d}.{batch:012d}.{position:07d}"
    )


class EnvelopeError(ValueError):
    """A problem in the envelope, named by its field."""


def _text(raw: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            raise EnvelopeError(f"{name}: required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise EnvelopeError(f"{name}: must be a string")
    text = str(value).strip()
    if not text:
        raise EnvelopeError(f"{name}: must not be empty")
    if len(text) > MAX_ID_LENGTH:
        raise EnvelopeError(f"{name}: longer than {MAX_ID_LENGTH} characters")
    return text


def format_validation_error(error: ValidationError, prefix: str) -> str:
    parts = []
    for item in error.errors():
        where = prefix
        for step in item["loc"]:
            where += f"[{step}]" if isinstance(step, int) else f".{step}"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse_event(
    raw: object,
    *,
    payloads: Mapping[str, type[BaseModel]],
    default_org: str,
    line: int | None = None,
) -> Event | Rejection:
    """Validate one decoded JSON value against the contract; never raises on bad input."""
    if not isinstance(raw, Mapping):
        return Rejection(None, line, f"event must be a JSON object, got {type(raw).__name__}")
    event_id: str | None = None
    try:
        event_id = _text(raw, "id")
        kind = _text(raw, "type")
        source = _text(raw, "source")
        org = _text(raw, "org", required=False) or default_org
        assert kind is not None
        assert source is not None
        assert event_id is not None
        model = payloads.get(kind)
        if model is None:
            known = ", ".join(sorted(payloads))
            raise EnvelopeError(f"type: unknown event type {kind!r} (known: {known})")
        try:
            at = parse_instant(raw.get("at"))
        except TimeError as error:
            raise EnvelopeError(f"at: {error}") from None
        data = raw.get("data")
        if not isinstance(data, Mapping):
            raise EnvelopeError("data: required, must be a JSON object")
        payload = model.model_validate(data)
    except EnvelopeError as error:
        return Rejection(event_id, line, str(error))
    except ValidationError as error:
        return Rejection(event_id, line, format_validation_error(error, "data"))
    return Event(
        org=org,
        source=source,
        id=event_id,
        type=kind,
        at=to_utc(at),
        offset_minutes=offset_minutes(at),
        data=payload,
        line=line,
    )
