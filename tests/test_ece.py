"""Web push message encryption (tocsin.transports.ece), checked against the http_ece
package as an independent decryptor."""

from __future__ import annotations

import os

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.transports import ece


def browser() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    """A subscription's keys as a browser makes them: a P-256 pair and an auth secret."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return key, public, os.urandom(16)


def decrypt(body: bytes, key: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    return http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=ece.MAX_PLAINTEXT))
def test_what_it_encrypts_the_browser_decrypts(data: bytes) -> None:
    key, public, auth = browser()
    assert decrypt(ece.encrypt(data, receiver_key=public, auth_secret=auth), key, auth) == data


def test_the_header_carries_salt_record_size_and_a_new_sender_key() -> None:
    _key, public, auth = browser()
    first = ece.encrypt(b"raid", receiver_key=public, auth_secret=auth)
    second = ece.encrypt(b"raid", receiver_key=public, auth_secret=auth)
    assert int.from_bytes(first[16:20]) == ece.RECORD_SIZE
    assert first[20] == 65 and first[21] == 0x04
    # No two messages share a salt or a sender key, so no two ciphertexts match.
    assert first[:16] != second[:16]
    assert first[21:86] != second[21:86]
    assert first[86:] != second[86:]
    # 16 bytes of tag and one delimiter byte over the plaintext.
    assert len(first) == 86 + len(b"raid") + 17


def test_another_browser_cannot_read_it() -> None:
    _key, public, auth = browser()
    other, _public, _auth = browser()
    body = ece.encrypt(b"raid", receiver_key=public, auth_secret=auth)
    with pytest.raises(Exception):  # noqa: B017 (http_ece raises a cryptography InvalidTag)
        decrypt(body, other, auth)


def test_a_wrong_auth_secret_cannot_read_it() -> None:
    key, public, auth = browser()
    body = ece.encrypt(b"raid", receiver_key=public, auth_secret=auth)
    with pytest.raises(Exception):  # noqa: B017
        decrypt(body, key, os.urandom(16))


@pytest.mark.parametrize(
    ("receiver", "auth"),
    [
        (b"\x04" + b"\x00" * 64, os.urandom(16)),  # not a point on the curve
        (b"short", os.urandom(16)),
        (None, b"fifteen bytes!!"),
    ],
)
def test_bad_subscription_keys_are_refused(receiver: bytes | None, auth: bytes) -> None:
    receiver = receiver if receiver is not None else browser()[1]
    with pytest.raises(ValueError):
        ece.encrypt(b"raid", receiver_key=receiver, auth_secret=auth)


def test_a_message_larger_than_one_record_is_refused() -> None:
    _key, public, auth = browser()
    with pytest.raises(ValueError):
        ece.encrypt(b"x" * (ece.MAX_PLAINTEXT + 1), receiver_key=public, auth_secret=auth)


# --- fuzzed: the keys come from a member's browser, or from anyone posting to /me/push/ ---

CURVE_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def public_of(key: ec.EllipticCurvePrivateKey, *, compressed: bool = False) -> bytes:
    form = PublicFormat.CompressedPoint if compressed else PublicFormat.UncompressedPoint
    return key.public_key().public_bytes(Encoding.X962, form)


PRIVATE_KEYS = st.integers(1, CURVE_ORDER - 1).map(
    lambda n: ec.derive_private_key(n, ec.SECP256R1())
)
RECEIVER_KEYS = st.one_of(
    st.binary(max_size=100),
    st.binary(min_size=64, max_size=64).map(lambda b: b"\x04" + b),
    PRIVATE_KEYS.map(public_of),
    PRIVATE_KEYS.map(lambda k: public_of(k, compressed=True)),
    PRIVATE_KEYS.map(lambda k: public_of(k) + b"\x00"),
)


def record(body: bytes) -> tuple[bytes, int, bytes, bytes]:
    """Read an RFC 8188 header: return the salt, record size, key id and the rest."""
    idlen = body[20]
    return body[:16], int.from_bytes(body[16:20]), body[21 : 21 + idlen], body[21 + idlen :]


AUTH_SECRETS = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=40))


@settings(max_examples=300, deadline=None)
@given(RECEIVER_KEYS, AUTH_SECRETS, st.binary(max_size=ece.MAX_PLAINTEXT + 40))
def test_any_keys_and_message_make_one_record_or_a_value_error(
    receiver: bytes, auth: bytes, data: bytes
) -> None:
    try:
        body = ece.encrypt(data, receiver_key=receiver, auth_secret=auth)
    except ValueError:
        return
    # Only what RFC 8291 allows got this far: a 65-byte point, a 16-byte secret, one record.
    assert len(receiver) == 65 and receiver[0] == 4 and len(auth) == 16
    _salt, size, keyid, sealed = record(body)
    assert size == ece.RECORD_SIZE
    assert ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), keyid)
    assert len(keyid) == 65 and keyid[0] == 4
    assert len(sealed) == len(data) + 17 <= size


@settings(max_examples=60, deadline=None)
@given(PRIVATE_KEYS, st.binary(min_size=16, max_size=16), st.binary(max_size=ece.MAX_PLAINTEXT))
def test_each_record_decrypts_for_its_browser_alone(
    key: ec.EllipticCurvePrivateKey, auth: bytes, data: bytes
) -> None:
    body = ece.encrypt(data, receiver_key=public_of(key), auth_secret=auth)
    assert decrypt(body, key, auth) == data


def test_a_compressed_key_is_refused() -> None:
    # P-256 accepts a compressed point, but RFC 8291 mixes the 65-byte form into the
    # keys: a message made with the 33-byte form no browser can read.
    key, _public, auth = browser()
    with pytest.raises(ValueError):
        ece.encrypt(b"raid", receiver_key=public_of(key, compressed=True), auth_secret=auth)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.text(max_size=40))
def test_any_text_as_subscription_keys_is_a_message_or_a_value_error(
    p256dh: str, auth: str
) -> None:
    from tocsin.transports import webpush

    try:
        body = webpush.encrypt(b"raid", p256dh=p256dh, auth=auth)
    except ValueError:
        return
    assert record(body)[1] == ece.RECORD_SIZE
