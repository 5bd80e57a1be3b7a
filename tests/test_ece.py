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
