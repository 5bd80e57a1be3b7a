"""The legal team's own key pair: cases are sealed to it, never to the delivery key.

Every process seals with the public key (TOCSIN_LEGAL_PUBLIC_KEY, or the data folder's
``legal_public.key`` that `tocsin manage legal_keys` writes). Only the processes where the
legal team reads cases hold the private key: TOCSIN_LEGAL_PRIVATE_KEY (or its _FILE
outside the data folder), or, like the vault's keyring, the data folder's
``legal_keyring.json`` (the private key wrapped with a passphrase, Argon2id) opened with
the passphrase in TOCSIN_LEGAL_PASSPHRASE_FILE (outside the data folder). A copy of the
database and the data folder opens no case, and neither does the delivery key.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from nacl.encoding import Base64Encoder
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from tocsin.vault.errors import WrongKey
from tocsin.vault.keys import DEMO_PASSPHRASE
from tocsin.vault.wrapping import PassphraseLock

PUBLIC_FILE = "legal_public.key"
KEYRING_FILE = "legal_keyring.json"
_lock = threading.Lock()
# The private key opened from the keyring in this process: (passphrase file, key).
_opened: dict[str, str] = {}


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
        pass
    try:
        return str(json.loads(keyring_file().read_text())["public_key"])
    except (FileNotFoundError, ValueError, KeyError):
        raise LegalKeyMissing(
            "no legal key: run `tocsin manage legal_keys` or set TOCSIN_LEGAL_PUBLIC_KEY"
        ) from None


def keyring_file() -> Path:
    return Path(settings.DATA_DIR) / KEYRING_FILE


def write_keyring(public: str, private: str, passphrase: str) -> None:
    """Keep the private key in the data folder, wrapped with ``passphrase``."""
    raw = base64.b64decode(private)
    lock = PassphraseLock.make(raw, passphrase, kdf=settings.VAULT_KDF)
    doc = {"format": "tocsin-legal-keyring", "public_key": public, "lock": lock.as_json()}
    keyring_file().write_text(json.dumps(doc))


def ensure_demo_keyring() -> bool:
    """In the demo, with no legal key set up, write a keyring wrapped with the demo's
    public passphrase (like the demo's vault: it protects nothing). Return whether one
    was written."""
    if not settings.DEMO or settings.LEGAL_PUBLIC_KEY or settings.LEGAL_PRIVATE_KEY:
        return False
    if keyring_file().exists() or public_file().exists():
        return False
    public, private = generate()
    write_keyring(public, private, DEMO_PASSPHRASE)
    return True


def forget() -> None:
    """Drop the private key this process opened from the keyring."""
    with _lock:
        _opened.clear()


def _from_keyring() -> str:
    path = settings.LEGAL_PASSPHRASE_FILE
    # The demo's keyring opens with the demo's public passphrase.
    demo = not path and settings.DEMO
    if not (path or demo) or not keyring_file().exists():
        return ""
    name = path or "demo"
    with _lock:
        if name in _opened:
            return _opened[name]
        try:
            if demo:
                passphrase = DEMO_PASSPHRASE
            else:
                with open(path) as f:
                    passphrase = f.readline().rstrip("\r\n")
            lock = json.loads(keyring_file().read_text())["lock"]
            kek = PassphraseLock(
                base64.b64decode(lock["salt"]),
                int(lock["opslimit"]),
                int(lock["memlimit"]),
                base64.b64decode(lock["kek"]),
            ).open(passphrase)
        except (OSError, ValueError, KeyError, WrongKey):
            raise LegalKeyMissing("the legal keyring does not open with that passphrase") from None
        _opened[name] = base64.b64encode(kek).decode()
        return _opened[name]


def _private() -> str:
    return str(settings.LEGAL_PRIVATE_KEY) or _from_keyring()


def can_seal() -> bool:
    """Return whether cases can be sealed here: the legal public key is known."""
    try:
        return bool(public_key())
    except LegalKeyMissing:
        return False


def can_open() -> bool:
    """Return whether this process holds the legal private key."""
    try:
        return bool(_private())
    except LegalKeyMissing:
        return False


def seal(value: dict[str, Any]) -> bytes:
    """Return ``value`` (JSON-serialisable) sealed to the legal public key."""
    data = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    key = PublicKey(public_key().encode(), encoder=Base64Encoder)
    return bytes(SealedBox(key).encrypt(data))


def unseal(blob: bytes) -> dict[str, Any]:
    """Return the value sealed in ``blob``; raises LegalKeyMissing without the key."""
    if not blob:
        return {}
    private = _private()
    if not private:
        raise LegalKeyMissing("this process holds no legal private key")
    key = PrivateKey(private.encode(), encoder=Base64Encoder)
    try:
        value = json.loads(SealedBox(key).decrypt(bytes(blob)))
    except CryptoError:
        raise LegalKeyMissing("this legal key does not open the case") from None
    return value if isinstance(value, dict) else {}
