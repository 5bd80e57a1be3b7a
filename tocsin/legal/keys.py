"""The legal team's own key pair: cases are sealed to it, never to the delivery key.

Every process seals with the public key (TOCSIN_LEGAL_PUBLIC_KEY, or the data folder's
``legal_public.key`` that `tocsin manage legal_keys` writes). Only the processes where the
legal team reads cases hold the private key (TOCSIN_LEGAL_PRIVATE_KEY, or its _FILE
outside the data folder): a copy of the database and the data folder opens no case, and
neither does the delivery key (tocsin.vault).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from nacl.encoding import Base64Encoder
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

PUBLIC_FILE = "legal_public.key"


class LegalKeyMissing(Exception):
    """This process holds no legal key to seal or open a case with."""


def generate() -> tuple[str, str]:
    """Return a new (public, private) key pair, base64-encoded."""
    private = PrivateKey.generate()
    return (
        private.public_key.encode(Base64Encoder).decode(),
        private.encode(Base64Encoder).decode(),
    )


def public_file() -> Path:
    return Path(settings.DATA_DIR) / PUBLIC_FILE


def public_key() -> str:
    if settings.LEGAL_PUBLIC_KEY:
        return str(settings.LEGAL_PUBLIC_KEY)
    try:
        return public_file().read_text().strip()
    except FileNotFoundError:
        raise LegalKeyMissing(
            "no legal key: run `tocsin manage legal_keys` or set TOCSIN_LEGAL_PUBLIC_KEY"
        ) from None


def can_open() -> bool:
    """Return whether this process holds the legal private key."""
    return bool(settings.LEGAL_PRIVATE_KEY)


def seal(value: dict[str, Any]) -> bytes:
    """Return ``value`` (JSON-serialisable) sealed to the legal public key."""
    data = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    key = PublicKey(public_key().encode(), encoder=Base64Encoder)
    return bytes(SealedBox(key).encrypt(data))


def unseal(blob: bytes) -> dict[str, Any]:
    """Return the value sealed in ``blob``; raises LegalKeyMissing without the key."""
    if not blob:
        return {}
    if not can_open():
        raise LegalKeyMissing("this process holds no legal private key")
    key = PrivateKey(str(settings.LEGAL_PRIVATE_KEY).encode(), encoder=Base64Encoder)
    try:
        value = json.loads(SealedBox(key).decrypt(bytes(blob)))
    except CryptoError:
        raise LegalKeyMissing("this legal key does not open the case") from None
    return value if isinstance(value, dict) else {}
