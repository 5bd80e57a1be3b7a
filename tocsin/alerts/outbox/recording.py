"""Recording results: the outcome of a drain, the rows a batch sends, and sent rows
recorded in small groups.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.utils import timezone

from tocsin.alerts.models import Alert, Delivery, DeliveryStatus
from tocsin.transports.base import TransportError


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0
    dead: int = 0

    def __iadd__(self, other: Outcome) -> Outcome:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        return self


@dataclass
class Row:
    """What sending one delivery needs, read in one query per batch (no model objects:
    a batch of 500 would otherwise build 2,500 of them)."""

    pk: int
    alert: Alert
    member_id: int
    endpoint_id: int
    kind: str
    attempts: int
    priority: int
    sealed: bytes
    disabled: bool
    language: str
    # The endpoint's worker seal, if stored (tocsin.alerts.outbox.resealing).
    reseal: bytes | None = None

    @property
    def alert_id(self) -> int:
        return self.alert.pk


class Deferred(TransportError):
    """Not sent: the channel is paused. Put back without counting an attempt."""

    def __init__(self, seconds: float) -> None:
        super().__init__("channel paused by its provider", retry_after=seconds)


# Sent rows are recorded in small groups: a worker killed mid-batch re-sends at most
# what it had not recorded yet, which the idempotency key lets the provider drop. A
# group is at least RECORD_EVERY rows, recorded at most every RECORD_SECONDS while
# sends stream in fast (one commit per ten sends would cap a PostgreSQL worker), and
# never more than RECORD_MAX rows.
RECORD_EVERY = 10
RECORD_SECONDS = 0.05
RECORD_MAX = 500


class _SentRows:
    """Sent rows not yet recorded, per claim token; recorded in groups as they come."""

    def __init__(self, tokens: list[str]) -> None:
        self.ids: dict[str, list[int]] = {t: [] for t in tokens}
        self.pending = 0
        self.recorded = time.monotonic()

    def add(self, token: str, delivery_id: int) -> None:
        self.ids[token].append(delivery_id)
        self.pending += 1
        waited = time.monotonic() - self.recorded
        if self.pending >= RECORD_MAX or (self.pending >= RECORD_EVERY and waited > RECORD_SECONDS):
            self.record()

    def record(self) -> None:
        now = timezone.now()
        for token, ids in self.ids.items():
            if ids:
                Delivery.objects.filter(
                    id__in=ids, status=DeliveryStatus.SENDING, claim_token=token
                ).update(status=DeliveryStatus.SENT, sent_at=now, lease_until=None, error="")
                ids.clear()
        self.pending = 0
        self.recorded = time.monotonic()
