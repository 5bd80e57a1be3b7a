"""Workers SIGKILLed at chosen points lose no alert, and nobody gets one twice.

An alert goes to 5,000 recipients while three worker processes drain the outbox through a
transport that POSTs each message, with its idempotency key, to a local provider that
honours the key (tests.peers.idempotent_provider). Fifty times the test SIGKILLs a worker
and starts a replacement, so three keep running. The kill points are chosen, not left to
timing:

- mid-call, before the provider delivered (the request is lost);
- mid-call, after the provider delivered (the answer is lost);
- after the provider's 200, before the worker records "sent" (the transport waits there
  when the provider asks it to);
- at a random moment, in whatever the worker was doing.

A fixed seed decides when each kill comes (after how many provider requests), which point
it aims at and, for random kills, which worker and how late. Five-second leases (the
minimum) bring a killed worker's rows back quickly. At the end every delivery is sent,
every recipient has exactly one message, and the raw re-sends the provider absorbed are
printed (run with ``-s``).

The workers run this module's ``work()``, forked from its ``zygote()``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.models import Count, Max

from tests import factories
from tests.conftest import need
from tests.peers.idempotent_provider import (
    KEY_HEADER,
    LOST_ANSWER,
    LOST_REQUEST,
    PAUSE_AFTER_ANSWER,
    PAUSE_HEADER,
    WORKER_HEADER,
    Fault,
    IdempotentProvider,
)
from tests.test_workers_exactly_once import recipients, workers_database_url
from tocsin import vault
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.committees.models import Role
from tocsin.incidents.models import State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state, open_incident
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, Transport, TransportError

RECIPIENTS = 5000
WORKERS = 3
KILLS = 50
SEED = 5000_50
RANDOM = "random"
# How many kills aim at each point; the seed shuffles them.
POINTS = {LOST_REQUEST: 12, LOST_ANSWER: 12, PAUSE_AFTER_ANSWER: 14, RANDOM: 12}
# Small batches: a killed worker strands at most this many rows until its lease ends.
BATCH = 25
# A killed worker's rows are due again this long after its claim. Long enough that a live
# worker on a loaded machine (CI runs two suites side by side) finishes its 25 rows inside
# it: a lease that ran out under a live worker lets another send the row first, and the
# aimed kills would then find it already recorded (at 5 s, they did at load average 8).
LEASE_SECONDS = 15
# Only against hanging: the kills and the sending take about a minute on two cores, and
# four or five times that when the machine runs other suites beside this one.
TIMEOUT = 900
# A paused worker waits this long; the test kills it within milliseconds.
PAUSE_SECONDS = 60

PEER_ENV = "TOCSIN_TEST_PEER_URL"
WORKER_ENV = "TOCSIN_TEST_WORKER_NAME"
LOGS_ENV = "TOCSIN_TEST_WORKER_LOGS"
UNFINISHED = {DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.FAILED}


class ProviderTransport(Transport):
    """Sends each message to the provider peer under its idempotency key; used by ``work()``.

    When the provider's answer asks for a pause, says so and waits to be killed: the
    moment after the provider accepted the message and before the worker records it.
    """

    kind = "provider"

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        peer = os.environ[PEER_ENV]
        headers = {KEY_HEADER: idempotency_key, WORKER_HEADER: os.environ[WORKER_ENV]}
        body = {"to": payload["address"], "subject": message.subject, "text": message.text}
        request = urllib.request.Request(
            f"{peer}/messages",
            data=json.dumps(body).encode(),
            headers={**headers, "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                pause = response.headers.get(PAUSE_HEADER)
        except urllib.error.HTTPError as e:
            raise TransportError(f"provider answered {e.code}", permanent=e.code < 500) from e
        except OSError as e:
            raise TransportError(f"provider unreachable: {e}") from e
        if pause:
            paused = urllib.request.Request(f"{peer}/paused", data=b"", headers=headers)
            with urllib.request.urlopen(paused, timeout=10):
                pass
            time.sleep(PAUSE_SECONDS)


def work() -> None:
    """Drain the outbox for ever; the body of each worker process, which the test kills."""
    transports_base.registry = lambda: {"email": ProviderTransport, "webpush": ProviderTransport}
    while True:
        outcome = outbox.drain()
        if not (outcome.sent or outcome.failed or outcome.dead):
            time.sleep(0.1)


def zygote() -> None:
    """Fork worker processes on command; the one process the test starts itself.

    Django is set up once here and each worker is a fork of this process: a replacement
    runs within milliseconds, where a cold start costs more than a second of CPU (fifty
    of them, a minute on two busy cores) while the other workers wait for the CPU. Nothing
    here connects to the database or starts a thread, so every fork begins clean.

    One command per line on stdin, each answered with one line on stdout: ``start NAME``
    -> the new worker's pid; ``wait PID`` -> its exit code once it ended (negative: the
    signal that killed it); ``poll PID`` -> the same, or ``running``. At the end of stdin
    the remaining workers are killed.
    """
    connections.close_all()
    children: set[int] = set()
    while line := sys.stdin.readline():
        command, argument = line.split()
        if command == "start":
            pid = os.fork()
            if pid == 0:
                _become_worker(argument)
            children.add(pid)
            answer = str(pid)
        else:
            pid, status = os.waitpid(int(argument), 0 if command == "wait" else os.WNOHANG)
            answer = str(os.waitstatus_to_exitcode(status)) if pid else "running"
            children.discard(pid)
        print(answer, flush=True)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _become_worker(name: str) -> NoReturn:
    try:
        log = os.open(Path(os.environ[LOGS_ENV]) / f"{name}.log", os.O_WRONLY | os.O_CREAT)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.environ[WORKER_ENV] = name
        work()
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(1)


@dataclass(frozen=True)
class Kill:
    """One planned kill: after how many provider requests, aimed at which point."""

    after: int
    point: str
    # For random kills: how long to wait first, and which running worker (a fraction).
    delay: float
    pick: float


@dataclass(frozen=True)
class Struck:
    """One kill as it happened."""

    point: str
    worker: str
    returncode: int
    # For aimed kills: the message the worker was sending and its delivery's status then.
    key: str = ""
    status: str = ""


def kill_plan(seed: int) -> list[Kill]:
    """Return the kills, spread over the first 4,500 provider requests, from ``seed``."""
    rng = random.Random(seed)
    points = [point for point, n in POINTS.items() for _ in range(n)]
    rng.shuffle(points)
    after = sorted(rng.sample(range(50, RECIPIENTS * 9 // 10), len(points)))
    return [
        Kill(a, point, delay=rng.uniform(0, 0.2), pick=rng.random())
        for a, point in zip(after, points, strict=True)
    ]


class Crew:
    """The worker processes, by name: started, SIGKILLed and replaced (see ``zygote()``)."""

    def __init__(self, peer: IdempotentProvider, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, int] = {}
        self.started = 0
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "TOCSIN_DATABASE_URL": workers_database_url(),
            "TOCSIN_DATA_DIR": str(settings.DATA_DIR),
            "TOCSIN_SITE_URL": settings.SITE_URL,
            "TOCSIN_DELIVERY_BATCH": str(BATCH),
            "TOCSIN_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
            PEER_ENV: peer.url,
            LOGS_ENV: str(logs),
        }
        code = "import django; django.setup(); from tests.test_worker_kill import zygote; zygote()"
        with (logs / "zygote.log").open("wb") as log:
            self.zygote = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )

    def _ask(self, command: str) -> str:
        assert self.zygote.stdin is not None and self.zygote.stdout is not None
        self.zygote.stdin.write(f"{command}\n")
        self.zygote.stdin.flush()
        answer = self.zygote.stdout.readline().strip()
        assert answer, f"the zygote died: {self.log('zygote')}"
        return answer

    def start(self) -> str:
        name = f"worker-{self.started:02d}"
        self.started += 1
        self.running[name] = int(self._ask(f"start {name}"))
        return name

    def kill(self, name: str) -> int:
        """SIGKILL worker ``name``; return its exit code (-SIGKILL unless it had died)."""
        pid = self.running.pop(name)
        os.kill(pid, signal.SIGKILL)
        return int(self._ask(f"wait {pid}"))

    def exited(self) -> dict[str, str]:
        """Return the log of every worker that exited without being killed."""
        return {
            name: self.log(name)
            for name, pid in self.running.items()
            if self._ask(f"poll {pid}") != "running"
        }

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Kill the workers still running, then the zygote."""
        if self.zygote.stdin is not None:
            self.zygote.stdin.close()
        try:
            self.zygote.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.zygote.kill()
            self.zygote.wait()


@pytest.fixture
def peer() -> Iterator[IdempotentProvider]:
    server = IdempotentProvider()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release_all()
    server.shutdown()
    server.server_close()


def left(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())


def status_of(address: str) -> str:
    """Return the status of the delivery to ``address``, found as the app finds people."""
    return Delivery.objects.values_list("status", flat=True).get(
        endpoint__blind_index=vault.blind_index("email", address, form="email")
    )


def aim(crew: Crew, peer: IdempotentProvider, point: str, *, deadline: float) -> Fault:
    """Arm ``point`` and return the fault once a running worker is held at it.

    A worker killed a moment ago may have written a request the provider reads only now:
    that request is let go (its worker cannot be killed again, nor answer a pause) and the
    point armed again for a live one."""
    fault = peer.arm(point)
    while True:
        caught = fault.caught.wait(0.1)
        if fault.worker and fault.worker not in crew.running:
            fault.release.set()
            fault = peer.arm(point)
            continue
        if caught:
            return fault
        assert time.monotonic() < deadline, f"no worker reached {point}"


def strike(crew: Crew, peer: IdempotentProvider, kill: Kill, *, deadline: float) -> Struck:
    """Carry out ``kill`` once the provider has had enough requests, then start a replacement."""
    assert peer.wait_for_requests(kill.after, timeout=left(deadline)), (
        f"the provider had {peer.request_count} requests, the kill waited for {kill.after}"
    )
    if kill.point == RANDOM:
        time.sleep(kill.delay)
        # A worker that has sent something, so the kill lands in work, not in start-up.
        while not (busy := sorted(crew.running.keys() & peer.workers_seen())):
            assert time.monotonic() < deadline, "no running worker has sent anything"
            time.sleep(0.05)
        name = busy[int(kill.pick * len(busy))]
        struck = Struck(kill.point, name, crew.kill(name))
    else:
        fault = aim(crew, peer, kill.point, deadline=deadline)
        returncode = crew.kill(fault.worker)
        struck = Struck(kill.point, fault.worker, returncode, fault.key, status_of(fault.to))
        fault.release.set()
    crew.start()
    return struck


def settle(*, deadline: float) -> dict[str, int]:
    """Return the deliveries' status counts once none is unfinished (or at ``deadline``)."""
    while True:
        statuses = dict(
            Delivery.objects.values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        if not statuses.keys() & UNFINISHED or time.monotonic() > deadline:
            return statuses
        time.sleep(0.25)


@pytest.mark.django_db(transaction=True)
def test_it_loses_and_duplicates_no_alert_when_workers_are_killed(
    peer: IdempotentProvider, tmp_path: Path, settings: Any
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

    plan = kill_plan(SEED)
    crew = Crew(peer, tmp_path)
    began = time.monotonic()
    deadline = began + TIMEOUT
    try:
        for _ in range(WORKERS):
            crew.start()
        kills = [strike(crew, peer, kill, deadline=deadline) for kill in plan]
        statuses = settle(deadline=deadline)
        exited = crew.exited()
    finally:
        crew.stop()
        peer.release_all()
    seconds = time.monotonic() - began

    requests = sum(len(workers) for workers in peer.requests.values())
    resends = requests - len(peer.requests)
    seen = sum(peer.inbox.values()) - len(peer.inbox)
    claims = Delivery.objects.aggregate(most=Max("attempts"))["most"]
    figures = (
        f"{RECIPIENTS} deliveries, {len(kills)} kills "
        f"{dict(sorted(Counter(k.point for k in kills).items()))}, batch {BATCH}: "
        f"{requests} provider requests, {resends} raw re-sends absorbed by the idempotency key "
        f"({sum(len(w) > 1 for w in peer.requests.values())} keys sent more than once, "
        f"at most {max(map(len, peer.requests.values()), default=0)} times), "
        f"{seen} duplicates a person would see, {len(peer.rewritten)} re-sends whose text "
        f"differed from the delivered one, at most {claims} claims of one delivery, "
        f"{seconds:.1f} s"
    )
    print(f"\nkill test: {figures}")

    assert exited == {}, f"workers exited by themselves: {exited}"
    assert len(kills) == KILLS
    assert Counter(k.point for k in kills) == Counter(POINTS)
    assert [k for k in kills if k.returncode != -signal.SIGKILL] == [], "a worker died before"
    # Aimed kills hit a worker that had not recorded the delivery yet.
    assert [k for k in kills if k.key and k.status != DeliveryStatus.SENDING] == []
    assert statuses == {DeliveryStatus.SENT: RECIPIENTS}, figures

    keys = {
        f"a{alert_id}-e{endpoint_id}"
        for alert_id, endpoint_id in Delivery.objects.values_list("alert_id", "endpoint_id")
    }
    addresses = [
        endpoint.open()["address"]
        for endpoint in (d.endpoint for d in Delivery.objects.select_related("endpoint"))
    ]
    assert len(set(addresses)) == RECIPIENTS
    # What people see: one message each, nobody left out.
    assert peer.inbox == Counter(addresses), figures
    # What the provider saw: the (alert, endpoint) key of every delivery, each delivered once.
    assert set(peer.deliveries) == keys
    assert set(peer.deliveries.values()) == {1}, figures
    assert set(peer.requests) == set(peer.deliveries)
    assert peer.refused == []
    # Every aimed kill left a message to send again, and the provider absorbed the repeat.
    assert [k for k in kills if k.key and len(peer.requests[k.key]) < 2] == []
