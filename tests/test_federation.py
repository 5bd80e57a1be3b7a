"""Federation between Tocsin networks (tocsin/federation): signed CAP 1.2 alerts in and
out. The inbox refuses unknown partners, forged signatures, replays, clock skew and
malformed or oversized CAP with a clear JSON error and a log line without personal data;
an accepted alert lands on the desk as a partner report, never on members' phones.
Outgoing: the public view of incidents whose area touches a partner's.

The last test runs two real instances on loopback: this test process (A, uvicorn on the
test database) and a second `tocsin serve` (B) with its own data folder, and federates
both ways."""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from lxml import etree

from tests.factories import (
    EAST,
    WEST,
    World,
    confirmed_incident,
    own_incident,
    session_for,
    world,
)
from tests.peers.witness import Witness
from tests.test_cap import cap_schema
from tocsin import geo
from tocsin.alerts.models import Delivery, Purpose
from tocsin.committees.models import Approval
from tocsin.federation import keys, outgoing, signing
from tocsin.federation.models import Partner, Received, Sent, Trust
from tocsin.incidents.models import Incident
from tocsin.incidents.reports import receive_report
from tocsin.incidents.services import change_state
from tocsin.intake.models import Channel, Report
from tocsin.lib import egress, http
from tocsin.lib.incident_states import State
from tocsin.members.models import Member
from tocsin.mobilize import ladder
from tocsin.mobilize.escalation import Step
from tocsin.public import cap
from tocsin.public.incidents import PublicIncident, public_id

ROOT = Path(__file__).resolve().parent.parent
INBOX = "/federation/inbox/"
URL = "http://testserver" + INBOX


@pytest.fixture
def ours(settings: Any) -> str:
    settings.FEDERATION_KEY = keys.generate()
    return settings.FEDERATION_KEY


@pytest.fixture
def theirs() -> str:
    return keys.generate()


@pytest.fixture
def partner(db: None, theirs: str) -> Partner:
    return Partner.objects.create(
        name="Eastside network",
        base_url="http://127.0.0.1:9",
        public_key=keys.public_of(theirs),
        cells=geo.to_str(geo.cell_at(*EAST, 6)),
    )


def public_alert(
    *, ident: int = 7, point: tuple[float, float] = EAST, kind: str = cap.ALERT
) -> bytes:
    """Return a valid CAP alert such as a partner sends (checked against the XSD)."""
    seen = PublicIncident(
        id=ident,
        kind="checkpoint",
        state=State.CONFIRMED,
        cell=geo.cell_at(*point, geo.PUBLIC_RESOLUTION),
        resolution=geo.PUBLIC_RESOLUTION,
        at=timezone.now().replace(microsecond=0),
        place="Boyle Heights",
        confirmed_by="verifier",
        confirmed_sources=0,
    )
    body = cap.alert(seen, kind=kind)
    cap_schema().assertValid(etree.fromstring(body))
    return body


def post(
    client: Client,
    body: bytes,
    private: str,
    *,
    now: dt.datetime | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    signed = headers or signing.sign(
        URL, body, key=keys.private_key_of(private), key_id=keys.public_of(private), now=now
    )
    return client.post(INBOX, data=body, content_type=cap.CONTENT_TYPE, headers=signed)


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == code
    assert response.json()["detail"]


# --- the inbox ---


def test_a_partner_alert_lands_on_the_desk_as_a_partner_report(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    response = post(client, public_alert(), theirs)
    assert response.status_code == 202, response.content
    [report] = Report.objects.filter(channel=Channel.PARTNER)
    assert set(report.committees.all()) == {w.east}
    assert report.incident_id is None and not report.dismissed
    assert report.kind == "checkpoint"
    assert report.text.startswith("[Eastside network] ")
    assert report.for_information
    # Never straight to members: nothing is confirmed, no one is alerted.
    assert not Incident.objects.exists()
    assert not Delivery.objects.exists()
    assert Received.objects.get().report_id == report.pk


def test_the_desk_shows_the_partner_report(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    post(client, public_alert(), theirs)
    client.force_login(w.dispatcher.user)
    page = client.get(reverse("desk")).content.decode()
    assert "Eastside network" in page
    # How sure the partner is (its CAP certainty: a verifier of theirs saw it), in the
    # dispatcher's language.
    assert Report.objects.get().partner_certainty == "Observed"
    assert "seen on the ground, says the partner network" in page
    # Its trust level ("desk only") in the reader's words, never stored in one language.
    assert "for information only: a verifier or a report of our own must back it" in page
    assert "desk only" not in Report.objects.get().text
    Member.objects.filter(pk=w.dispatcher.pk).update(language="es")
    page = session_for(w.dispatcher).get(reverse("desk")).content.decode()
    assert "se vio en el lugar, según la red de la alianza" in page
    assert "solo para información: debe respaldarlo un verificador o un reporte propio" in page


@pytest.mark.parametrize(
    ("certainty", "kept"),
    [("Likely", "Likely"), ("Possible", "Possible"), ("Unknown", "Unknown"), ("Sure", "")],
)
def test_the_partners_certainty_is_kept_as_cap_says_it(
    client: Client, w: World, ours: str, theirs: str, partner: Partner, certainty: str, kept: str
) -> None:
    body = public_alert().replace(b">Observed<", f">{certainty}<".encode())
    assert post(client, body, theirs).status_code == 202
    assert Report.objects.get().partner_certainty == kept


def confirm_from_the_desk(client: Client, w: World) -> Any:
    report = Report.objects.get(channel=Channel.PARTNER)
    incident = own_incident(report, w.dispatcher)
    client.force_login(w.dispatcher.user)
    return client.post(
        reverse("incident_state", args=[incident.pk]), {"state": State.CONFIRMED}, follow=True
    )


def test_a_desk_only_partners_report_alone_never_confirms_an_incident(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    post(client, public_alert(), theirs)
    page = confirm_from_the_desk(client, w).content.decode()
    assert "send a verifier" in page
    assert Incident.objects.get().state != State.CONFIRMED
    assert not Delivery.objects.exists()


def backed_by_our_own(client: Client, theirs: str, dispatcher: Member) -> Incident:
    """Land a partner's alert, open an incident on it and add a web report of our own."""
    post(client, public_alert(), theirs)
    incident = own_incident(Report.objects.get(channel=Channel.PARTNER), dispatcher)
    ours_too = receive_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    Report.objects.filter(pk=ours_too.pk).update(incident=incident)
    return incident


def test_a_desk_only_partners_report_backed_by_our_own_confirms(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    incident = backed_by_our_own(client, theirs, w.dispatcher)
    change_state(incident, State.CONFIRMED, actor=w.dispatcher)
    assert Incident.objects.get().state == State.CONFIRMED


def test_a_trusted_partners_report_alone_alerts_members_once_a_second_person_approves(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    Partner.objects.update(trust=Trust.CONFIRM)
    post(client, public_alert(), theirs)
    assert not Delivery.objects.exists()
    confirm_from_the_desk(client, w)
    incident = Incident.objects.get()
    assert incident.state == State.CONFIRMED
    # Resting on another network's word alone, it never reaches members on one
    # dispatcher's tap, however few it would reach: a second person approves first.
    assert not Delivery.objects.filter(alert__purpose=Purpose.CONFIRMED).exists()
    approval = Approval.objects.get()
    assert (approval.reason, approval.status) == ("network", "waiting")
    # The desk says why, in English and in Spanish.
    desk = session_for(w.organizer).get(reverse("desk")).content.decode()
    assert "rests only on a partner network&#x27;s reports" in desk
    Member.objects.filter(pk=w.organizer.pk).update(language="es")
    desk = session_for(w.organizer).get(reverse("desk")).content.decode()
    assert "solo se basa en reportes de una red de la alianza" in desk
    response = session_for(w.organizer).post(
        reverse("approval_decide", args=[approval.pk]), {"decision": "approve"}
    )
    assert response.status_code == 302
    # Mateo, East's member whose area is there, hears of it.
    assert Delivery.objects.filter(
        endpoint__member=w.member, alert__purpose=Purpose.CONFIRMED
    ).exists()
    # Each rung of the ladder waits for a second person too, for the same reason.
    assert all(r.needs_second for r in ladder.rungs(incident, {w.east.pk}))
    step = ladder.take(incident, Step.RESPONDERS, actor=w.dispatcher, committee_ids={w.east.pk})
    assert step.approval is not None and step.approval.reason == "network"


def test_a_partners_report_backed_by_our_own_needs_no_second_person_below_the_threshold(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    Partner.objects.update(trust=Trust.CONFIRM)
    incident = backed_by_our_own(client, theirs, w.dispatcher)
    change_state(incident, State.CONFIRMED, actor=w.dispatcher)
    assert not Approval.objects.exists()
    assert Delivery.objects.filter(
        endpoint__member=w.member, alert__purpose=Purpose.CONFIRMED
    ).exists()


def test_an_unknown_partner_is_refused(
    client: Client, w: World, ours: str, partner: Partner
) -> None:
    refused(post(client, public_alert(), keys.generate()), 401, "unknown_partner")
    assert not Report.objects.exists()


def test_an_unsigned_request_is_refused(
    client: Client, w: World, ours: str, partner: Partner
) -> None:
    response = client.post(INBOX, data=public_alert(), content_type=cap.CONTENT_TYPE)
    refused(response, 401, "unsigned")


def test_a_signature_for_another_purpose_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    body = public_alert()
    signed = signing.sign(URL, body, key=keys.private_key_of(theirs), key_id=partner.public_key)
    signed["Signature-Input"] = signed["Signature-Input"].replace(signing.TAG, "other-app")
    refused(post(client, body, theirs, headers=signed), 401, "bad_signature")


def test_a_disabled_partner_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    Partner.objects.update(enabled=False)
    refused(post(client, public_alert(), theirs), 401, "unknown_partner")


def test_a_forged_signature_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    body = public_alert()
    forged = signing.sign(
        URL, body, key=keys.private_key_of(keys.generate()), key_id=partner.public_key
    )
    refused(post(client, body, theirs, headers=forged), 401, "bad_signature")
    assert not Report.objects.exists()


def test_a_body_changed_after_signing_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    body = public_alert()
    signed = signing.sign(URL, body, key=keys.private_key_of(theirs), key_id=partner.public_key)
    other = public_alert(ident=8)
    refused(post(client, other, theirs, headers=signed), 401, "bad_signature")


def test_a_replayed_request_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    body = public_alert()
    signed = signing.sign(URL, body, key=keys.private_key_of(theirs), key_id=partner.public_key)
    assert post(client, body, theirs, headers=signed).status_code == 202
    refused(post(client, body, theirs, headers=signed), 409, "replay")
    assert Report.objects.count() == 1


def test_the_same_cap_identifier_twice_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    body = public_alert()
    assert post(client, body, theirs).status_code == 202
    # Signed afresh (a new nonce), same alert.
    refused(post(client, body, theirs), 409, "replay")
    assert Report.objects.count() == 1


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_clock_more_than_five_minutes_off_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner, minutes: int
) -> None:
    then = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    refused(post(client, public_alert(), theirs, now=then), 401, "clock_skew")


def test_a_clock_a_little_off_is_fine(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    then = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    assert post(client, public_alert(), theirs, now=then).status_code == 202


def test_malformed_cap_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    refused(post(client, b"<alert>not CAP</alert>", theirs), 400, "malformed_cap")


def test_an_oversized_alert_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    body = public_alert().replace(b"</alert>", b"<!--" + b"x" * cap.MAX_BYTES + b"--></alert>")
    refused(post(client, body, theirs), 413, "too_large")


def test_an_alert_outside_every_committee_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    refused(post(client, public_alert(point=(40.7, -74.0)), theirs), 422, "outside_area")


def test_the_inbox_is_off_without_our_key(
    client: Client, w: World, theirs: str, partner: Partner
) -> None:
    refused(post(client, public_alert(), theirs), 503, "federation_off")


def test_a_cancel_sets_aside_the_report_no_incident_took_up(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    assert post(client, public_alert(), theirs).status_code == 202
    assert post(client, public_alert(kind=cap.CANCEL), theirs).status_code == 202
    assert Report.objects.get().dismissed


def test_a_partner_past_its_share_of_alerts_is_refused(
    client: Client, w: World, ours: str, theirs: str, partner: Partner, settings: Any
) -> None:
    # A partner network's key, stolen or misused, cannot flood our desk.
    settings.FEDERATION_ALERTS_PER_10MIN = 3
    for ident in range(1, 4):
        assert post(client, public_alert(ident=ident), theirs).status_code == 202
    response = post(client, public_alert(ident=4), theirs)
    refused(response, 429, "rate_limited")
    assert response["Retry-After"]
    assert Report.objects.count() == 3
    # Its Cancels still land: withdrawing a false alarm is never held back.
    assert post(client, public_alert(ident=3, kind=cap.CANCEL), theirs).status_code == 202
    last = Report.objects.order_by("-pk").first()
    assert last is not None and last.dismissed
    # Another partner has its own share.
    other_key = keys.generate()
    Partner.objects.create(
        name="Westside network",
        base_url="http://127.0.0.1:9",
        public_key=keys.public_of(other_key),
        cells=partner.cells,
    )
    assert post(client, public_alert(ident=5), other_key).status_code == 202


def test_refusals_are_logged_without_the_alert_or_the_sender(
    client: Client,
    w: World,
    ours: str,
    theirs: str,
    partner: Partner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tocsin.federation")
    post(client, public_alert(), keys.generate(), headers=None)
    post(client, public_alert(), theirs)
    text = caplog.text
    assert "unknown_partner" in text and "accepted" in text
    assert "Boyle Heights" not in text and "127.0.0.1" not in text
    assert "checkpoint" not in text.lower()


def test_our_public_key_is_served(client: Client, ours: str) -> None:
    data = client.get(reverse("federation_key")).json()
    assert data["keyid"] == data["public_key"] == keys.public_of(ours)
    assert data["alg"] == "ed25519"


def test_no_key_is_served_when_federation_is_off(client: Client) -> None:
    assert client.get(reverse("federation_key")).status_code == 404


# --- outgoing ---


def test_a_partner_is_owed_the_public_view_of_incidents_touching_its_area(
    w: World, ours: str, partner: Partner
) -> None:
    touching = confirmed_incident(w.dispatcher, minutes_ago=60)
    confirmed_incident(w.west_dispatcher, WEST, minutes_ago=60)
    [owed] = outgoing.due()
    assert (owed.partner, owed.incident_id, owed.msg_type) == (partner, touching.pk, "Alert")
    # What is sent is what published() says: the public cell, never the incident's own.
    assert owed.view["cell"] == geo.parent(touching.cell, geo.PUBLIC_RESOLUTION)
    assert "summary" not in owed.view


def test_nothing_is_owed_before_the_public_may_see_it(
    w: World, ours: str, partner: Partner
) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=5)
    confirmed_incident(w.dispatcher, (34.035, -118.212), minutes_ago=90, end="unfounded")
    assert outgoing.due() == []


def test_nothing_is_owed_without_our_key(w: World, partner: Partner) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    assert outgoing.due() == []


@pytest.mark.parametrize("end", [State.RESOLVED, State.UNFOUNDED])
def test_a_partner_sent_the_alert_is_sent_a_cancel(
    w: World, ours: str, partner: Partner, end: str
) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    outgoing.record(outgoing.due())
    Sent.objects.update(delivered=True, announced=True)
    Incident.objects.filter(pk=incident.pk).update(state=end)
    [owed] = outgoing.due()
    assert (owed.msg_type, owed.silent) == ("Cancel", False)
    assert outgoing.record([owed]) == [Sent.objects.get().pk]
    body = outgoing.body(Sent.objects.get())
    cap_schema().assertValid(etree.fromstring(body))
    # A false alarm's Cancel says so (certainty Unlikely); an end keeps what it was.
    certainty = "Unlikely" if end == State.UNFOUNDED else "Likely"
    assert f"<certainty>{certainty}</certainty>".encode() in body
    Sent.objects.update(delivered=True)
    assert outgoing.due() == []


@pytest.mark.parametrize("end", [State.RESOLVED, State.UNFOUNDED])
def test_a_partner_that_never_had_the_alert_is_sent_nothing_when_it_ends(
    w: World, ours: str, partner: Partner, end: str
) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    outgoing.record(outgoing.due())  # its delivery failed: never announced
    Incident.objects.filter(pk=incident.pk).update(state=end)
    [owed] = outgoing.due()
    assert (owed.msg_type, owed.silent) == ("Cancel", True)
    assert outgoing.record([owed]) == []
    assert Sent.objects.get().delivered
    assert outgoing.due() == []


def test_a_change_in_the_public_view_is_an_update(w: World, ours: str, partner: Partner) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    outgoing.record(outgoing.due())
    Sent.objects.update(delivered=True, announced=True)
    Incident.objects.filter(pk=incident.pk).update(confirmed_by="verifier")
    [owed] = outgoing.due()
    assert owed.msg_type == "Update"
    outgoing.record([owed])
    body = outgoing.body(Sent.objects.get())
    cap_schema().assertValid(etree.fromstring(body))
    assert b"<msgType>Update</msgType>" in body
    assert f"incident.{public_id(incident.pk)}.alert".encode() in body  # its references


def test_a_failed_delivery_is_recorded_and_retried(
    w: World, ours: str, partner: Partner, settings: Any
) -> None:
    settings.FEDERATION_PRIVATE_HOSTS = ("127.0.0.1",)
    confirmed_incident(w.dispatcher, minutes_ago=60)
    # Port 9 on loopback (discard): nothing listens there.
    [row] = outgoing.send_due()
    assert not row.delivered and row.attempts == 1 and row.error
    later = timezone.now() + dt.timedelta(minutes=5)
    [again] = outgoing.send_due(now=later)
    assert again.attempts == 2


class Peer(ThreadingHTTPServer):
    """A partner's inbox on loopback: records each POST and answers 202."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _PeerHandler)
        self.received: list[tuple[str, dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _PeerHandler(BaseHTTPRequestHandler):
    server: Peer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers.items()), body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_worker_task_posts_the_signed_alert_to_the_partners_inbox(
    w: World, ours: str, partner: Partner, peer: Peer, settings: Any
) -> None:
    settings.FEDERATION_PRIVATE_HOSTS = ("127.0.0.1",)
    Partner.objects.update(base_url=peer.url)
    confirmed_incident(w.dispatcher, minutes_ago=60)
    assert outgoing.queue_due() == 1
    # Queued once: the next sweep finds nothing new to send.
    assert outgoing.queue_due() == 0
    [queued] = DBTaskResult.objects.ready()
    queued.task.call(*queued.args_kwargs["args"], **queued.args_kwargs["kwargs"])
    assert Sent.objects.get().delivered
    [(path, headers, body)] = peer.received
    assert path == INBOX
    request = signing.Request("POST", peer.url + path, headers)
    verified = signing.verify(request, body, public=lambda key_id: keys.load_public(key_id))
    assert verified.key_id == keys.public_of(ours)
    assert "@target-uri" in headers["Signature-Input"] and "date" in headers["Signature-Input"]
    assert cap.parse(body).msg_type == "Alert"
    cap_schema().assertValid(etree.fromstring(body))


def resolve_partner_to(monkeypatch: pytest.MonkeyPatch, address: str) -> list[str]:
    """Make partner.example resolve to ``address`` (egress's one lookup); return the
    names looked up."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[egress.Address]:
        asked.append(host)
        assert host == "partner.example", host
        return [ipaddress.ip_address(address)]

    monkeypatch.setattr(egress, "resolve", resolve)
    return asked


@pytest.mark.parametrize("address", ["127.0.0.1", "10.20.30.40", "169.254.169.254"])
def test_a_partner_inside_our_network_is_refused_without_the_allow_list(
    w: World,
    ours: str,
    partner: Partner,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    address: str,
) -> None:
    with Witness() as witness:
        Partner.objects.update(base_url=f"http://partner.example:{witness.port}")
        asked = resolve_partner_to(monkeypatch, address)
        confirmed_incident(w.dispatcher, minutes_ago=60)
        caplog.set_level(logging.INFO, logger="tocsin.federation")
        [row] = outgoing.send_due()
        assert asked == ["partner.example"]
        # Refused before connecting: nothing reached the address.
        assert witness.connections == 0
    assert not row.delivered and row.attempts == 1
    assert "TOCSIN_FEDERATION_PRIVATE_HOSTS" in row.error
    assert f"partner {partner.pk}" in caplog.text
    assert "TOCSIN_FEDERATION_PRIVATE_HOSTS" in caplog.text
    # The log names the partner by id only: no host, no address, nothing of the alert.
    assert "partner.example" not in caplog.text and address not in caplog.text
    assert "Boyle" not in caplog.text and "checkpoint" not in caplog.text.lower()


def test_a_partner_the_operator_lists_is_reached_at_its_private_address(
    w: World,
    ours: str,
    partner: Partner,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    settings.FEDERATION_PRIVATE_HOSTS = egress.parse_hosts("partner.example")
    with Witness() as witness:
        Partner.objects.update(base_url=f"http://partner.example:{witness.port}")
        resolve_partner_to(monkeypatch, "127.0.0.1")
        confirmed_incident(w.dispatcher, minutes_ago=60)
        [row] = outgoing.send_due()
        assert row.delivered, row.error
        [received] = witness.received
    assert received.startswith(b"POST /federation/inbox/ HTTP/1.1\r\n")
    assert b"Host: partner.example:" in received


def test_a_partner_at_a_public_address_needs_no_listing(
    w: World, ours: str, partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    Partner.objects.update(base_url="http://partner.example:9")
    confirmed_incident(w.dispatcher, minutes_ago=60)
    sent: list[tuple[str, bool]] = []

    def pinned_post(origin: str, target: str, *args: Any, trusted: bool, **kwargs: Any) -> Any:
        sent.append((origin + target, trusted))
        return 202, ""

    monkeypatch.setattr(http, "pinned_post", pinned_post)
    [row] = outgoing.send_due()
    assert row.delivered
    # A public partner is posted to untrusted: its answers are checked, then pinned.
    assert sent == [("http://partner.example:9/federation/inbox/", False)]


def test_the_inbox_never_fetches_what_an_alert_points_at(
    client: Client, w: World, ours: str, theirs: str, partner: Partner
) -> None:
    with Witness() as witness:
        there = witness.origin
        body = public_alert().replace(
            b"</info>",
            f"<resource><resourceDesc>map</resourceDesc><mimeType>image/png</mimeType>"
            f"<uri>{there}/map.png</uri></resource></info>".encode(),
            1,
        )
        body = body.replace(b"http://testserver/map/", f"{there}/map/".encode())
        assert post(client, body, theirs).status_code == 202
        entity = (
            b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "'
            + there.encode()
            + b'/x">]>'
            + public_alert(ident=9).split(b"?>", 1)[1].replace(b"Boyle Heights", b"&x;")
        )
        refused(post(client, entity, theirs), 400, "malformed_cap")
        assert witness.connections == 0


# --- the command ---


def test_operators_manage_partners_from_the_command_line(db: None, theirs: str) -> None:
    out = io.StringIO()
    call_command(
        "partners",
        "add",
        "Westside",
        "--url",
        "https://west.example.org/",
        "--key",
        keys.public_of(theirs),
        "--trust",
        "confirm",
        "--around",
        f"{WEST[0]},{WEST[1]}",
        "--km",
        "3",
        stdout=out,
    )
    westside = Partner.objects.get(name="Westside")
    assert westside.base_url == "https://west.example.org"
    assert westside.trust == Trust.CONFIRM
    assert westside.touches(geo.cell_at(*WEST, geo.PUBLIC_RESOLUTION))
    assert not westside.touches(geo.cell_at(40.7, -74.0, geo.PUBLIC_RESOLUTION))
    call_command("partners", "disable", "Westside", stdout=out)
    assert not Partner.objects.get().enabled
    call_command("partners", "keygen", stdout=out, stderr=out)
    assert "TOCSIN_FEDERATION_KEY=" in out.getvalue()


def test_a_partner_key_or_place_that_begins_with_a_dash_is_taken_as_a_value(db: None) -> None:
    """A base64url key begins with '-' one time in 64, and a southern or western LAT,LNG
    always does: `--key -abc` must not read as an unknown option (it failed CI once)."""
    dashed = next(p for p in (keys.generate() for _ in range(5000)) if keys.public_of(p)[0] == "-")
    cape_town = (-33.925, 18.424)
    for key_args in (["--key", keys.public_of(dashed)], [f"--key={keys.public_of(dashed)}"]):
        call_command(
            "partners",
            "add",
            "Southside",
            "--url",
            "https://south.example.org/",
            *key_args,
            "--around",
            f"{cape_town[0]},{cape_town[1]}",
            "--km",
            "2",
            stdout=io.StringIO(),
        )
        southside = Partner.objects.get(name="Southside")
        assert southside.public_key == keys.public_of(dashed)
        assert southside.touches(geo.cell_at(*cape_town, geo.PUBLIC_RESOLUTION))
    with pytest.raises(CommandError, match="--key"):
        call_command("partners", "add", "Nokey", "--url", "https://n.example.org/", "--key")


# --- two instances on loopback ---


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Instance:
    """A second Tocsin: `tocsin serve` with its own data folder, vault and key."""

    def __init__(self, key: str) -> None:
        self.data = tempfile.mkdtemp(prefix="tocsin-federation-b-")
        secret = tempfile.mkdtemp(prefix="tocsin-federation-b-key-")
        passphrase = os.path.join(secret, "passphrase")
        Path(passphrase).write_text("instance B of the federation test\n")
        os.chmod(passphrase, 0o600)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")},
            "DJANGO_SETTINGS_MODULE": "tocsin.settings",
            "TOCSIN_DATA_DIR": self.data,
            "TOCSIN_VAULT_PASSPHRASE_FILE": passphrase,
            "TOCSIN_VAULT_KDF": "interactive",
            "TOCSIN_SITE_URL": self.url,
            "TOCSIN_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TOCSIN_STAFF_MFA": "0",
            "TOCSIN_FEDERATION_KEY": key,
            # A, its partner, is on loopback: reached only because the operator says so.
            "TOCSIN_FEDERATION_PRIVATE_HOSTS": "127.0.0.1",
            "PYTHONPATH": str(ROOT),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        tocsin = Path(sys.executable).parent / "tocsin"
        port = self.url.rsplit(":", 1)[1]
        self.proc = subprocess.Popen(
            [str(tocsin), "serve", "--migrate", "--with-worker", "--port", port],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{self.url}/federation/key", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"instance B did not answer at {self.url}")

    def run(self, code: str) -> Any:
        """Run ``code`` (its last line assigns ``result``) in B's environment; return the
        JSON of ``result``."""
        script = "import django, json\ndjango.setup()\n" + textwrap.dedent(code)
        script += "\nprint(json.dumps(result))\n"
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        return json.loads(done.stdout.decode().strip().splitlines()[-1])

    def manage(self, *args: str) -> str:
        """Run `tocsin manage ...` against B; return what it printed."""
        tocsin = Path(sys.executable).parent / "tocsin"
        done = subprocess.run(
            [str(tocsin), "manage", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        return done.stdout.decode()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


SENT = """
from tocsin.federation.models import Sent
result = [[s.msg_type, s.delivered, s.error] for s in Sent.objects.all()]
"""


@pytest.fixture
def instance_b(theirs: str) -> Iterator[Instance]:
    b = Instance(theirs)
    b.start()
    yield b
    b.stop()


@pytest.mark.django_db(transaction=True)
def test_two_instances_on_loopback_federate_both_ways(
    settings: Any, theirs: str, instance_b: Instance
) -> None:
    from tests.browser_support import LiveServer

    a = LiveServer().start()
    try:
        settings.SITE_URL = a.url
        settings.FEDERATION_KEY = keys.generate()
        # B, our partner, is on loopback: reached only because the operator says so.
        settings.FEDERATION_PRIVATE_HOSTS = ("127.0.0.1",)
        w = world()
        area = geo.to_str(geo.cell_at(*EAST, 6))
        # Each registers the other, with what the other's /federation/key says.
        with urllib.request.urlopen(f"{instance_b.url}/federation/key") as r:  # noqa: S310
            b_key = json.load(r)["public_key"]
        Partner.objects.create(name="B", base_url=instance_b.url, public_key=b_key, cells=area)
        with urllib.request.urlopen(f"{a.url}/federation/key") as r:  # noqa: S310
            a_key = json.load(r)["public_key"]
        instance_b.run(
            """
            from tests.factories import committee
            committee("East")
            result = True
            """
        )
        added = instance_b.manage(
            "partners",
            "add",
            "A",
            "--url",
            a.url,
            "--key",
            a_key,
            "--cells",
            area,
            "--trust",
            "confirm",
        )
        assert added.strip() == "A: added"
        assert instance_b.manage("partners", "key").strip() == b_key

        # A confirms an incident whose area touches B's: it appears on B's desk.
        confirmed_incident(w.dispatcher, minutes_ago=60)
        [sent] = outgoing.send_due()
        assert sent.delivered, sent.error
        on_b = instance_b.run(
            """
            from tocsin.intake.models import Report
            result = [
                [r.channel, r.kind, r.incident_id, r.text, [c.name for c in r.committees.all()]]
                for r in Report.objects.all()
            ]
            """
        )
        assert len(on_b) == 1
        channel, kind, incident_id, text, committees = on_b[0]
        assert (channel, kind, incident_id, committees) == ("partner", "checkpoint", None, ["East"])
        assert text.startswith("[A] ")

        # And the reverse: B confirms one (A's is over by then, so B's stands on its own
        # on A's desk rather than joining it); B's worker sends it to A.
        Incident.objects.update(state=State.RESOLVED)
        instance_b.run(
            """
            from tests.factories import member, confirmed_incident, EAST
            from tocsin.committees.models import Committee, Role
            east = Committee.objects.get(name="East")
            confirmed_incident(member("Dina", east, Role.DISPATCHER), (34.0345, -118.2115))
            result = True
            """
        )
        deadline = time.monotonic() + 120  # against hangs only
        while not Report.objects.filter(channel=Channel.PARTNER).exists():
            assert time.monotonic() < deadline, "B's worker sent nothing to A"
            time.sleep(0.5)
        # B records the delivery once A has answered: just after A stored the report.
        while (sent_by_b := instance_b.run(SENT)) != [["Alert", True, ""]]:
            assert time.monotonic() < deadline, sent_by_b
            time.sleep(0.5)
        [report] = Report.objects.filter(channel=Channel.PARTNER)
        assert set(report.committees.all()) == {w.east}
        assert report.incident_id is None
        assert report.text.startswith("[B] ")
        assert Incident.objects.count() == 1
    finally:
        a.stop()
