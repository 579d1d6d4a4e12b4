"""Orgs: created explicitly by an operator, or on first sight in an event with default settings."""

import hashlib
import secrets
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.engine.registry import Tenant
from shequn.kit.time import zone
from shequn.org.models import ApiToken, Org
from shequn.org.scopes import EVERY

TOKEN_PREFIX = "sq_"  # noqa: S105 - a visible prefix, not a secret
# The api_token table's name column.
TOKEN_NAME_LENGTH = 200


class OrgDirectory:
    """The engine's tenancy: loads orgs for a batch and creates the ones it has never seen."""

    def __init__(self, default_timezone: str) -> None:
        zone(default_timezone)
        self.default_timezone = default_timezone

    def ensure(
        self, session: Session, org_ids: Collection[str], now: datetime
    ) -> dict[str, Tenant]:
        wanted = sorted(set(org_ids))
        found = {org.id: org for org in session.scalars(select(Org).where(Org.id.in_(wanted)))}
        for org_id in wanted:
            if org_id not in found:
                found[org_id] = Org(
                    id=org_id,
                    name=org_id,
                    timezone=self.default_timezone,
                    settings={},
                    created_at=now,
                )
                session.add(found[org_id])
        if len(found) > 0:
            session.flush()
        return {org.id: as_tenant(org) for org in found.values()}


def as_tenant(org: Org) -> Tenant:
    return Tenant(id=org.id, timezone=org.timezone, settings=dict(org.settings))


def save_org(
    session: Session,
    org_id: str,
    *,
    name: str | None,
    timezone: str,
    settings: dict[str, Any] | None,
    now: datetime,
) -> tuple[Org, bool]:
    """Create the org, or update one that exists; returns (org, created)."""
    zone(timezone)
    org = session.get(Org, org_id)
    created = org is None
    if org is None:
        org = Org(id=org_id, name=name or org_id, timezone=timezone, settings={}, created_at=now)
        session.add(org)
    else:
        org.name = name or org.name
        org.timezone = timezone
    if settings:
        org.settings = {**org.settings, **settings}
    session.flush()
    return org, created


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, org_id: str, *, name: str, now: datetime, scopes: str = EVERY
) -> str:
    """Mint a token for the org with these scopes (parse_scopes' form); only its hash is
    stored, so it is shown once."""
    if not name.strip() or len(name) > TOKEN_NAME_LENGTH:
        found = f"{len(name)} characters" if name.strip() else "blank"
        raise TokenNameError(f"name: {found}; give 1 to {TOKEN_NAME_LENGTH} characters")
    if session.get(Org, org_id) is None:
        raise UnknownOrg(org_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(org=org_id, name=name, token_hash=hash_token(token), created_at=now,
                         scopes=scopes))  # fmt: skip
    session.flush()
    return token


def create_first_token(session: Session, org_id: str, *, now: datetime) -> str | None:
    """A token for an org that has none yet, so a fresh install can take events at once."""
    if session.scalar(select(ApiToken.id).where(ApiToken.org == org_id).limit(1)) is not None:
        return None
    return create_token(session, org_id, name="first", now=now)


def token_of(session: Session, token: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))


def tokens_of(session: Session, org_id: str) -> list[ApiToken]:
    """The org's tokens, oldest first (their hashes only: a token is shown once, at minting)."""
    return list(
        session.scalars(select(ApiToken).where(ApiToken.org == org_id).order_by(ApiToken.id))
    )


class TokenNameError(ValueError):
    """A token name that is empty or longer than the column holds."""


class UnknownToken(LookupError):
    def __init__(self, org_id: str, token_id: int) -> None:
        super().__init__(
            f"org {org_id!r} has no token {token_id} (shequn token list --org {org_id})"
        )


class UnknownOrg(LookupError):
    def __init__(self, org_id: str) -> None:
        super().__init__(
            f"org {org_id!r} does not exist (create it with: shequn org create {org_id})"
        )
        self.org_id = org_id
