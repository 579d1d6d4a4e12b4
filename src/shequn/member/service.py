"""Member lookups shared by every domain that speaks to members by name, and member tags."""

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from shequn.db import insert_ignoring_conflicts
from shequn.member.models import Member, MemberTag
from shequn.member.rules import TagChange, change_tags
from shequn.org.changes import log_staff_action

MEMBER_TAG = cast(Table, MemberTag.__table__)
# How long a name the staff log and member_tag.added_by hold for who made a change.
BY_LENGTH = 100


class UnknownMember(LookupError):
    def __init__(self, org: str, member: str) -> None:
        super().__init__(f"member {member!r}: not found in org {org!r}")


def nicknames(session: Session, org: str, members: Sequence[str]) -> dict[str, str]:
    """Nicknames of those members that have one; callers fall back to the id."""
    found: dict[str, str] = {}
    wanted = sorted(set(members))
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(Member.id, Member.nickname).where(
                Member.org == org, Member.id.in_(wanted[start : start + 500])
            )
        )
        found.update({member: nickname for member, nickname in rows if nickname})
    return found


def tags_of(session: Session, org: str, member: str) -> list[str]:
    """The member's tags in code point order: an ORDER BY would follow each database's
    collation, and SQLite and PostgreSQL disagree on where VIP and vip go."""
    query = select(MemberTag.tag).where(MemberTag.org == org, MemberTag.member == member)
    return sorted(session.scalars(query))


def tags_of_members(session: Session, org: str, members: Sequence[str]) -> dict[str, list[str]]:
    """Each listed member's tags, in code point order, in one query per 500 members."""
    found: dict[str, list[str]] = {}
    wanted = sorted(set(members))
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(MemberTag.member, MemberTag.tag).where(
                MemberTag.org == org, MemberTag.member.in_(wanted[start : start + 500])
            )
        )
        for member, tag in rows:
            found.setdefault(member, []).append(tag)
    return {member: sorted(tags) for member, tags in found.items()}


def known_tags_of(session: Session, org: str, member: str) -> list[str]:
    """The member's tags; an unknown member raises UnknownMember rather than having none."""
    if session.get(Member, (org, member)) is None:
        raise UnknownMember(org, member)
    return tags_of(session, org, member)


def tag_member(
    session: Session,
    org: str,
    member: str,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    by: str,
    now: datetime,
) -> TagChange:
    """Adds and removes a member's tags and writes the change to the staff log under `by`;
    a bad tag refuses the whole change (TagError)."""
    if session.get(Member, (org, member)) is None:
        raise UnknownMember(org, member)
    change = change_tags(tags_of(session, org, member), add=add, remove=remove)
    if change.added:
        # Two staff may add the same tag at once: the second finds it there, not an error.
        session.execute(insert_ignoring_conflicts(session.get_bind().dialect, MEMBER_TAG), [
            {"org": org, "member": member, "tag": tag, "added_by": by, "added_at": now}
            for tag in change.added
        ])  # fmt: skip
    if change.removed:
        session.execute(
            delete(MemberTag).where(
                MemberTag.org == org, MemberTag.member == member,
                MemberTag.tag.in_(change.removed),
            )
        )  # fmt: skip
    if not change.is_empty:
        log_staff_action(session, org, by, "member_tagged", target=member, at=now,
                         detail={"added": list(change.added), "removed": list(change.removed)})  # fmt: skip
    session.flush()
    return change
