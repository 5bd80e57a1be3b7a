"""The delivery outbox: alerts become Delivery rows in the transaction that decides them;
workers claim due rows with a lease, send them, and record the outcome.

A crashed worker loses nothing: its leased rows become due again when the lease ends.
The unique (alert, endpoint) key makes a second claim of the same row harmless, and
the transport gets that key as its idempotency key. Each send is recorded as it returns
(a send thread waits for that before its next send), so what a killed worker's rows
send again is at most one message per send thread: the one in the transport's hands.

Each channel (transport kind) is claimed and paced on its own: a batch is at most what
the channel may send in a quarter of the lease at its rate, sends run on a small pool of
threads per channel, and a provider's Retry-After pauses the channel. Urgent alerts are
claimed before corrections, and corrections before all-clears.

One module per concern, each importing only those listed before it:

- ``claiming``: leasing due rows (``claim``, ``Batch``);
- ``pacing``: a channel's rate, pause and pool of send threads;
- ``recording``: the outcome of a drain, and sent rows recorded as they return;
- ``retrying``: what a failed send becomes (backoff, dead, ``fall_back``);
- ``receipts``: a device's receipt, and falling back when none came;
- ``resealing``: opening endpoints' sealed details fast (``WorkerSeal``);
- ``sending``: sending claimed batches on the channels' lanes;
- ``waking``: waking workers when deliveries are written (``wakeup``, ``listen``);
- ``draining``: the drain loop and the ``deliver_outbox`` task;
- ``writing``: ``issue_alert`` and the Delivery rows it writes;
- ``counts``: where each targeted person stands (``progress``).

Everything callers use is re-exported here: ``from tocsin.alerts import outbox`` then
``outbox.drain()``. Task rows name ``tocsin.alerts.outbox.deliver_outbox`` (the task
is defined in ``draining`` under that path, and this re-export keeps it importable), so
rows queued by a worker before or after the package split load in either.
"""

from __future__ import annotations

from tocsin.alerts.outbox.claiming import Batch, claim, claim_unhandled
from tocsin.alerts.outbox.counts import progress
from tocsin.alerts.outbox.draining import (
    FIRST_CLAIM,
    WORKER_ID,
    _wake_workers,
    announce,
    deliver_outbox,
    drain,
    is_draining,
)
from tocsin.alerts.outbox.pacing import (
    MAX_PAUSE,
    SEND_THREAD_PREFIX,
    RateLimiter,
    _pool,
    _pool_size,
    batch_limit,
    limiter,
    reset_pacing,
)
from tocsin.alerts.outbox.receipts import (
    RECEIPT_KINDS,
    RECEIPT_SALT,
    fall_back_unreceived,
    receipt_url,
    record_receipt,
)
from tocsin.alerts.outbox.recording import (
    RECORD_QUIET,
    RECORD_SECONDS,
    RECORD_WINDOW,
    Deferred,
    Outcome,
    Row,
)
from tocsin.alerts.outbox.resealing import prepare as prepare_seals
from tocsin.alerts.outbox.retrying import backoff, fall_back
from tocsin.alerts.outbox.sending import send_batch, send_batches, send_one
from tocsin.alerts.outbox.waking import listen, wake, wakeup
from tocsin.alerts.outbox.writing import (
    FOLLOWED_UP,
    PRIORITY,
    cancel_for_revoked,
    heard,
    issue_alert,
    issue_direct,
    owed_follow_ups,
)

__all__ = [
    "FIRST_CLAIM",
    "FOLLOWED_UP",
    "MAX_PAUSE",
    "PRIORITY",
    "RECEIPT_KINDS",
    "RECEIPT_SALT",
    "RECORD_QUIET",
    "RECORD_SECONDS",
    "RECORD_WINDOW",
    "SEND_THREAD_PREFIX",
    "WORKER_ID",
    "Batch",
    "Deferred",
    "Outcome",
    "RateLimiter",
    "Row",
    "_pool",
    "_pool_size",
    "_wake_workers",
    "announce",
    "backoff",
    "batch_limit",
    "cancel_for_revoked",
    "claim",
    "claim_unhandled",
    "deliver_outbox",
    "drain",
    "is_draining",
    "fall_back",
    "fall_back_unreceived",
    "heard",
    "issue_alert",
    "issue_direct",
    "limiter",
    "listen",
    "owed_follow_ups",
    "prepare_seals",
    "progress",
    "receipt_url",
    "record_receipt",
    "reset_pacing",
    "send_batch",
    "send_batches",
    "send_one",
    "wake",
    "wakeup",
]
