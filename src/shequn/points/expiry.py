"""The expiry job: flagged members' points revoked, due invites credited, lots whose time is up
expired; and an operator's corrections."""

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from shequn.audit.service import flagged_members
from shequn.engine.context import CHUNK, Context
from shequn.points.invites import credit_due_invites
from shequn.points.ledger import (
    Entry,
    adjust,
    expire,
)
from shequn.points.models import (
    PointsLot,
)
from shequn.points.policy import policy_of
from shequn.points.store import (
    Revocation,
    load_ledger,
    lock_members,
    require_member,
    revoke_points,
    save_ledger,
)


def sweep_flagged(context: Context, org: str) -> list[Entry]:
    """Revoke what members the audit flags still hold, and the invite points they earned others."""
    policy = policy_of(context, org)
    if not policy.revoke_flagged:
        return []
    flagged = sorted(flagged_members(context.session, org))
    revocations: list[Revocation] = []
    for start in range(0, len(flagged), CHUNK):
        chunk = flagged[start : start + CHUNK]
        holders = context.session.scalars(
            select(PointsLot.member)
            .where(PointsLot.org == org, PointsLot.member.in_(chunk), PointsLot.remaining > 0)
            .distinct()
        )
        revocations += [Revocation(m, context.now, "flagged by the audit") for m in holders]
        invites = [f"invite:{member}" for member in chunk]
        for lot_id, owner in context.session.execute(
            select(PointsLot.id, PointsLot.member).where(
                PointsLot.org == org, PointsLot.id.in_(invites), PointsLot.remaining > 0
            )
        ):
            revocations.append(Revocation(owner, context.now, "invitee flagged", lot=lot_id))
    return revoke_points(context, org, revocations, policy=policy)


@dataclass(frozen=True)
class Expired:
    lots: int
    points: int
    revoked: int
    invites: int


def expire_points(context: Context, org: str) -> Expired:
    """The expiry job: an expire entry for every lot whose time is up; flagged members' points
    are revoked first (per the org's settings), and inviters whose newcomers are due are
    credited. Running it again writes nothing."""
    invites = credit_due_invites(context, org)
    revoked = sweep_flagged(context, org)
    policy = policy_of(context, org)
    members = sorted(
        context.session.scalars(
            select(PointsLot.member)
            .where(PointsLot.org == org, PointsLot.remaining > 0,
                   PointsLot.expires_at <= context.now)
            .distinct()
        )
    )  # fmt: skip
    written: list[Entry] = []
    for start in range(0, len(members), CHUNK):
        chunk = members[start : start + CHUNK]
        lock_members(context.session, org, chunk)
        before = load_ledger(context.session, org, chunk, timezone=context.tenant(org).timezone,
                             months=policy.expiry_months)  # fmt: skip
        written += save_ledger(context, org, before, expire(before, context.now))
    return Expired(
        lots=len(written),
        points=-sum(entry.amount for entry in written),
        revoked=-sum(entry.amount for entry in revoked),
        invites=len(invites),
    )


def adjust_points(
    context: Context, org: str, member: str, points: int, *, reason: str, by: str
) -> list[Entry]:
    """An operator's correction, recorded with who made it and why; never an edit."""
    reason, by = reason.strip(), by.strip()
    if not reason or len(reason) > 200:
        raise ValueError(f"--reason: {reason!r} must say why, in 1-200 characters")
    if not by or len(by) > 80:
        raise ValueError(f"--by: {by!r} must name who corrects, in 1-80 characters")
    if points == 0:
        raise ValueError("points: a correction must move some points (+N or -N)")
    require_member(context.session, org, member)
    policy = policy_of(context, org)
    lock_members(context.session, org, [member])
    before = load_ledger(context.session, org, [member], timezone=context.tenant(org).timezone,
                         months=policy.expiry_months)  # fmt: skip
    after = adjust(before, member=member, points=points, key=f"adjust:{secrets.token_hex(8)}",
                   at=context.now, reason=f"{reason} ({by})")  # fmt: skip
    return save_ledger(context, org, before, after)
