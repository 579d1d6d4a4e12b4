"""WeCom callback crypto (WXBizMsgCrypt): signature, AES envelope and freshness checks."""

# The scheme as WeCom documents it (加解密方案说明):
# https://developer.work.weixin.qq.com/document/path/91144
# A payload is base64(AES-256-CBC(PKCS#7-32(random 16 B + big-endian length + msg + receive id)))
# with key = base64decode(EncodingAESKey + "=") and IV = the key's first 16 bytes.

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shequn.kit.time import to_utc

# WeCom pads to a multiple of 32 bytes, not to AES's 16-byte block.
BLOCK_SIZE = 32
AES_BLOCK_SIZE = 16
RANDOM_PREFIX_SIZE = 16
LENGTH_FIELD_SIZE = 4
ENCODING_AES_KEY_LENGTH = 43
WINDOW = timedelta(seconds=300)

# Ten digits today; twelve leaves room and keeps datetime.fromtimestamp from overflowing.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# Any markup declaration but CDATA and comments: DOCTYPE and ENTITY (XXE, billion laughs),
# and ELEMENT/ATTLIST, which only ever come inside a DOCTYPE.
_DECLARATION = re.compile(r"<!(?!\[CDATA\[|--)")


class CallbackError(ValueError):
    """A callback that must be refused; each subclass names what failed."""


class BadSignature(CallbackError):
    """msg_signature does not match the token, timestamp, nonce and payload."""


class StaleTimestamp(CallbackError):
    """The signed timestamp is further from now than the window allows."""


class ReplayedNonce(CallbackError):
    """This (timestamp, nonce) pair was already taken in within the window."""


class BadPadding(CallbackError):
    """The decrypted payload does not end in valid 32-byte PKCS#7 padding."""


class WrongCorpId(CallbackError):
    """The payload was sealed for another receive id than our corp id."""


class MalformedXml(CallbackError):
    """The body is not XML we accept: unparsable, declaring a DOCTYPE/ENTITY, or missing a field."""


class MalformedCallback(CallbackError):
    """A field cannot be read: ciphertext, length field, text encoding or timestamp."""


class BadEncodingAESKey(ValueError):
    """The EncodingAESKey is not 43 base64 characters decoding to a 32-byte AES key."""


@dataclass(frozen=True)
class CallbackKeys:
    """The Token, AES key and corp id of one app's callback settings."""

    token: str = field(repr=False)
    aes_key: bytes = field(repr=False)
    corp_id: str

    @classmethod
    def from_settings(cls, *, token: str, encoding_aes_key: str, corp_id: str) -> "CallbackKeys":
        """Decode the EncodingAESKey shown in WeCom's admin console."""
        if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
            raise BadEncodingAESKey(
                f"EncodingAESKey must be {ENCODING_AES_KEY_LENGTH} characters, "
                f"not {len(encoding_aes_key)}"
            )
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            raise BadEncodingAESKey("EncodingAESKey is not base64") from None
        if not token:
            raise ValueError("token must not be empty")
        if not corp_id:
            raise ValueError("corp_id must not be empty")
        return cls(token=token, aes_key=key, corp_id=corp_id)


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """SHA-1 hex of the four strings sorted and concatenated, as WeCom signs a callback."""
    joined = "".join(sorted((token, timestamp, nonce, encrypt)))
    # SHA-1 is WeCom's choice, not ours; the token keeps it from being forged.
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324


def check_signature(
    keys: CallbackKeys, *, msg_signature: str, timestamp: str, nonce: str, encrypt: str
) -> None:
    """Raise BadSignature unless msg_signature signs these values with our token."""
    expected = signature(keys.token, timestamp, nonce, encrypt)
    if not hmac.compare_digest(expected.encode("utf-8"), msg_signature.lower().encode("utf-8")):
        raise BadSignature("msg_signature does not match the token, timestamp, nonce and payload")


def check_timestamp(timestamp: str, *, now: datetime, window: timedelta = WINDOW) -> datetime:
    """Return when the callback was signed; raise StaleTimestamp if that is outside now ± window."""
    sent = _instant(timestamp)
    drift = abs(to_utc(now) - sent)
    if drift > window:
        raise StaleTimestamp(
            f"timestamp {timestamp} is {int(drift.total_seconds())} s from now; "
            f"at most {int(window.total_seconds())} s is accepted"
        )
    return sent


def encrypt_payload(keys: CallbackKeys, message: str, *, random_prefix: bytes | None = None) -> str:
    """Seal a message for our corp id; `random_prefix` (16 bytes) is drawn fresh when omitted."""
    prefix = secrets.token_bytes(RANDOM_PREFIX_SIZE) if random_prefix is None else random_prefix
    if len(prefix) != RANDOM_PREFIX_SIZE:
        raise ValueError(f"random_prefix must be {RANDOM_PREFIX_SIZE} bytes, not {len(prefix)}")
    body = message.encode("utf-8")
    plain = prefix + struct.pack(">I", len(body)) + body + keys.corp_id.encode("utf-8")
    encryptor = _cipher(keys).encryptor()
    sealed = encryptor.update(_pad(plain)) + encryptor.finalize()
    return base64.b64encode(sealed).decode("ascii")


def decrypt_payload(keys: CallbackKeys, encrypt: str) -> str:
    """Open a sealed payload and return its message; it must have been sealed for our corp id."""
    try:
        sealed = base64.b64decode(encrypt, validate=True)
    except binascii.Error:
        raise MalformedCallback("Encrypt is not base64") from None
    if not sealed or len(sealed) % AES_BLOCK_SIZE:
        raise MalformedCallback(
            f"Encrypt holds {len(sealed)} bytes, not a whole number of AES blocks"
        )
    decryptor = _cipher(keys).decryptor()
    plain = _unpad(decryptor.update(sealed) + decryptor.finalize())
    header = RANDOM_PREFIX_SIZE + LENGTH_FIELD_SIZE
    if len(plain) < header:
        raise MalformedCallback(f"payload is {len(plain)} bytes, shorter than its header")
    (length,) = struct.unpack(">I", plain[RANDOM_PREFIX_SIZE:header])
    end = header + length
    if end > len(plain):
        raise MalformedCallback(
            f"payload announces a {length}-byte message but holds {len(plain) - header} bytes"
        )
    receive_id = plain[end:]
    if receive_id != keys.corp_id.encode("utf-8"):
        shown = receive_id.decode("utf-8", errors="replace")
        raise WrongCorpId(f"payload is for receive id {shown!r}, not corp {keys.corp_id!r}")
    try:
        return plain[header:end].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedCallback("message is not UTF-8") from None


def parse_xml(text: str | bytes) -> ET.Element:
    """Parse callback XML, refusing DOCTYPE and ENTITY declarations before the parser sees them."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedXml("body is not UTF-8") from None
    # Checked on decoded text so that no byte encoding can smuggle a declaration past the check.
    if _DECLARATION.search(text):
        raise MalformedXml("DOCTYPE and ENTITY declarations are refused")
    try:
        # Safe once declarations are refused: without them there is nothing to expand or fetch.
        return ET.fromstring(text)  # noqa: S314
    except ET.ParseError as error:
        raise MalformedXml(f"body is not well-formed XML: {error}") from None


def verify_url(
    keys: CallbackKeys,
    *,
    msg_signature: str,
    timestamp: str,
    nonce: str,
    echostr: str,
    now: datetime,
    window: timedelta = WINDOW,
) -> str:
    """Answer WeCom's GET check of a callback URL: the decrypted echostr, once checks pass."""
    check_signature(
        keys, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce, encrypt=echostr
    )
    check_timestamp(timestamp, now=now, window=window)
    return decrypt_payload(keys, echostr)


def decrypt_message(
    keys: CallbackKeys,
    body: str | bytes,
    *,
    msg_signature: str,
    timestamp: str,
    nonce: str,
    now: datetime,
    window: timedelta = WINDOW,
) -> str:
    """Open a POSTed body (<xml><ToUserName/><Encrypt/><AgentID/></xml>) into its inner XML."""
    encrypt = _text_of(parse_xml(body), "Encrypt")
    # The signature first: nothing about the payload is revealed to a sender without the token.
    check_signature(
        keys, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce, encrypt=encrypt
    )
    check_timestamp(timestamp, now=now, window=window)
    return decrypt_payload(keys, encrypt)


def encrypt_message(
    keys: CallbackKeys,
    message: str,
    *,
    timestamp: str,
    nonce: str,
    random_prefix: bytes | None = None,
) -> str:
    """Seal and sign a passive reply in the XML envelope WeCom expects."""
    encrypt = encrypt_payload(keys, message, random_prefix=random_prefix)
    signed = signature(keys.token, timestamp, nonce, encrypt)
    # Base64 and hex cannot contain "]]>", so CDATA is safe for them; the rest is escaped.
    return (
        "<xml>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
        f"<MsgSignature><![CDATA[{signed}]]></MsgSignature>"
        f"<TimeStamp>{escape(timestamp)}</TimeStamp>"
        f"<Nonce>{escape(nonce)}</Nonce>"
        "</xml>"
    )


def _instant(timestamp: str) -> datetime:
    if not _TIMESTAMP.fullmatch(timestamp):
        raise MalformedCallback(f"timestamp {timestamp!r} is not a number of seconds")
    return datetime.fromtimestamp(int(timestamp), UTC)


def _cipher(keys: CallbackKeys) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(keys.aes_key), modes.CBC(keys.aes_key[:AES_BLOCK_SIZE]))


def _pad(data: bytes) -> bytes:
    count = BLOCK_SIZE - len(data) % BLOCK_SIZE
    return data + bytes([count]) * count


def _unpad(data: bytes) -> bytes:
    if not data or len(data) % BLOCK_SIZE:
        raise BadPadding(f"payload is {len(data)} bytes, not a multiple of {BLOCK_SIZE}")
    count = data[-1]
    if not 1 <= count <= BLOCK_SIZE or data[-count:] != bytes([count]) * count:
        raise BadPadding(f"payload does not end in {BLOCK_SIZE}-byte PKCS#7 padding")
    return data[:-count]


def _text_of(root: ET.Element, name: str) -> str:
    found = root.find(name)
    if found is None or not (found.text or "").strip():
        raise MalformedXml(f"<{name}> is missing or empty")
    return (found.text or "").strip()
