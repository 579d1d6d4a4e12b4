"""What groups react to: a newcomer is welcomed, a filling group becomes an operator task,
and scheduled announcements are posted."""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import select

from shequn.contract import MemberJoined
from shequn.engine.action import Action, ActionKind
from shequn.engine.context import Context, Job
from shequn.engine.event import Event
from shequn.engine.models import JobRecord
from shequn.engine.registry import JobKind, Reaction
from shequn.group.models import Group, Staff
from shequn.group.rules import (
    WelcomePolicy,
    capacity_margin,
    has_just_filled,
    nearly_full_task,
    welcome_messages,
    welcome_policy,
    welcome_slot,
)
from shequn.kit.ids import stable_id
from shequn.member.models import GroupMember, Member, Membership

WELCOME_JOB = "group.welcome"


def _newly_joined(context: Context, event: Event, data: MemberJoined) -> bool:
    standing = context.rows.get(GroupMember, (event.org, data.group, data.member))
    return standing is not None and standing.joined_key == event.key


def prefetch_staff(context: Context, events: Sequence[Event]) -> None:
    joined = [event for event in events if event.type == "member.joined"]
    context.rows.prefetch(Staff, {(event.org, event.member) for event in joined if event.member})


# A template that takes the org's welcome's place for a group at a moment: a campaign's rules.
WelcomeSource = Callable[[Context, str, str, datetime], str | None]


def welcoming(sources: Sequence[WelcomeSource] = ()) -> tuple[Reaction, JobKind]:
    """The welcome reaction and its job; the composition root says which domains may put their
    own words in the org's welcome's place, so this module knows none of them."""

    def policy_for(context: Context, org: str, group: str, at: datetime) -> WelcomePolicy | None:
        settings = context.tenant(org).settings
        for source in sources:
            if (template := source(context, org, group, at)) is not None:
                return welcome_policy(settings, template=template)
        return welcome_policy(settings)

    def welcome_newcomer(context: Context, event: Event) -> None:
        """Schedule the welcome of the window this join falls in; joins of one window share it."""
        data = event.payload(MemberJoined)
        policy = policy_for(context, event.org, data.group, event.at)
        if policy is None or not _newly_joined(context, event, data):
            return
        if context.rows.get(Staff, (event.org, data.member)) is not None:
            return
        since, until = welcome_slot(event.at, policy.window)
        context.schedule(
            Job(
                id=stable_id("welcome", event.org, data.group, since.isoformat()),
                org=event.org,
                kind=WELCOME_JOB,
                due_at=until,
                payload={
                    "group": data.group,
                    "since": since.isoformat(),
                    "until": until.isoformat(),
                },
            )
        )

    def post_welcome(context: Context, job: JobRecord) -> None:
        """@-mention everyone who joined in the window and is still there, in as few messages
        as the org's mention limit allows."""
        group = context.rows.get(Group, (job.org, str(job.payload["group"])))
        since = datetime.fromisoformat(str(job.payload["since"]))
        until = datetime.fromisoformat(str(job.payload["until"]))
        policy = None if group is None else policy_for(context, job.org, group.id, since)
        if policy is None or group is None:
            return
        staff = select(Staff.id).where(Staff.org == job.org)
        newcomers = context.session.execute(
            select(Membership.member_id, Member.nickname)
            .join(Member, (Member.org == Membership.org) & (Member.id == Membership.member_id))
            .where(
                Membership.org == job.org,
                Membership.group_id == group.id,
                Membership.joined_at >= since,
                Membership.joined_at < until,
                Membership.left_at.is_(None),
                Membership.member_id.not_in(staff),
            )
            .order_by(Membership.join_key)
        ).all()
        welcomes = welcome_messages(
            policy,
            newcomers=[(member, nickname) for member, nickname in newcomers],
            group_name=group.name,
        )
        for number, welcome in enumerate(welcomes):
            context.emit(
                Action(
                    id=stable_id("welcome", job.id, number),
                    org=job.org,
                    kind=ActionKind.SEND_MESSAGE,
                    cause=f"job:{job.id}",
                    platform=group.platform,
                    group=group.id,
                    payload={"text": welcome.text, "mentions": list(welcome.mentions)},
                )
            )

    reaction = Reaction(
        name="welcome", on={"member.joined": welcome_newcomer}, prefetch=prefetch_staff
    )
    # A welcome ten minutes late still greets people who just arrived; an hour late it is noise.
    job = JobKind(name=WELCOME_JOB, run=post_welcome, max_lateness=timedelta(minutes=10))
    return reaction, job


def watch_capacity(context: Context, event: Event) -> None:
    data = event.payload(MemberJoined)
    group = cast(Group, context.rows.get(Group, (event.org, data.group)))
    margin = capacity_margin(context.tenant(event.org).settings)
    if not _newly_joined(context, event, data) or not has_just_filled(
        member_count=group.member_count, capacity=group.capacity, margin=margin
    ):
        return
    title = nearly_full_task(
        group_name=group.name, member_count=group.member_count, capacity=cast(int, group.capacity)
    )
    context.emit(
        Action(
            id=stable_id("nearly-full", event.org, event.source, event.id),
            org=event.org,
            kind=ActionKind.CREATE_TASK,
            cause=f"{event.source}:{event.id}",
            platform=group.platform,
            group=group.id,
            payload={"title": title.as_json(), "member_count": group.member_count},
        )
    )


def post_announcement(context: Context, job: JobRecord) -> None:
    group_id = str(job.payload["group"])
    group = context.rows.get(Group, (job.org, group_id))
    if group is None:
        raise LookupError(f"group {group_id!r} is unknown in org {job.org!r}")
    if group.dismissed_at is not None:
        raise LookupError(f"group {group_id!r} was dismissed")
    context.emit(
        Action(
            id=stable_id("announce", job.id),
            org=job.org,
            kind=ActionKind.SEND_MESSAGE,
            cause=f"job:{job.id}",
            platform=group.platform,
            group=group.id,
            payload={
                "text": job.payload["text"],
                "mentions": list(job.payload.get("mentions", [])),
            },
        )
    )


CAPACITY_WATCH = Reaction(name="capacity-watch", on={"member.joined": watch_capacity})

# An announcement half an hour late still makes sense; "tonight at 20:30" posted at midnight does not.
ANNOUNCE = JobKind(name="group.announce", run=post_announcement, max_lateness=timedelta(minutes=30))
