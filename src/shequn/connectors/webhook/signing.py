"""Standard Webhooks signatures: HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`."""

# The scheme (Standard Webhooks 1.0.0, "Verifying webhook authenticity"):
# https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
# A secret is "whsec_" + base64 of 24 to 64 random bytes. `webhook-signature` holds
# space-separated "v1,<base64 HMAC>" entries, one per secret the sender signs with, so a secret
# is rotated without downtime: the sender signs with old and new, the receiver accepts either.

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shequn.kit.time import to_utc

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's visible prefix, not a secret
SECRET_BYTES = 24
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
SIGNATURE_VERSION = "v1"
TOLERANCE = timedelta(minutes=5)
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
# The org setting that holds the secrets accepted for the org, oldest first.
SECRETS_SETTING = "webhook_secrets"
MASKED_LENGTH = 10

# Integer Unix seconds, as the spec says; twelve digits keeps datetime.fromtimestamp in range.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class WebhookError(ValueError):
    """A delivery or a secret that cannot be used; each subclass names what failed."""


class MalformedSecret(WebhookError):
    """A secret that is not `whsec_` + base64 of 24 to 64 bytes."""


class DeliveryRefused(WebhookError):
    """A delivery that must be answered 401: nothing of it may be written."""


class MissingHeader(DeliveryRefused):
    """One of webhook-id, webhook-timestamp or webhook-signature is absent or empty."""

    def __init__(self, header: str) -> None:
        super().__init__(f"missing header {header}")
        self.header = header


class BadWebhookId(DeliveryRefused):
    """A webhook-id containing '.', which would make the signed content ambiguous."""


class BadTimestamp(DeliveryRefused):
    """A webhook-timestamp that is not integer Unix seconds."""


class StaleTimestamp(DeliveryRefused):
    """A webhook-timestamp further from now than the tolerance."""


class TimestampTooOld(StaleTimestamp):
    """Signed longer ago than the tolerance: a replay, or a delivery held up too long."""


class TimestampInFuture(StaleTimestamp):
    """Signed later than now plus the tolerance: the sender's clock is off."""


class NoMatchingSignature(DeliveryRefused):
    """No v1 entry of webhook-signature matches any of the secrets."""


@dataclass(frozen=True)
class Delivery:
    """A delivery whose signature holds: its id and when it was signed."""

    msg_id: str
    sent_at: datetime


def generate_secret() -> str:
    """A fresh secret: `whsec_` and base64 of 24 random bytes, the spec's minimum."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def mask_secret(secret: str) -> str:
    """Enough of a secret to tell it apart in a list and revoke it by prefix."""
    return secret[:MASKED_LENGTH] + "…"


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret stands for."""
    if not secret.startswith(SECRET_PREFIX):
        raise MalformedSecret(f"secret {mask_secret(secret)} does not start with {SECRET_PREFIX}")
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        # Some senders print their secrets without base64 padding.
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise MalformedSecret(f"secret {mask_secret(secret)} is not base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise MalformedSecret(
            f"secret {mask_secret(secret)} holds {len(key)} bytes; "
            f"{MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} are required"
        )
    return key


def secrets_in(settings: Mapping[str, Any]) -> list[str]:
    """The webhook secrets an org's settings hold; none means the org has no webhook."""
    value = settings.get(SECRETS_SETTING)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


def _digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` entry a sender puts in webhook-signature for this delivery."""
    digest = _digest(secret_key(secret), msg_id, str(timestamp), body)
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def verify(
    secrets: Collection[str],
    *,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> Delivery:
    """Return the delivery if one v1 signature matches one secret; raise what failed otherwise."""
    # Every secret is checked before the request is looked at: a broken one is the operator's
    # to fix, and must not pass for a sender's bad signature.
    keys = [secret_key(secret) for secret in secrets]
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = _header(lowered, ID_HEADER)
    timestamp = _header(lowered, TIMESTAMP_HEADER)
    signature = _header(lowered, SIGNATURE_HEADER)
    if "." in msg_id:
        raise BadWebhookId(f"{ID_HEADER} {msg_id!r} must not contain '.'")
    sent_at = check_timestamp(timestamp, now=now, tolerance=tolerance)
    offered = [
        candidate for entry in signature.split() if (candidate := _v1_signature(entry)) is not None
    ]
    if not offered:
        raise NoMatchingSignature(f"{SIGNATURE_HEADER} has no entry of the form v1,<base64>")
    for key in keys:
        expected = _digest(key, msg_id, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return Delivery(msg_id=msg_id, sent_at=sent_at)
    raise NoMatchingSignature(
        f"{SIGNATURE_HEADER}: no v1 signature matches the secret for "
        f"{ID_HEADER}, {TIMESTAMP_HEADER} and body as received"
    )


def check_timestamp(timestamp: str, *, now: datetime, tolerance: timedelta = TOLERANCE) -> datetime:
    """When the delivery was signed; raise unless it lies within now ± tolerance."""
    if not _TIMESTAMP.fullmatch(timestamp):
        raise BadTimestamp(f"{TIMESTAMP_HEADER} {timestamp!r} is not integer Unix seconds")
    sent_at = datetime.fromtimestamp(int(timestamp), tz=UTC)
    drift = sent_at - to_utc(now)
    allowed = int(tolerance.total_seconds())
    if drift < -tolerance:
        raise TimestampTooOld(
            f"{TIMESTAMP_HEADER} {timestamp} is {int(-drift.total_seconds())} s old; "
            f"at most {allowed} s is accepted"
        )
    if drift > tolerance:
        raise TimestampInFuture(
            f"{TIMESTAMP_HEADER} {timestamp} is {int(drift.total_seconds())} s in the future; "
            f"at most {allowed} s is accepted (check the sender's clock)"
        )
    return sent_at


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise MissingHeader(name)
    return value


def _v1_signature(entry: str) -> bytes | None:
    # Other versions (v1a: ed25519) and entries we cannot read are skipped, not refused:
    # the spec lets a sender add signatures a receiver does not know.
    version, _, encoded = entry.partition(",")
    if version != SIGNATURE_VERSION:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return None
