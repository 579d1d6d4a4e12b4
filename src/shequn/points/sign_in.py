"""Sign-in (签到) per group: open by default; a campaign or an operator may close it."""

from collections.abc import Iterable

from shequn.engine.context import Context
from shequn.points.models import PointsGroup


def set_sign_in_open(context: Context, *, org: str, group: str, is_open: bool) -> None:
    """Open or close sign-in in a group; while closed, sign-in keywords there earn nothing."""
    if not group.strip() or len(group) > 200:
        raise ValueError(f"group: {group!r} must be a group id of 1-200 characters")
    row = context.rows.get(PointsGroup, (org, group))
    if row is None:
        context.rows.add(
            PointsGroup(org=org, group_id=group, is_sign_in_open=is_open, changed_at=context.now)
        )
    elif row.is_sign_in_open != is_open:
        row.is_sign_in_open, row.changed_at = is_open, context.now


def prefetch_sign_in_switches(context: Context, org: str, groups: Iterable[str]) -> None:
    context.rows.prefetch(PointsGroup, [(org, group) for group in groups])


def is_sign_in_open(context: Context, org: str, group: str) -> bool:
    row = context.rows.get(PointsGroup, (org, group))
    return row is None or row.is_sign_in_open
