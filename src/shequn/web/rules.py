"""Who may see and do what on the dashboard: one table of roles, pure checks."""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    OPERATOR = "operator"
    STORE_MANAGER = "store_manager"
    ANALYST = "analyst"


class Permission(StrEnum):
    VIEW_FIGURES = "view_figures"
    VIEW_MEMBERS = "view_members"  # nicknames and ids: personal data
    DECIDE_AUDIT = "decide_audit"
    MANAGE_STAFF = "manage_staff"
    # Seeing a member's whole phone number; every reveal is written to the staff audit log.
    REVEAL_PHONE = "reveal_phone"
    # Pausing, resuming or cancelling a campaign acts on every group it runs in.
    RUN_CAMPAIGNS = "run_campaigns"
    # Fulfilling or cancelling a redemption spends or returns a member's points.
    SETTLE_REDEMPTIONS = "settle_redemptions"
    # The org's name, time zone and rule settings: every store's groups follow them.
    CHANGE_SETTINGS = "change_settings"


# The whole policy in one place. Analysts read figures only, never personal data; a store
# manager sees everything of their own store's groups and nothing of any other store; an
# operator sees the groups they own (and their store's, when they have one), and works on
# members without reading their phone numbers. Campaigns and the mall's redemptions are run
# by owners and admins alone: they span stores, and points are money to members.
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(
        {Permission.VIEW_FIGURES, Permission.VIEW_MEMBERS, Permission.DECIDE_AUDIT}
    ),
    Role.STORE_MANAGER: frozenset(
        {
            Permission.VIEW_FIGURES,
            Permission.VIEW_MEMBERS,
            Permission.DECIDE_AUDIT,
            Permission.REVEAL_PHONE,
        }
    ),
    Role.ANALYST: frozenset({Permission.VIEW_FIGURES}),
}
SCOPED_ROLES = frozenset({Role.STORE_MANAGER, Role.OPERATOR})


@dataclass(frozen=True)
class Staff:
    org: str
    username: str
    role: Role
    store: str | None

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def sees_group(self, group_store: str | None, group_owner: str | None = None) -> bool:
        """A store manager sees their store's groups; an operator the groups whose owner is
        their login name, and their store's; everyone else sees every group."""
        if self.role is Role.OPERATOR and group_owner is not None and group_owner == self.username:
            return True
        if self.role in SCOPED_ROLES:
            return self.store is not None and group_store == self.store
        return True

    @property
    def is_org_wide(self) -> bool:
        return self.role not in SCOPED_ROLES


# scrypt: memory-hard, in the standard library, no native extension to install.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 10


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded[0]}${encoded[1]}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
        )
    except ValueError:
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle:
    """At most `attempts` failed logins per (address, username) per `window`; in memory, so
    per process, which is what slows a password guesser down."""

    def __init__(self, *, attempts: int = 5, window: timedelta = timedelta(minutes=5)) -> None:
        self.attempts, self.window = attempts, window
        self.failures: dict[tuple[str, str], list[datetime]] = {}

    def is_blocked(self, key: tuple[str, str], now: datetime) -> bool:
        recent = [at for at in self.failures.get(key, []) if now - at < self.window]
        self.failures[key] = recent
        return len(recent) >= self.attempts

    def failed(self, key: tuple[str, str], now: datetime) -> None:
        self.failures.setdefault(key, []).append(now)

    def succeeded(self, key: tuple[str, str]) -> None:
        self.failures.pop(key, None)
