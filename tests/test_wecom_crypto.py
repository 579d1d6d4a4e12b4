"""WeCom callback crypto: known answers, agreement with an independent client, and refusals."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.enterprise.crypto import WeChatCrypto

from shequn.connectors.wecom.crypto import (
    BadEncodingAESKey,
    BadPadding,
    BadSignature,
    CallbackKeys,
    MalformedCallback,
    MalformedXml,
    StaleTimestamp,
    WrongCorpId,
    check_timestamp,
    decrypt_message,
    decrypt_payload,
    encrypt_message,
    encrypt_payload,
    parse_xml,
    signature,
    verify_url,
)

# Known-answer vectors from wechatpy's own tests of its WeCom crypto,
# tests/test_crypto.py in the wechatpy/wechatpy repository.
TOKEN = "123456"  # noqa: S105 - a published test vector, not a credential
ENCODING_AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
CORP_ID = "wx49f0ab532d5d035a"

POSTED_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu"
    "6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm"
    "7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e2"
    "9mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5"
    "t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdC"
    "RxthuL0="
)
POSTED_BODY = (
    "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
    f"<Encrypt><![CDATA[{POSTED_ENCRYPT}]]></Encrypt>\n"
    "<AgentID><![CDATA[1]]></AgentID>\n"
    "</xml>"
)
POSTED_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
POSTED_TIMESTAMP = "1411525903"
POSTED_NONCE = "461056294"
POSTED_PLAINTEXT = (
    "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
    "<FromUserName><![CDATA[messense]]></FromUserName>\n"
    "<CreateTime>1411525903</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[test]]></Content>\n"
    "<MsgId>4363689963896700987</MsgId>\n"
    "<AgentID>1</AgentID>\n"
    "</xml>"
)

ECHO_SIGNATURE = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
ECHO_TIMESTAMP = "1411443780"
ECHO_NONCE = "437374425"
ECHO_STR = (
    "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
)

REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
REPLY_RANDOM_PREFIX = b"1234567890123456"
REPLY_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYq"
    "xgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCF"
    "M2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2I"
    "EvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nT"
    "YjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)
REPLY_SIGNATURE = "407518b7649e86ef23978113f92d27afa9296533"

KEYS = CallbackKeys.from_settings(token=TOKEN, encoding_aes_key=ENCODING_AES_KEY, corp_id=CORP_ID)
CHANGE_XML = (
    "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>"
    "<Event><![CDATA[change_external_chat]]></Event>"
    "<ChatId><![CDATA[wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA]]></ChatId>"
    "<Content><![CDATA[欢迎新朋友 🎉]]></Content></xml>"
)


def at(timestamp: str) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC)


def fields(reply_xml: str) -> dict[str, str]:
    return {child.tag: child.text or "" for child in parse_xml(reply_xml)}


def wechatpy() -> WeChatCrypto:
    return WeChatCrypto(TOKEN, ENCODING_AES_KEY, CORP_ID)


def sealed_body(encrypt: str) -> str:
    return (
        f"<xml><ToUserName>{CORP_ID}</ToUserName>"
        f"<Encrypt>{encrypt}</Encrypt><AgentID>1</AgentID></xml>"
    )


def test_signature_matches_the_known_answer() -> None:
    assert signature(TOKEN, POSTED_TIMESTAMP, POSTED_NONCE, POSTED_ENCRYPT) == POSTED_SIGNATURE
    assert signature(TOKEN, ECHO_TIMESTAMP, ECHO_NONCE, ECHO_STR) == ECHO_SIGNATURE


def test_decrypt_message_gives_the_known_plaintext() -> None:
    plaintext = decrypt_message(
        KEYS,
        POSTED_BODY,
        msg_signature=POSTED_SIGNATURE,
        timestamp=POSTED_TIMESTAMP,
        nonce=POSTED_NONCE,
        now=at(POSTED_TIMESTAMP),
    )

    assert plaintext == POSTED_PLAINTEXT
    message = parse_xml(plaintext)
    assert message.findtext("Content") == "test"
    assert message.findtext("FromUserName") == "messense"


def test_decrypt_message_accepts_bytes() -> None:
    plaintext = decrypt_message(
        KEYS,
        POSTED_BODY.encode(),
        msg_signature=POSTED_SIGNATURE,
        timestamp=POSTED_TIMESTAMP,
        nonce=POSTED_NONCE,
        now=at(POSTED_TIMESTAMP),
    )

    assert plaintext == POSTED_PLAINTEXT


def test_encrypt_message_gives_the_known_ciphertext_and_signature() -> None:
    reply = encrypt_message(
        KEYS,
        REPLY,
        timestamp=POSTED_TIMESTAMP,
        nonce=POSTED_NONCE,
        random_prefix=REPLY_RANDOM_PREFIX,
    )

    assert fields(reply) == {
        "Encrypt": REPLY_ENCRYPT,
        "MsgSignature": REPLY_SIGNATURE,
        "TimeStamp": POSTED_TIMESTAMP,
        "Nonce": POSTED_NONCE,
    }


def test_verify_url_returns_the_decrypted_echostr() -> None:
    echo = verify_url(
        KEYS,
        msg_signature=ECHO_SIGNATURE,
        timestamp=ECHO_TIMESTAMP,
        nonce=ECHO_NONCE,
        echostr=ECHO_STR,
        now=at(ECHO_TIMESTAMP),
    )

    assert echo == wechatpy().check_signature(ECHO_SIGNATURE, ECHO_TIMESTAMP, ECHO_NONCE, ECHO_STR)
    assert echo == "5927782489442352469"


@pytest.mark.parametrize(
    "message",
    [
        CHANGE_XML,
        "<xml/>",
        # 16 + 4 + 25 + 18 = 63 bytes before padding: padded by 1, then by a whole 32, then 31.
        "x" * 25,
        "x" * 26,
        "x" * 27,
    ],
)
def test_what_wechatpy_seals_we_open(message: str) -> None:
    sealed = wechatpy().encrypt_message(message, "nonce-1", "1700000000")
    reply = fields(sealed)

    opened = decrypt_message(
        KEYS,
        sealed,
        msg_signature=reply["MsgSignature"],
        timestamp="1700000000",
        nonce="nonce-1",
        now=at("1700000000"),
    )

    assert opened == message


@pytest.mark.parametrize("message", [CHANGE_XML, "<xml/>", "x" * 500])
def test_what_we_seal_wechatpy_opens(message: str) -> None:
    sealed = encrypt_message(KEYS, message, timestamp="1700000000", nonce="nonce-2")
    reply = fields(sealed)

    opened = wechatpy().decrypt_message(sealed, reply["MsgSignature"], "1700000000", "nonce-2")

    assert opened == message


def test_wechatpy_accepts_our_echostr_check() -> None:
    echostr = encrypt_payload(KEYS, "8121012345678")
    signed = signature(TOKEN, "1700000000", "n", echostr)

    assert wechatpy().check_signature(signed, "1700000000", "n", echostr) == "8121012345678"
    assert (
        verify_url(
            KEYS,
            msg_signature=signed,
            timestamp="1700000000",
            nonce="n",
            echostr=echostr,
            now=at("1700000000"),
        )
        == "8121012345678"
    )


def test_a_flipped_byte_in_encrypt_fails_the_signature() -> None:
    tampered = "S" + POSTED_ENCRYPT[1:]
    assert tampered != POSTED_ENCRYPT

    with pytest.raises(BadSignature):
        decrypt_message(
            KEYS,
            sealed_body(tampered),
            msg_signature=POSTED_SIGNATURE,
            timestamp=POSTED_TIMESTAMP,
            nonce=POSTED_NONCE,
            now=at(POSTED_TIMESTAMP),
        )


def test_a_flipped_ciphertext_byte_even_if_re_signed_fails_the_padding() -> None:
    # Someone holding the token but not the AES key can sign anything; the envelope still holds.
    sealed = bytearray(base64.b64decode(REPLY_ENCRYPT))
    sealed[-1] ^= 0x01
    tampered = base64.b64encode(bytes(sealed)).decode()
    resigned = signature(TOKEN, POSTED_TIMESTAMP, POSTED_NONCE, tampered)

    with pytest.raises(BadPadding):
        decrypt_message(
            KEYS,
            sealed_body(tampered),
            msg_signature=resigned,
            timestamp=POSTED_TIMESTAMP,
            nonce=POSTED_NONCE,
            now=at(POSTED_TIMESTAMP),
        )


def test_a_wrong_signature_is_refused() -> None:
    with pytest.raises(BadSignature):
        decrypt_message(
            KEYS,
            POSTED_BODY,
            msg_signature="0" * 40,
            timestamp=POSTED_TIMESTAMP,
            nonce=POSTED_NONCE,
            now=at(POSTED_TIMESTAMP),
        )


def test_a_changed_nonce_breaks_the_signature_of_the_echo_check() -> None:
    with pytest.raises(BadSignature):
        verify_url(
            KEYS,
            msg_signature=ECHO_SIGNATURE,
            timestamp=ECHO_TIMESTAMP,
            nonce="437374424",
            echostr=ECHO_STR,
            now=at(ECHO_TIMESTAMP),
        )


def test_a_stale_timestamp_is_refused_even_with_a_good_signature() -> None:
    with pytest.raises(StaleTimestamp, match="301 s from now"):
        decrypt_message(
            KEYS,
            POSTED_BODY,
            msg_signature=POSTED_SIGNATURE,
            timestamp=POSTED_TIMESTAMP,
            nonce=POSTED_NONCE,
            now=at(POSTED_TIMESTAMP) + timedelta(seconds=301),
        )


def test_the_window_is_inclusive_and_works_both_ways() -> None:
    sent = at("1700000000")

    assert check_timestamp("1700000000", now=sent + timedelta(seconds=300)) == sent
    assert check_timestamp("1700000000", now=sent - timedelta(seconds=300)) == sent
    with pytest.raises(StaleTimestamp):
        check_timestamp("1700000000", now=sent - timedelta(seconds=301))
    assert check_timestamp("1700000000", now=sent + timedelta(hours=1), window=timedelta(hours=2))


@pytest.mark.parametrize("timestamp", ["", "abc", "-5", " 1700000000", "1e9", "9" * 13])
def test_an_unreadable_timestamp_is_malformed(timestamp: str) -> None:
    with pytest.raises(MalformedCallback):
        check_timestamp(timestamp, now=at("1700000000"))


def test_a_payload_sealed_for_another_corp_is_refused() -> None:
    other = CallbackKeys.from_settings(
        token=TOKEN, encoding_aes_key=ENCODING_AES_KEY, corp_id="ww0000000000000000"
    )
    sealed = encrypt_message(other, CHANGE_XML, timestamp="1700000000", nonce="n")

    with pytest.raises(WrongCorpId, match="ww0000000000000000"):
        decrypt_message(
            KEYS,
            sealed,
            msg_signature=fields(sealed)["MsgSignature"],
            timestamp="1700000000",
            nonce="n",
            now=at("1700000000"),
        )


def test_a_doctype_body_is_refused_before_parsing() -> None:
    body = (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE xml [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
        "<xml><Encrypt>&lol2;</Encrypt></xml>"
    )

    with pytest.raises(MalformedXml, match="DOCTYPE"):
        decrypt_message(
            KEYS,
            body,
            msg_signature=POSTED_SIGNATURE,
            timestamp=POSTED_TIMESTAMP,
            nonce=POSTED_NONCE,
            now=at(POSTED_TIMESTAMP),
        )


@pytest.mark.parametrize(
    "body",
    [
        '<!DOCTYPE x SYSTEM "file:///etc/passwd"><xml/>',
        '<xml><!ENTITY x "y"></xml>',
        "<!doctype xml><xml/>",
        '<?xml version="1.0" encoding="utf-16"?><xml/>'.encode("utf-16"),
    ],
)
def test_declarations_and_foreign_encodings_are_refused(body: str | bytes) -> None:
    with pytest.raises(MalformedXml):
        parse_xml(body)


def test_comments_and_cdata_are_fine() -> None:
    root = parse_xml("<xml><!-- note --><Encrypt><![CDATA[a<b]]></Encrypt></xml>")

    assert root.findtext("Encrypt") == "a<b"


@pytest.mark.parametrize("body", ["", "<xml>", "<xml><ToUserName>x</ToUserName></xml>"])
def test_a_body_without_an_encrypt_element_is_malformed(body: str) -> None:
    with pytest.raises(MalformedXml):
        decrypt_message(
            KEYS,
            body,
            msg_signature=POSTED_SIGNATURE,
            timestamp=POSTED_TIMESTAMP,
            nonce=POSTED_NONCE,
            now=at(POSTED_TIMESTAMP),
        )


@pytest.mark.parametrize("encrypt", ["not base64!", "AAAA", base64.b64encode(b"x" * 20).decode()])
def test_unreadable_ciphertext_is_malformed(encrypt: str) -> None:
    with pytest.raises(MalformedCallback):
        decrypt_payload(KEYS, encrypt)


def test_a_length_field_past_the_end_is_malformed() -> None:
    plain = bytes(16) + (1000).to_bytes(4, "big") + CORP_ID.encode()
    count = 32 - len(plain) % 32
    encryptor = Cipher(algorithms.AES(KEYS.aes_key), modes.CBC(KEYS.aes_key[:16])).encryptor()
    forged = encryptor.update(plain + bytes([count]) * count) + encryptor.finalize()

    with pytest.raises(MalformedCallback, match="1000-byte"):
        decrypt_payload(KEYS, base64.b64encode(forged).decode())


def test_an_empty_message_round_trips() -> None:
    assert decrypt_payload(KEYS, encrypt_payload(KEYS, "")) == ""


def test_random_prefix_must_be_sixteen_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        encrypt_payload(KEYS, "x", random_prefix=b"short")


def test_two_seals_of_one_message_differ_but_open_alike() -> None:
    first = encrypt_payload(KEYS, CHANGE_XML)
    second = encrypt_payload(KEYS, CHANGE_XML)

    assert first != second
    assert decrypt_payload(KEYS, first) == decrypt_payload(KEYS, second) == CHANGE_XML


@pytest.mark.parametrize("key", ["", ENCODING_AES_KEY[:-1], ENCODING_AES_KEY[:-1] + "!"])
def test_a_bad_encoding_aes_key_is_refused(key: str) -> None:
    with pytest.raises(BadEncodingAESKey):
        CallbackKeys.from_settings(token=TOKEN, encoding_aes_key=key, corp_id=CORP_ID)


def test_keys_do_not_show_their_secrets() -> None:
    shown = repr(KEYS)

    assert TOKEN not in shown
    assert "aes_key" not in shown
    assert CORP_ID in shown
