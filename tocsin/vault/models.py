"""The vault's lock, shared through the database by every process that holds its key."""

from __future__ import annotations

from django.db import models


class VaultState(models.Model):
    """One row: the lock generation. ``lock()`` raises it; every process that holds the
    private key reads it between batches and drops the key when it went up."""

    generation = models.PositiveIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)


class WaitingProcess(models.Model):
    """A worker waiting for the vault's keys: locked, or started without the passphrase.

    It made a key pair for this wait alone and left the public half here;
    ``tocsin manage vault unlock`` seals the secrets to it. The worker takes them, deletes
    the row and forgets that key pair, so the sealed copy never opens again.
    """

    process = models.CharField(max_length=32, unique=True)
    public_key = models.BinaryField()
    sealed = models.BinaryField(null=True, blank=True)
    # The lock generation the sealed secrets were handed over in.
    generation = models.PositiveIntegerField(default=0)
    seen_at = models.DateTimeField()
