"""A worker told to stop stops, even when a send never returns.

A provider that accepts a connection and never answers holds a send thread until its
timeout, and a transport without one holds it for ever. What that thread had claimed is
sent again when its lease runs out, so a stopping worker waits a bounded time for it,
says which thread it left, and exits: a service manager's SIGTERM or Ctrl-C must never
hang (the outage test once waited 90 s on a stopping worker under load).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tocsin.alerts import outbox
from tocsin.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
# Against a hang only: the worker's own bound is a few seconds.
HANG_GUARD = 120


def test_stop_returns_the_send_threads_it_could_not_finish() -> None:
    release = threading.Event()
    entered = threading.Event()

    def stuck_send() -> None:
        entered.set()
        release.wait()

    pool = outbox._pool("email")
    assert pool is not None
    pool.submit(stuck_send)
    entered.wait(HANG_GUARD)
    worker = Worker()
    try:
        stuck = worker.stop(timeout=0.2)
    finally:
        release.set()
    assert [t.name.startswith(outbox.SEND_THREAD_PREFIX + "email") for t in stuck] == [True]


def test_stop_waits_for_a_send_that_finishes() -> None:
    done = threading.Event()
    pool = outbox._pool("email")
    assert pool is not None
    pool.submit(done.set)
    assert Worker().stop(timeout=5) == []
    assert done.is_set()


# A worker process whose send thread never returns, stopped by `signum`. Its start() is
# replaced: this tests the stopping, not the outbox.
STUCK_WORKER = textwrap.dedent(
    """
    import os, signal, threading, django
    django.setup()
    from tocsin.alerts import outbox
    from tocsin.worker import Worker

    worker = Worker()
    def start():
        outbox._pool("email").submit(threading.Event().wait)
        print("started", flush=True)
    worker.start = start
    worker.stop = (lambda stop: lambda timeout=0: stop(timeout=0.5))(worker.stop)
    worker.run_forever()
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_worker_process_with_a_stuck_send_exits_when_told_to_stop(signum: int) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tocsin.settings"}
    process = subprocess.Popen(
        [sys.executable, "-c", STUCK_WORKER],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "started"
        process.send_signal(signum)
        _, err = process.communicate(timeout=HANG_GUARD)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "still busy" in err
    assert "send-email" in err
