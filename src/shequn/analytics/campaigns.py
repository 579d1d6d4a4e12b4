"""A fission campaign's K-factor: newcomers each member already there brought in.

K-factor = effective invites credited during the campaign / members of its groups when it
started (the seed base). Effective invites are the fission board's: newcomers still in the
group and not flagged as fake. The seed's Double-11 first attempt: about 1,000 old members
brought fewer than 300 newcomers, K ≈ 0.27 — fission that stalls; K ≥ 1 grows on its own.
"""

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from shequn.analytics.rules import ratio
from shequn.member.models import Membership


def k_factor(effective: int, seed: int) -> Decimal | None:
    """effective / seed to 4 decimals; None without a seed base."""
    return ratio(effective, seed)


def seed_members(session: Session, org: str, *, groups: Collection[str], at: datetime) -> int:
    """Distinct members in `groups` (empty: every group) at the instant `at`."""
    query = select(func.count(distinct(Membership.member_id))).where(
        Membership.org == org,
        Membership.joined_at < at,
        or_(Membership.left_at.is_(None), Membership.left_at >= at),
    )
    if groups:
        query = query.where(Membership.group_id.in_(list(groups)))
    return int(session.execute(query).scalar_one())
