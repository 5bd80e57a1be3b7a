"""The vault's secrets at rest: wrapped with a passphrase, or split into shares.

The embedded setup keeps two files in TOCSIN_DATA_DIR (the folder 0700, the files 0600):

``vault_public_key``
    The public key (base64), in plain: it only seals. Web processes need nothing else.
``vault_keyring``
    JSON in which nothing opens without the passphrase or enough shares::

        {"format": "tocsin-vault-keyring", "version": 1, "demo": false,
         "public_key": "<base64>",
         "secrets": "<base64 of SecretBox(K) over {private_key, blind_index_key, totp_key}>",
         "lock": {"kind": "passphrase", "kdf": "argon2id13", "salt": "<base64, 16 bytes>",
                  "opslimit": 4, "memlimit": 1073741824,
                  "kek": "<base64 of SecretBox(P) over the KEK>"}}

    The KEK is a random 16-byte key-encryption key; K = BLAKE2b-256 of the KEK (person
    ``tocsin-keyring``); P = Argon2id(passphrase, salt, opslimit, memlimit). Split among
    organizers, the lock is ``{"kind": "shares", "set": "<4 hex>", "threshold": k,
    "count": n}`` instead: the KEK is cut k-of-n (Shamir's scheme) and is stored nowhere.

The passphrase or the shares open the KEK, never the private key itself: rotating the key
pair encrypts the new secrets under the same KEK, so the passphrase and the shares outlive
a rotation.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets as random
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from Crypto.Protocol.SecretSharing import Shamir
from nacl.encoding import Base64Encoder, RawEncoder
from nacl.exceptions import CryptoError
from nacl.hash import blake2b
from nacl.public import PrivateKey
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

from tocsin.vault.errors import BadShare, VaultError, WrongKey

FORMAT = "tocsin-vault-keyring"
KEYRING = "vault_keyring"
PUBLIC_KEY = "vault_public_key"
# What older versions kept in plain in the data folder: moved into the keyring, then
# overwritten and removed.
LEGACY_PRIVATE_KEY = "vault_private_key"
LEGACY_BLIND_INDEX_KEY = "blind_index_key"

KEK_BYTES = 16  # what pycryptodome's Shamir splits
# Argon2id limits (libsodium's): "sensitive" takes a few seconds and 1 GiB once per start;
# "moderate" under a second and 256 MiB; "interactive" a tenth of that. The limits used
# are written into the keyring, so a change of TOCSIN_VAULT_KDF applies when the
# passphrase is next set.
KDF_LIMITS = {
    "interactive": (argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE),
    "moderate": (argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE),
    "sensitive": (argon2id.OPSLIMIT_SENSITIVE, argon2id.MEMLIMIT_SENSITIVE),
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True)
class Secrets:
    """What the keyring protects: the vault's private key (opens every sealed contact), the
    blind-index key (confirms a guessed address) and the key of members' TOTP seeds."""

    private_key: str = field(repr=False)
    blind_index_key: str = field(repr=False)
    totp_key: str = field(repr=False)

    @classmethod
    def generate(
        cls, *, private_key: str = "", blind_index_key: str = "", totp_key: str = ""
    ) -> Secrets:
        """Return new secrets, keeping any given (a migrated install keeps its keys)."""
        return cls(
            private_key=private_key or PrivateKey.generate().encode(Base64Encoder).decode(),
            blind_index_key=blind_index_key or random.token_urlsafe(48),
            totp_key=totp_key or random.token_urlsafe(48),
        )

    @property
    def public_key(self) -> str:
        key = PrivateKey(self.private_key.encode(), encoder=Base64Encoder)
        return key.public_key.encode(Base64Encoder).decode()

    def dumps(self) -> bytes:
        return json.dumps(
            {
                "private_key": self.private_key,
                "blind_index_key": self.blind_index_key,
                "totp_key": self.totp_key,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def loads(cls, data: bytes) -> Secrets:
        value = json.loads(data)
        return cls(
            private_key=str(value["private_key"]),
            blind_index_key=str(value["blind_index_key"]),
            totp_key=str(value["totp_key"]),
        )


def _box(kek: bytes) -> SecretBox:
    return SecretBox(blake2b(kek, digest_size=32, person=b"tocsin-keyring", encoder=RawEncoder))


def _passphrase_bytes(passphrase: str) -> bytes:
    # The same passphrase typed on another keyboard or system must give the same key.
    return unicodedata.normalize("NFC", passphrase).encode()


@dataclass(frozen=True)
class PassphraseLock:
    """The KEK, wrapped with a key derived from a passphrase (Argon2id)."""

    kind: ClassVar[str] = "passphrase"
    salt: bytes
    opslimit: int
    memlimit: int
    kek: bytes  # wrapped

    @classmethod
    def make(cls, kek: bytes, passphrase: str, *, kdf: str) -> PassphraseLock:
        opslimit, memlimit = KDF_LIMITS[kdf]
        salt = random.token_bytes(argon2id.SALTBYTES)
        key = argon2id.kdf(
            SecretBox.KEY_SIZE,
            _passphrase_bytes(passphrase),
            salt,
            opslimit=opslimit,
            memlimit=memlimit,
        )
        return cls(salt, opslimit, memlimit, bytes(SecretBox(key).encrypt(kek)))

    def open(self, passphrase: str) -> bytes:
        """Return the KEK; raises WrongKey."""
        key = argon2id.kdf(
            SecretBox.KEY_SIZE,
            _passphrase_bytes(passphrase),
            self.salt,
            opslimit=self.opslimit,
            memlimit=self.memlimit,
        )
        try:
            return SecretBox(key).decrypt(self.kek)
        except CryptoError:
            raise WrongKey("that passphrase does not open the vault") from None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "kdf": "argon2id13",
            "salt": _b64(self.salt),
            "opslimit": self.opslimit,
            "memlimit": self.memlimit,
            "kek": _b64(self.kek),
        }


@dataclass(frozen=True)
class Share:
    """One organizer's part of a split KEK.

    Written ``tocsin-<set>-<index>-<eight groups of four hex digits>-<check>``: the set names
    the split (shares of two splits never mix), and the check, a 16-bit BLAKE2b of the rest,
    catches a typo before anything is tried.
    """

    set: str
    index: int
    value: bytes = field(repr=False)

    def _check(self) -> str:
        data = f"{self.set}|{self.index}|".encode() + self.value
        return blake2b(data, digest_size=2, person=b"tocsin-share", encoder=RawEncoder).hex()

    def __str__(self) -> str:
        groups = "-".join(self.value.hex()[i : i + 4] for i in range(0, 2 * KEK_BYTES, 4))
        return f"tocsin-{self.set}-{self.index}-{groups}-{self._check()}"

    @classmethod
    def parse(cls, text: str) -> Share:
        """Return the share written in ``text``; raises BadShare saying what is wrong."""
        parts = "".join(text.split()).lower().split("-")
        if len(parts) != 12 or parts[0] != "tocsin":
            raise BadShare("a share looks like tocsin-xxxx-1-xxxx-…-xxxx (12 parts)")
        try:
            share = cls(parts[1], int(parts[2]), bytes.fromhex("".join(parts[3:11])))
        except ValueError:
            raise BadShare("a share holds only hex digits (0-9, a-f) and dashes") from None
        if len(share.value) != KEK_BYTES or not 1 <= share.index <= 255:
            raise BadShare("this share is too short or too long")
        if not random.compare_digest(share._check(), parts[11]):
            raise BadShare(f"share {share.index}: the checksum does not match (a typo?)")
        return share


@dataclass(frozen=True)
class SharesLock:
    """The KEK, split among organizers: any ``threshold`` of ``count`` shares open it."""

    kind: ClassVar[str] = "shares"
    set: str
    threshold: int
    count: int

    def open(self, shares: list[Share]) -> bytes:
        """Return the KEK the shares make; raises BadShare for shares of another split."""
        for share in shares:
            if share.set != self.set:
                raise BadShare(f"share {share.index} belongs to another split ({share.set})")
        unique = {s.index: s for s in shares}
        if len(unique) < self.threshold:
            raise BadShare(f"{self.threshold} different shares are needed, not {len(unique)}")
        chosen = sorted(unique.values(), key=lambda s: s.index)[: self.threshold]
        return Shamir.combine([(s.index, s.value) for s in chosen])

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "set": self.set,
            "threshold": self.threshold,
            "count": self.count,
        }


def split(kek: bytes, *, threshold: int, count: int) -> tuple[SharesLock, list[Share]]:
    """Cut ``kek`` into ``count`` shares, any ``threshold`` of which rebuild it."""
    if not 2 <= threshold <= count <= 255:
        raise VaultError("a split needs 2 <= threshold <= shares <= 255")
    set_id = random.token_hex(2)
    shares = [Share(set_id, i, v) for i, v in Shamir.split(threshold, count, kek)]
    return SharesLock(set_id, threshold, count), shares


Lock = PassphraseLock | SharesLock


@dataclass(frozen=True)
class Keyring:
    """The keyring file's content: the public key in plain, the secrets encrypted."""

    public_key: str
    secrets: bytes = field(repr=False)
    lock: Lock
    # Made by `tocsin demo` with its public passphrase: not for real members.
    demo: bool = False

    @classmethod
    def seal(cls, secrets: Secrets, kek: bytes, lock: Lock, *, demo: bool = False) -> Keyring:
        return cls(secrets.public_key, bytes(_box(kek).encrypt(secrets.dumps())), lock, demo)

    def open(self, kek: bytes) -> Secrets:
        """Return the secrets; raises WrongKey when ``kek`` is not this keyring's."""
        try:
            return Secrets.loads(_box(kek).decrypt(self.secrets))
        except CryptoError:
            raise WrongKey("these shares do not open the vault") from None

    def dumps(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "version": 1,
                "demo": self.demo,
                "public_key": self.public_key,
                "secrets": _b64(self.secrets),
                "lock": self.lock.as_json(),
            },
            indent=1,
        ).encode()

    @classmethod
    def loads(cls, data: bytes) -> Keyring:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT or doc.get("version") != 1:
                raise ValueError("not a Tocsin vault keyring of version 1")
            raw = doc["lock"]
            lock: Lock
            if raw["kind"] == "passphrase":
                lock = PassphraseLock(
                    _unb64(raw["salt"]),
                    int(raw["opslimit"]),
                    int(raw["memlimit"]),
                    _unb64(raw["kek"]),
                )
            elif raw["kind"] == "shares":
                lock = SharesLock(str(raw["set"]), int(raw["threshold"]), int(raw["count"]))
            else:
                raise ValueError(f"unknown lock {raw['kind']!r}")
            return cls(str(doc["public_key"]), _unb64(doc["secrets"]), lock, bool(doc["demo"]))
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
            raise VaultError(f"the vault keyring cannot be read: {e}") from None


def new_kek() -> bytes:
    return random.token_bytes(KEK_BYTES)


# --- files ---------------------------------------------------------------------------------


def read(folder: Path) -> Keyring | None:
    """Return the keyring kept in ``folder``, or None when there is none yet."""
    try:
        return Keyring.loads((folder / KEYRING).read_bytes())
    except FileNotFoundError:
        return None


def read_public_key(folder: Path) -> str:
    """Return the public key kept in plain in ``folder`` ("" when there is none)."""
    try:
        return (folder / PUBLIC_KEY).read_text().strip()
    except FileNotFoundError:
        return ""


def write(folder: Path, keyring: Keyring, *, replace: bool) -> bool:
    """Write ``keyring`` and its public key into ``folder`` (mode 0600 from the first byte).

    Without ``replace`` an existing keyring wins and False is returned: two processes
    starting together must not make two key pairs.
    """
    written = _write_private(folder / KEYRING, keyring.dumps(), replace=replace)
    if written:
        _write_private(folder / PUBLIC_KEY, keyring.public_key.encode() + b"\n", replace=True)
    return written


def _write_private(path: Path, data: bytes, *, replace: bool) -> bool:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
        _sync_folder(path.parent)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def legacy_secrets(folder: Path) -> tuple[str, str]:
    """Return the private key and blind-index key an older version left in plain ("" for
    each that is not there)."""
    found = []
    for name in (LEGACY_PRIVATE_KEY, LEGACY_BLIND_INDEX_KEY):
        try:
            found.append((folder / name).read_text().strip())
        except FileNotFoundError:
            found.append("")
    return found[0], found[1]


def shred(path: Path) -> None:
    """Overwrite ``path`` with random bytes, flush it to the disk, and remove it.

    On an SSD or a copy-on-write file system the old blocks may survive the overwrite:
    docs/operations.md says to rotate the key pair after migrating when that matters.
    """
    try:
        size = path.stat().st_size
        with path.open("r+b") as f:
            f.write(random.token_bytes(max(size, 1)))
            f.flush()
            os.fsync(f.fileno())
        path.unlink()
    except FileNotFoundError:
        return
    _sync_folder(path.parent)
