"""Our Ed25519 key pair for federation: the private key from TOCSIN_FEDERATION_KEY (raw
32 bytes, base64url), the public one served at /federation/key for partners to register.
Without the setting federation is off: nothing is sent, the inbox refuses."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings


class BadKey(ValueError):
    """A key that is not a raw Ed25519 key in base64url."""


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as e:
        raise BadKey("not base64url") from e
    if len(raw) != 32:
        raise BadKey("an Ed25519 key is 32 bytes")
    return raw


def generate() -> str:
    """Return a new private key, as TOCSIN_FEDERATION_KEY takes it."""
    key = ed25519.Ed25519PrivateKey.generate()
    return b64(key.private_bytes_raw())


def enabled() -> bool:
    return bool(settings.FEDERATION_KEY)


def private_key_of(private: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(unb64(private))


def private_key() -> ed25519.Ed25519PrivateKey:
    """Return our private key (TOCSIN_FEDERATION_KEY)."""
    return private_key_of(settings.FEDERATION_KEY)


def public_of(private: str) -> str:
    """Return the public key (base64url) of a private one."""
    key = private_key_of(private)
    return b64(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def public_key() -> str:
    """Return our public key (base64url): also the keyid our signatures carry."""
    return public_of(settings.FEDERATION_KEY)


def load_public(text: str) -> ed25519.Ed25519PublicKey:
    return ed25519.Ed25519PublicKey.from_public_bytes(unb64(text))
