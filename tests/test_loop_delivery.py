"""The core loop through real peers: report, confirm, alert by push and email, respond,
all clear or correction. Sending goes through the outbox to a local push service (which
verifies VAPID and decrypts) and a local SMTP server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from tests import factories
from tests.conftest import need
from tests.factories import EAST, WEST
from tests.peers.push_service import PushService
from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin.alerts import outbox
from tocsin.alerts.messages import place_text
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.incidents.models import Incident
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state, open_incident
from tocsin.lib.links import read_alert_link_token
from tocsin.members.models import ContactEndpoint, Member
from tocsin.mobilize import services as mobilize
from tocsin.mobilize.models import Response
from tocsin.transports import vapid

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"https?://[^\s\"'<>]+/a/[^/\s\"'<>]+/")


@dataclass
class Peers:
    push: PushService
    smtp: SMTPPeer


@dataclass
class People:
    """world() plus: Mateo alerted by push first, Ana an English speaker by email, and
    Wes, whose area is on the other side of town."""

    world: factories.World
    ana: Member
    wes: Member
    subscription: dict[str, Any]
    push_endpoint: ContactEndpoint

    @property
    def rosa(self) -> Member:
        return self.world.responder

    @property
    def mateo(self) -> Member:
        return self.world.member


@pytest.fixture
def peers(settings: Any) -> Iterator[Peers]:
    with PushService() as push, SMTPPeer() as smtp:
        mail_settings(settings, smtp)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        yield Peers(push, smtp)


@pytest.fixture
def people(peers: Peers) -> People:
    w = factories.world()
    ana = factories.member("Ana", w.east, area=EAST, email="ana@example.org")
    wes = factories.member("Wes", w.west, area=WEST, email="wes@example.org")
    sub = peers.push.subscription(application_server_key=vapid.application_server_key())
    push = ContactEndpoint.create(
        w.member, "webpush", sub["endpoint"], data={"keys": sub["keys"]}, verified=True
    )
    ContactEndpoint.objects.filter(pk=push.pk).update(priority=0)
    ContactEndpoint.objects.filter(member=w.member, kind="email").update(priority=1)
    return People(world=w, ana=ana, wes=wes, subscription=sub, push_endpoint=push)


def raid(people: People) -> Incident:
    report = submit_report(channel="web", kind="workplace_raid", lat=EAST[0], lng=EAST[1])
    return open_incident(report, actor=people.world.dispatcher)


def confirm(people: People) -> Incident:
    incident = raid(people)
    # Straight to confirmed: going through verifying tells the responders first
    # (tests/test_verification.py); here only the confirmed alert is under test.
    return change_state(incident, "confirmed", actor=people.world.dispatcher)


EVERY_ADDRESS = [
    "olga@example.org",
    "diego@example.org",
    "rosa@example.org",
    "mateo@example.org",
    "wendy@example.org",
    "walt@example.org",
    "ana@example.org",
    "wes@example.org",
    "nora@example.org",
]


def inboxes(peers: Peers) -> dict[str, list[EmailMessage]]:
    """Return address -> messages received, for every address that received any."""
    out = {a: peers.smtp.to(a) for a in EVERY_ADDRESS}
    assert sum(len(v) for v in out.values()) == len(peers.smtp.messages), "mail to a stranger"
    return {a: msgs for a, msgs in out.items() if msgs}


def link_path(email: EmailMessage) -> str:
    body = email.get_body(preferencelist=("plain",))
    assert body is not None
    [url] = set(LINK.findall(body.get_content()))
    return urlsplit(url).path


def token_of(url: str) -> tuple[int, int]:
    """Return the (member id, incident id) an alert link opens."""
    match = re.fullmatch(r"/a/([^/]+)/", urlsplit(url).path)
    assert match is not None, url
    return read_alert_link_token(match.group(1))


def assert_clean(peers: Peers, outcome: outbox.Outcome) -> None:
    assert peers.push.rejections == []
    assert outcome.failed == 0 and outcome.dead == 0, list(
        Delivery.objects.exclude(status=DeliveryStatus.SENT).values_list("status", "error")
    )


def test_it_alerts_by_push_first_and_by_email_for_the_rest(peers: Peers, people: People) -> None:
    confirm(people)
    outcome = outbox.drain()
    assert_clean(peers, outcome)
    assert outcome.sent == 3

    [alert] = peers.push.json_for(people.subscription)
    assert re.fullmatch(re.escape(django_settings.SITE_URL) + r"/a/[^/]+/", alert["url"])
    assert alert["title"].startswith("Confirmed: ")
    assert alert["url"] in alert["body"]

    # Mateo heard by push, so not by email; Wes is too far away; the rest have no area.
    got = inboxes(peers)
    assert sorted(got) == ["ana@example.org", "rosa@example.org"]
    [ana] = got["ana@example.org"]
    assert ana["Subject"].startswith("Confirmed: ")
    assert link_path(ana).startswith("/a/")


def test_each_member_gets_their_own_link(peers: Peers, people: People) -> None:
    confirm(people)
    assert_clean(peers, outbox.drain())
    [push] = peers.push.json_for(people.subscription)
    rosa = link_path(peers.smtp.to("rosa@example.org")[0])
    ana = link_path(peers.smtp.to("ana@example.org")[0])
    assert len({urlsplit(push["url"]).path, rosa, ana}) == 3


def test_it_alerts_a_spanish_speaker_in_spanish(peers: Peers, people: People) -> None:
    mo = django_settings.BASE_DIR / "locale" / "es" / "LC_MESSAGES" / "django.mo"
    need(mo.exists(), f"no compiled Spanish translations at {mo} (run compilemessages)")
    incident = confirm(people)
    assert_clean(peers, outbox.drain())
    [email] = peers.smtp.to("rosa@example.org")
    with translation.override("es"):
        pattern = gettext("Confirmed: %(kind)s %(where)s")
        kind = incident.get_kind_display()
        where = place_text(incident.cell)
    assert pattern != "Confirmed: %(kind)s %(where)s", "no Spanish for the alert subject"
    assert where.startswith("cerca de ")
    assert email["Subject"] == pattern % {"kind": kind, "where": where}
    assert "Tocsin alert." not in email.get_body(preferencelist=("plain",)).get_content()


def test_a_responder_follows_the_email_link_and_is_counted(peers: Peers, people: People) -> None:
    incident = confirm(people)
    assert_clean(peers, outbox.drain())
    path = link_path(peers.smtp.to("rosa@example.org")[0])
    client = Client()
    assert client.get(path).status_code == 200

    response = client.post(path, {"role": "observer", "eta_minutes": 10, "state": "on_my_way"})

    assert response.status_code == 302
    row = Response.objects.get(incident=incident)
    assert (row.member_id, row.role, row.state, row.eta_minutes) == (
        people.rosa.pk,
        "observer",
        "on_my_way",
        10,
    )
    observers = next(r for r in mobilize.headcount(incident) if r["role"] == "observer")
    assert (observers["on_my_way"], observers["arrived"]) == (1, 0)
    assert sum(r["on_my_way"] + r["arrived"] for r in mobilize.headcount(incident)) == 1


def test_the_all_clear_reaches_exactly_the_alerted_endpoints(peers: Peers, people: People) -> None:
    incident = confirm(people)
    assert_clean(peers, outbox.drain())

    # Nora joins after the alert went out: she never heard of it, so no all clear either.
    factories.member("Nora", people.world.east, area=EAST, email="nora@example.org")

    change_state(incident, "resolved", actor=people.world.dispatcher)
    outcome = outbox.drain()

    assert_clean(peers, outcome)
    assert outcome.sent == 3
    alert, all_clear = peers.push.json_for(people.subscription)
    assert all_clear["title"].startswith("All clear: ")
    assert token_of(all_clear["url"]) == token_of(alert["url"]) == (people.mateo.pk, incident.pk)
    got = inboxes(peers)
    assert sorted(got) == ["ana@example.org", "rosa@example.org"]
    assert [len(m) for m in got.values()] == [2, 2]
    assert got["ana@example.org"][1]["Subject"].startswith("All clear: ")
    [_alert, all_clear_headers] = [
        m["headers"] for m in peers.push.messages_for(people.subscription)
    ]
    assert all_clear_headers["urgency"] == "normal"


def test_an_unconfirmed_incident_reaches_only_the_responders_nearby(
    peers: Peers, people: People
) -> None:
    incident = raid(people)
    outbox.drain()
    assert not Delivery.objects.exists()
    change_state(incident, "verifying", actor=people.world.dispatcher)
    outcome = outbox.drain()
    assert_clean(peers, outcome)
    # DESIGN.md section 3: verifiers and responders nearby, never the members.
    assert set(inboxes(peers)) == {"rosa@example.org"}
    assert peers.push.received == []
    assert {d.member_id for d in Delivery.objects.all()} == {people.world.responder.pk}


def test_a_false_alarm_before_confirmation_reaches_nobody(peers: Peers, people: People) -> None:
    incident = raid(people)
    change_state(incident, "verifying", actor=people.world.dispatcher)
    change_state(incident, "unfounded", actor=people.world.dispatcher)
    outbox.drain()
    assert peers.push.received == [] and peers.push.rejections == []
    assert peers.smtp.messages == []


def test_a_false_alarm_after_confirmation_corrects_exactly_the_alerted(
    peers: Peers, people: People
) -> None:
    incident = confirm(people)
    assert_clean(peers, outbox.drain())

    factories.member("Nora", people.world.east, area=EAST, email="nora@example.org")

    change_state(incident, "unfounded", actor=people.world.dispatcher)
    outcome = outbox.drain()

    assert_clean(peers, outcome)
    assert outcome.sent == 3
    _alert, correction = peers.push.json_for(people.subscription)
    assert correction["title"].startswith("Correction: ")
    got = inboxes(peers)
    assert sorted(got) == ["ana@example.org", "rosa@example.org"]
    assert [len(m) for m in got.values()] == [2, 2]
    assert got["ana@example.org"][1]["Subject"].startswith("Correction: ")


def test_a_gone_push_subscription_falls_back_to_email(peers: Peers, people: People) -> None:
    peers.push.answer(people.subscription, 410)
    incident = confirm(people)

    outcome = outbox.drain()

    assert (outcome.sent, outcome.dead) == (3, 1)
    assert [a["status"] for a in peers.push.answered] == [410]
    [email] = peers.smtp.to("mateo@example.org")
    assert email["Subject"].startswith("Confirmed: ")
    people.push_endpoint.refresh_from_db()
    assert people.push_endpoint.disabled_at is not None

    # The all clear follows the channel that worked, not the dead subscription.
    change_state(incident, "resolved", actor=people.world.dispatcher)
    assert outbox.drain().sent == 3
    assert len(peers.push.answered) == 1 and peers.push.received == []
    assert len(peers.smtp.to("mateo@example.org")) == 2


def test_a_rate_limited_push_waits_as_long_as_asked(peers: Peers, people: People) -> None:
    peers.push.answer(people.subscription, 429, {"Retry-After": "120"})
    confirm(people)

    outcome = outbox.drain()

    assert (outcome.sent, outcome.failed, outcome.dead) == (2, 1, 0)
    delivery = Delivery.objects.get(endpoint=people.push_endpoint)
    assert delivery.status == DeliveryStatus.FAILED
    assert (delivery.next_attempt_at - delivery.created_at).total_seconds() >= 119
    # A transient failure keeps the subscription and sends no email instead.
    people.push_endpoint.refresh_from_db()
    assert people.push_endpoint.disabled_at is None
    assert peers.smtp.to("mateo@example.org") == []
