"""Several worker processes draining one outbox send every delivery exactly once.

The claim in tocsin.alerts.outbox relies on SELECT ... FOR UPDATE SKIP LOCKED, so this
is a PostgreSQL test: worker processes (not threads, which would share one drain lock)
start together against the test database and drain it, each through a transport that
POSTs the idempotency key to a local peer. The peer counts every key it receives.

The workers run this module's ``work()``:

    python -c "import django; django.setup(); from tests.test_workers_exactly_once import work; ..."
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from tests import factories
from tests.conftest import need
from tocsin import geo, vault
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.committees.models import Committee, Membership, Role
from tocsin.incidents.models import State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state, open_incident
from tocsin.members.models import AlertArea, ContactEndpoint, Member
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, Transport

RECIPIENTS = 2000
WORKERS = 3
# Small batches make the workers claim forty times between them, not ten: more chances
# for two claims to overlap if the locking were wrong.
BATCH = 50
TIMEOUT = 120

KEY_HEADER = "Idempotency-Key"
WORKER_HEADER = "X-Tocsin-Worker"
PEER_ENV = "TOCSIN_TEST_PEER_URL"
WORKER_ENV = "TOCSIN_TEST_WORKER_NAME"


class CountingPeer(ThreadingHTTPServer):
    """An HTTP peer that records which worker POSTed each idempotency key.

    ``GET /ready`` blocks until every worker has asked, so they start draining together.
    """

    daemon_threads = True

    def __init__(self, workers: int) -> None:
        super().__init__(("127.0.0.1", 0), _PeerHandler)
        self.lock = threading.Lock()
        self.received: dict[str, list[str]] = defaultdict(list)
        self.start_line = threading.Barrier(workers, timeout=60)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _PeerHandler(BaseHTTPRequestHandler):
    server: CountingPeer

    def do_GET(self) -> None:
        try:
            self.server.start_line.wait()
        except threading.BrokenBarrierError:
            self._answer(503)
        else:
            self._answer(200)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            key = self.headers[KEY_HEADER]
            self.server.received[key].append(self.headers[WORKER_HEADER])
        self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class CountingTransport(Transport):
    """Posts the idempotency key and the worker's name to the peer; used by ``work()``."""

    kind = "counting"

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        request = urllib.request.Request(
            f"{os.environ[PEER_ENV]}/deliveries",
            data=b"",
            headers={KEY_HEADER: idempotency_key, WORKER_HEADER: os.environ[WORKER_ENV]},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass


def work() -> None:
    """Drain the outbox until it stays empty; the body of each worker process."""
    transports_base.registry = lambda: {"email": CountingTransport, "webpush": CountingTransport}
    # Connect before the start line, so no worker spends its head start on a handshake.
    Delivery.objects.exists()
    with urllib.request.urlopen(f"{os.environ[PEER_ENV]}/ready", timeout=90):
        pass
    idle = 0
    while idle < 2:
        outcome = outbox.drain()
        if outcome.sent or outcome.failed or outcome.dead:
            idle = 0
        else:
            idle += 1
            time.sleep(0.3)


@pytest.fixture
def peer() -> Iterator[CountingPeer]:
    server = CountingPeer(WORKERS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.start_line.abort()
    server.shutdown()
    server.server_close()


def recipients(count: int, committee: Committee) -> None:
    """Create ``count`` members of ``committee`` with a verified email and an area at EAST,
    in bulk. (One confirmation reaching them all needs the two-person rule's threshold
    raised: the caller sets settings.TWO_PERSON_THRESHOLD.)"""
    now = timezone.now()
    password = make_password(None)
    users = User.objects.bulk_create(
        User(username=f"m-exactly-once-{i}", password=password) for i in range(count)
    )
    members = Member.objects.bulk_create(
        Member(user=u, display_name=f"Member {i}", language="en") for i, u in enumerate(users)
    )
    cell = geo.cell_at(*factories.EAST, settings.AREA_RESOLUTION)
    AlertArea.objects.bulk_create(AlertArea(member=m, cell=cell, ring=1) for m in members)
    Membership.objects.bulk_create(Membership(committee=committee, member=m) for m in members)
    endpoints = []
    for m in members:
        address = f"member{m.pk}@example.org"
        endpoints.append(
            ContactEndpoint(
                member=m,
                kind="email",
                sealed=vault.seal({"address": address}),
                blind_index=vault.blind_index("email", address, form="email"),
                verified_at=now,
            )
        )
    ContactEndpoint.objects.bulk_create(endpoints, batch_size=500)


def workers_database_url() -> str:
    """Return the configured PostgreSQL URL pointed at the test database."""
    parts = urlsplit(settings.DATABASE_URL)
    name = settings.DATABASES["default"]["NAME"]
    return urlunsplit(parts._replace(path="/" + quote(name)))


def start_worker(name: str, peer: CountingPeer, logs: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TOCSIN_DATABASE_URL": workers_database_url(),
        "TOCSIN_DATA_DIR": str(settings.DATA_DIR),
        "TOCSIN_SITE_URL": settings.SITE_URL,
        "TOCSIN_DELIVERY_BATCH": str(BATCH),
        PEER_ENV: peer.url,
        WORKER_ENV: name,
    }
    code = "import django; django.setup(); from tests.test_workers_exactly_once import work; work()"
    with (logs / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.django_db(transaction=True)
def test_it_sends_every_delivery_exactly_once_with_several_worker_processes(
    peer: CountingPeer, tmp_path: Path, settings: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (TOCSIN_DATABASE_URL): SQLite has one writer at a time")
    try:
        connection.ensure_connection()
        reachable = True
    except Exception:
        reachable = False
    need(reachable, "needs PostgreSQL (TOCSIN_DATABASE_URL), which is unreachable")

    east = factories.committee("East")
    dispatcher = factories.member("Diego", east, Role.DISPATCHER)
    recipients(RECIPIENTS, east)
    # One person's confirmation reaches them all here (the two-person rule: test_two_person).
    settings.TWO_PERSON_THRESHOLD = RECIPIENTS
    report = submit_report(
        channel="web", kind="checkpoint", lat=factories.EAST[0], lng=factories.EAST[1], text="vans"
    )
    incident = open_incident(report, actor=dispatcher)
    change_state(incident, State.VERIFYING, actor=dispatcher)
    change_state(incident, State.CONFIRMED, actor=dispatcher)
    assert Delivery.objects.count() == RECIPIENTS

    names = [f"worker-{i}" for i in range(WORKERS)]
    workers = [start_worker(name, peer, tmp_path) for name in names]
    deadline = time.monotonic() + TIMEOUT
    try:
        for w in workers:
            w.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace") for name in names}
    assert [w.returncode for w in workers] == [0] * WORKERS, logs

    statuses = dict(
        Delivery.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    assert statuses == {DeliveryStatus.SENT: RECIPIENTS}
    expected = {
        f"a{alert_id}-e{endpoint_id}"
        for alert_id, endpoint_id in Delivery.objects.values_list("alert_id", "endpoint_id")
    }
    duplicates = {key: who for key, who in peer.received.items() if len(who) > 1}
    assert duplicates == {}
    assert set(peer.received) == expected
    assert len(expected) == RECIPIENTS
    senders = {who[0] for who in peer.received.values()}
    assert len(senders) >= 2, f"only {senders} sent: the workers did not run concurrently"
