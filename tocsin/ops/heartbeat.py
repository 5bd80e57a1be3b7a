"""Worker heartbeats: each worker says every few seconds that it is alive, and whether it
holds the vault's key; readiness and metrics read the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from tocsin.ops.models import WorkerHeartbeat

# How often a worker beats. /readyz wants one within TOCSIN_READY_WORKER_SECONDS.
BEAT_SECONDS = 10.0
# A worker not seen for this long is gone for good: its row is deleted at the next beat.
FORGET_AFTER = timedelta(hours=1)


def beat(worker: str, *, unlocked: bool, now: datetime | None = None) -> None:
    """Record that ``worker`` is alive now; drop rows of workers gone for an hour."""
    now = now or timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker=worker, defaults={"seen_at": now, "unlocked": unlocked}
    )
    WorkerHeartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()


def stop(worker: str) -> None:
    """Forget a worker that stops cleanly, so it is not counted while its beat ages."""
    WorkerHeartbeat.objects.filter(worker=worker).delete()


@dataclass(frozen=True)
class Workers:
    """The workers seen within a window, and the newest beat's age."""

    alive: int
    unlocked: int
    newest_age: float | None


def workers(*, within: float, now: datetime | None = None) -> Workers:
    """Return how many workers beat within ``within`` seconds, how many of those hold the
    vault's key, and the age in seconds of the newest beat (None: never one)."""
    now = now or timezone.now()
    recent = WorkerHeartbeat.objects.filter(seen_at__gte=now - timedelta(seconds=within))
    newest = WorkerHeartbeat.objects.aggregate(newest=Max("seen_at"))["newest"]
    return Workers(
        alive=recent.count(),
        unlocked=recent.filter(unlocked=True).count(),
        newest_age=None if newest is None else max(0.0, (now - newest).total_seconds()),
    )
