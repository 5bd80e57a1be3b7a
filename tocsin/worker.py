"""The worker: runs queued tasks, sweeps the delivery outbox and purges old data.

The sweep makes the worker self-healing: deliveries whose lease ran out (a crashed
worker) or whose retry time came are picked up even if no task announced them. The
purge (tocsin.retention.purge) runs at start and then every TOCSIN_PURGE_INTERVAL_MINUTES.
"""

from __future__ import annotations

import faulthandler
import functools
import gc
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from django.urls import get_resolver
from django.utils import translation
from django_tasks_db.management.commands.db_worker import Worker as TaskWorker

from tocsin.alerts import outbox, posts
from tocsin.digest import service as digest
from tocsin.family import panic
from tocsin.federation import outgoing as federation
from tocsin.hooks import channels as hook_channels
from tocsin.incidents import replies, verify
from tocsin.legal import notices as legal_notices
from tocsin.mobilize import join_notices, notices, shift_notices
from tocsin.ops import heartbeat
from tocsin.public import broadcast
from tocsin.retention import purge
from tocsin.transports import registry as transports
from tocsin.vault import keys

logger = logging.getLogger(__name__)

# Expiry is in minutes and replies are typed by people: a few seconds is prompt enough.
HOUSEKEEPING_SECONDS = 5.0
# A stopping worker waits this long for its threads (and their sends) to finish.
STOP_SECONDS = 10.0
# The sweep checks a connection it kept this long unused (one round trip) before its next
# drain: a database restart or an idle timeout may have ended it meanwhile.
IDLE_CHECK_SECONDS = 30.0


def _keep_connections(*, idle: float = 0.0) -> None:
    """Keep this thread's database connections for its next step, unless one failed,
    was left outside autocommit, or (unused for ``idle`` seconds or more) no longer
    answers: those are closed, and the next query opens a new one.

    The sweep keeps its connection: opening one costs a PostgreSQL login, milliseconds
    on the path of every alert. It is one connection per worker, for as long as the
    worker runs (request threads still close theirs: tocsin/settings.py)."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        if conn.in_atomic_block or not conn.get_autocommit():
            conn.close()
        elif conn.errors_occurred or idle >= IDLE_CHECK_SECONDS:
            if _answers(conn):
                conn.errors_occurred = False
            else:
                conn.close()


def _answers(conn: Any) -> bool:
    """Whether ``conn`` answers a query (Django's is_usable() says yes to any SQLite
    connection, even a closed one)."""
    try:
        conn.connection.execute("SELECT 1")
    except conn.Database.Error:
        return False
    return True


def settle() -> None:
    """Ready this process for its first alert, once, before its worker starts.

    Loads what the first alert would otherwise wait for: the URLconf (the link in every
    message is reversed through it, and it imports every view module) and each language's
    translations. Then takes every object start-up made out of the garbage collector's
    sight (``gc.freeze``): a fan-out makes many short-lived objects, and the collections
    they trigger walked all of Django's and Tocsin's modules, classes and functions each
    time, 5-7 % of a delivery's instructions (docs/benchmarks.md). Garbage is collected
    first, so none is kept for ever."""
    get_resolver().url_patterns  # noqa: B018 - imports every view module
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            translation.gettext("Confirmed")
    gc.collect()
    gc.freeze()


class Worker:
    def __init__(self, *, sweep_interval: float = 1.0, purge_interval: float | None = None) -> None:
        self.sweep_interval = sweep_interval
        # Seconds between purges; its own thread, so a long VACUUM never delays alerts.
        self.purge_interval = (
            settings.PURGE_INTERVAL_MINUTES * 60 if purge_interval is None else purge_interval
        )
        self.stop_event = threading.Event()
        self.tasks = TaskWorker(
            queue_names=["default"],
            interval=0.2,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=f"tocsin-{outbox.WORKER_ID}",
            excluded_queue_names=[],
        )
        self.threads: list[threading.Thread] = []

    def _sweep(self) -> None:
        # Woken when deliveries are written (in this process, or NOTIFY on PostgreSQL):
        # a confirmed alert leaves at once, not at the next interval.
        wakeup = outbox.wakeup
        idle_since = time.monotonic()
        while not self.stop_event.is_set():
            # Cleared before draining: deliveries written during the drain wake it again.
            wakeup.clear()
            try:
                _keep_connections(idle=time.monotonic() - idle_since)
                outbox.drain(stop=self.stop_event, wait=True)
            except Exception:
                # The database may be unreachable for a while: wait and try again
                # rather than crash-loop.
                logger.exception("outbox sweep failed; retrying")
                connections.close_all()
                self.stop_event.wait(5)
            finally:
                try:
                    _keep_connections()
                except Exception:
                    logger.exception("could not check the sweep's database connection")
                    connections.close_all()
                idle_since = time.monotonic()
            wakeup.wait(self.sweep_interval)
        connections.close_all()

    def _listen(self) -> None:
        """Wake the sweep when another process wrote deliveries (PostgreSQL's LISTEN)."""
        outbox.listen(self.stop_event)
        close_old_connections()

    def _purge(self) -> None:
        while not self.stop_event.is_set():
            try:
                close_old_connections()
                purge.purge()
            except Exception:
                # Retried at the next interval; purging late is better than crashing.
                logger.exception("purge failed; retrying at the next interval")
            finally:
                close_old_connections()
            self.stop_event.wait(self.purge_interval)
        close_old_connections()

    def _housekeeping(self) -> None:
        """Close unverified incidents the committees' rules let expire, send the
        desk's replies to reporters, the messages to people signed up for
        mobilizations, the on-call shift reminders and swap notices, and the join links of
        accepted requests (they need sealed addresses: workers only); queue what
        federation partners are owed; and seal new members' addresses for the workers
        before their first alert."""
        while not self.stop_event.is_set():
            try:
                close_old_connections()
                verify.expire_stale()
                replies.send_due()
                notices.send_due()
                shift_notices.send_due()
                join_notices.send_due()
                legal_notices.send_due()
                panic.housekeeping()  # missed check-ins, contact messages to retry
                federation.queue_due()
                if not outbox.is_draining():
                    # New members' addresses, sealed for the workers before their first
                    # alert (tocsin.alerts.outbox.resealing).
                    outbox.prepare_seals()
            except Exception:
                logger.exception("housekeeping failed; retrying")
            finally:
                close_old_connections()
            self.stop_event.wait(HOUSEKEEPING_SECONDS)
        close_old_connections()

    def _heartbeat(self) -> None:
        """Say every few seconds that this worker is alive and whether it holds the
        vault's key (/readyz, `tocsin manage status`, the metrics)."""
        while not self.stop_event.is_set():
            try:
                close_old_connections()
                heartbeat.beat(outbox.WORKER_ID, unlocked=keys.holds_private())
            except Exception:
                logger.exception("heartbeat failed; retrying")
            finally:
                close_old_connections()
            self.stop_event.wait(heartbeat.BEAT_SECONDS)
        try:
            heartbeat.stop(outbox.WORKER_ID)
        except Exception:
            # The row ages out; /readyz then sees no worker, which is true.
            logger.warning("could not remove this worker's heartbeat")
        close_old_connections()

    def _tasks(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.tasks.run()
            except Exception:
                logger.exception("task worker failed; restarting")
                self.stop_event.wait(5)

    def start(self) -> None:
        # While the vault is locked, this process waits for `tocsin manage vault unlock`.
        keys.serve_as_worker()
        # Import every transport now: the first alert must not wait for imports.
        channels = transports.registry()
        threads: list[tuple[Callable[[], None], str]] = [
            (self._sweep, "outbox-sweep"),
            # Returns at once on SQLite, where only this process's event wakes the sweep.
            (self._listen, "outbox-listen"),
            # Committee channels (Apprise); returns at once when they are off.
            (lambda: posts.run(self.stop_event), "committee-posts"),
            # The public Telegram channel; returns at once when it is off.
            (lambda: broadcast.run(self.stop_event), "public-channel"),
            # The daily email digest of newly public incidents.
            (lambda: digest.run(self.stop_event), "public-digest"),
            (self._tasks, "task-worker"),
            (self._purge, "purge"),
            (self._housekeeping, "housekeeping"),
            (self._heartbeat, "heartbeat"),
        ]
        for kind, poll in hook_channels.pollers().items():
            # A channel with no webhook (Signal): the worker asks its provider for replies.
            if kind in channels:
                threads.append((functools.partial(poll, self.stop_event), f"{kind}-inbound"))
        for target, name in threads:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self.threads.append(t)
        logger.info("worker started")

    def stop(self, timeout: float = STOP_SECONDS) -> list[threading.Thread]:
        """Stop the threads, waiting up to ``timeout`` seconds in all; return the threads
        still running then (a send stuck on a provider that never answers, say)."""
        self.stop_event.set()
        outbox.wakeup.set()  # the sweep waits on it
        self.tasks.running = False
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        # The send pools' threads finish the sends they took; Python would wait for
        # them at exit without a bound.
        outbox.reset_pacing()
        stuck = [t for t in self.threads if t.is_alive()]
        for t in threading.enumerate():
            if not t.name.startswith(outbox.SEND_THREAD_PREFIX) or t in stuck:
                continue
            t.join(max(0.1, deadline - time.monotonic()))
            if t.is_alive():
                stuck.append(t)
        return stuck

    def run_forever(self) -> None:
        """Run until Ctrl-C (SIGINT) or SIGTERM, then stop the threads and return."""
        if threading.current_thread() is threading.main_thread():
            # SIGTERM is how a service manager stops the worker, Ctrl-C how a person does:
            # both stop it (the threads get a few seconds to finish) rather than raise
            # wherever they land, which could be before the loop below is entered.
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda signum, frame: self.stop_event.set())
        try:
            self.start()
            while not self.stop_event.wait(1):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            # Last resort against a hang anywhere in stopping (even in Python's own exit):
            # print every thread's stack and exit with an error.
            faulthandler.dump_traceback_later(STOP_SECONDS + 30, exit=True)
            stuck = self.stop(STOP_SECONDS)
        if stuck:
            # What those threads had claimed is sent again when its lease runs out; a
            # worker told to stop must not hang on them.
            frames = sys._current_frames()
            for t in stuck:
                stack = (
                    "".join(traceback.format_stack(frames[t.ident])) if t.ident in frames else ""
                )
                logger.warning("worker stopping with thread %s still busy:\n%s", t.name, stack)
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
