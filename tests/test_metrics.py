"""/metrics: who may scrape it, what it counts, and that no label names a person, a
place or an address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import World, confirmed_incident
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.incidents.reports import receive_report
from tocsin.ops import heartbeat

# Every label and value a scrape may carry, written out here (not read from the code under
# test): channels, delivery states, histogram buckets.
CHANNELS = {"web", "webpush", "email", "sms", "signal", "telegram", "hotline", "verifier"}
ALLOWED = {
    "channel": CHANNELS | {"other"},
    "state": {"queued", "sending", "sent", "failed", "dead", "cancelled"},
}
TOKEN = "scrape-token-0123456789"


def scrape(client: Client, **extra: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = client.get("/metrics", **extra)  # type: ignore[arg-type]
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples.setdefault(s.name, []).append((dict(s.labels), s.value))
    return samples


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    found = [v for got, v in samples.get(name, []) if got == labels]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


@pytest.fixture
def busy(w: World) -> World:
    """An alarm under way: deliveries queued, sent (one after 40 s, one retried), dead; a
    report by text; a worker alive."""
    confirmed_incident(w.dispatcher)
    # A follow-up alert to the same people: two more queued rows.
    first = Delivery.objects.order_by("id").first()
    assert first is not None
    follow_up = first.alert
    follow_up.pk = None
    follow_up.save()
    for d in list(Delivery.objects.all()):
        d.pk, d.alert = None, follow_up
        d.save()
    rows = list(Delivery.objects.order_by("id"))
    assert len(rows) == 4
    now = timezone.now()
    Delivery.objects.filter(pk=rows[0].pk).update(
        status=DeliveryStatus.SENT, created_at=now - timedelta(seconds=40), sent_at=now
    )
    Delivery.objects.filter(pk=rows[1].pk).update(
        status=DeliveryStatus.SENT,
        attempts=3,
        created_at=now - timedelta(seconds=500),
        sent_at=now,
    )
    Delivery.objects.filter(pk=rows[2].pk).update(status=DeliveryStatus.DEAD, attempts=1)
    receive_report(channel="sms", kind="checkpoint", lat=34.03, lng=-118.2)
    heartbeat.beat("w1", unlocked=True)
    return w


@pytest.mark.django_db
def test_it_answers_a_scrape_from_this_machine(client: Client) -> None:
    samples = scrape(client)  # the test client's REMOTE_ADDR is 127.0.0.1
    assert value(samples, "tocsin_workers_alive") == 0
    assert value(samples, "tocsin_delivery_oldest_waiting_seconds") == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "extra",
    [
        {"REMOTE_ADDR": "203.0.113.9"},
        {"REMOTE_ADDR": "::ffff:203.0.113.9"},
        # A proxy on this machine passing on someone's request is not this machine.
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=203.0.113.9"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "203.0.113.9"},
    ],
)
def test_it_refuses_anyone_else_without_the_token(client: Client, extra: dict[str, str]) -> None:
    assert client.get("/metrics", **extra).status_code == 403  # type: ignore[arg-type]


@pytest.mark.django_db
def test_it_answers_the_token_from_anywhere(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = TOKEN
    remote = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **remote)
    for wrong in (f"Bearer {TOKEN}x", "Bearer ", TOKEN, f"Basic {TOKEN}"):
        response = client.get("/metrics", HTTP_AUTHORIZATION=wrong, **remote)  # type: ignore[arg-type]
        assert response.status_code == 403, wrong


@pytest.mark.django_db
def test_an_empty_token_opens_nothing(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403


def test_it_counts_deliveries_by_channel_and_state(client: Client, busy: World) -> None:
    samples = scrape(client)
    for (kind, status), n in _db_counts().items():
        assert value(samples, "tocsin_deliveries", channel=kind, state=status) == n
    dead_kind = Delivery.objects.get(status=DeliveryStatus.DEAD).kind
    assert value(samples, "tocsin_deliveries_dead", channel=dead_kind) == 1
    retried_kind = Delivery.objects.get(attempts=3).kind
    assert value(samples, "tocsin_delivery_retries", channel=retried_kind) == 2


def test_it_measures_send_latency_and_the_oldest_waiting(client: Client, busy: World) -> None:
    samples = scrape(client)
    assert value(samples, "tocsin_delivery_send_latency_seconds_count") == 2
    assert value(samples, "tocsin_delivery_send_latency_seconds_bucket", le="30.0") == 0
    assert value(samples, "tocsin_delivery_send_latency_seconds_bucket", le="60.0") == 1
    assert value(samples, "tocsin_delivery_send_latency_seconds_bucket", le="300.0") == 1
    assert value(samples, "tocsin_delivery_send_latency_seconds_bucket", le="600.0") == 2
    assert value(samples, "tocsin_delivery_send_latency_seconds_bucket", le="+Inf") == 2
    assert value(samples, "tocsin_delivery_send_latency_seconds_sum") == pytest.approx(540, abs=2)
    assert value(samples, "tocsin_delivery_oldest_waiting_seconds") < 60


def test_it_counts_reports_workers_and_live_viewers(client: Client, busy: World) -> None:
    samples = scrape(client)
    assert value(samples, "tocsin_reports_last_hour", channel="web") == 1
    assert value(samples, "tocsin_reports_last_hour", channel="sms") == 1
    assert value(samples, "tocsin_workers_alive") == 1
    assert value(samples, "tocsin_workers_unlocked") == 1
    assert value(samples, "tocsin_worker_heartbeat_age_seconds") < 60
    assert value(samples, "tocsin_live_viewers") == 0


def test_no_label_names_a_person_a_place_or_an_address(client: Client, busy: World) -> None:
    # A channel this version does not know is counted, never named.
    Delivery.objects.filter(pk=Delivery.objects.first().pk).update(kind="ana@example.org")  # type: ignore[union-attr]
    samples = scrape(client)
    seen = 0
    for name, rows in samples.items():
        for labels, _ in rows:
            for label, got in labels.items():
                seen += 1
                if label == "le":
                    assert got == "+Inf" or float(got) > 0, (name, got)
                else:
                    assert got in ALLOWED.get(label, set()), (name, label, got)
    assert seen > 10
    assert value(samples, "tocsin_deliveries", channel="other", state="sent") == 1


def _db_counts() -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for d in Delivery.objects.all():
        counts[d.kind, d.status] = counts.get((d.kind, d.status), 0) + 1
    return counts


def test_the_example_dashboard_reads_only_metrics_tocsin_exports(
    client: Client, busy: World
) -> None:
    import json
    import re

    from django.conf import settings

    dashboard = json.loads((settings.BASE_DIR / "deploy" / "grafana" / "tocsin.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\b(?:tocsin|process)_[a-z_]+", e)}
    exported = set(scrape(client))
    assert used and used <= exported, used - exported


@pytest.mark.django_db(transaction=True)
def test_it_counts_open_live_pages_over_real_http() -> None:
    """Through uvicorn as in production: three alert pages stream, /metrics asked from
    this machine counts them; the same request through a proxy is refused."""
    import socket
    import urllib.error
    import urllib.request

    from django.urls import reverse

    from tests.browser_support import LiveServer
    from tests.factories import world
    from tocsin.lib.links import alert_link_token

    w = world()
    incident = confirmed_incident(w.dispatcher)
    token = alert_link_token(member_id=w.member.pk, incident_id=incident.pk)
    path = reverse("alert_live", args=[token])
    server = LiveServer().start()
    streams: list[socket.socket] = []
    try:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            received = b""
            while b"event: update" not in received:
                chunk = s.recv(65536)
                assert chunk, received
                received += chunk
            streams.append(s)
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        assert "\ntocsin_live_viewers 3.0\n" in text, text
        proxied = urllib.request.Request(
            f"{server.url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(proxied, timeout=10)  # noqa: S310
        assert refused.value.code == 403
    finally:
        for s in streams:
            s.close()
        server.stop()
