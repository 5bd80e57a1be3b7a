"""The drain loop and its task: claim a batch per channel, send them side by side, until
nothing is due.
"""

from __future__ import annotations

import logging
import threading
import uuid
from functools import partial

from django.db import connection, transaction
from django.tasks import task

from tocsin.alerts import messages
from tocsin.alerts.outbox.claiming import claim, claim_unhandled
from tocsin.alerts.outbox.pacing import batch_limit, limiter
from tocsin.alerts.outbox.receipts import fall_back_unreceived
from tocsin.alerts.outbox.recording import Outcome
from tocsin.alerts.outbox.sending import send_batches
from tocsin.alerts.outbox.waking import notify, wake, wakeup
from tocsin.lib import live
from tocsin.transports import registry as transports
from tocsin.vault import locking

logger = logging.getLogger(__name__)


WORKER_ID = uuid.uuid4().hex[:12]


def _deliver_outbox() -> int:
    """Send every due delivery; return how many were sent."""
    return drain().sent


# Queued task rows name the task by its path. Keep the one rows had before the outbox
# became a package (the package re-exports it), so during an upgrade a worker on either
# side loads the rows the other side queued.
_deliver_outbox.__module__ = "tocsin.alerts.outbox"
_deliver_outbox.__name__ = _deliver_outbox.__qualname__ = "deliver_outbox"
deliver_outbox = task()(_deliver_outbox)


def announce(incident_id: int) -> None:
    """Wake the workers for deliveries about ``incident_id`` this transaction wrote:
    other processes' workers by a NOTIFY sent with the commit, this process's once it
    committed."""
    if connection.in_atomic_block:
        notify()
        transaction.on_commit(partial(_wake_workers, incident_id, notified=True))
    else:
        _wake_workers(incident_id)


def _wake_workers(incident_id: int, *, notified: bool = False) -> None:
    # This process's worker first (it sends at once), then other processes'.
    if notified:
        wakeup.set()
    else:
        wake()
    live.publish(f"incident:{incident_id}")
    try:
        deliver_outbox.enqueue()
    except Exception:  # the worker's sweep sends them anyway
        logger.exception("could not enqueue the outbox task")


# One drain at a time per process: the task and the sweep would otherwise only contend
# for the same rows (and, on SQLite, for the write lock).
_drain_lock = threading.Lock()


def is_draining() -> bool:
    """Return whether this process is draining the outbox now."""
    return _drain_lock.locked()


# The first claim of a drain is this small, so the first messages of an alert leave
# (and are recorded) while the next claim prepares the rest.
FIRST_CLAIM = 20


def drain(
    *,
    max_batches: int | None = None,
    stop: threading.Event | None = None,
    wait: bool = False,
) -> Outcome:
    """Send due deliveries until none are left (or ``max_batches`` rounds).

    Each round claims a batch per channel and sends the channels side by side.
    Returns at once, doing nothing, if this process is already draining, unless
    ``wait`` (the worker's sweep, woken for new deliveries): then it drains after the
    other drain, which may have made its last claim before they were written.
    """
    if not _drain_lock.acquire(blocking=wait):
        return Outcome()
    try:
        return _drain(max_batches, stop)
    finally:
        _drain_lock.release()


def _drain(max_batches: int | None, stop: threading.Event | None = None) -> Outcome:
    outcome = Outcome()
    # While the vault is locked nothing is claimed: deliveries wait in the queue.
    if not locking.check():
        return outcome
    rounds = 0
    fell_back = False
    kinds = list(transports.registry())
    # One for the drain: each alert rendered once per language, however many batches.
    renderer = messages.Renderer()
    while max_batches is None or rounds < max_batches:
        if stop is not None and stop.is_set():
            break  # the worker is stopping: claim nothing more
        if rounds and not locking.check():
            break  # locked between batches
        rounds += 1
        batches = [
            claim(
                batch_limit(kind) if rounds > 1 else min(FIRST_CLAIM, batch_limit(kind)), kind=kind
            )
            for kind in kinds
            # A channel whose provider asked for a pause waits; the others go on.
            if limiter(kind).paused_for() <= 1.0
        ]
        batches = [b for b in batches if b]
        if not batches:
            # Rows of a channel no transport handles: claimed to fail them visibly.
            batches = [b for b in [claim_unhandled(kinds)] if b]
        if batches:
            live.publish(*(f"incident:{i}" for i in send_batches(batches, outcome, renderer)))
        if not fell_back:
            # Pushes no device acknowledged in time go to the member's next channel:
            # queued after the first round, so a new alert's first messages do not wait
            # for this look back, and sent by the rounds that follow.
            fell_back = True
            fall_back_unreceived()
            continue
        if not batches:
            break
    return outcome
