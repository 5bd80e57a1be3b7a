"""The vault's lock: one switch, through the database, for every worker on every machine.

``lock()`` raises the lock generation (tocsin.vault.models.VaultState). Every process that
holds the private key reads it between batches (``check()``) and drops the key when it
went up; deliveries and replies stay queued meanwhile, never failed for it. A worker then
waits: it leaves in the database a public key it made for this wait alone
(``WaitingProcess``). ``unlock()`` (`tocsin manage vault unlock`, with the passphrase or
the shares) seals the secrets to each waiting worker, which takes them, deletes the row
and forgets that key pair. A worker started again with the passphrase resumes too.
"""

from __future__ import annotations

import logging
import secrets as random
import time
from datetime import timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from tocsin.vault import keys
from tocsin.vault.models import VaultState, WaitingProcess
from tocsin.vault.wrapping import Secrets

logger = logging.getLogger(__name__)

# A waiting worker not seen for this long is gone; its row goes at the next unlock.
STALE_SECONDS = 120
# A waiting worker says it is still there at most this often.
SEEN_EVERY = 1.0


def generation() -> int:
    """Return the lock generation now (0 before the first lock).

    Read before every batch a worker sends, so in raw SQL: the ORM's query cost about
    200 us, a fifth of a microsecond on each delivery of a fan-out (docs/benchmarks.md)."""
    with connection.cursor() as cursor:
        cursor.execute(_GENERATION)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


_GENERATION = f"SELECT generation FROM {VaultState._meta.db_table} WHERE id = 1"  # noqa: S608


def generation_or_none() -> int | None:
    """Return the lock generation, or None when the database is not migrated yet."""
    try:
        with transaction.atomic():
            return generation()
    except DatabaseError:
        return None


def lock() -> int:
    """Drop the vault's private key from every process that holds it, on every machine,
    by their next batch; return the new lock generation.

    Deliveries and replies wait in the queue (never failed for it) until ``unlock()``
    hands the keys back or a worker starts with the passphrase. Web processes keep the
    blind-index and TOTP keys, so logins go on. Who may lock is the caller's rule (a
    second person, say): this function just locks.
    """
    with transaction.atomic():
        VaultState.objects.get_or_create(pk=1)
        VaultState.objects.filter(pk=1).update(
            generation=F("generation") + 1, locked_at=timezone.now()
        )
        # Keys handed to a waiting worker that has not taken them yet.
        WaitingProcess.objects.update(sealed=None)
        new = generation()
    keys.drop()
    keys.state().generation = new
    logger.warning("vault locked (generation %s): deliveries wait", new)
    return new


def unlock(secrets: Secrets) -> int:
    """Hold ``secrets`` in this process and hand them to every worker waiting for them,
    each sealed to the key pair it made for the wait; return how many."""
    current = generation()
    if keys.embedded():
        keys.hold(secrets, generation=current)
    else:
        keys.resume(generation=current)
    now = timezone.now()
    WaitingProcess.objects.filter(seen_at__lt=now - timedelta(seconds=STALE_SECONDS)).delete()
    handed = 0
    for row in WaitingProcess.objects.filter(sealed__isnull=True):
        sealed = SealedBox(PublicKey(bytes(row.public_key))).encrypt(secrets.dumps())
        handed += WaitingProcess.objects.filter(pk=row.pk, sealed__isnull=True).update(
            sealed=bytes(sealed), generation=current
        )
    return handed


def waiting() -> int:
    """Return how many workers wait for the keys now."""
    cutoff = timezone.now() - timedelta(seconds=STALE_SECONDS)
    return WaitingProcess.objects.filter(seen_at__gte=cutoff, sealed__isnull=True).count()


def check() -> bool:
    """Obey the lock, take keys handed over, and return whether this process can open
    sealed values now. Workers call it between batches: one query, two while waiting."""
    current = generation()
    s = keys.state()
    with s.lock:
        if keys.holds_private() and s.generation is not None and current > s.generation:
            keys.drop()
            logger.warning("vault locked (generation %s): deliveries wait", current)
        if keys.can_open():
            if s.generation is None:
                # Unlocked without reading the lock (lazily, or before migrations):
                # it counts from the generation read before.
                s.generation = current
            return True
        if not s.worker:
            return False
        _wait_for_keys(current)
        return keys.can_open()


def _wait_for_keys(current: int) -> None:
    s = keys.state()
    if s.waiting is None:
        process, key = random.token_hex(8), PrivateKey.generate()
        WaitingProcess.objects.create(
            process=process, public_key=bytes(key.public_key), seen_at=timezone.now()
        )
        s.waiting, s.seen_at = (process, key), time.monotonic()
        logger.warning("vault locked: waiting for `tocsin manage vault unlock`")
        return
    process, key = s.waiting
    row = WaitingProcess.objects.filter(process=process).values_list("sealed", "generation")
    found = row.first()
    if found is None:  # removed as stale: wait again under a new key pair
        s.waiting = None
        return
    sealed, handed_in = found
    if not sealed:
        if time.monotonic() - s.seen_at >= SEEN_EVERY:
            WaitingProcess.objects.filter(process=process).update(seen_at=timezone.now())
            s.seen_at = time.monotonic()
        return
    WaitingProcess.objects.filter(process=process).delete()
    # This key pair opened its one handover: forget it, so the sealed copy (in a backup,
    # in the write-ahead log) never opens again.
    s.waiting = None
    try:
        secrets = Secrets.loads(SealedBox(key).decrypt(bytes(sealed)))
    except (CryptoError, ValueError, KeyError):
        logger.error("the vault keys handed over cannot be opened; still waiting")
        return
    if handed_in < current:
        return  # locked again since
    if keys.embedded():
        keys.hold(secrets, generation=handed_in)
    elif secrets.private_key == keys.env_private_key():
        keys.resume(generation=handed_in)
    else:
        logger.error("the vault keys handed over are not this worker's TOCSIN_VAULT_PRIVATE_KEY")
        return
    logger.warning("vault unlocked: deliveries resume")
