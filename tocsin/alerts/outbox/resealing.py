"""Opening sealed endpoints fast: the first open of an endpoint's sealed contact details
(an X25519 per address, about 45 us) seals them again under a symmetric key only a
holder of the vault's private key can derive (AES-256-GCM, under a microsecond to open),
stored beside the endpoint (WorkerSeal). The next alerts open that instead.

The key is derived from the private key, so it goes with the vault keys: rotated keys
make every stored seal fail to open, and the endpoint is opened the slow way and sealed
again. Each seal is bound (as associated data) to the endpoint's sealed value, so a
changed address never opens as the old one. Nothing is kept in plaintext, in memory or
in the database, beyond the one message being sent.

A seal is a version byte, a random 96-bit nonce and the ciphertext with its tag. One key
seals each endpoint once per key (and again only when its address changes), far below
the 2**32 messages a random-nonce GCM key may seal. Seals of the earlier format
(XChaCha20-Poly1305, no version byte) do not open: they are opened the slow way once and
sealed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tocsin import vault
from tocsin.alerts.models import WorkerSeal
from tocsin.members.models import ContactEndpoint

logger = logging.getLogger(__name__)

_VERSION = b"\x02"
_NONCE = 12
# The derived key, for the private key it was derived from (by identity: the vault
# parses its key once per unlock).
_derived: tuple[object, bytes] | None = None
# The cipher of the last key used (its key schedule computed once, not per seal).
_cipher: tuple[bytes, AESGCM] | None = None


def _key() -> bytes:
    """The symmetric key; raises VaultLocked like vault.unseal without the private key.

    A worker takes it once per batch (``open_fast``'s ``key``): the vault's lock is
    checked per batch then, and before each round of the drain."""
    global _derived
    private = vault._private_key()
    if _derived is None or _derived[0] is not private:
        key = hashlib.blake2b(bytes(private), digest_size=32, person=b"tocsin-reseal").digest()
        _derived = (private, key)
    return _derived[1]


def _aead(key: bytes) -> AESGCM:
    global _cipher
    cipher = _cipher
    if cipher is None or cipher[0] != key:
        cipher = _cipher = (key, AESGCM(key))
    return cipher[1]


def worker_key() -> bytes:
    """Return the key ``open_fast`` takes; raises VaultLocked while the vault is locked."""
    return _key()


def open_fast(
    sealed: bytes, reseal: bytes | None, key: bytes | None = None
) -> tuple[dict[str, Any], bytes | None]:
    """Return the endpoint's details, and a new seal to store when the stored one
    (``reseal``) was missing or did not open (else None). ``key`` is ``worker_key()``,
    taken once for many endpoints (by default, taken now)."""
    aead = _aead(_key() if key is None else key)
    if reseal and reseal[0] == _VERSION[0]:
        # Not opened: sealed under rotated keys, for another address, damaged, or of the
        # earlier format. Then opened the slow way.
        try:
            data = aead.decrypt(reseal[1 : 1 + _NONCE], reseal[1 + _NONCE :], sealed)
        except (InvalidTag, ValueError):
            pass
        else:
            value = _decode(data)
            if value is not None:
                return value, None
    value = vault.unseal(sealed)
    nonce = os.urandom(_NONCE)
    return value, _VERSION + nonce + aead.encrypt(nonce, _encode(value), sealed)


# What a seal holds: an address alone (email, SMS, Signal, Telegram) as b"a" and its text,
# four times faster to read back than JSON; any other details as b"{" and their JSON.
_ADDRESS = b"a"


def _encode(value: dict[str, Any]) -> bytes:
    address = value.get("address")
    if len(value) == 1 and isinstance(address, str):
        return _ADDRESS + address.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def _decode(data: bytes) -> dict[str, Any] | None:
    if data[0] == _ADDRESS[0]:
        return {"address": data[1:].decode()}
    # Decoded first: json.loads would detect the encoding of bytes each time.
    value = json.loads(data.decode())
    return value if isinstance(value, dict) else None


def store(seals: dict[int, bytes]) -> None:
    """Store new seals by endpoint id. A failure only costs the next alert a slow open."""
    if not seals:
        return
    try:
        WorkerSeal.objects.bulk_create(
            [WorkerSeal(endpoint_id=pk, blob=blob) for pk, blob in seals.items()],
            update_conflicts=True,
            unique_fields=["endpoint"],
            update_fields=["blob"],
        )
    except Exception:
        logger.exception("could not store the endpoints' worker seals")


# Endpoints sealed ahead per call of ``prepare`` (the worker's housekeeping, every few
# seconds): about 30 ms of a core each time, so 100,000 new members are ready in minutes.
PREPARE_BATCH = 500
# After a pass over every endpoint, the next pass starts from the first this much later.
PREPARE_REST_SECONDS = 60.0
# Where this pass is (an endpoint that cannot be opened is passed over, not tried again
# ahead of the others), and when the next pass may start.
_prepared_after = 0
_rest_until = 0.0


def prepare(limit: int = PREPARE_BATCH) -> int:
    """Seal ahead, for the workers, up to ``limit`` verified endpoints that have no worker
    seal yet (a new member, a new channel): their first alert then opens them in a
    microsecond instead of an X25519 each, which on a first fan-out to 100,000 members
    is seconds of a core before the last message leaves. Return how many were sealed.
    Does nothing while the vault is locked."""
    global _prepared_after, _rest_until
    if time.monotonic() < _rest_until:
        return 0
    try:
        key = worker_key()
    except vault.VaultLocked:
        return 0
    rows = list(
        ContactEndpoint.objects.filter(
            id__gt=_prepared_after,
            worker_seal__isnull=True,
            verified_at__isnull=False,
            disabled_at__isnull=True,
        )
        .order_by("id")
        .values_list("id", "sealed")[:limit]
    )
    if not rows:
        # The pass is over: rest, then look again from the first endpoint.
        _prepared_after, _rest_until = 0, time.monotonic() + PREPARE_REST_SECONDS
        return 0
    seals: dict[int, bytes] = {}
    for pk, sealed in rows:
        try:
            _, fresh = open_fast(bytes(sealed), None, key)
        except vault.VaultLocked:
            break
        except Exception:  # not to be opened: its alerts fail visibly, as before
            logger.warning("could not seal endpoint %s ahead for the workers", pk)
        else:
            if fresh is not None:
                seals[pk] = fresh
        _prepared_after = pk
    store(seals)
    return len(seals)
