"""Is this Tocsin ready to carry an alarm? The checks /readyz and `tocsin manage status`
run: the database, Redis when configured, the vault, a worker's heartbeat and the age of
the oldest delivery still waiting.

Each check says only ok or not, a short fixed reason, and a number: never an error's own
text (a database error can quote its URL, password and all) and nothing about a person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import redis as redis_client
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Min
from django.utils import timezone

from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.ops import heartbeat
from tocsin.vault import keys

# Redis must answer a ping within this; a probe never hangs on it.
REDIS_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    # Seconds or a count, where the check measures one.
    value: float | None = None


def database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return Check("database", False, "unreachable")
    return Check("database", True, "answers")


def redis() -> Check:
    if not settings.REDIS_URL:
        return Check("redis", True, "not configured")
    try:
        client = redis_client.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        client.ping()
        client.close()
    except (redis_client.RedisError, OSError):
        return Check("redis", False, "unreachable")
    return Check("redis", True, "answers")


def vault_and_workers(*, now: datetime | None = None) -> list[Check]:
    """Return the worker and vault checks: a worker beat recently, and one that did holds
    the vault's key (deliveries need it); and this process can seal new contacts."""
    try:
        seen = heartbeat.workers(within=settings.READY_WORKER_SECONDS, now=now)
    except DatabaseError:
        return [
            Check("worker", False, "database unreachable"),
            Check("vault", False, "database unreachable"),
        ]
    if seen.alive:
        worker = Check("worker", True, f"{seen.alive} alive", seen.newest_age)
    elif seen.newest_age is None:
        worker = Check("worker", False, "no worker has run")
    else:
        worker = Check("worker", False, "no heartbeat recently", seen.newest_age)
    try:
        keys.public_key()
        can_seal = True
    except Exception:  # noqa: BLE001 - any failure to read the key means "cannot seal"
        can_seal = False
    if not can_seal:
        vault = Check("vault", False, "this process cannot seal contacts")
    elif seen.unlocked:
        vault = Check("vault", True, "unlocked", seen.unlocked)
    elif seen.alive:
        vault = Check("vault", False, "locked: run `tocsin manage vault unlock`")
    else:
        vault = Check("vault", False, "no worker to hold the key")
    return [worker, vault]


def queue(*, now: datetime | None = None) -> Check:
    """The oldest delivery still waiting to go out (queued, or failed and retrying)."""
    now = now or timezone.now()
    try:
        oldest = Delivery.objects.filter(
            status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED]
        ).aggregate(oldest=Min("created_at"))["oldest"]
    except DatabaseError:
        return Check("queue", False, "database unreachable")
    if oldest is None:
        return Check("queue", True, "empty", 0.0)
    age = max(0.0, (now - oldest).total_seconds())
    if age > settings.READY_QUEUE_SECONDS:
        return Check("queue", False, "oldest waiting delivery is too old", round(age, 1))
    return Check("queue", True, "moving", round(age, 1))


def run(*, now: datetime | None = None) -> list[Check]:
    """Run every check, in the order a person reads them."""
    db = database()
    checks = [db, redis()]
    if db.ok:
        checks += [*vault_and_workers(now=now), queue(now=now)]
    else:
        checks += [
            Check("worker", False, "database unreachable"),
            Check("vault", False, "database unreachable"),
            Check("queue", False, "database unreachable"),
        ]
    return checks


def as_json(checks: list[Check]) -> dict[str, object]:
    return {
        "ready": all(c.ok for c in checks),
        "checks": {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in checks},
    }
