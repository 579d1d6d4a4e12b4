"""Member lookups shared by every domain that speaks to members by name."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.member.models import Member


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
