"""Workers ride out a PostgreSQL outage and then a Redis outage in the middle of a fan-out.

Two real worker processes (``tocsin.worker.Worker``, the body of `tocsin worker`)
reach the test database and Redis through TCP proxies that this test runs on loopback
(tests/peers/tcp_proxy.py). Cutting a proxy resets every connection through it and every
new one, as when the server restarts or a firewall rejects the worker. Each worker sends
through a transport that POSTs the idempotency key to a slow local peer, which counts
them, so a fan-out is still going when the cut comes:

1. an incident is confirmed to RECIPIENTS members; once some are sent, PostgreSQL is cut
   for OUTAGE_SECONDS, then restored;
2. a second incident is confirmed; once some of its deliveries are sent (after the first
   incident's backlog), Redis is cut for OUTAGE_SECONDS, then restored;
3. the backlog drains.

No delivery may be lost (a few may be sent twice: the one in flight when the database
went away), the workers must neither die nor spin, and they must stop cleanly afterwards.
PostgreSQL only: on SQLite there is no network between the worker and the database.

The workers run this module's ``serve()``:

    python -c "import django; django.setup(); from tests.test_worker_outage import serve; ..."
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max
from django.utils import timezone

from tests import factories
from tests.conftest import need
from tests.peers.tcp_proxy import TcpProxy
from tests.test_workers_exactly_once import recipients
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.committees.models import Role
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state
from tocsin.lib import live
from tocsin.members.models import Member
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, Transport

# The figure: each service is unreachable this long.
OUTAGE_SECONDS = 30
RECIPIENTS = 3000
WORKERS = 2
# The peer answers each delivery after this many seconds, so a fan-out lasts long enough
# to be cut in the middle.
PEER_DELAY = (0.003, 0.01)
# Deliveries of a fan-out sent before its cut.
HEAD_START = 150
# The workers purge this often (not hourly), so the purge thread meets the outage too.
PURGE_SECONDS = 5.0
# Every wait ends by this many seconds: against hangs only, not a speed requirement.
TIMEOUT = 150
# A stopping worker waits at most tocsin.worker.STOP_SECONDS for its threads, and
# dumps its stacks and exits on its own 30 s after that; this wait is against hangs only.
STOP_TIMEOUT = 90
# Errors (and warnings) one worker may log per outage. Its three threads retry every few
# seconds, which makes about twenty in 30 s; a worker that spins logs thousands.
MAX_LOGGED_PER_OUTAGE = 40
# What a worker had sent but not yet recorded when the database went away is sent again
# once its lease runs out: at most its window of unrecorded sends (the sends go on while
# the write hangs), never the rest of a batch (500).
MAX_DUPLICATES = outbox.RECORD_WINDOW * WORKERS
# A publish to a Redis that answers nothing gives up within this many seconds.
SILENT_REDIS_SECONDS = 5

REDIS = ("127.0.0.1", 6379)
KEY_HEADER = "Idempotency-Key"
WORKER_HEADER = "X-Tocsin-Worker"
PEER_ENV = "TOCSIN_TEST_PEER_URL"
WORKER_ENV = "TOCSIN_TEST_WORKER_NAME"
# asctime level logger message, as tocsin.settings.LOGGING formats a record.
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) (?P<logger>\S+) ")


class SlowPeer(ThreadingHTTPServer):
    """An HTTP peer that takes a few milliseconds per delivery and records each key."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _PeerHandler)
        self.lock = threading.Lock()
        self.received: dict[str, list[str]] = defaultdict(list)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def total(self) -> int:
        with self.lock:
            return sum(len(who) for who in self.received.values())


class _PeerHandler(BaseHTTPRequestHandler):
    server: SlowPeer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(random.uniform(*PEER_DELAY))
        with self.server.lock:
            self.server.received[self.headers[KEY_HEADER]].append(self.headers[WORKER_HEADER])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class PeerTransport(Transport):
    """Posts the idempotency key and the worker's name to the peer; used by ``serve()``."""

    kind = "peer"

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        request = urllib.request.Request(
            f"{os.environ[PEER_ENV]}/deliveries",
            data=b"",
            headers={KEY_HEADER: idempotency_key, WORKER_HEADER: os.environ[WORKER_ENV]},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass


def stopped(w: Any) -> int:
    """Wait for a worker told to stop; on a hang, fail with what it logged."""
    try:
        return w.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{w.name} did not stop in {STOP_TIMEOUT} s:\n{w.text()[-8000:]}")


def serve() -> None:
    """Run the real worker until SIGINT or SIGTERM; the body of each worker process."""
    from tocsin.worker import Worker

    transports_base.registry = lambda: {"email": PeerTransport, "webpush": PeerTransport}
    Worker(purge_interval=PURGE_SECONDS).run_forever()


@pytest.fixture
def peer() -> Iterator[SlowPeer]:
    server = SlowPeer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def redis_address() -> tuple[str, int]:
    if not settings.REDIS_URL:
        return REDIS
    parts = urlsplit(settings.REDIS_URL)
    return parts.hostname or REDIS[0], parts.port or REDIS[1]


def reachable(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError:
        return False
    return True


def postgresql_address() -> tuple[str, int]:
    db = settings.DATABASES["default"]
    return db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)


def workers_database_url(proxy: TcpProxy) -> str:
    """Return the configured PostgreSQL URL pointed at the test database, through ``proxy``."""
    parts = urlsplit(settings.DATABASE_URL)
    user = parts.netloc.rpartition("@")[0]
    host, port = proxy.address
    netloc = f"{user}@{host}:{port}" if user else f"{host}:{port}"
    name = settings.DATABASES["default"]["NAME"]
    return urlunsplit(parts._replace(netloc=netloc, path="/" + quote(name)))


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def text(self, start: int = 0, end: int | None = None) -> str:
        data = self.log.read_bytes()
        return data[start:end].decode(errors="replace")

    def size(self) -> int:
        return self.log.stat().st_size


def start_worker(
    name: str, *, db: TcpProxy, redis: TcpProxy, peer: SlowPeer, logs: Path
) -> WorkerProcess:
    redis_host, redis_port = redis.address
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TOCSIN_DATABASE_URL": workers_database_url(db),
        "TOCSIN_REDIS_URL": f"redis://{redis_host}:{redis_port}/0",
        "TOCSIN_DATA_DIR": str(settings.DATA_DIR),
        "TOCSIN_SITE_URL": settings.SITE_URL,
        "TOCSIN_LOG_LEVEL": "INFO",
        PEER_ENV: peer.url,
        WORKER_ENV: name,
    }
    code = "import django; django.setup(); from tests.test_worker_outage import serve; serve()"
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(name, process, log)


def confirm(dispatcher: Member, text: str) -> Incident:
    report = submit_report(
        channel="web", kind="checkpoint", lat=factories.EAST[0], lng=factories.EAST[1], text=text
    )
    # Both fan-outs are at one place: the second is its own incident, not a report that
    # clustering joins to the first.
    incident = factories.own_incident(report, dispatcher)
    change_state(incident, State.VERIFYING, actor=dispatcher)
    return change_state(incident, State.CONFIRMED, actor=dispatcher)


def sent(incident: Incident | None = None) -> int:
    qs = Delivery.objects.filter(status=DeliveryStatus.SENT)
    if incident is not None:
        qs = qs.filter(alert__incident=incident)
    return qs.count()


def statuses() -> dict[str, int]:
    return dict(
        Delivery.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )


def last_sent_after(incident: Incident, outage: Outage) -> float:
    """Return seconds from the end of ``outage`` to the last delivery of ``incident``."""
    last = Delivery.objects.filter(alert__incident=incident).aggregate(t=Max("sent_at"))["t"]
    assert last is not None and outage.restored_at is not None
    return (last - outage.restored_at).total_seconds()


def records(text: str) -> Counter[str]:
    """Return how many records of each level ``text`` holds, and how many tracebacks."""
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if m := RECORD.match(line):
            counts[m["level"]] += 1
        elif line.startswith("Traceback (most recent call last)"):
            counts["traceback"] += 1
    return counts


@dataclass
class Outage:
    """What the test saw of one outage."""

    service: str
    sent_at_cut: int
    peer_at_cut: int
    sent_at_restore: int = 0
    peer_at_restore: int = 0
    # Claimed before the cut and not sent: they wait for their lease to run out.
    leased_at_restore: int = 0
    refused: int = 0
    logged: list[Counter[str]] = field(default_factory=list)
    restored_at: datetime | None = None
    # Seconds from the restore until the last delivery of the fan-out was sent.
    drained_after: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.service} cut at {self.sent_at_cut} sent ({self.peer_at_cut} at the peer), "
            f"restored at {self.sent_at_restore} ({self.peer_at_restore}, "
            f"{self.leased_at_restore} leased); "
            f"{self.refused} connections refused; logged {[dict(c) for c in self.logged]}; "
            f"its fan-out's last delivery {self.drained_after:+.1f} s from the restore"
        )


class Fleet:
    """The worker processes, with their logs and what the test saw of them."""

    def __init__(self, workers: list[WorkerProcess]) -> None:
        self.workers = workers

    def check_alive(self) -> None:
        for w in self.workers:
            if w.process.poll() is not None:
                pytest.fail(
                    f"{w.name} exited with {w.process.returncode} mid-test:\n{w.text()[-5000:]}"
                )

    def marks(self) -> list[int]:
        return [w.size() for w in self.workers]

    def logged(self, start: list[int], end: list[int]) -> list[Counter[str]]:
        return [records(w.text(s, e)) for w, s, e in zip(self.workers, start, end, strict=True)]

    def wait_for(self, condition: Callable[[], bool], what: str) -> float:
        """Wait until ``condition()`` holds, checking the workers stay up; return seconds."""
        began = time.monotonic()
        while not condition():
            self.check_alive()
            if time.monotonic() - began > TIMEOUT:
                pytest.fail(f"timed out after {TIMEOUT} s waiting for {what}: {statuses()}")
            time.sleep(0.2)
        return time.monotonic() - began

    def outage(self, service: str, proxy: TcpProxy, peer: SlowPeer) -> Outage:
        """Cut ``proxy`` for OUTAGE_SECONDS, then restore it."""
        seen = Outage(service, sent(), peer.total())
        start, refused = self.marks(), proxy.refused
        proxy.cut()
        ends = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < ends:
            self.check_alive()
            time.sleep(0.5)
        seen.logged = self.logged(start, self.marks())
        seen.refused = proxy.refused - refused
        proxy.restore()
        seen.restored_at = timezone.now()
        seen.sent_at_restore, seen.peer_at_restore = sent(), peer.total()
        seen.leased_at_restore = Delivery.objects.filter(status=DeliveryStatus.SENDING).count()
        return seen

    def kill(self) -> None:
        for w in self.workers:
            if w.process.poll() is None:
                w.process.kill()
                w.process.wait()


@pytest.mark.django_db(transaction=True)
def test_it_loses_no_delivery_when_postgresql_then_redis_go_away_mid_fan_out(
    peer: SlowPeer, tmp_path: Path, settings: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (TOCSIN_DATABASE_URL): SQLite has no network to cut")
    try:
        connection.ensure_connection()
        pg_up = True
    except Exception:
        pg_up = False
    need(pg_up, "needs PostgreSQL (TOCSIN_DATABASE_URL), which is unreachable")
    need(reachable(redis_address()), f"needs Redis at {redis_address()}, which is unreachable")
    began = time.monotonic()

    east = factories.committee("East")
    dispatcher = factories.member("Diego", east, Role.DISPATCHER)
    recipients(RECIPIENTS, east)
    # One person's confirmation reaches them all here (the two-person rule: test_two_person).
    settings.TWO_PERSON_THRESHOLD = RECIPIENTS
    prepared = time.monotonic() - began

    with TcpProxy(postgresql_address()) as db, TcpProxy(redis_address()) as redis:
        names = [f"worker-{i}" for i in range(WORKERS)]
        fleet = Fleet(
            [start_worker(n, db=db, redis=redis, peer=peer, logs=tmp_path) for n in names]
        )
        pids = [w.process.pid for w in fleet.workers]
        try:
            # 1. PostgreSQL goes away in the middle of a fan-out.
            first = confirm(dispatcher, "vans at the corner")
            fleet.wait_for(lambda: sent(first) >= HEAD_START, "the first fan-out to start")
            pg = fleet.outage("PostgreSQL", db, peer)

            # 2. A second incident is confirmed, and Redis goes away in the middle of its
            # fan-out (the first one's backlog sends first).
            second = confirm(dispatcher, "a second checkpoint")
            fleet.wait_for(lambda: sent(second) >= HEAD_START, "the second fan-out to start")
            rd = fleet.outage("Redis", redis, peer)

            # 3. Everything drains.
            fleet.wait_for(lambda: sent() == 2 * RECIPIENTS, "the backlog to drain")
            fleet.check_alive()
            assert [w.process.pid for w in fleet.workers] == pids

            # Both ways an operator stops a worker: Ctrl-C and a service manager's SIGTERM.
            stop_marks = fleet.marks()
            for i, w in enumerate(fleet.workers):
                w.process.send_signal((signal.SIGINT, signal.SIGTERM)[i % 2])
            codes = [stopped(w) for w in fleet.workers]
        finally:
            fleet.kill()
    logs = {w.name: w.text() for w in fleet.workers}

    total = 2 * RECIPIENTS
    assert statuses() == {DeliveryStatus.SENT: total}
    pg.drained_after = last_sent_after(first, pg)
    rd.drained_after = last_sent_after(second, rd)
    expected = {
        f"a{alert_id}-e{endpoint_id}"
        for alert_id, endpoint_id in Delivery.objects.values_list("alert_id", "endpoint_id")
    }
    assert len(expected) == total
    missing = expected - set(peer.received)
    duplicates = {key: who for key, who in peer.received.items() if len(who) > 1}
    summary = (
        f"{total} deliveries, {len(duplicates)} sent twice {duplicates}; {pg}; {rd}; "
        f"{time.monotonic() - began:.0f} s in all, {prepared:.0f} s of it preparing"
    )
    print(summary)
    assert codes == [0] * WORKERS, logs
    assert missing == set(), summary
    assert len(duplicates) <= MAX_DUPLICATES, summary

    for w, during_pg, during_redis in zip(fleet.workers, pg.logged, rd.logged, strict=True):
        # Each worker noticed the database was gone...
        assert during_pg["ERROR"] >= 1, f"{w.name} logged nothing while PostgreSQL was cut"
        # ...and nobody spun or restarted the whole worker.
        for logged in (during_pg, during_redis):
            assert logged["ERROR"] + logged["WARNING"] <= MAX_LOGGED_PER_OUTAGE, summary
        assert logs[w.name].count("worker started") == 1, logs[w.name]
    # Redis carries live updates only: the workers that published noticed, and deliveries
    # went on while it was away.
    assert sum(c["WARNING"] for c in rd.logged) >= 1, f"nobody noticed Redis: {summary}"
    assert rd.sent_at_restore > rd.sent_at_cut, summary
    for w, mark in zip(fleet.workers, stop_marks, strict=True):
        assert records(w.text(mark))["traceback"] == 0, w.text(mark)


def test_it_publishes_live_updates_again_after_redis_returns() -> None:
    """A publish to an unreachable Redis fails fast and pauses; publishing resumes after."""
    need(reachable(redis_address()), f"needs Redis at {redis_address()}, which is unreachable")
    import redis as redis_py

    host, port = redis_address()
    channel = f"outage-test-{uuid.uuid4().hex}"  # others may share this Redis
    listener = redis_py.Redis(host=host, port=port)
    pubsub = listener.pubsub()
    pubsub.subscribe(f"tocsin:{channel}")

    def heard() -> bool:
        ends = time.monotonic() + 5
        while time.monotonic() < ends:
            # None for nothing yet, and for the confirmation of the subscription.
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                return bool(message["channel"] == f"tocsin:{channel}".encode())
        return False

    with TcpProxy((host, port)) as proxy:
        phost, pport = proxy.address
        broker = live.RedisBroker(f"redis://{phost}:{pport}/0")
        broker.publish(channel)
        assert heard()

        proxy.cut()
        broker.publish(channel)  # finds Redis gone
        tried = proxy.refused
        assert tried >= 1
        for _ in range(50):
            broker.publish(channel)
        assert proxy.refused == tried, "published while paused"
        broker.paused_until = 0.0
        broker.publish(channel)
        # Once the pause is over it tries again: once, and once more for a stale connection.
        assert 1 <= proxy.refused - tried <= 2

        proxy.restore()
        broker.paused_until = 0.0
        broker.publish(channel)
        assert heard()
    pubsub.close()
    listener.close()


def test_it_gives_up_publishing_to_a_silent_redis_within_seconds() -> None:
    """A network that drops packets costs a publish seconds, not redis-py's half minute."""
    need(reachable(redis_address()), f"needs Redis at {redis_address()}, which is unreachable")
    channel = f"outage-test-{uuid.uuid4().hex}"
    with TcpProxy(redis_address()) as proxy:
        host, port = proxy.address
        broker = live.RedisBroker(f"redis://{host}:{port}/0")
        broker.publish(channel)
        assert broker.paused_until == 0.0

        proxy.cut(silent=True)
        began = time.monotonic()
        broker.publish(channel)
        waited = time.monotonic() - began
        assert broker.paused_until > time.monotonic()
    # Two tries of one-second timeouts. With redis-py's ten retries it would be about half a
    # minute, after every batch a worker sends.
    assert waited < SILENT_REDIS_SECONDS
