"""What the operator's checks read that no other table holds."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per running worker process, touched every few seconds: /readyz and the
    metrics tell from it whether any worker is alive, and whether it can open the vault."""

    # A random name per process (tocsin.alerts.outbox.WORKER_ID), nothing about the machine.
    worker = models.CharField(max_length=32, unique=True)
    seen_at = models.DateTimeField(db_index=True)
    # Whether that worker held the vault's private key at its last beat (it can send).
    unlocked = models.BooleanField(default=False)
