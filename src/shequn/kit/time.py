"""Instants always carry their zone; operators' days follow the org's time zone."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"


class TimeError(ValueError):
    """A time without an offset, or a zone name nobody knows."""


def parse_instant(value: object) -> datetime:
    """Parse an ISO 8601 time that states its offset; a time without one is ambiguous and refused."""
    if not isinstance(value, str):
        raise TimeError(
            "must be an ISO 8601 string with a UTC offset, e.g. 2020-11-07T20:31:05+08:00"
        )
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise TimeError(f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise TimeError(f"{value!r} has no UTC offset (write it like 2020-11-07T20:31:05+08:00)")
    return parsed


def to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise TimeError("naive datetime: every instant must carry its zone")
    return moment.astimezone(UTC)


def offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds() // 60)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeError(
            f"unknown time zone {name!r} (use an IANA name like Asia/Shanghai)"
        ) from None


def local_day(moment: datetime, timezone: str) -> date:
    return to_utc(moment).astimezone(zone(timezone)).date()


def local_time_to_utc(day: date, hour: int, minute: int, timezone: str) -> datetime:
    """20:30 on an org's local day, as a UTC instant."""
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone(timezone))
    return local.astimezone(UTC)


def parse_clock(text: str) -> tuple[int, int]:
    """A local time of day, "20:30" → (20, 30)."""
    hour, sep, minute = text.partition(":")
    readable = sep and hour.isdigit() and minute.isdigit() and len(minute) == 2
    if readable and int(hour) < 24 and int(minute) < 60:
        return int(hour), int(minute)
    raise TimeError(f"{text!r} is not a time of day like 20:30")


def daily_instants(
    since: datetime, until: datetime, *, hour: int, minute: int, timezone: str
) -> list[datetime]:
    """Every local hour:minute in [since, until], each day's instant taken in `timezone`."""
    day = local_day(since, timezone)
    instants = []
    while (due := local_time_to_utc(day, hour, minute, timezone)) <= until:
        if due >= since:
            instants.append(due)
        day += timedelta(days=1)
    return instants


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_delay(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
