"""Sealed contact details and blind indexes.

Every contact endpoint (email address, push subscription, phone number) is sealed to the
delivery key pair with a NaCl sealed box: anyone holding the public key can seal, only a
holder of the private key can open. Web processes need only the public key; delivery
workers hold the private key. A blind index (keyed HMAC) finds the endpoint behind an
address a person types, without storing the address. Where the keys come from, and how a
lock takes the private key away from every worker, is tocsin.vault.keys; how they are
kept at rest, tocsin.vault.wrapping.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from functools import lru_cache
from typing import Any

from nacl.encoding import Base64Encoder
from nacl.public import PrivateKey, PublicKey, SealedBox

from tocsin.lib import phones
from tocsin.vault import keys
from tocsin.vault.errors import VaultError, VaultLocked

__all__ = ["VaultError", "VaultLocked", "blind_index", "normalize", "seal", "unseal"]


def generate_keypair() -> tuple[str, str]:
    """Return a new (public, private) key pair, base64-encoded."""
    private = PrivateKey.generate()
    return (
        private.public_key.encode(Base64Encoder).decode(),
        private.encode(Base64Encoder).decode(),
    )


@lru_cache(maxsize=4)
def _parse_public(raw: str) -> PublicKey:
    return PublicKey(raw.encode(), encoder=Base64Encoder)


def _public_key() -> PublicKey:
    return _parse_public(keys.public_key())


def _private_key() -> PrivateKey:
    return keys.private_key()


def reset_caches() -> None:
    _parse_public.cache_clear()
    _blind_key_of.cache_clear()
    keys.reset()


def seal(value: dict[str, Any]) -> bytes:
    """Return ``value`` (JSON-serialisable) sealed to the vault's public key."""
    data = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return bytes(SealedBox(_public_key()).encrypt(data))


def unseal(blob: bytes) -> dict[str, Any]:
    """Return the value sealed in ``blob``; raises VaultError without the private key
    (VaultLocked while the vault is locked: the caller puts the work back)."""
    data = SealedBox(_private_key()).decrypt(bytes(blob))
    value = json.loads(data)
    if not isinstance(value, dict):
        raise VaultError("sealed value is not an object")
    return value


@lru_cache(maxsize=4)
def _blind_key_of(raw: str) -> bytes:
    return hashlib.sha256(b"tocsin-blind-index\0" + raw.encode()).digest()


def _blind_key() -> bytes:
    return _blind_key_of(keys.blind_index_key())


def totp_key() -> bytes | None:
    """Return the Fernet key that seals members' TOTP seeds (None: none configured in a
    deployment, see tocsin.vault.keys.totp_key)."""
    return keys.totp_key()


# What an address is, for the blind index (a channel says which of these its addresses
# are; the vault knows no channel).
ADDRESS_TYPES = ("email", "phone", "opaque")


def normalize(form: str, address: str) -> str:
    """Return the canonical form of an address of type ``form``, so one person gets one
    index.

    An email address is lower case. A phone number is its E.164 form however it was
    written ("(213) 555-0142" in the region of TOCSIN_PHONE_REGION, "+1 213 555 0142"): a
    number stored in E.164 keeps the index it always had. An address of type "phone" that
    does not read as a number (a Signal UUID) is its digits, as before. Anything else
    ("opaque": a chat id, a push subscription) is only trimmed.
    """
    if form not in ADDRESS_TYPES:
        raise ValueError(f"unknown address type {form!r}")
    address = unicodedata.normalize("NFKC", address).strip()
    if form == "email":
        return address.lower()
    if form == "phone":
        number = phones.e164(address)
        if number is not None:
            return number
        return "".join(ch for ch in address if ch.isdigit() or ch == "+")
    return address


def blind_index(namespace: str, address: str, *, form: str) -> str:
    """Return the keyed HMAC that finds an endpoint by its address.

    ``namespace`` keeps equal addresses apart (a number on SMS and on Signal, a message
    id): the vault hashes it and never reads it. ``form`` is the address type
    (``normalize``).
    """
    message = f"{namespace}\0{normalize(form, address)}".encode()
    return hmac.new(_blind_key(), message, hashlib.sha256).hexdigest()
