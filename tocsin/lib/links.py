"""Signed, expiring links to one incident for one member: the alert page and a
verifier's answer page. The tokens name ids only; nothing about a person or a place."""

from __future__ import annotations

import hashlib
import zlib
from binascii import b2a_base64
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils.encoding import force_bytes

LINK_SALT = "tocsin.alert-link"
# A verifier's link to answer a request (tocsin.incidents.answer_views).
VERIFY_SALT = "tocsin.verify-link"


class SignedAt(signing.TimestampSigner):
    """Signs with a given time instead of now: every attempt at one alert carries the
    same link, so a provider that checks a repeated idempotency key sees the same text."""

    def __init__(self, at: datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.at = at

    def timestamp(self) -> str:
        return signing.b62_encode(int(self.at.timestamp()))


class PresignedAt(SignedAt):
    """A SignedAt for signing many members' links to one alert: the HMAC key is derived
    once (Django derives it again for every signature) and the timestamp encoded once.
    Its tokens are exactly SignedAt's, and read the same way."""

    def __init__(self, at: datetime, **kwargs: Any) -> None:
        super().__init__(at, **kwargs)
        hasher = getattr(hashlib, self.algorithm)
        key = hasher(force_bytes(self.salt) + b"signer" + force_bytes(self.key)).digest()
        # HMAC (RFC 2104) as hashlib states that have taken the padded key: each token
        # copies them (C calls only; hmac.HMAC.copy builds a Python object each time).
        block = key.ljust(hasher().block_size, b"\0")
        self._inner = hasher(bytes(b ^ 0x36 for b in block))
        self._outer = hasher(bytes(b ^ 0x5C for b in block))
        self._stamp = super().timestamp()

    def timestamp(self) -> str:
        return self._stamp

    def signature(self, value: bytes | str, key: Any = None) -> str:
        if key is not None and key != self.key:
            return str(super().signature(value, key))
        return _b64(self._mac(force_bytes(value)))

    def _mac(self, value: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(value)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def sign_ids(self, *ids: int) -> str:
        """Return what ``sign_object(list(ids), compress=True)`` returns, without its
        serializer objects."""
        if len(ids) == 2:
            return self.sign_pair(*ids)
        return self._sign_list(ids)

    def sign_pair(self, first: int, second: int) -> str:
        """``sign_ids`` of two ids: a member's link to an incident, once per delivery of
        a fan-out, so the same steps in one expression (they cost half as much)."""
        data = f"[{int(first)},{int(second)}]".encode()
        if len(data) >= _COMPRESSIBLE:
            return self._sign_list((first, second))
        value = f"{_b64(data)}{self.sep}{self._stamp}"
        return f"{value}{self.sep}{_b64(self._mac(value.encode()))}"

    def _sign_list(self, ids: tuple[int, ...]) -> str:
        data = ("[" + ",".join(map(str, map(int, ids))) + "]").encode()
        # zlib never saves two bytes on ids this short (tests/test_link_signing.py tries
        # the most compressible ones), and compressing costs more than the signature.
        if len(data) >= _COMPRESSIBLE:
            compressed = zlib.compress(data)
            if len(compressed) < len(data) - 1:
                return self._sign("." + signing.b64_encode(compressed).decode())
        return self._sign(signing.b64_encode(data).decode())

    def _sign(self, value: str) -> str:
        value = f"{value}{self.sep}{self._stamp}"
        return f"{value}{self.sep}{self.signature(value)}"


# The shortest JSON list of ids that zlib can shorten by two bytes or more.
_COMPRESSIBLE = 16


def _b64(data: bytes) -> str:
    """signing.b64_encode, as text (binascii's encoder and one translation: what
    base64.urlsafe_b64encode does, without its two Python calls)."""
    return b2a_base64(data, newline=False).rstrip(b"=").translate(_URLSAFE).decode()


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def alert_link_token(*, member_id: int, incident_id: int, at: datetime | None = None) -> str:
    """Return a signed token that lets one member open one incident's alert page. Its
    lifetime counts from ``at`` (the alert's time), or from now."""
    if at is None:
        return signing.dumps([member_id, incident_id], salt=LINK_SALT, compress=True)
    return SignedAt(at, salt=LINK_SALT).sign_object([member_id, incident_id], compress=True)


def read_alert_link_token(token: str) -> tuple[int, int]:
    """Return (member_id, incident_id); raises signing.BadSignature when invalid or expired."""
    value = signing.loads(token, salt=LINK_SALT, max_age=settings.ALERT_LINK_HOURS * 3600)
    member_id, incident_id = value
    return int(member_id), int(incident_id)


def verify_link_token(*, member_id: int, incident_id: int, at: datetime | None = None) -> str:
    """Return the signed token of a verifier's answer page for one incident."""
    if at is None:
        return signing.dumps([member_id, incident_id], salt=VERIFY_SALT, compress=True)
    return SignedAt(at, salt=VERIFY_SALT).sign_object([member_id, incident_id], compress=True)


def read_verify_link_token(token: str) -> tuple[int, int]:
    """Return (member_id, incident_id); raises signing.BadSignature when invalid or expired."""
    member_id, incident_id = signing.loads(
        token, salt=VERIFY_SALT, max_age=settings.VERIFY_LINK_HOURS * 3600
    )
    return int(member_id), int(incident_id)
