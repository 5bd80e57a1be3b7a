"""Background tasks of the delivery engine (run by `tocsin worker`)."""

from __future__ import annotations

from django.tasks import task

from tocsin.alerts import outbox


@task()
def deliver_outbox() -> int:
    """Send every due delivery; return how many were sent."""
    return outbox.drain().sent
