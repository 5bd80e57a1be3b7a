"""/healthz, /readyz and `tocsin manage status`: each check, and each way it fails."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from tests.factories import World, confirmed_incident
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.alerts.outbox import WORKER_ID
from tocsin.ops import heartbeat, readiness
from tocsin.ops.models import WorkerHeartbeat
from tocsin.worker import Worker

CHECKS = {"database", "redis", "worker", "vault", "queue"}


def ready(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def failing(body: dict[str, Any]) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


@pytest.fixture
def worker_alive(db: None) -> None:
    heartbeat.beat("w1", unlocked=True)


def test_healthz_answers_without_touching_the_database(client: Client) -> None:
    # No database fixture: pytest-django fails any query this test makes.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert json.loads(response.content) == {"alive": True}


@pytest.mark.usefixtures("worker_alive")
def test_readyz_is_200_when_every_check_passes(client: Client) -> None:
    status, body = ready(client)
    assert status == 200, body
    assert body["ready"] is True
    assert set(body["checks"]) == CHECKS
    assert body["checks"]["redis"]["detail"] == "not configured"


@pytest.mark.django_db
def test_readyz_fails_when_no_worker_ever_ran(client: Client) -> None:
    status, body = ready(client)
    assert status == 503
    assert failing(body) == {"worker", "vault"}
    assert body["checks"]["worker"]["detail"] == "no worker has run"


@pytest.mark.django_db
def test_a_503_from_readyz_is_not_logged_as_a_server_error(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert ready(client)[0] == 503
    assert not [r for r in caplog.records if "/readyz" in r.getMessage()]


@pytest.mark.django_db
def test_readyz_fails_when_the_last_heartbeat_is_too_old(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    heartbeat.beat("w1", unlocked=True, now=timezone.now() - timedelta(seconds=90))
    settings.READY_WORKER_SECONDS = 60
    status, body = ready(client)
    assert status == 503
    assert "worker" in failing(body)
    assert body["checks"]["worker"]["value"] >= 90


@pytest.mark.django_db
def test_readyz_fails_while_the_workers_wait_for_the_vault(client: Client) -> None:
    heartbeat.beat("w1", unlocked=False)
    status, body = ready(client)
    assert status == 503
    assert failing(body) == {"vault"}
    assert "vault unlock" in body["checks"]["vault"]["detail"]


@pytest.mark.usefixtures("worker_alive")
def test_readyz_fails_when_a_delivery_waits_too_long(client: Client, w: World, settings) -> None:  # type: ignore[no-untyped-def]
    confirmed_incident(w.dispatcher)
    assert Delivery.objects.filter(status=DeliveryStatus.QUEUED).exists()
    settings.READY_QUEUE_SECONDS = 300
    assert ready(client)[0] == 200
    Delivery.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    status, body = ready(client)
    assert status == 503
    assert failing(body) == {"queue"}
    assert body["checks"]["queue"]["value"] >= 600


@pytest.mark.usefixtures("worker_alive")
def test_sent_and_dead_deliveries_do_not_count_as_waiting(client: Client, w: World) -> None:
    confirmed_incident(w.dispatcher)
    Delivery.objects.update(
        created_at=timezone.now() - timedelta(hours=1), status=DeliveryStatus.SENT
    )
    Delivery.objects.filter(pk=Delivery.objects.first().pk).update(status=DeliveryStatus.DEAD)  # type: ignore[union-attr]
    assert ready(client)[0] == 200


@pytest.mark.usefixtures("worker_alive")
def test_readyz_fails_when_redis_is_configured_and_unreachable(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    # Nothing listens on port 1: the connection is refused at once.
    settings.REDIS_URL = "redis://:hunter2@127.0.0.1:1/0"
    status, body = ready(client)
    assert status == 503
    assert failing(body) == {"redis"}
    # Never the URL (it can hold a password), never the error's own text.
    assert "hunter2" not in json.dumps(body)


@pytest.mark.usefixtures("worker_alive")
def test_readyz_fails_when_the_database_does_not_answer(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Unreachable:
        def cursor(self) -> None:
            raise OperationalError('connection to server at "db.internal" failed: password=x2')

    monkeypatch.setattr(readiness, "connection", Unreachable())
    status, body = ready(client)
    assert status == 503
    assert failing(body) == {"database", "worker", "vault", "queue"}
    assert "x2" not in json.dumps(body) and "db.internal" not in json.dumps(body)


@pytest.mark.usefixtures("worker_alive")
def test_readyz_says_nothing_about_people(client: Client, w: World) -> None:
    confirmed_incident(w.dispatcher)
    _, body = ready(client)
    for check in body["checks"].values():
        assert set(check) == {"ok", "detail", "value"}
        assert isinstance(check["value"], int | float | type(None))
    text = json.dumps(body)
    for m in (w.member, w.responder, w.dispatcher):
        assert m.display_name not in text


@pytest.mark.usefixtures("worker_alive")
def test_status_prints_each_check_for_a_person() -> None:
    out = StringIO()
    call_command("status", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines[:-1]] == [
        "database",
        "redis",
        "worker",
        "vault",
        "queue",
    ]
    assert all(line.startswith("ok") for line in lines[:-1])
    assert lines[-1] == "ready"


@pytest.mark.django_db
def test_status_fails_and_names_the_failing_check() -> None:
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("status", stdout=out)
    assert raised.value.returncode == 1
    assert "FAIL worker" in out.getvalue()


@pytest.mark.django_db
def test_status_prints_readyz_json() -> None:
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("status", "--json", stdout=out)
    assert set(json.loads(out.getvalue())["checks"]) == CHECKS


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_beats_and_forgets_its_beat_when_it_stops() -> None:
    worker = Worker()
    beating = threading.Thread(target=worker._heartbeat)
    beating.start()
    try:
        for _ in range(200):
            if WorkerHeartbeat.objects.filter(worker=WORKER_ID).exists():
                break
            threading.Event().wait(0.05)
        assert WorkerHeartbeat.objects.filter(worker=WORKER_ID).exists()
    finally:
        worker.stop_event.set()
        beating.join()
    assert not WorkerHeartbeat.objects.filter(worker=WORKER_ID).exists()


@pytest.mark.django_db
def test_beats_of_workers_gone_for_an_hour_are_forgotten() -> None:
    heartbeat.beat("gone", unlocked=True, now=timezone.now() - timedelta(hours=2))
    heartbeat.beat("here", unlocked=True)
    assert list(WorkerHeartbeat.objects.values_list("worker", flat=True)) == ["here"]
