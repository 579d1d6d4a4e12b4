"""Changes staff make to what an org sells, runs and is set to, each written to the staff log
with who made it; and the org settings changed from the dashboard and the API."""

import getpass
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.analytics.projection import recut_days
from shequn.engine.models import EventRecord
from shequn.kit.time import utc_now
from shequn.org.models import ApiToken, Org, StaffAuditEntry
from shequn.org.rules import ORG_FIELDS, check_changes
from shequn.org.service import UnknownOrg, UnknownToken, create_token, save_org

# Who the staff log names for a command when the OS cannot name its user.
CLI = "(cli)"
HIDDEN = "(hidden)"
# The staff log's username column.
ACTOR_LENGTH = 100


def process_user() -> str:
    """Who runs this process, for the staff log of a command given no --by."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return CLI


def is_secret(name: str) -> bool:
    return "secret" in name


def _shown(name: str, value: Any) -> Any:
    # Signing secrets never reach the log; how many there are is what an auditor needs.
    if not is_secret(name) or value is None:
        return value
    return f"{len(value)} {HIDDEN}" if isinstance(value, list) else HIDDEN


def config_diff(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Each setting the changes really change: {name: {"old": …, "new": …}}."""
    return {
        name: {"old": _shown(name, current.get(name)), "new": _shown(name, value)}
        for name, value in sorted(changes.items())
        if current.get(name) != value
    }


def log_staff_action(
    session: Session,
    org: str,
    by: str,
    action: str,
    *,
    target: str | None,
    detail: Mapping[str, Any],
    at: datetime | None = None,
) -> None:
    """Appends one line to the staff log: every writer of it, CLI, dashboard and API, comes here."""
    session.add(StaffAuditEntry(org=org, at=at or utc_now(), username=by[:ACTOR_LENGTH],
                                action=action, target=None if target is None else target[:200],
                                detail=dict(detail)))  # fmt: skip


def record_staff_action(
    session: Session,
    org: str,
    action: str,
    target: str,
    detail: Mapping[str, Any],
    *,
    by: str | None = None,
) -> None:
    """Logs a change to what the org sells or runs (a mall item, a price, a campaign) under
    `by`, or the OS user for a command."""
    log_staff_action(session, org, by or process_user(), action, target=target, detail=detail)


def settings_of(org: Org) -> dict[str, Any]:
    """The org's settings with its name and timezone, which count as settings too."""
    return {"name": org.name, "timezone": org.timezone, **org.settings}


def record_config_change(
    session: Session, org: str, changes: Mapping[str, Any], *, by: str | None = None
) -> dict[str, Any]:
    """Logs the org settings about to be saved (call it before saving) under `by`, or the OS
    user for a command: each old and new value. Returns that difference."""
    found = session.get(Org, org)
    diff = config_diff({} if found is None else settings_of(found), changes)
    if diff:
        log_staff_action(session, org, by or process_user(), "config_changed", target=", ".join(diff),
             detail=diff)  # fmt: skip
    return diff


def recut_daily_figures(
    session: Session,
    org: str,
    *,
    was: str | None,
    timezone: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> bool:
    """Daily figures are cut at the org's local midnight: an org that moved to another zone
    has its own cut again, in the caller's transaction (recut_days). Whether it was."""
    if was is None or was == timezone:
        return False
    logged = session.scalar(select(EventRecord.key).where(EventRecord.org == org).limit(1))
    if logged is None:
        return False
    recut_days(session, org, on_progress=on_progress)
    return True


@dataclass(frozen=True)
class SettingsChange:
    # {setting: {"old": …, "new": …}}, as the staff log holds it.
    diff: dict[str, Any]
    recut: bool


def change_settings(
    session: Session,
    org_id: str,
    changes: Mapping[str, Any],
    *,
    by: str,
    now: datetime,
) -> SettingsChange:
    """Checks the changes by the rules of each setting's domain (SettingRefused names the bad
    one, and nothing is saved), logs them under `by` and saves them; a new time zone re-cuts
    the daily figures, as `shequn org create` does."""
    # Locked so a secret added meanwhile from the command line is not dropped.
    org = session.get(Org, org_id, with_for_update=True)
    if org is None:
        raise UnknownOrg(org_id)
    checked = check_changes(settings_of(org), changes)
    diff = record_config_change(session, org_id, checked, by=by)
    if not diff:
        return SettingsChange(diff={}, recut=False)
    was = org.timezone
    settings = {name: value for name, value in checked.items() if name not in ORG_FIELDS}
    saved, _ = save_org(session, org_id, name=checked.get("name"),
                        timezone=checked.get("timezone", was), settings=settings, now=now)  # fmt: skip
    recut = recut_daily_figures(session, org_id, was=was, timezone=saved.timezone)
    return SettingsChange(diff=diff, recut=recut)


def visible_settings(org: Org) -> tuple[dict[str, Any], dict[str, int]]:
    """The org's settings without its secrets, and how many of each secret it holds."""
    settings = {name: value for name, value in org.settings.items() if not is_secret(name)}
    counts = {
        name: len(value) if isinstance(value, list) else int(value is not None)
        for name, value in org.settings.items()
        if is_secret(name)
    }
    return settings, counts


def mint_token(
    session: Session, org_id: str, *, name: str, scopes: str, by: str, now: datetime
) -> str:
    """A new token for the org with these scopes (parse_scopes' form), logged under `by`
    without the token itself; returns the token, which is shown this once."""
    token = create_token(session, org_id, name=name, now=now, scopes=scopes)
    log_staff_action(session, org_id, by, "token_created", target=name,
                     detail={"scopes": scopes}, at=now)  # fmt: skip
    return token


def revoke_token(session: Session, org_id: str, token_id: int, *, by: str) -> ApiToken:
    """Delete one of the org's tokens, so it stops working at once; logged under `by`."""
    token = session.get(ApiToken, token_id)
    if token is None or token.org != org_id:
        raise UnknownToken(org_id, token_id)
    session.delete(token)
    log_staff_action(session, org_id, by, "token_revoked", target=token.name,
                     detail={"id": token_id, "scopes": token.scopes})  # fmt: skip
    return token
