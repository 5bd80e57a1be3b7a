"""Sealed contact details and blind indexes.

Every contact endpoint (email address, push subscription, phone number) is sealed to the
delivery key pair with a NaCl sealed box: anyone holding the public key can seal, only a
holder of the private key can open. Web processes need only the public key; delivery
workers hold the private key. A blind index (keyed HMAC) finds the endpoint behind an
address a person types, without storing the address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import unicodedata
from functools import cache
from typing import Any

from django.conf import settings
from nacl.encoding import Base64Encoder
from nacl.public import PrivateKey, PublicKey, SealedBox

from tocsin.lib import phones
from tocsin.lib.secrets import data_dir_secret


class VaultError(RuntimeError):
    """The vault cannot do what was asked (for example, open without a private key)."""


def generate_keypair() -> tuple[str, str]:
    """Return a new (public, private) key pair, base64-encoded."""
    private = PrivateKey.generate()
    return (
        private.public_key.encode(Base64Encoder).decode(),
        private.encode(Base64Encoder).decode(),
    )


def _embedded_keypair() -> tuple[str, str]:
    """Return the key pair kept in the data folder, creating it on first use.

    Only the embedded single-process setup uses this; a deployment sets
    TOCSIN_VAULT_PUBLIC_KEY on web processes and the private key on workers only.
    """
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = settings.DATA_DIR / "vault_private_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(generate_keypair()[1])
    private = path.read_text().strip()
    key = PrivateKey(private.encode(), encoder=Base64Encoder)
    return key.public_key.encode(Base64Encoder).decode(), private


@cache
def _public_key() -> PublicKey:
    raw = settings.VAULT_PUBLIC_KEY
    if not raw:
        if settings.VAULT_PRIVATE_KEY:
            return _private_key().public_key
        raw = _embedded_keypair()[0]
    return PublicKey(raw.encode(), encoder=Base64Encoder)


@cache
def _private_key() -> PrivateKey:
    raw = settings.VAULT_PRIVATE_KEY
    if not raw:
        if settings.VAULT_PUBLIC_KEY:
            raise VaultError("this process holds only the vault's public key")
        raw = _embedded_keypair()[1]
    return PrivateKey(raw.encode(), encoder=Base64Encoder)


def reset_caches() -> None:
    _public_key.cache_clear()
    _private_key.cache_clear()
    _blind_key.cache_clear()


def seal(value: dict[str, Any]) -> bytes:
    """Return ``value`` (JSON-serialisable) sealed to the vault's public key."""
    data = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return bytes(SealedBox(_public_key()).encrypt(data))


def unseal(blob: bytes) -> dict[str, Any]:
    """Return the value sealed in ``blob``; raises VaultError without the private key."""
    data = SealedBox(_private_key()).decrypt(bytes(blob))
    value = json.loads(data)
    if not isinstance(value, dict):
        raise VaultError("sealed value is not an object")
    return value


@cache
def _blind_key() -> bytes:
    raw = settings.BLIND_INDEX_KEY or data_dir_secret(settings.DATA_DIR, "blind_index_key")
    return hashlib.sha256(b"tocsin-blind-index\0" + raw.encode()).digest()


def normalize(kind: str, address: str) -> str:
    """Return the canonical form of an address, so one person gets one index.

    A phone number is its E.164 form however it was written ("(213) 555-0142" in the
    region of TOCSIN_PHONE_REGION, "+1 213 555 0142"): a number stored in E.164 keeps the
    index it always had. An address that does not read as a number (a Signal UUID) is
    its digits, as before.
    """
    address = unicodedata.normalize("NFKC", address).strip()
    if kind == "email":
        return address.lower()
    if kind in {"sms", "signal"}:
        number = phones.e164(address)
        if number is not None:
            return number
        return "".join(ch for ch in address if ch.isdigit() or ch == "+")
    return address


def blind_index(kind: str, address: str) -> str:
    """Return the keyed HMAC that finds an endpoint by its address."""
    message = f"{kind}\0{normalize(kind, address)}".encode()
    return hmac.new(_blind_key(), message, hashlib.sha256).hexdigest()
