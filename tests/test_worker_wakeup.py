"""The worker sends a confirmed alert when the confirm commits, not at its next poll.

The sweep's interval is set to an hour and the task queue's announcement is switched
off, so the only thing that can make the worker drain is the wake-up: in this process
an event set when the deliveries commit, and on PostgreSQL a NOTIFY to workers in other
processes, which LISTEN.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from tests.factories import World
from tests.test_outbox import RecordingTransport, confirmed_incident, deliveries
from tocsin.alerts import outbox
from tocsin.alerts.models import DeliveryStatus
from tocsin.alerts.outbox import draining
from tocsin.transports import registry as transports_base
from tocsin.worker import Worker

# Against a hang only: with the wake-up the worker sends at once; without it, it would
# wait the hour of its interval.
HANG_GUARD = 120
HOUR = 3600.0


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> type[RecordingTransport]:
    recording = type("Recording", (RecordingTransport,), {"sent": [], "failures": {}})
    monkeypatch.setattr(
        transports_base, "registry", lambda: {"email": recording, "webpush": recording}
    )
    return recording


class _NoTask:
    def enqueue(self) -> None:
        pass


@pytest.fixture
def idle_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """A worker whose sweep has drained once and now waits its hour; the task queue
    announces nothing."""
    monkeypatch.setattr(draining, "deliver_outbox", _NoTask())
    drained = threading.Event()
    drain = outbox.drain

    def counted(**kwargs: Any) -> outbox.Outcome:
        try:
            return drain(**kwargs)
        finally:
            drained.set()

    monkeypatch.setattr(outbox, "drain", counted)
    worker = Worker(sweep_interval=HOUR)
    worker.start()
    try:
        assert drained.wait(HANG_GUARD)
        yield worker
    finally:
        worker.stop()


def wait_sent(w: World, incident: Any) -> list[str]:
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        statuses = list(deliveries(incident).values_list("status", flat=True))
        if statuses and all(s == DeliveryStatus.SENT for s in statuses):
            break
        time.sleep(0.02)
    return sorted(deliveries(incident).values_list("status", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_confirm_is_sent_at_once_by_the_worker_in_the_same_process(
    w: World, transport: type[RecordingTransport], idle_worker: Worker
) -> None:
    incident = confirmed_incident(w)
    assert wait_sent(w, incident) == [DeliveryStatus.SENT, DeliveryStatus.SENT]
    assert sorted(s.address for s in transport.sent) == ["mateo@example.org", "rosa@example.org"]


@pytest.mark.django_db(transaction=True)
def test_a_worker_listening_on_postgresql_wakes_when_another_process_notifies() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    stop = threading.Event()
    outbox.wakeup.clear()
    listener = threading.Thread(target=outbox.listen, args=(stop,), daemon=True)
    listener.start()
    try:
        assert outbox.wakeup.wait(HANG_GUARD)  # set once it listens
        outbox.wakeup.clear()
        # What outbox.wake() sends from another process (it would also set this
        # process's event, which is what this test must not rely on).
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {outbox.waking.CHANNEL}")
        assert outbox.wakeup.wait(HANG_GUARD)
    finally:
        stop.set()
        listener.join(HANG_GUARD)


@pytest.mark.django_db
def test_the_first_claim_of_a_drain_is_small_so_the_first_messages_leave_early(
    w: World, transport: type[RecordingTransport], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(draining, "FIRST_CLAIM", 1)
    incident = confirmed_incident(w)
    assert outbox.drain(max_batches=1).sent == 1
    assert outbox.drain().sent == 1
    assert sorted(deliveries(incident).values_list("status", flat=True)) == [
        DeliveryStatus.SENT,
        DeliveryStatus.SENT,
    ]


@pytest.fixture
def drains(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The database connection each of the sweep's drains used (the driver's own object,
    kept so a closed one's id is not reused), in order. A drain finds ``end_after`` set
    ends its connection when it returns, as a database restart would while the worker
    waits, then sets ``ended``."""
    used: list[Any] = []
    drain = outbox.drain

    def noted(**kwargs: Any) -> outbox.Outcome:
        try:
            return drain(**kwargs)
        finally:
            used.append(connection.connection)
            if end_after.is_set() and not ended.is_set():
                connection.connection.close()
                ended_connections.append(connection.connection)
                ended.set()

    monkeypatch.setattr(outbox, "drain", noted)
    end_after.clear()
    ended.clear()
    ended_connections.clear()
    return used


end_after, ended = threading.Event(), threading.Event()
ended_connections: list[Any] = []


def wait_drains(used: list[Any], n: int) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while len(used) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(used) >= n


@pytest.mark.django_db(transaction=True)
def test_the_sweep_keeps_its_database_connection_from_one_alert_to_the_next(
    w: World,
    transport: type[RecordingTransport],
    drains: list[Any],
    idle_worker: Worker,
) -> None:
    # Opening one is a PostgreSQL login: milliseconds on the path of every alert.
    wait_drains(drains, 1)
    for n in (2, 3):
        incident = confirmed_incident(w)
        assert set(wait_sent(w, incident)) == {DeliveryStatus.SENT}
        wait_drains(drains, n)
    assert drains[0] is not None
    assert all(used is drains[0] for used in drains)


@pytest.mark.django_db(transaction=True)
def test_the_sweep_replaces_a_connection_the_database_ended_without_failing_a_drain(
    w: World,
    transport: type[RecordingTransport],
    drains: list[Any],
    idle_worker: Worker,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tocsin import worker as worker_module

    # Every kept connection is checked before the next drain, as one unused for long is.
    monkeypatch.setattr(worker_module, "IDLE_CHECK_SECONDS", 0.0)
    end_after.set()
    assert set(wait_sent(w, confirmed_incident(w))) == {DeliveryStatus.SENT}
    assert ended.wait(HANG_GUARD)
    [gone] = ended_connections
    ending = len(drains) - drains[::-1].index(gone)  # drains up to the one that ended it
    incident = confirmed_incident(w)
    assert set(wait_sent(w, incident)) == {DeliveryStatus.SENT}
    # Its rows are marked sent before the drain returns and is noted: wait for the note.
    wait_drains(drains, ending + 1)
    # The drains after the one that ended it (kept, it served the ones before too).
    after = drains[ending:]
    assert after
    assert all(c is not None and c is not gone for c in after)
    assert not [r for r in caplog.records if "sweep failed" in r.getMessage()]


@pytest.mark.django_db(transaction=True)
def test_other_processes_workers_are_notified_with_the_confirms_commit_and_never_on_rollback(
    w: World,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    import psycopg
    from django.db import transaction

    from tests.test_outbox import incident_at
    from tocsin.incidents.models import State
    from tocsin.incidents.services import change_state

    listener = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        listener.execute(f"LISTEN {outbox.waking.CHANNEL}")
        with pytest.raises(RuntimeError), transaction.atomic():
            change_state(incident_at(w), State.CONFIRMED, actor=w.dispatcher)
            raise RuntimeError("the request failed after confirming")
        # A marker sent after the rollback: it must be the first thing heard.
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {outbox.waking.CHANNEL}, 'marker'")
        heard = listener.notifies(timeout=HANG_GUARD)
        assert next(heard).payload == "marker"
        confirmed_incident(w)
        assert next(heard).payload == ""
    finally:
        listener.close()
