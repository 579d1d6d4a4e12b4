"""Members' phone numbers sealed at rest with AES-GCM and shown masked until a logged reveal.

The key is 32 random bytes, base64url, in SHEQUN_PHONE_KEY (`shequn staff phone-key` makes
one). Each sealed number is bound to its org and member as associated data, so a sealed
value copied onto another member does not open.

With a key set, a number is sealed on arrival: the event log and the member row keep it
masked (138****5678) and `member_phone`, which a rebuild keeps, holds it sealed. The log keeps
the masked form rather than the sealed one because a sealed number outgrows the contract's
40 characters, and one sealed copy per member is what a new key has to re-seal. Without a
key, numbers stay in clear in the log and the member rows.
"""

import base64
import functools
import os
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.contract import MemberUpserted
from shequn.engine.context import Context
from shequn.engine.event import Event
from shequn.engine.intake import StoredForm
from shequn.engine.models import EventRecord
from shequn.member.models import Member, SealedPhone

KEY_ENV = "SHEQUN_PHONE_KEY"
VERSION = "v1"
MASK = "*"


class PhoneKeyError(ValueError):
    """No key, a key that is not 32 bytes of base64url, or one that does not open a number."""


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def phone_key(environ: Mapping[str, str] = os.environ) -> bytes:
    text = environ.get(KEY_ENV, "")
    if not text:
        raise PhoneKeyError(f"{KEY_ENV}: not set (make one with `shequn staff phone-key`)")
    return _decoded_key(text)


@functools.lru_cache(maxsize=4)
def _decoded_key(text: str) -> bytes:
    # Cached: the member projection asks for the key on every phone it seals.
    try:
        key = base64.urlsafe_b64decode(text.encode())
    except ValueError:
        raise PhoneKeyError(f"{KEY_ENV}: not base64url") from None
    if len(key) != 32:
        raise PhoneKeyError(f"{KEY_ENV}: must be 32 bytes, is {len(key)}")
    return key


def sealing_key(environ: Mapping[str, str] = os.environ) -> bytes | None:
    """The key numbers are sealed with on arrival; None when unset (numbers stay in clear)."""
    return phone_key(environ) if environ.get(KEY_ENV, "") else None


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
        return digits[:3] + MASK * (len(digits) - 7) + digits[-4:]
    if len(digits) <= 2:
        return MASK * 2
    return MASK * (len(digits) - 2) + digits[-2:]


def is_masked(phone: str) -> bool:
    return MASK in phone


def masked_phone(member: Member) -> str | None:
    """The member row keeps a number masked once sealed, in clear until then."""
    if member.phone is None or is_masked(member.phone):
        return member.phone
    return mask_phone(member.phone)


def revealed_phone(session: Session, org: str, member: Member, *, key: bytes | None) -> str | None:
    """The whole number: as the member row has it in clear, else opened from its seal."""
    if member.phone is None or not is_masked(member.phone):
        return member.phone
    sealed = session.get(SealedPhone, (org, member.id))
    # A seal of another number than the row shows (a late, older upsert) is not this one.
    if sealed is None or sealed.masked != member.phone:
        raise PhoneKeyError(f"sealed phone of {member.id!r}: not on file; the next upsert seals it")
    if key is None:
        raise PhoneKeyError(f"{KEY_ENV}: not set, so sealed numbers cannot be revealed")
    return open_phone(sealed.sealed, key=key, org=org, member=member.id)


def phones_stored_masked(key: bytes | None) -> StoredForm | None:
    """The intake's stored form while a key is set: a member.upserted phone kept masked."""
    if key is None:
        return None

    def stored(event: Event, data: dict[str, Any]) -> dict[str, Any]:
        phone = data.get("phone") if event.type == "member.upserted" else None
        if not phone or is_masked(phone):
            return data
        return {**data, "phone": mask_phone(phone)}

    return stored


def prefetch_sealed_phones(context: Context, events: Sequence[Event]) -> None:
    """Loads the seals a batch's upserts may replace in one query, not one query each."""
    if sealing_key() is None:
        return
    context.rows.prefetch(SealedPhone, {
        (event.org, event.data.member) for event in events
        if isinstance(event.data, MemberUpserted) and "phone" in event.data.model_fields_set
    })  # fmt: skip


def arriving_phone(context: Context, member: Member, phone: str | None, *, key: str) -> str | None:
    """What the member row keeps of the phone of the upsert with event key `key`: with a
    SHEQUN_PHONE_KEY, the number is sealed into `member_phone` and the row keeps it masked, and
    a null one removes the seal; without a key, the number as given. A seal is only replaced
    by a newer upsert, so arrival order does not matter."""
    sealing = sealing_key()
    if sealing is None or (phone and is_masked(phone)):
        return phone
    found = context.rows.get(SealedPhone, (member.org, member.id))
    if found is not None and found.source_key is not None and key <= found.source_key:
        return mask_phone(phone) if phone else phone
    if not phone:
        # A newer null or empty number: the old one must not stay at rest.
        if found is not None:
            context.rows.remove(found)
        return phone
    masked = mask_phone(phone)
    sealed = seal_phone(phone, key=sealing, org=member.org, member=member.id)
    if found is None:
        context.rows.add(SealedPhone(org=member.org, member=member.id, sealed=sealed,
                                     masked=masked, sealed_at=context.now,
                                     source_key=key))  # fmt: skip
    else:
        found.sealed, found.masked, found.sealed_at = sealed, masked, context.now
        found.source_key = key
    return masked


def seal_phones(
    session: Session, org: str, *, key: bytes, now: datetime, clear_plaintext: bool = False
) -> int:
    """Seals every member phone in clear not sealed yet or changed since, and with
    `clear_plaintext` masks the member row's and the event log's copies; returns how many
    numbers were sealed."""
    count = 0
    query = select(Member).where(Member.org == org, Member.phone.is_not(None))
    for member in session.scalars(query):
        phone = member.phone
        assert phone is not None
        if is_masked(phone):
            continue
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
                found.source_key = None
            count += 1
        if clear_plaintext:
            member.phone = mask_phone(phone)
    if clear_plaintext:
        mask_logged_phones(session, org)
    return count


def mask_logged_phones(session: Session, org: str) -> None:
    """Masks the numbers member.upserted events of the org still keep in clear."""
    records = select(EventRecord).where(
        EventRecord.org == org, EventRecord.type == "member.upserted"
    )
    for record in session.scalars(records):
        phone = record.data.get("phone")
        if phone and not is_masked(phone):
            record.data = {**record.data, "phone": mask_phone(phone)}
