"""Opening sealed endpoints fast: the first open of an endpoint's sealed contact details
(an X25519 per address, about 45 us) seals them again under a symmetric key only a
holder of the vault's private key can derive (XChaCha20-Poly1305, a few us to open),
stored beside the endpoint (WorkerSeal). The next alerts open that instead.

The key is derived from the private key, so it goes with the vault keys: rotated keys
make every stored seal fail to open, and the endpoint is opened the slow way and sealed
again. Each seal is bound (as associated data) to the endpoint's sealed value, so a
changed address never opens as the old one. Nothing is kept in plaintext, in memory or
in the database, beyond the one message being sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

from nacl._sodium import ffi, lib
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt

from tocsin import vault
from tocsin.alerts.models import WorkerSeal

logger = logging.getLogger(__name__)

_NONCE = 24
# The derived key, for the private key it was derived from (by identity: the vault
# parses its key once per unlock).
_derived: tuple[object, bytes] | None = None


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


def _bound(sealed: bytes) -> bytes:
    return hashlib.sha256(sealed).digest()


_TAG = lib.crypto_aead_xchacha20poly1305_ietf_abytes()
_KEY = lib.crypto_aead_xchacha20poly1305_ietf_keybytes()


def _decrypt(box: bytes, ad: bytes, nonce: bytes, key: bytes) -> bytes | None:
    """Return what ``box`` holds, or None if it does not open: libsodium's
    crypto_aead_xchacha20poly1305_ietf_decrypt called through PyNaCl's own cffi module.
    PyNaCl's wrapper formats four error messages before every call, which cost more
    than the decryption of a short address; the sizes it checks are checked here."""
    size = len(box) - _TAG
    if size < 0 or len(nonce) != _NONCE or len(key) != _KEY:
        return None
    out = ffi.new("unsigned char[]", size or 1)
    out_size = ffi.new("unsigned long long *")
    failed = lib.crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, out_size, ffi.NULL, box, len(box), ad, len(ad), nonce, key
    )
    return None if failed else bytes(ffi.buffer(out, out_size[0]))


def worker_key() -> bytes:
    """Return the key ``open_fast`` takes; raises VaultLocked while the vault is locked."""
    return _key()


def open_fast(
    sealed: bytes, reseal: bytes | None, key: bytes | None = None
) -> tuple[dict[str, Any], bytes | None]:
    """Return the endpoint's details, and a new seal to store when the stored one
    (``reseal``) was missing or did not open (else None). ``key`` is ``worker_key()``,
    taken once for many endpoints (by default, taken now)."""
    if key is None:
        key = _key()
    if reseal and len(reseal) > _NONCE:
        # None: sealed under rotated keys, or for another address: open the slow way.
        data = _decrypt(reseal[_NONCE:], _bound(sealed), reseal[:_NONCE], key)
        if data is not None:
            # Decoded first: json.loads would detect the encoding of bytes each time.
            value = json.loads(data.decode())
            if isinstance(value, dict):
                return value, None
    value = vault.unseal(sealed)
    nonce = os.urandom(_NONCE)
    data = json.dumps(value, separators=(",", ":")).encode()
    blob = nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(data, _bound(sealed), nonce, key)
    return value, blob


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
