"""Waking the workers when deliveries are written, rather than at their next poll: an
in-process event (the worker that ``tocsin serve --with-worker`` runs beside the web
server) and, on PostgreSQL, NOTIFY to workers in other processes, which LISTEN.

Waking is only a hint: a wake-up lost (a listener reconnecting, a NOTIFY that failed) is
made up by the worker's sweep at its next interval, and the task queue still announces
the deliveries as before.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from django.db import connection

logger = logging.getLogger(__name__)

# Set when deliveries were written in this process or another process said so; the
# worker's sweep waits on it between drains.
wakeup = threading.Event()

CHANNEL = "tocsin_outbox"


def wake() -> None:
    """Wake this process's sweep and, on PostgreSQL, every worker that listens. Call
    after the deliveries committed (``transaction.on_commit``)."""
    wakeup.set()
    notify()


def notify() -> None:
    """On PostgreSQL, wake every worker that listens. Inside the transaction that writes
    deliveries, this costs the confirm no round trip after its commit: PostgreSQL sends
    a NOTIFY when the transaction commits, and never if it rolls back."""
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")
    except Exception:  # the sweep and the task queue send them anyway
        logger.exception("could not notify the workers")


# How often the listener looks at ``stop`` while no notification comes.
LISTEN_SECONDS = 1.0


def listen(stop: threading.Event) -> None:
    """Set ``wakeup`` whenever a process NOTIFYs that it wrote deliveries, until ``stop``
    (PostgreSQL; returns at once on other databases). Runs on its own connection."""
    if connection.vendor != "postgresql":
        return
    while not stop.is_set():
        conn = None
        try:
            # A connection of its own, outside the pool: it listens for as long as the
            # worker runs.
            conn = psycopg.connect(**connection.get_connection_params(), autocommit=True)
            conn.execute(f"LISTEN {CHANNEL}")
            # Whatever was written while this listener was not connected.
            wakeup.set()
            while not stop.is_set():
                for _ in conn.notifies(timeout=LISTEN_SECONDS):
                    wakeup.set()
        except Exception:
            # The database went away: the sweep's interval covers until it is back.
            logger.exception("outbox listener failed; reconnecting")
            stop.wait(5)
        finally:
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: S110 - closing a dead connection
                    pass
