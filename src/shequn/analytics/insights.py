"""The heatmap and the lifecycle stages: counted in the database, decided in rules.

`report_heatmap` counts the log (the CLI's report, exact for any range); `table_heatmap` reads
the hourly activity the projection keeps (the dashboard's), and tests hold the two equal."""

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequn.analytics.heatmap import Bucket, Heatmap, fold_buckets, fold_hours, whole_hour_offsets
from shequn.analytics.lifecycle import GroupStage, stage_of, trend_of, window_of
from shequn.analytics.models import GroupHourlyActivity, OrgHourlyActivity
from shequn.analytics.rules import ACTIVE_TYPES, POSTED, GroupDay, day_bounds, days_of
from shequn.analytics.service import check_group, org_timezone, report_group_days
from shequn.engine.event import order_key
from shequn.engine.models import EventRecord
from shequn.group.models import Group
from shequn.kit.time import local_day
from shequn.member.models import MemberActivity

# The event key starts with the UTC time as YYYYMMDDTHHMM…: a prefix is a time slice.
HOUR_PREFIX = len("20201107T20")
MINUTE_PREFIX = len("20201107T2031")


def report_heatmap(
    session: Session,
    org: str,
    *,
    first: date,
    last: date,
    group: str | None = None,
    groups: Collection[str] | None = None,
) -> Heatmap:
    """Interactions per local weekday and hour from `first` to `last`; `groups` limits a scope."""
    timezone = org_timezone(session, org)
    check_group(session, org, group)
    bounds = day_bounds(days_of(first, last), timezone)
    # Whole-hour zones (Asia/Shanghai) count per UTC hour; others, such as +05:45, per minute.
    width = HOUR_PREFIX if whole_hour_offsets(bounds, timezone) else MINUTE_PREFIX
    slice_of = func.substr(EventRecord.key, 1, width)
    query = (
        select(slice_of, EventRecord.type, func.count())
        .where(
            EventRecord.org == org,
            EventRecord.type.in_(ACTIVE_TYPES),
            EventRecord.key >= order_key(bounds[0], 0, 0),
            EventRecord.key < order_key(bounds[-1], 0, 0),
        )
        .group_by(slice_of, EventRecord.type)
    )
    if group is not None:
        query = query.where(EventRecord.group_id == group)
    if groups is not None:
        query = query.where(EventRecord.group_id.in_(list(groups)))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for prefix, kind, count in session.execute(query):
        counts[prefix][0 if kind == POSTED else 1] += int(count)
    buckets = [
        Bucket(start=_slice_start(prefix), messages=posted, reactions=reacted)
        for prefix, (posted, reacted) in counts.items()
    ]
    return fold_buckets(buckets, group=group, first=first, last=last, timezone=timezone)


# Groups per query when a staff member's scope is summed: within any backend's bind limit.
SCOPE_CHUNK = 500


def table_heatmap(
    session: Session,
    org: str,
    *,
    first: date,
    last: date,
    group: str | None = None,
    groups: Collection[str] | None = None,
) -> Heatmap:
    """The heatmap from the hourly activity table: the org's own rows, one group's, or the sum
    of the groups a scope names."""
    timezone = org_timezone(session, org)
    check_group(session, org, group)
    days_of(first, last)
    hours: list[tuple[date, int, int, int]] = []
    if group is None and groups is None:
        query = select(
            OrgHourlyActivity.day, OrgHourlyActivity.hour, OrgHourlyActivity.messages,
            OrgHourlyActivity.reactions,
        ).where(
            OrgHourlyActivity.org == org, OrgHourlyActivity.day >= first,
            OrgHourlyActivity.day <= last,
        )  # fmt: skip
        hours = [
            (day, hour, posted, reacted) for day, hour, posted, reacted in session.execute(query)
        ]
    else:
        wanted = [group] if group is not None else sorted(groups or ())
        if group is not None and groups is not None and group not in groups:
            wanted = []
        table = GroupHourlyActivity
        for start in range(0, len(wanted), SCOPE_CHUNK):
            query = (
                select(table.day, table.hour, func.sum(table.messages), func.sum(table.reactions))
                .where(table.org == org, table.group_id.in_(wanted[start : start + SCOPE_CHUNK]),
                       table.day >= first, table.day <= last)
                .group_by(table.day, table.hour)
            )  # fmt: skip
            hours += [(day, hour, int(posted), int(reacted))
                      for day, hour, posted, reacted in session.execute(query)]  # fmt: skip
    return fold_hours(hours, group=group, first=first, last=last, timezone=timezone)


def _slice_start(prefix: str) -> datetime:
    minute = prefix[11:13] or "00"
    return datetime(int(prefix[0:4]), int(prefix[4:6]), int(prefix[6:8]), int(prefix[9:11]),
                    int(minute), tzinfo=UTC)  # fmt: skip


def report_lifecycle(
    session: Session,
    org: str,
    *,
    on: date,
    groups: Collection[str] | None = None,
    window: Sequence[GroupDay] | None = None,
) -> list[GroupStage]:
    """Every group's stage on local day `on` (dismissed groups have none), by group id;
    `window` passes the daily rows of window_of(on) when the caller has them already."""
    timezone = org_timezone(session, org)
    first, last = window_of(on)
    query = select(Group).where(Group.org == org, Group.dismissed_at.is_(None)).order_by(Group.id)
    listed = [g for g in session.scalars(query) if groups is None or g.id in groups]
    if window is None:
        window = report_group_days(session, org, first=first, last=last)
    rows: dict[str, list[GroupDay]] = defaultdict(list)
    for row in window:
        if row.group is not None:
            rows[row.group].append(row)
    last_active = dict(
        session.execute(
            select(MemberActivity.group_id, func.max(MemberActivity.last_active_at))
            .where(MemberActivity.org == org)
            .group_by(MemberActivity.group_id)
        ).all()
    )
    stages = []
    for group in listed:
        trend = trend_of(group.id, local_day(group.first_seen_at, timezone), rows[group.id], on=on)
        stage = GroupStage(trend=trend, stage=stage_of(trend, on=on), on=on, name=group.name,
                           store=group.store, owner=group.owner,
                           last_active_at=last_active.get(group.id))  # fmt: skip
        stages.append(stage)
    return stages
