"""Dead deliveries: dispatchers see why an alert did not arrive and queue it again
(tocsin.desk.deliveries, tocsin.alerts.dead), and operators do the same on the
command line.

The seam is the transport registry, as in tests/test_outbox.py: a recording transport
fails for the addresses a test names, so deliveries die without any network.
"""

from __future__ import annotations

import io
import re
from typing import Any, ClassVar

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from tests.factories import EAST, WEST, World, member, own_incident, world
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus, Purpose
from tocsin.desk import deliveries as views
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state
from tocsin.members.models import Member
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, Transport, TransportError


class FailingTransport(Transport):
    """Records the addresses it sends to; raises the TransportError set for an address."""

    kind = "recording"
    sent: ClassVar[list[str]]
    failures: ClassVar[dict[str, TransportError]]

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        error = self.failures.get(payload["address"])
        if error is not None:
            raise error
        self.sent.append(payload["address"])


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> type[FailingTransport]:
    recording = type("Recording", (FailingTransport,), {"sent": [], "failures": {}})
    monkeypatch.setattr(
        transports_base, "registry", lambda: {"email": recording, "webpush": recording}
    )
    return recording


@pytest.fixture
def w(db: None, settings: Settings) -> World:
    # One attempt: a transient failure is final at once.
    settings.DELIVERY_MAX_ATTEMPTS = 1
    return world()


def as_(persona: Member) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


def page(response: Any) -> str:
    return response.content.decode()


def confirmed_at(w: World, place: tuple[float, float] = EAST) -> Incident:
    report = submit_report(channel="web", kind="checkpoint", lat=place[0], lng=place[1])
    return change_state(own_incident(report, w.dispatcher), State.CONFIRMED, actor=w.dispatcher)


def delivery_to(incident: Incident, m: Member) -> Delivery:
    return Delivery.objects.get(alert__incident=incident, member=m)


def unstamped(response: Any, path: str) -> bytes:
    """Return the body without what differs per request anyway: path, nonces, tokens."""
    body = response.content.replace(path.encode(), b"<path>")
    body = re.sub(rb'nonce="[^"]*"', b'nonce=""', body)
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", body)


def fresh(d: Delivery) -> Delivery:
    return Delivery.objects.get(pk=d.pk)


@pytest.fixture
def rosa_dead(w: World, transport: type[FailingTransport]) -> Delivery:
    """Rosa's (East) alert died of a transient error; her email still works."""
    transport.failures["rosa@example.org"] = TransportError("mailbox busy")
    incident = confirmed_at(w)
    outbox.drain()
    d = delivery_to(incident, w.responder)
    assert d.status == DeliveryStatus.DEAD
    return d


@pytest.fixture
def felipe_dead(w: World, transport: type[FailingTransport]) -> Delivery:
    """Felipe's (West) alert died too."""
    felipe = member("Felipe", w.west, area=WEST, email="felipe@example.org")
    transport.failures["felipe@example.org"] = TransportError("mailbox full")
    incident = confirmed_at(w, WEST)
    outbox.drain()
    d = delivery_to(incident, felipe)
    assert d.status == DeliveryStatus.DEAD
    return d


def mateo_dead(w: World, transport: type[FailingTransport], error: TransportError) -> Delivery:
    """Return Mateo's dead alert about a second East incident (Rosa gets hers this time)."""
    transport.failures.pop("rosa@example.org", None)
    transport.failures["mateo@example.org"] = error
    incident = confirmed_at(w, (EAST[0] + 0.001, EAST[1]))
    outbox.drain()
    d = delivery_to(incident, w.member)
    assert d.status == DeliveryStatus.DEAD
    return d


def retry(client: Client, d: Delivery, **data: Any) -> Any:
    return client.post(reverse("retry_delivery", args=[d.pk]), data, follow=True)


def retry_all(client: Client, **data: Any) -> Any:
    return client.post(reverse("retry_dead_deliveries"), data, follow=True)


def listing(client: Client, **params: Any) -> Any:
    return client.get(reverse("dead_deliveries"), params)


# The list.


def test_it_lists_a_dead_delivery_with_its_reason(w: World, rosa_dead: Delivery) -> None:
    response = listing(as_(w.dispatcher))
    assert response.status_code == 200
    assert f'data-delivery="{rosa_dead.pk}"' in page(response)
    assert "mailbox busy" in page(response)
    assert "Rosa" in page(response)
    assert reverse("incident", args=[rosa_dead.alert.incident_id]) in page(response)


def test_it_lists_it_for_the_organizer_too(w: World, rosa_dead: Delivery) -> None:
    assert f'data-delivery="{rosa_dead.pk}"' in page(listing(as_(w.organizer)))


def test_it_never_shows_the_address(w: World, rosa_dead: Delivery) -> None:
    assert "rosa@example.org" not in page(listing(as_(w.dispatcher)))


def test_it_does_not_list_a_sent_delivery(w: World, rosa_dead: Delivery) -> None:
    # Mateo's alert of the same incident went out: it is not a failed delivery.
    sent = delivery_to(rosa_dead.alert.incident, w.member)
    assert sent.status == DeliveryStatus.SENT
    assert f'data-delivery="{sent.pk}"' not in page(listing(as_(w.dispatcher)))


def test_it_hides_another_committees_dead_deliveries(
    w: World, rosa_dead: Delivery, felipe_dead: Delivery
) -> None:
    east = page(listing(as_(w.dispatcher)))
    west = page(listing(as_(w.west_dispatcher)))
    assert f'data-delivery="{felipe_dead.pk}"' not in east
    assert "mailbox full" not in east
    assert f'data-delivery="{felipe_dead.pk}"' in west
    assert f'data-delivery="{rosa_dead.pk}"' not in west


def test_it_shows_an_empty_state(w: World, rosa_dead: Delivery) -> None:
    response = listing(as_(w.west_dispatcher))
    assert response.status_code == 200
    assert 'data-testid="empty"' in page(response)


@pytest.mark.parametrize("persona", ["member", "outsider"])
def test_it_refuses_someone_who_does_not_dispatch(
    w: World, rosa_dead: Delivery, persona: str
) -> None:
    response = listing(as_(getattr(w, persona)))
    assert response.status_code == 403
    assert "mailbox busy" not in page(response)


def test_it_lists_one_incident_when_asked(
    w: World, rosa_dead: Delivery, transport: type[FailingTransport]
) -> None:
    mateo = mateo_dead(w, transport, TransportError("mailbox gone"))
    response = listing(as_(w.dispatcher), incident=mateo.alert.incident_id)
    assert f'data-delivery="{mateo.pk}"' in page(response)
    assert f'data-delivery="{rosa_dead.pk}"' not in page(response)


@pytest.mark.parametrize("incident", ["west", "987654", "abc"])
def test_it_answers_404_for_an_incident_it_cannot_show(
    w: World, felipe_dead: Delivery, incident: str
) -> None:
    value = str(felipe_dead.alert.incident_id) if incident == "west" else incident
    assert listing(as_(w.dispatcher), incident=value).status_code == 404


def test_it_shows_fifty_a_page_newest_first(
    w: World, rosa_dead: Delivery, transport: type[FailingTransport], monkeypatch: Any
) -> None:
    monkeypatch.setattr(views, "PER_PAGE", 1)
    newer = mateo_dead(w, transport, TransportError("mailbox gone"))
    client = as_(w.dispatcher)
    first, second = page(listing(client)), page(listing(client, page=2))
    assert f'data-delivery="{newer.pk}"' in first
    assert f'data-delivery="{rosa_dead.pk}"' not in first
    assert f'data-delivery="{rosa_dead.pk}"' in second


def test_fifty_is_the_page_size() -> None:
    assert views.PER_PAGE == 50


def test_it_says_a_disabled_channel_cannot_be_retried(
    w: World, transport: type[FailingTransport]
) -> None:
    transport.failures["rosa@example.org"] = TransportError("no such mailbox", permanent=True)
    confirmed_at(w)
    outbox.drain()
    assert "Channel removed or disabled: cannot retry" in page(listing(as_(w.dispatcher)))


def test_it_speaks_spanish(w: World, rosa_dead: Delivery) -> None:
    Member.objects.filter(pk=w.dispatcher.pk).update(language="es")
    text = page(listing(as_(w.dispatcher)))
    assert "Envíos fallidos" in text
    assert "Correo electrónico" in text
    assert "Reintentar" in text


# Links to the list.


def test_the_desk_links_to_the_list(w: World) -> None:
    assert reverse("dead_deliveries") in page(as_(w.dispatcher).get(reverse("desk")))


def test_the_incident_page_links_to_its_dead_deliveries(w: World, rosa_dead: Delivery) -> None:
    incident_id = rosa_dead.alert.incident_id
    response = as_(w.dispatcher).get(reverse("incident", args=[incident_id]))
    assert f"{reverse('dead_deliveries')}?incident={incident_id}" in page(response)


def test_the_incident_page_has_no_link_without_dead_deliveries(
    w: World, transport: type[FailingTransport]
) -> None:
    incident = confirmed_at(w)
    outbox.drain()
    response = as_(w.dispatcher).get(reverse("incident", args=[incident.pk]))
    assert reverse("dead_deliveries") not in page(response)


# Retrying one.


def test_retrying_queues_the_delivery_again(w: World, rosa_dead: Delivery) -> None:
    response = retry(as_(w.dispatcher), rosa_dead)
    assert response.redirect_chain == [(reverse("dead_deliveries"), 302)]
    assert "1 delivery queued again." in page(response)
    d = fresh(rosa_dead)
    assert (d.status, d.attempts, d.error, d.lease_until, d.claim_token) == (
        DeliveryStatus.QUEUED,
        0,
        "",
        None,
        "",
    )
    assert d.next_attempt_at > rosa_dead.next_attempt_at


def test_a_retried_delivery_is_sent_by_the_next_drain(
    w: World, rosa_dead: Delivery, transport: type[FailingTransport]
) -> None:
    del transport.failures["rosa@example.org"]
    retry(as_(w.dispatcher), rosa_dead)
    outbox.drain()
    assert fresh(rosa_dead).status == DeliveryStatus.SENT
    assert transport.sent.count("rosa@example.org") == 1


def test_retrying_wakes_the_workers_after_commit(
    w: World,
    rosa_dead: Delivery,
    monkeypatch: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    woken: list[int] = []
    monkeypatch.setattr(
        "tocsin.alerts.outbox.draining._wake_workers",
        lambda incident_id, **kwargs: woken.append(incident_id),
    )
    with django_capture_on_commit_callbacks(execute=True):
        retry(as_(w.dispatcher), rosa_dead)
    assert woken == [rosa_dead.alert.incident_id]


def test_retrying_twice_is_harmless(
    w: World, rosa_dead: Delivery, transport: type[FailingTransport]
) -> None:
    del transport.failures["rosa@example.org"]
    client = as_(w.dispatcher)
    retry(client, rosa_dead)
    outbox.drain()
    again = retry(client, rosa_dead)
    outbox.drain()
    assert "Nothing to retry" in page(again)
    assert fresh(rosa_dead).status == DeliveryStatus.SENT
    assert transport.sent.count("rosa@example.org") == 1


def test_it_keeps_the_incident_filter_after_a_retry(w: World, rosa_dead: Delivery) -> None:
    incident_id = rosa_dead.alert.incident_id
    response = retry(as_(w.dispatcher), rosa_dead, incident=incident_id)
    assert response.redirect_chain == [
        (f"{reverse('dead_deliveries')}?incident={incident_id}", 302)
    ]


def test_it_does_not_retry_a_disabled_channel(w: World, transport: type[FailingTransport]) -> None:
    transport.failures["rosa@example.org"] = TransportError("no such mailbox", permanent=True)
    d = delivery_to(confirmed_at(w), w.responder)
    outbox.drain()
    response = retry(as_(w.dispatcher), d)
    assert "1 delivery cannot be retried" in page(response)
    assert fresh(d).status == DeliveryStatus.DEAD


def test_it_does_not_retry_an_alert_after_the_all_clear(w: World, rosa_dead: Delivery) -> None:
    change_state(rosa_dead.alert.incident, State.RESOLVED, actor=w.dispatcher)
    retry(as_(w.dispatcher), rosa_dead)
    assert fresh(rosa_dead).status == DeliveryStatus.DEAD
    assert not Delivery.objects.filter(
        alert__purpose=Purpose.ALL_CLEAR, member=w.responder
    ).exists()


@pytest.mark.parametrize("persona", ["west_dispatcher", "member", "outsider"])
def test_it_answers_404_to_someone_who_may_not_retry_it(
    w: World, rosa_dead: Delivery, persona: str
) -> None:
    response = as_(getattr(w, persona)).post(reverse("retry_delivery", args=[rosa_dead.pk]))
    assert response.status_code == 404
    assert fresh(rosa_dead).status == DeliveryStatus.DEAD


def test_another_committees_delivery_gets_the_same_404_as_a_missing_one(
    w: World, rosa_dead: Delivery
) -> None:
    client = as_(w.west_dispatcher)
    paths = [reverse("retry_delivery", args=[pk]) for pk in (rosa_dead.pk, 987654)]
    foreign, missing = (client.post(path) for path in paths)
    assert foreign.status_code == missing.status_code == 404
    assert unstamped(foreign, paths[0]) == unstamped(missing, paths[1])


def test_retrying_needs_a_post(w: World, rosa_dead: Delivery) -> None:
    response = as_(w.dispatcher).get(reverse("retry_delivery", args=[rosa_dead.pk]))
    assert response.status_code == 405
    assert fresh(rosa_dead).status == DeliveryStatus.DEAD


# Retrying all.


def test_retrying_all_queues_only_the_users_committee(
    w: World, rosa_dead: Delivery, felipe_dead: Delivery
) -> None:
    response = retry_all(as_(w.dispatcher))
    assert "1 delivery queued again." in page(response)
    assert fresh(rosa_dead).status == DeliveryStatus.QUEUED
    assert fresh(felipe_dead).status == DeliveryStatus.DEAD


def test_retrying_all_of_one_incident_leaves_the_others(
    w: World, rosa_dead: Delivery, transport: type[FailingTransport]
) -> None:
    mateo = mateo_dead(w, transport, TransportError("mailbox gone"))
    incident_id = mateo.alert.incident_id
    response = retry_all(as_(w.dispatcher), incident=incident_id)
    assert response.redirect_chain == [
        (f"{reverse('dead_deliveries')}?incident={incident_id}", 302)
    ]
    assert fresh(mateo).status == DeliveryStatus.QUEUED
    assert fresh(rosa_dead).status == DeliveryStatus.DEAD


def test_retrying_all_skips_a_disabled_channel(
    w: World, rosa_dead: Delivery, transport: type[FailingTransport]
) -> None:
    gone = mateo_dead(w, transport, TransportError("no such mailbox", permanent=True))
    response = retry_all(as_(w.dispatcher))
    assert "1 delivery queued again." in page(response)
    assert "1 delivery cannot be retried" in page(response)
    assert fresh(rosa_dead).status == DeliveryStatus.QUEUED
    assert fresh(gone).status == DeliveryStatus.DEAD


def test_retrying_all_of_another_committees_incident_gives_404(
    w: World, felipe_dead: Delivery
) -> None:
    response = as_(w.dispatcher).post(
        reverse("retry_dead_deliveries"), {"incident": felipe_dead.alert.incident_id}
    )
    assert response.status_code == 404
    assert fresh(felipe_dead).status == DeliveryStatus.DEAD


@pytest.mark.parametrize("persona", ["member", "outsider"])
def test_retrying_all_refuses_someone_who_does_not_dispatch(
    w: World, rosa_dead: Delivery, persona: str
) -> None:
    response = as_(getattr(w, persona)).post(reverse("retry_dead_deliveries"))
    assert response.status_code == 403
    assert fresh(rosa_dead).status == DeliveryStatus.DEAD


# The operator command.


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("deliveries", *args, stdout=out)
    return out.getvalue()


def test_the_command_lists_every_committees_dead_deliveries(
    w: World, rosa_dead: Delivery, felipe_dead: Delivery
) -> None:
    out = run()
    assert "mailbox busy" in out
    assert "mailbox full" in out
    assert "2 dead" in out
    assert "@example.org" not in out


def test_the_command_lists_one_incident(
    w: World, rosa_dead: Delivery, felipe_dead: Delivery
) -> None:
    out = run("--incident", str(felipe_dead.alert.incident_id))
    assert "mailbox full" in out
    assert "mailbox busy" not in out


def test_the_command_changes_nothing_without_retry(w: World, rosa_dead: Delivery) -> None:
    run()
    assert fresh(rosa_dead).status == DeliveryStatus.DEAD


def test_the_command_retries_every_listed_one(
    w: World, rosa_dead: Delivery, felipe_dead: Delivery
) -> None:
    out = run("--retry")
    assert "queued again: 2" in out
    assert fresh(rosa_dead).status == fresh(felipe_dead).status == DeliveryStatus.QUEUED


def test_the_command_retries_one_by_id(
    w: World, rosa_dead: Delivery, felipe_dead: Delivery
) -> None:
    out = run("--retry-id", str(felipe_dead.pk))
    assert "queued again: 1" in out
    assert fresh(felipe_dead).status == DeliveryStatus.QUEUED
    assert fresh(rosa_dead).status == DeliveryStatus.DEAD


def test_the_command_says_which_ids_are_not_dead(w: World, rosa_dead: Delivery) -> None:
    run("--retry-id", str(rosa_dead.pk))
    out = run("--retry-id", str(rosa_dead.pk))
    assert f"not dead or not found: {rosa_dead.pk}" in out
    assert "queued again: 0" in out
