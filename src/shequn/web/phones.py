"""Members' phone numbers sealed at rest with AES-GCM and shown masked until a logged reveal.

The key is 32 random bytes, base64url, in SHEQUN_PHONE_KEY (`shequn staff phone-key` makes
one). Each sealed number is bound to its org and member as associated data, so a sealed
value copied onto another member does not open.
"""

import base64
import os
import secrets
from collections.abc import Mapping
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.member.models import Member
from shequn.web.models import SealedPhone

KEY_ENV = "SHEQUN_PHONE_KEY"
VERSION = "v1"


class PhoneKeyError(ValueError):
    """No key, a key that is not 32 bytes of base64url, or one that does not open a number."""


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def phone_key(environ: Mapping[str, str] = os.environ) -> bytes:
    text = environ.get(KEY_ENV, "")
    if not text:
        raise PhoneKeyError(f"{KEY_ENV}: not set (make one with `shequn staff phone-key`)")
    try:
        key = base64.urlsafe_b64decode(text.encode())
    except ValueError:
        raise PhoneKeyError(f"{KEY_ENV}: not base64url") from None
    if len(key) != 32:
        raise PhoneKeyError(f"{KEY_ENV}: must be 32 bytes, is {len(key)}")
    return key


def seal_phone(phone: str, *, key: bytes, org: str, member: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, phone.encode(), f"{org}/{member}".encode())
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def open_phone(sealed: str, *, key: bytes, org: str, member: str) -> str:
    version, _, body = sealed.partition(".")
    if version != VERSION:
        raise PhoneKeyError(f"sealed phone of {member!r}: unknown format {version!r}")
    raw = base64.urlsafe_b64decode(body.encode())
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], f"{org}/{member}".encode()).decode()
    except InvalidTag:
        raise PhoneKeyError(f"sealed phone of {member!r}: the key does not open it") from None


def mask_phone(phone: str) -> str:
    """13812345678 → 138****5678: enough to tell two numbers apart, not enough to call."""
    digits = phone.strip()
    if len(digits) >= 8:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def masked_phone(session: Session, org: str, member: Member) -> str | None:
    sealed = session.get(SealedPhone, (org, member.id))
    if sealed is not None:
        return sealed.masked
    return None if member.phone is None else mask_phone(member.phone)


def revealed_phone(session: Session, org: str, member: Member, *, key: bytes | None) -> str | None:
    """The whole number: opened from the seal (which needs the key), else as the member row has it."""
    sealed = session.get(SealedPhone, (org, member.id))
    if sealed is None:
        return member.phone
    if key is None:
        raise PhoneKeyError(f"{KEY_ENV}: not set, so sealed numbers cannot be revealed")
    return open_phone(sealed.sealed, key=key, org=org, member=member.id)


def seal_phones(
    session: Session, org: str, *, key: bytes, now: datetime, clear_plaintext: bool = False
) -> int:
    """Seals every member phone not sealed yet or changed since, and with `clear_plaintext`
    blanks the member row's copy; returns how many numbers were sealed."""
    count = 0
    query = select(Member).where(Member.org == org, Member.phone.is_not(None))
    for member in session.scalars(query):
        phone = member.phone
        assert phone is not None
        found = session.get(SealedPhone, (org, member.id))
        opened = None if found is None else open_phone(found.sealed, key=key, org=org,
                                                       member=member.id)  # fmt: skip
        if opened != phone:
            sealed = seal_phone(phone, key=key, org=org, member=member.id)
            if found is None:
                session.add(SealedPhone(org=org, member=member.id, sealed=sealed,
                                        masked=mask_phone(phone), sealed_at=now))  # fmt: skip
            else:
                found.sealed, found.masked, found.sealed_at = sealed, mask_phone(phone), now
            count += 1
        if clear_plaintext:
            member.phone = None
    return count
