"""Planned mobilizations: organizers publish them, anyone signs up with one channel,
reminders go out through the workers, people check in; calendars for other tools.

Who signed up is never public; addresses are sealed; the messages are rows a worker sends
(tocsin.mobilize.notices) through the local SMTP and SMS peers.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import shapely.geometry
import vobject
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.db import connection
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import World, session_for, soto_4th, world
from tests.peers.push_service import PushService
from tests.peers.sms_provider import SmsProvider, running, use_twilio
from tests.peers.smtp import SMTPPeer, mail_settings
from tests.test_outbox import confirmed_incident
from tocsin.alerts import outbox
from tocsin.committees.models import Committee
from tocsin.demo.models import DemoMessage
from tocsin.hooks import inbound
from tocsin.lib.gsm7 import GSM7, segments
from tocsin.members.models import ContactEndpoint, Member
from tocsin.mobilize import notices, rsvps
from tocsin.mobilize.models import Response
from tocsin.mobilize.planned import (
    Mobilization,
    MobilizationKind,
    MobilizationRole,
    Rsvp,
    RsvpMessage,
    RsvpStatus,
    Visibility,
)
from tocsin.places.models import Place
from tocsin.transports import vapid

LA = ZoneInfo("America/Los_Angeles")
Purpose = RsvpMessage.Purpose


@pytest.fixture
def w(db: None) -> World:
    return world()


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        settings.DELIVERY_RATE = {**settings.DELIVERY_RATE, "email": 0}
        yield peer


@pytest.fixture
def twilio(settings: Settings) -> Iterator[SmsProvider]:
    with running() as peer:
        yield use_twilio(settings, peer)


def local(days: int, hour: int, minute: int = 0) -> datetime:
    """Return ``days`` from today at ``hour`` local time."""
    today = timezone.now().astimezone(LA).date() + timedelta(days=days)
    return datetime(today.year, today.month, today.day, hour, minute, tzinfo=LA)


def vigil(w: World, **fields: Any) -> Mobilization:
    start = fields.pop("starts_at", local(3, 18))
    values: dict[str, Any] = {
        "committee": w.east,
        "kind": "vigil",
        "title": "Vigil for the Soto families",
        "title_es": "Vigilia por las familias de Soto",
        "description": "Bring candles.",
        "description_es": "Traiga velas.",
        "address": "Mariachi Plaza",
        "lat": 34.0472,
        "lng": -118.2195,
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        **fields,
    }
    return Mobilization.objects.create(**values)


def text(response: Any) -> str:
    return response.content.decode()


def scrub(body: str) -> str:
    """Return ``body`` without what differs per request anyway (CSRF tokens)."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", body)


def email_of(n: int) -> rsvps.Contact:
    return rsvps.Contact("email", f"person{n}@example.org")


# --- the reminders' times (pure) ------------------------------------------------------


def test_reminders_fall_the_day_before_the_morning_of_30_minutes_before_and_after() -> None:
    start = datetime(2026, 12, 12, 18, 0, tzinfo=LA)
    times = rsvps.reminder_times(start, start + timedelta(hours=2), LA)
    assert times[Purpose.DAY_BEFORE] == datetime(2026, 12, 11, 11, 0, tzinfo=LA)
    assert times[Purpose.MORNING_OF] == datetime(2026, 12, 12, 8, 0, tzinfo=LA)
    assert times[Purpose.SOON] == datetime(2026, 12, 12, 17, 30, tzinfo=LA)
    assert times[Purpose.THANKS] == datetime(2026, 12, 12, 21, 0, tzinfo=LA)


def test_an_early_start_has_no_morning_of_reminder() -> None:
    start = datetime(2026, 12, 12, 8, 30, tzinfo=LA)
    times = rsvps.reminder_times(start, start + timedelta(hours=1), LA)
    assert Purpose.MORNING_OF not in times
    assert times[Purpose.SOON] == datetime(2026, 12, 12, 8, 0, tzinfo=LA)


# --- organizers -----------------------------------------------------------------------


def form_data(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "rally",
        "title": "Rally at City Hall",
        "title_es": "Manifestación en el Ayuntamiento",
        "description": "Families first.",
        "description_es": "",
        "starts_at": local(5, 10).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": local(5, 13).strftime("%Y-%m-%dT%H:%M"),
        "address": "City Hall steps, Spring St",
        "lat": "",
        "lng": "",
        "visibility": "public",
        "capacity": "",
        "role_marshal": "4",
        "role_legal_observer": "2",
        "shifts_text": "10:00-11:30\n11:30-13:00",
        **overrides,
    }


def test_an_organizer_publishes_a_mobilization_with_roles_and_shifts(w: World) -> None:
    client = session_for(w.organizer)
    response = client.post(reverse("committee_mobilizations", args=["east"]), form_data())
    m = Mobilization.objects.get()
    assert response["Location"] == reverse("committee_mobilization", args=["east", m.pk])
    assert (m.committee, m.kind, m.created_by) == (w.east, "rally", w.organizer)
    assert m.starts_at == local(5, 10)
    assert {(r.kind, r.capacity) for r in m.roles.all()} == {("marshal", 4), ("legal_observer", 2)}
    assert [(s.starts_at, s.ends_at) for s in m.shifts.all()] == [
        (local(5, 10), local(5, 11, 30)),
        (local(5, 11, 30), local(5, 13)),
    ]


def test_a_dispatcher_publishes_a_rapid_response_call(w: World) -> None:
    client = session_for(w.dispatcher)
    response = client.post(
        reverse("committee_mobilizations", args=["east"]),
        form_data(kind="accompaniment", shifts_text="", role_marshal=""),
    )
    assert response.status_code == 302
    assert Mobilization.objects.get().created_by == w.dispatcher


def test_a_mobilization_needs_a_title_a_place_and_an_end_after_its_start(w: World) -> None:
    client = session_for(w.organizer)
    response = client.post(
        reverse("committee_mobilizations", args=["east"]),
        form_data(title="", title_es="", address="", ends_at=form_data()["starts_at"]),
    )
    assert response.status_code == 400
    body = text(response)
    assert "Give it a title in English or in Spanish." in body
    assert "Say where: pick a place or write the assembly point." in body
    assert "It must end after it starts." in body
    assert not Mobilization.objects.exists()
    # Summed up where the form starts, each reason linked to its field.
    summary = response.content.decode().split('data-testid="form-errors"')[1].split("</div>")[0]
    assert "It must end after it starts." in summary and 'href="#id_' in summary
    # And said at the top of the page, which a refused form comes back scrolled to.
    assert 'data-testid="errors-below"><a href="#form-errors">' in response.content.decode()


def test_public_copy_naming_an_officer_is_refused(w: World) -> None:
    client = session_for(w.organizer)
    response = client.post(
        reverse("committee_mobilizations", args=["east"]),
        form_data(description="Agent John Smith badge 4471 will be there, block his van"),
    )
    assert response.status_code == 400
    assert "This cannot be published" in text(response)


def test_a_gazetteer_place_of_another_committee_cannot_be_chosen(w: World) -> None:
    west_place = Place.objects.create(committee=w.west, name="West park", lat=34.05, lng=-118.33)
    client = session_for(w.organizer)
    response = client.post(
        reverse("committee_mobilizations", args=["east"]),
        form_data(address="", place=west_place.pk),
    )
    assert response.status_code == 400
    assert not Mobilization.objects.exists()


def test_the_committees_places_are_offered_in_the_organizers_language(w: World) -> None:
    Place.objects.create(
        committee=w.east,
        name="Hollenbeck Park",
        name_es="Parque Hollenbeck",
        lat=34.03,
        lng=-118.22,
    )
    Member.objects.filter(pk=w.organizer.pk).update(language="es")
    page = text(session_for(w.organizer).get(reverse("committee_mobilizations", args=["east"])))
    assert ">Parque Hollenbeck</option>" in page


def test_the_assembly_point_opens_in_the_readers_maps_app(w: World) -> None:
    client = session_for(w.organizer)
    client.post(
        reverse("committee_mobilizations", args=["east"]),
        form_data(lat="34.04012", lng="-118.21034"),
    )
    m = Mobilization.objects.get()
    page = text(Client().get(reverse("mobilization", args=[m.pk])))
    assert 'href="geo:34.04012,-118.21034"' in page
    assert "Open in your maps app" in page


def test_without_an_assembly_point_there_is_no_maps_link(w: World) -> None:
    session_for(w.organizer).post(reverse("committee_mobilizations", args=["east"]), form_data())
    m = Mobilization.objects.get()
    assert m.point() is None
    assert "geo:" not in text(Client().get(reverse("mobilization", args=[m.pk])))


def test_a_page_in_english_says_a_spanish_only_mobilization_is_in_spanish(w: World) -> None:
    session_for(w.organizer).post(
        reverse("committee_mobilizations", args=["east"]),
        form_data(title="", description="", description_es="Taller de derechos."),
    )
    m = Mobilization.objects.get()
    english = text(Client().get(reverse("mobilization", args=[m.pk])))
    # Marked for screen readers, which then read it with a Spanish voice, and said.
    assert '<h1 lang="es">Manifestación en el Ayuntamiento</h1>' in english
    assert '<div class="description" lang="es">' in english
    assert "In Spanish only" in english
    spanish = text(Client(HTTP_ACCEPT_LANGUAGE="es").get(reverse("mobilization", args=[m.pk])))
    assert "<h1>Manifestación en el Ayuntamiento</h1>" in spanish
    assert "Solo en" not in spanish


def test_a_gazetteer_place_is_said_in_words(w: World) -> None:
    place = Place.objects.create(
        committee=w.east, name="Car wash, Cesar Chavez & Soto", lat=34.04, lng=-118.21
    )
    client = session_for(w.organizer)
    client.post(
        reverse("committee_mobilizations", args=["east"]), form_data(address="", place=place.pk)
    )
    m = Mobilization.objects.get()
    assert m.where() == "Car wash, Cesar Chavez & Soto"
    assert m.point() == (34.04, -118.21)
    assert "Car wash, Cesar Chavez &amp; Soto" in text(
        Client().get(reverse("mobilization", args=[m.pk]))
    )


def test_the_time_is_shown_in_the_committees_local_time(w: World) -> None:
    m = vigil(w, starts_at=datetime(2030, 5, 4, 18, 0, tzinfo=LA))
    body = text(Client().get(reverse("mobilization", args=[m.pk])))
    assert "4 May 2030, 18:00" in body
    assert re.search(r"–<time[^>]*>20:00</time>", body)


# --- public pages ---------------------------------------------------------------------


def test_the_public_list_shows_upcoming_public_mobilizations_only(w: World) -> None:
    public = vigil(w)
    vigil(w, title="Members meeting", visibility=Visibility.MEMBERS)
    vigil(w, title="Old vigil", starts_at=local(-3, 18))
    vigil(w, title="Called off", cancelled_at=timezone.now())
    body = text(Client().get(reverse("mobilizations")))
    assert public.title in body
    assert "Members meeting" not in body
    assert "Old vigil" not in body
    assert "Called off" not in body


def test_the_list_filters_by_area_kind_and_language(w: World) -> None:
    vigil(w)
    vigil(w, committee=w.west, kind="rally", title="West rally", title_es="")
    vigil(w, kind="kyr_training", title="", title_es="Taller de derechos")
    client = Client()

    def titles(**query: str) -> set[str]:
        data = json.loads(client.get(reverse("mobilizations_osdi"), query).content)
        return {e["title"] for e in data["_embedded"]["osdi:events"]}

    assert titles(area="west") == {"West rally"}
    assert titles(kind="kyr_training") == {"Taller de derechos"}
    assert titles(language="es") == {"Vigil for the Soto families", "Taller de derechos"}
    assert "West rally" in text(client.get(reverse("mobilizations"), {"kind": "rally"}))
    assert "Vigil for" not in text(client.get(reverse("mobilizations"), {"kind": "rally"}))


def osdi_titles(client: Client, **query: str) -> set[str]:
    data = json.loads(client.get(reverse("mobilizations_osdi"), query).content)
    return {e["title"] for e in data["_embedded"]["osdi:events"]}


def test_the_list_filters_near_a_zip_code_within_a_radius(w: World) -> None:
    vigil(w)  # Mariachi Plaza, Boyle Heights (90033)
    vigil(w, committee=w.west, title="Santa Monica rally", lat=34.0195, lng=-118.4912)
    vigil(w, title="Nowhere in particular", lat=None, lng=None, address="To be announced")
    client = Client()
    assert osdi_titles(client, near="90033", km="5") == {"Vigil for the Soto families"}
    assert osdi_titles(client, near="90033", km="50") == {
        "Vigil for the Soto families",
        "Santa Monica rally",
    }
    assert osdi_titles(client, near="90401-1234", km="2") == {"Santa Monica rally"}
    # The committee filter stays, and applies with the place.
    assert osdi_titles(client, near="90033", km="50", area="west") == {"Santa Monica rally"}
    body = text(client.get(reverse("mobilizations"), {"near": "90033", "km": "5"}))
    assert "Within 5 km of 90033 (Los Angeles, CA)." in body
    assert "Vigil for the Soto families" in body and "Santa Monica rally" not in body


def test_the_list_filters_near_a_named_public_place(w: World) -> None:
    soto_4th()  # in East's gazetteer, about 2 km from Mariachi Plaza
    vigil(w)
    vigil(w, committee=w.west, title="Santa Monica rally", lat=34.0195, lng=-118.4912)
    vigil(w, title="At the corner", lat=None, lng=None, address="", place=Place.objects.get())
    client = Client()
    assert osdi_titles(client, near="soto 4th", km="5") == {
        "Vigil for the Soto families",
        "At the corner",
    }
    # Searched like the report page's place search: accents, case and "y"/"&" aside.
    assert osdi_titles(client, near="SOTO Y 4TH", km="2") == {
        "Vigil for the Soto families",
        "At the corner",
    }


def test_an_unknown_zip_code_is_said_clearly_and_nothing_typed_is_lost(w: World) -> None:
    vigil(w)
    vigil(w, kind="rally", title="East rally")
    body = text(
        Client().get(reverse("mobilizations"), {"near": "00000", "km": "25", "kind": "vigil"})
    )
    assert "We do not know that ZIP code. Enter five digits, like 90033." in body
    assert 'name="near" value="00000"' in body
    assert '<option value="25" selected>' in body
    assert '<option value="vigil" selected>' in body
    # The other filters still apply; the place does not.
    assert "Vigil for the Soto families" in body and "East rally" not in body
    body = text(Client().get(reverse("mobilizations"), {"near": "Atlantis"}))
    assert "We do not know a place by that name." in body
    assert 'name="near" value="Atlantis"' in body


def geojson_of(client: Client, **query: str) -> dict[str, Any]:
    response = client.get(reverse("mobilizations_geojson"), query)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    data = json.loads(response.content)
    assert data["type"] == "FeatureCollection"
    return data


def test_the_map_geojson_has_each_public_mobilization_at_its_assembly_point(w: World) -> None:
    m = vigil(w)
    data = geojson_of(Client())
    [feature] = data["features"]
    point = shapely.geometry.shape(feature["geometry"])
    assert point.is_valid and point.geom_type == "Point"
    # RFC 7946: longitude first. The assembly point is public and exact.
    assert (point.x, point.y) == (-118.2195, 34.0472)
    assert feature["id"] == m.pk
    assert feature["properties"]["url"] == reverse("mobilization", args=[m.pk])
    assert feature["properties"]["title"] == "Vigil for the Soto families"
    assert feature["properties"]["where"] == "Mariachi Plaza"
    es = Client()
    es.cookies["django_language"] = "es"
    [feature] = geojson_of(es)["features"]
    assert feature["properties"]["title"] == "Vigilia por las familias de Soto"


def test_the_map_geojson_never_holds_private_past_or_cancelled_mobilizations_nor_people(
    w: World,
) -> None:
    public = vigil(w)
    rsvps.sign_up(public, contact=email_of(1), display_name="Ana Secreta")
    vigil(w, title="Members meeting", visibility=Visibility.MEMBERS)
    vigil(w, title="Responders shift", visibility=Visibility.RESPONDERS)
    vigil(w, title="Old vigil", starts_at=local(-3, 18))
    vigil(w, title="Called off", cancelled_at=timezone.now())
    vigil(w, title="Unplaced", lat=None, lng=None, address="To be announced")
    # Not even for the committee's own members: the map is the public list.
    for client in (Client(), session_for(w.member), session_for(w.organizer)):
        raw = client.get(reverse("mobilizations_geojson")).content.decode()
        ids = [f["id"] for f in json.loads(raw)["features"]]
        assert ids == [public.pk]
        assert "Ana Secreta" not in raw and "person1" not in raw


def test_the_map_geojson_follows_the_lists_filters(w: World) -> None:
    vigil(w)
    vigil(
        w,
        committee=w.west,
        kind="rally",
        title="Santa Monica rally",
        title_es="",
        lat=34.0195,
        lng=-118.4912,
    )
    vigil(w, kind="kyr_training", title="", title_es="Taller de derechos")
    client = Client()

    def titles(**query: str) -> set[str]:
        return {f["properties"]["title"] for f in geojson_of(client, **query)["features"]}

    assert titles(kind="rally") == {"Santa Monica rally"}
    assert titles(area="east") == {"Vigil for the Soto families", "Taller de derechos"}
    assert titles(language="es") == {"Vigil for the Soto families", "Taller de derechos"}
    assert titles(near="90401", km="5") == {"Santa Monica rally"}
    assert titles(near="90033", km="5", kind="vigil") == {"Vigil for the Soto families"}


def test_the_list_opens_a_map_of_the_same_filters_only_on_request(w: World) -> None:
    vigil(w)
    body = text(Client().get(reverse("mobilizations"), {"kind": "vigil", "near": "90033"}))
    main = main_part(body)
    url = reverse("mobilizations_geojson")
    assert f'data-mobilizations="{url}?kind=vigil&amp;near=90033&amp;km=10"' in main
    # Leaflet waits in a <template> until the map is opened (js/maplazy.js); without
    # JavaScript the list is the page, and nothing comes from another host.
    scripts = re.sub(r"<template id=\"map-scripts\">.*?</template>", "", main, flags=re.S)
    assert "<script" not in scripts and "leaflet" not in scripts
    assert "js/mobilizationmap.js" in main and "js/maplazy.js" in body
    assert not re.search(r'(src|href)="https?://(?!testserver)', body)
    assert "Vigil for the Soto families" in main


def test_the_home_page_shows_upcoming_public_mobilizations(w: World) -> None:
    m = vigil(w)
    body = text(Client().get(reverse("home")))
    assert reverse("mobilization", args=[m.pk]) in body
    assert m.title in body


def test_the_page_has_a_share_link_and_a_qr_code_and_works_in_spanish(w: World) -> None:
    m = vigil(w)
    client = Client()
    body = text(client.get(reverse("mobilization", args=[m.pk])))
    assert f"http://testserver/m/{m.pk}/" in body
    assert reverse("mobilization_qr", args=[m.pk]) in body
    qr = client.get(reverse("mobilization_qr", args=[m.pk]))
    assert qr["Content-Type"] == "image/svg+xml"
    assert qr.content.startswith(b'<svg xmlns="http://www.w3.org/2000/svg"')
    client.cookies["django_language"] = "es"
    body = text(client.get(reverse("mobilization", args=[m.pk]), HTTP_ACCEPT_LANGUAGE="es"))
    assert "Vigilia por las familias de Soto" in body
    assert "Traiga velas." in body


def test_the_page_has_no_script_and_counts_but_never_names(w: World) -> None:
    m = vigil(w)
    rsvps.sign_up(m, contact=email_of(1), display_name="Ana Secreta")
    rsvps.sign_up(m, member=w.member)
    body = text(Client().get(reverse("mobilization", args=[m.pk])))
    # Below TOCSIN_PUBLIC_MIN_COUNT the count is hidden (tests/test_public_counts.py).
    assert "Fewer than 5 people are coming." in body
    assert "Ana Secreta" not in body
    assert "Mateo" not in body
    assert "person1@example.org" not in body
    assert "<script" not in body.split("</main>")[0]


GUIDANCE = "Observe, document, support. Do not interfere."


def main_part(body: str) -> str:
    """Return the page without its footer (which carries the guidance on every page)."""
    return body.split("</main>")[0]


@pytest.mark.parametrize("kind", [k.value for k in MobilizationKind])
def test_every_mobilization_says_observe_and_do_not_interfere(w: World, kind: str) -> None:
    # DESIGN section 2: every copy the product shows says it, a training's reminders too.
    m = vigil(w, kind=kind)
    assert GUIDANCE in main_part(text(Client().get(reverse("mobilization", args=[m.pk]))))
    rsvp = rsvps.sign_up(m, contact=email_of(1))
    own = main_part(text(Client().get(reverse("rsvp_page", args=[rsvps.link_token(rsvp)]))))
    assert GUIDANCE in own
    for message in rsvp.messages.exclude(purpose__in=[Purpose.THANKS, Purpose.CANCELLED]):
        assert GUIDANCE in notices.render(message).text, message.purpose


# --- signing up -----------------------------------------------------------------------


def sign_up_on_the_page(client: Client, m: Mobilization, **data: str) -> Any:
    return client.post(reverse("mobilization", args=[m.pk]), data)


def test_a_stranger_signs_up_by_email_and_the_address_is_sealed(w: World) -> None:
    m = vigil(w)
    response = sign_up_on_the_page(
        Client(), m, channel="email", address="ana@example.org", display_name="Ana"
    )
    assert response.status_code == 200
    assert "We are sending an email to the address you gave" in text(response)
    rsvp = Rsvp.objects.get()
    assert (rsvp.kind, rsvp.status, rsvp.display_name, rsvp.member) == (
        "email",
        "going",
        "Ana",
        None,
    )
    assert b"ana@example.org" not in bytes(rsvp.sealed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM mobilize_rsvp")
        assert "ana@example.org" not in repr(cursor.fetchall())
    purposes = set(rsvp.messages.values_list("purpose", flat=True))
    assert purposes == {
        Purpose.CONFIRMATION,
        Purpose.DAY_BEFORE,
        Purpose.MORNING_OF,
        Purpose.SOON,
        Purpose.THANKS,
    }


def test_the_same_address_twice_gets_the_same_answer_and_one_sign_up(w: World) -> None:
    m = vigil(w)
    first = sign_up_on_the_page(Client(), m, channel="email", address="ana@example.org")
    again = sign_up_on_the_page(Client(), m, channel="email", address="ANA@example.org ")
    assert first.status_code == again.status_code == 200
    assert scrub(text(first)) == scrub(text(again))
    assert Rsvp.objects.count() == 1


def test_a_network_signing_up_too_many_strangers_is_refused_for_a_while(
    w: World, settings: Settings
) -> None:
    settings.RSVP_PER_10MIN = 2
    m = vigil(w)
    one_network = Client(REMOTE_ADDR="198.51.100.7")
    for n in range(2):
        sign_up_on_the_page(one_network, m, channel="email", address=f"p{n}@example.org")
    refused = sign_up_on_the_page(one_network, m, channel="email", address="p3@example.org")
    assert refused.status_code == 429
    assert "Many people signed up from this network just now." in text(refused)
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert (
        sign_up_on_the_page(other, m, channel="email", address="q@example.org").status_code == 200
    )
    assert Rsvp.objects.count() == 3
    # Members signing up in one tap are not counted.
    assert session_for(w.member).post(reverse("mobilization", args=[m.pk]), {}).status_code == 302


def test_a_bad_address_is_refused(w: World) -> None:
    m = vigil(w)
    response = sign_up_on_the_page(Client(), m, channel="email", address="not an address")
    assert response.status_code == 400
    assert "Enter an email address." in text(response)
    assert not Rsvp.objects.exists()


def test_sms_is_offered_only_when_the_server_sends_sms(w: World, settings: Settings) -> None:
    m = vigil(w)
    page = text(Client().get(reverse("mobilization", args=[m.pk])))
    assert 'value="sms"' not in page
    # Nothing asks for a number the page would then refuse.
    assert "mobile number" not in page
    assert "mobile number" not in text(Client().get(reverse("mobilizations")))
    with running() as peer:
        use_twilio(settings, peer)
        page = text(Client().get(reverse("mobilization", args=[m.pk])))
        assert 'value="sms"' in page
        assert "Email address or mobile number" in page
        assert "a mobile number" in text(Client().get(reverse("mobilizations")))


def test_a_member_signs_up_in_one_tap(w: World) -> None:
    m = vigil(w)
    client = session_for(w.member)
    response = client.post(reverse("mobilization", args=[m.pk]), {})
    rsvp = Rsvp.objects.get()
    assert rsvp.member == w.member
    assert response["Location"] == reverse("rsvp_page", args=[rsvps.link_token(rsvp)])
    assert "You are signed up." in text(client.get(reverse("mobilization", args=[m.pk])))


def test_a_full_role_puts_people_on_the_waiting_list_and_a_cancellation_promotes_them(
    w: World,
) -> None:
    m = vigil(w)
    medic = MobilizationRole.objects.create(mobilization=m, kind="medic", capacity=1)
    first = rsvps.sign_up(m, contact=email_of(1), role=medic)
    second = rsvps.sign_up(m, contact=email_of(2), role=medic)
    assert (first.status, second.status) == (RsvpStatus.GOING, RsvpStatus.WAITLIST)
    assert list(second.messages.values_list("purpose", flat=True)) == [Purpose.WAITLISTED]
    rsvps.cancel(first)
    second.refresh_from_db()
    assert second.status == RsvpStatus.GOING
    assert set(second.messages.values_list("purpose", flat=True)) >= {
        Purpose.PROMOTED,
        Purpose.SOON,
    }
    assert not first.messages.filter(status=RsvpMessage.Status.QUEUED).exists()


def test_the_cancel_link_is_signed(w: World) -> None:
    m = vigil(w)
    rsvp = rsvps.sign_up(m, contact=email_of(1))
    assert Client().get(reverse("rsvp_page", args=[rsvp.token])).status_code == 404
    assert Client().get(reverse("rsvp_page", args=[rsvp.token + ":forged"])).status_code == 404
    client = Client()
    page = client.get(reverse("rsvp_page", args=[rsvps.link_token(rsvp)]))
    assert page.status_code == 200
    client.post(reverse("rsvp_page", args=[rsvps.link_token(rsvp)]), {"action": "cancel"})
    rsvp.refresh_from_db()
    assert rsvp.status == RsvpStatus.CANCELLED


def test_the_day_before_reminder_can_be_confirmed(w: World) -> None:
    m = vigil(w)
    rsvp = rsvps.sign_up(m, contact=email_of(1))
    Client().post(reverse("rsvp_page", args=[rsvps.link_token(rsvp)]), {"action": "confirm"})
    rsvp.refresh_from_db()
    assert rsvp.confirmed_at is not None


# --- messages through the workers ------------------------------------------------------


def test_each_message_reaches_a_stranger_by_email_at_its_time(w: World, smtp: SMTPPeer) -> None:
    m = vigil(w)
    rsvp = rsvps.sign_up(m, contact=rsvps.Contact("email", "ana@example.org"))
    link = f"http://testserver{reverse('rsvp_page', args=[rsvps.link_token(rsvp)])}"
    assert notices.send_due() == 1
    [confirmation] = smtp.to("ana@example.org")
    assert confirmation["Subject"] == "Signed up: Vigil for the Soto families"
    assert link in confirmation.get_content()
    assert "Mariachi Plaza" in confirmation.get_content()
    assert notices.send_due() == 0  # the reminders are not due yet
    subjects = []
    for purpose in (Purpose.DAY_BEFORE, Purpose.MORNING_OF, Purpose.SOON, Purpose.THANKS):
        due = rsvp.messages.get(purpose=purpose).due_at
        assert notices.send_due(now=due) == 1
        subjects.append(smtp.to("ana@example.org")[-1]["Subject"])
    assert subjects == [
        "Tomorrow: Vigil for the Soto families",
        "Today: Vigil for the Soto families",
        "In 30 minutes: Vigil for the Soto families",
        "Thank you: Vigil for the Soto families",
    ]
    assert "Confirm or cancel" in smtp.to("ana@example.org")[1].get_content()
    # The thank-you points to what is next: the upcoming mobilizations.
    assert smtp.to("ana@example.org")[-1].get_content().rstrip().endswith("http://testserver/m/")
    assert set(rsvp.messages.values_list("status", flat=True)) == {RsvpMessage.Status.SENT}


def test_a_stranger_gets_the_messages_by_sms_in_spanish(w: World, twilio: SmsProvider) -> None:
    m = vigil(w)
    rsvp = rsvps.sign_up(m, contact=rsvps.Contact("sms", "(213) 555-0142"), language="es")
    assert notices.send_due() == 1
    [sms] = twilio.messages
    assert sms.to == "+12135550142"
    # GSM-7 has no "á": the SMS says "esta" and stays in one encoding.
    assert sms.body.startswith("Usted esta inscrito en Vigilia por las familias de Soto")
    assert sms.key == f"rsvp-{rsvp.messages.get(purpose=Purpose.CONFIRMATION).pk}"


@pytest.mark.parametrize(
    ("language", "hint"), [("en", "Or reply NO to cancel."), ("es", "O responda NO para cancelar.")]
)
def test_the_sms_confirmation_and_day_before_say_how_to_cancel_by_reply(
    w: World, twilio: SmsProvider, language: str, hint: str
) -> None:
    m = vigil(w)
    rsvp = rsvps.sign_up(m, contact=rsvps.Contact("sms", "+12135550142"), language=language)
    link = f"http://testserver{reverse('rsvp_page', args=[rsvps.link_token(rsvp)])}"
    assert notices.send_due() == 1
    assert notices.send_due(now=rsvp.messages.get(purpose=Purpose.DAY_BEFORE).due_at) == 1
    assert notices.send_due(now=rsvp.messages.get(purpose=Purpose.MORNING_OF).due_at) == 1
    confirmation, day_before, morning = (sms.body for sms in twilio.messages)
    for body in (confirmation, day_before):
        assert body.split("\n\n")[0].endswith(f"{link} {hint}"), body
        assert segments(body)[0] == GSM7 and segments(body)[1] <= 2, body
    assert hint not in morning


def test_a_long_title_and_place_are_cut_before_the_reply_hint(
    w: World, twilio: SmsProvider
) -> None:
    m = vigil(w, title="Vigil " * 20, address="At the long plaza " * 8)
    rsvp = rsvps.sign_up(m, contact=rsvps.Contact("sms", "+12135550142"))
    link = f"http://testserver{reverse('rsvp_page', args=[rsvps.link_token(rsvp)])}"
    notices.send_due()
    [sms] = twilio.messages
    assert sms.body.endswith(f"{link} Or reply NO to cancel."), sms.body
    assert segments(sms.body) == (GSM7, 2)


def test_an_email_does_not_say_to_reply(w: World, smtp: SMTPPeer) -> None:
    rsvps.sign_up(vigil(w), contact=email_of(1))
    notices.send_due()
    [message] = smtp.to("person1@example.org")
    assert "reply NO" not in message.get_content()


def test_a_member_gets_the_messages_on_their_own_channel(w: World, smtp: SMTPPeer) -> None:
    m = vigil(w)
    rsvps.sign_up(m, member=w.responder, language=w.responder.language)
    assert notices.send_due() == 1
    [message] = smtp.to("rosa@example.org")
    assert message["Subject"] == "Inscrito: Vigilia por las familias de Soto"


def test_a_change_of_time_reaches_everyone_at_once_and_moves_the_reminders(
    w: World, smtp: SMTPPeer
) -> None:
    m = vigil(w)
    medic = MobilizationRole.objects.create(mobilization=m, kind="medic", capacity=1)
    going = rsvps.sign_up(m, contact=email_of(1), role=medic)
    waiting = rsvps.sign_up(m, contact=email_of(2), role=medic)
    notices.send_due()
    client = session_for(w.organizer)
    edit = form_data(
        kind="vigil",
        title=m.title,
        title_es=m.title_es,
        address=m.address,
        lat=str(m.lat),
        lng=str(m.lng),
        starts_at=local(4, 19).strftime("%Y-%m-%dT%H:%M"),
        ends_at=local(4, 21).strftime("%Y-%m-%dT%H:%M"),
        role_marshal="",
        role_legal_observer="",
        role_medic="1",
        shifts_text="",
    )
    response = client.post(reverse("committee_mobilization", args=["east", m.pk]), edit)
    assert response.status_code == 302, text(response)
    assert notices.send_due() == 2
    for person in ("person1@example.org", "person2@example.org"):
        assert smtp.to(person)[-1]["Subject"] == "Changed: Vigil for the Soto families"
    soon = going.messages.get(purpose=Purpose.SOON, status=RsvpMessage.Status.QUEUED)
    assert soon.due_at == local(4, 18, 30)
    assert not waiting.messages.filter(purpose=Purpose.SOON).exists()


def test_moving_a_mobilization_to_another_day_keeps_everyones_shift(w: World) -> None:
    client = session_for(w.organizer)
    client.post(reverse("committee_mobilizations", args=["east"]), form_data())
    m = Mobilization.objects.get()
    later = m.shifts.order_by("starts_at")[1]
    rsvp = rsvps.sign_up(m, contact=email_of(1), shift=later)
    # The organizer moves it a day later and leaves the shifts as they were.
    moved = form_data(
        starts_at=local(6, 10).strftime("%Y-%m-%dT%H:%M"),
        ends_at=local(6, 13).strftime("%Y-%m-%dT%H:%M"),
    )
    response = client.post(reverse("committee_mobilization", args=["east", m.pk]), moved)
    assert response.status_code == 302, text(response)
    rsvp.refresh_from_db()
    assert rsvp.shift is not None, "the volunteer lost her shift"
    assert (rsvp.shift.starts_at, rsvp.shift.ends_at) == (local(6, 11, 30), local(6, 13))
    assert [(s.starts_at, s.ends_at) for s in m.shifts.order_by("starts_at")] == [
        (local(6, 10), local(6, 11, 30)),
        (local(6, 11, 30), local(6, 13)),
    ]
    # What she is told names her shift's hours, not the start of the whole day.
    changed = rsvp.messages.filter(purpose=Purpose.CHANGED).first()
    assert changed is not None
    assert "11:30–13:00" in notices.render(changed).text


def test_a_cancellation_reaches_everyone_and_stops_the_reminders(w: World, smtp: SMTPPeer) -> None:
    m = vigil(w)
    rsvp = rsvps.sign_up(m, contact=email_of(1))
    client = session_for(w.organizer)
    client.post(reverse("committee_mobilization_cancel", args=["east", m.pk]), {"sure": "1"})
    m.refresh_from_db()
    assert m.is_cancelled
    # The confirmation not sent yet is dropped: only the cancellation goes.
    assert notices.send_due() == 1
    assert smtp.to("person1@example.org")[-1]["Subject"] == "Cancelled: Vigil for the Soto families"
    assert not rsvp.messages.filter(status=RsvpMessage.Status.QUEUED).exists()


def test_cancelling_asks_to_be_sure_first(w: World) -> None:
    m = vigil(w)
    client = session_for(w.organizer)
    page = client.get(reverse("committee_mobilization", args=["east", m.pk])).content.decode()
    assert 'name="sure"' in page and "cannot be undone" in page
    response = client.post(
        reverse("committee_mobilization_cancel", args=["east", m.pk]), follow=True
    )
    m.refresh_from_db()
    assert not m.is_cancelled
    assert "Tick the box" in text(response)


def test_a_cancelled_mobilization_offers_no_sign_up_share_or_calendar(w: World) -> None:
    m = vigil(w)
    rsvps.sign_up(m, contact=email_of(1))
    client = session_for(w.organizer)
    response = client.post(
        reverse("committee_mobilization_cancel", args=["east", m.pk]), {"sure": "1"}, follow=True
    )
    # Said once, not twice.
    assert text(response).count("Cancelled.") == 1, text(response)
    page = Client().get(reverse("mobilization", args=[m.pk])).content.decode()
    assert 'data-testid="cancelled"' in page
    for gone in ('id="rsvp-form"', 'class="share"', "Add to calendar", 'id="turnout"'):
        assert gone not in page, gone


def test_a_late_reminder_is_dropped_not_sent(w: World, smtp: SMTPPeer) -> None:
    m = vigil(w)
    rsvp = rsvps.sign_up(m, contact=email_of(1))
    notices.send_due()
    assert notices.send_due(now=m.starts_at + timedelta(minutes=5)) == 0
    assert rsvp.messages.get(purpose=Purpose.SOON).status == RsvpMessage.Status.CANCELLED


def test_a_message_the_server_refuses_is_retried_later(w: World, smtp: SMTPPeer) -> None:
    m = vigil(w)
    smtp.refuse("person1@example.org", "451 4.2.0 Try again later")
    rsvp = rsvps.sign_up(m, contact=email_of(1))
    assert notices.send_due() == 0
    message = rsvp.messages.get(purpose=Purpose.CONFIRMATION)
    assert (message.status, message.attempts) == (RsvpMessage.Status.FAILED, 1)
    assert "person1" not in message.error


# --- check-in -------------------------------------------------------------------------


def test_the_organizer_checks_people_in_and_counts_no_shows(w: World) -> None:
    m = vigil(w, starts_at=timezone.now() - timedelta(hours=3))
    came = rsvps.sign_up(m, contact=email_of(1), display_name="Ana")
    rsvps.sign_up(m, contact=email_of(2))
    client = session_for(w.dispatcher)
    page = text(client.get(reverse("committee_mobilization_people", args=["east", m.pk])))
    assert "Ana" in page
    assert "person1@example.org" not in page and "person2" not in page
    assert "<svg" in page  # the check-in code
    client.post(reverse("committee_mobilization_people", args=["east", m.pk]), {"rsvp": came.pk})
    came.refresh_from_db()
    assert came.checked_in_at is not None
    counts = rsvps.counts(m)
    assert (counts.going, counts.checked_in, counts.no_show) == (2, 1, 1)


def test_the_organizer_reads_in_spanish_who_is_coming_and_who_cancelled(w: World) -> None:
    m = vigil(w)
    rsvps.sign_up(m, contact=email_of(1), display_name="Ana")
    rsvps.cancel(rsvps.sign_up(m, contact=email_of(2), display_name="Beto"))
    w.dispatcher.language = "es"
    w.dispatcher.save(update_fields=["language"])
    client = session_for(w.dispatcher)
    page = text(client.get(reverse("committee_mobilization_people", args=["east", m.pk])))
    # Said of each person: she is coming, he cancelled.
    assert re.search(r"Ana\s*·\s*Viene", page), page
    assert re.search(r"Beto\s*·\s*Canceló", page), page


def test_the_organizer_sees_each_strangers_channel_never_the_address(w: World) -> None:
    m = vigil(w)
    rsvps.sign_up(m, contact=email_of(1))
    rsvps.sign_up(m, contact=rsvps.Contact("sms", "+12135550142"))
    Rsvp.objects.create(mobilization=m, kind="webpush", blind_index="push-1")
    client = session_for(w.dispatcher)
    page = text(client.get(reverse("committee_mobilization_people", args=["east", m.pk])))
    channels = re.findall(r"Someone \((\w[\w ]*)\)", page)
    assert sorted(channels) == ["SMS", "email", "push on a device"]
    assert "person1@example.org" not in page and "5550142" not in page


def test_a_person_checks_in_by_scanning_the_organizers_code(w: World) -> None:
    m = vigil(w, starts_at=timezone.now() - timedelta(minutes=10))
    rsvp = rsvps.sign_up(m, contact=email_of(1))
    phone = Client()
    phone.get(reverse("rsvp_page", args=[rsvps.link_token(rsvp)]))  # the confirmation link
    here = reverse("mobilization_checkin", args=[m.pk, m.checkin_token])
    phone.post(here)
    rsvp.refresh_from_db()
    assert rsvp.checked_in_at is not None
    assert "You are checked in." in text(phone.get(here))
    # A wrong code is the same 404 as no mobilization.
    assert Client().get(reverse("mobilization_checkin", args=[m.pk, "nope"])).status_code == 404


def test_a_stranger_scanning_the_code_checks_nobody_in(w: World) -> None:
    m = vigil(w, starts_at=timezone.now() - timedelta(minutes=10))
    rsvp = rsvps.sign_up(m, contact=email_of(1))
    Client().post(reverse("mobilization_checkin", args=[m.pk, m.checkin_token]))
    rsvp.refresh_from_db()
    assert rsvp.checked_in_at is None


# --- calendars and the OSDI feed ------------------------------------------------------


def test_the_icalendar_parses_with_another_library(w: World) -> None:
    m = vigil(w)
    body = Client().get(reverse("mobilization_ics", args=[m.pk]))
    assert body["Content-Type"] == "text/calendar; charset=utf-8"
    cal = vobject.readOne(body.content.decode())
    event = cal.vevent
    assert event.summary.value == "Vigil for the Soto families"
    assert event.dtstart.value == m.starts_at
    assert event.dtend.value == m.ends_at
    assert event.location.value == "Mariachi Plaza"
    assert f"http://testserver/m/{m.pk}/" in event.description.value


def test_the_public_and_committee_calendars_hold_public_events_only(w: World) -> None:
    vigil(w)
    vigil(w, title="Members meeting", visibility=Visibility.MEMBERS)
    for url in (reverse("mobilizations_ics"), reverse("committee_ics", args=["east"])):
        cal = vobject.readOne(Client().get(url).content.decode())
        assert [e.summary.value for e in cal.vevent_list] == ["Vigil for the Soto families"]


def test_a_cancelled_mobilization_is_cancelled_in_the_calendar(w: World) -> None:
    m = vigil(w)
    rsvps.call_off(m)
    cal = vobject.readOne(Client().get(reverse("mobilization_ics", args=[m.pk])).content.decode())
    assert cal.vevent.status.value == "CANCELLED"


def links_in(body: str, testid: str) -> list[str]:
    return [
        html.unescape(h) for h in re.findall(rf'<a href="([^"]+)"[^>]*data-testid="{testid}"', body)
    ]


def test_a_public_mobilization_has_google_and_outlook_add_links(w: World) -> None:
    m = vigil(w, starts_at=datetime(2030, 5, 4, 18, 0, tzinfo=LA))
    body = text(Client().get(reverse("mobilization", args=[m.pk])))
    [google] = links_in(body, "add-google")
    [outlook] = links_in(body, "add-outlook")
    g = urlsplit(google)
    assert (g.scheme, g.netloc, g.path) == ("https", "calendar.google.com", "/calendar/render")
    query = parse_qs(g.query)
    assert query["action"] == ["TEMPLATE"]
    assert query["text"] == ["Vigil for the Soto families"]
    assert query["dates"] == ["20300505T010000Z/20300505T030000Z"]
    assert query["location"] == ["Mariachi Plaza"]
    assert f"http://testserver/m/{m.pk}/" in query["details"][0]
    o = urlsplit(outlook)
    assert o.netloc == "outlook.live.com"
    query = parse_qs(o.query)
    assert query["subject"] == ["Vigil for the Soto families"]
    assert (query["startdt"], query["enddt"]) == (
        ["2030-05-05T01:00:00Z"],
        ["2030-05-05T03:00:00Z"],
    )
    # Plain links: nothing on the page is loaded from those services.
    assert not re.search(r'(src|srcset)="https?://', body)
    es = Client()
    es.cookies["django_language"] = "es"
    body = text(es.get(reverse("mobilization", args=[m.pk])))
    [google] = links_in(body, "add-google")
    assert parse_qs(urlsplit(google).query)["text"] == ["Vigilia por las familias de Soto"]


def test_a_members_only_mobilization_has_no_third_party_add_links(w: World) -> None:
    m = vigil(w, visibility=Visibility.MEMBERS)
    body = text(session_for(w.member).get(reverse("mobilization", args=[m.pk])))
    assert reverse("mobilization_ics", args=[m.pk]) in body
    assert "calendar.google.com" not in body and "outlook" not in body


def test_the_public_and_committee_calendars_have_webcal_subscribe_links(w: World) -> None:
    vigil(w)
    body = text(Client().get(reverse("mobilizations"), {"kind": "vigil"}))
    assert links_in(body, "subscribe") == ["webcal://testserver/m/calendar.ics?kind=vigil"]
    body = text(Client().get(reverse("mobilizations")))
    assert links_in(body, "subscribe") == ["webcal://testserver/m/calendar.ics"]
    Committee.objects.filter(pk=w.east.pk).update(listed=True)
    body = text(Client().get(reverse("committee_public", args=["east"])))
    assert links_in(body, "subscribe") == ["webcal://testserver/c/east/calendar.ics"]
    body = text(session_for(w.organizer).get(reverse("committee_mobilizations", args=["east"])))
    assert links_in(body, "subscribe") == ["webcal://testserver/c/east/calendar.ics"]


def test_the_osdi_feed_lists_public_events_and_never_people(w: World) -> None:
    m = vigil(w)
    rsvps.sign_up(m, contact=email_of(1), display_name="Ana Secreta")
    raw = Client().get(reverse("mobilizations_osdi")).content.decode()
    data = json.loads(raw)
    [event] = data["_embedded"]["osdi:events"]
    assert event["title"] == "Vigil for the Soto families"
    assert event["location"]["venue"] == "Mariachi Plaza"
    assert event["browser_url"] == f"http://testserver/m/{m.pk}/"
    assert event["start_date"].startswith(m.starts_at.astimezone(LA).strftime("%Y-%m-%dT%H:%M"))
    assert "Ana Secreta" not in raw and "person1" not in raw
    assert not re.search(r"rsvp|attendance", raw, re.I)


def test_the_setting_for_rsvp_retention_exists() -> None:
    assert django_settings.RETAIN_RSVPS_DAYS == 7


# --- SMS replies ----------------------------------------------------------------------


def test_an_sms_reply_2_cancels_the_soonest_sign_up_and_promotes_the_next(w: World) -> None:
    m = vigil(w, capacity=1)
    later = vigil(w, starts_at=local(6, 18))
    by_sms = rsvps.sign_up(m, contact=rsvps.Contact("sms", "(213) 555-0142"), language="es")
    also = rsvps.sign_up(later, contact=rsvps.Contact("sms", "+12135550142"))
    waiting = rsvps.sign_up(m, contact=email_of(1))
    reply = inbound.handle(inbound.Inbound("sms", "+1 213 555 0142", "2"))
    assert (
        reply
        == "Tocsin: su inscripción en Vigilia por las familias de Soto está cancelada. Gracias."
    )
    by_sms.refresh_from_db()
    also.refresh_from_db()
    waiting.refresh_from_db()
    assert (by_sms.status, also.status, waiting.status) == ("cancelled", "going", "going")


def test_a_member_replying_2_with_no_alert_to_answer_cancels_their_soonest_sign_up(
    w: World,
) -> None:
    ContactEndpoint.create(w.member, "sms", "+13105550100", verified=True)
    soonest = rsvps.sign_up(vigil(w), member=w.member)
    later = rsvps.sign_up(vigil(w, starts_at=local(6, 18)), member=w.member)
    reply = inbound.handle(inbound.Inbound("sms", "+13105550100", "2"))
    assert reply == "Tocsin: your sign-up for Vigil for the Soto families is cancelled. Thank you."
    soonest.refresh_from_db()
    later.refresh_from_db()
    assert (soonest.status, later.status) == ("cancelled", "going")


def test_a_member_replying_2_to_an_open_alert_answers_the_alert_not_the_sign_up(
    w: World,
) -> None:
    ContactEndpoint.create(w.member, "sms", "+13105550100", verified=True)
    rsvp = rsvps.sign_up(vigil(w), member=w.member)
    incident = confirmed_incident(w)
    outbox.drain()
    reply = inbound.handle(inbound.Inbound("sms", "+13105550100", "2"))
    assert reply == "Tocsin: thank you, the dispatcher knows you cannot come."
    assert Response.objects.get(incident=incident, member=w.member).state == "cancelled"
    rsvp.refresh_from_db()
    assert rsvp.status == "going"


def test_a_member_replying_2_with_nothing_to_cancel_hears_there_is_nothing(w: World) -> None:
    ContactEndpoint.create(w.member, "sms", "+13105550100", verified=True)
    reply = inbound.handle(inbound.Inbound("sms", "+13105550100", "2"))
    assert reply == "Tocsin: there is no open alert to answer."


def test_an_sms_stop_cancels_every_sign_up_of_the_number(w: World) -> None:
    first = rsvps.sign_up(vigil(w), contact=rsvps.Contact("sms", "+12135550142"))
    second = rsvps.sign_up(
        vigil(w, starts_at=local(6, 18)), contact=rsvps.Contact("sms", "+12135550142")
    )
    other = rsvps.sign_up(
        vigil(w, starts_at=local(7, 18)), contact=rsvps.Contact("sms", "+12135550199")
    )
    inbound.handle(inbound.Inbound("sms", "+12135550142", "STOP"))
    statuses = [Rsvp.objects.get(pk=r.pk).status for r in (first, second, other)]
    assert statuses == ["cancelled", "cancelled", "going"]


def test_in_the_demo_a_members_messages_land_in_their_demo_inbox(
    w: World, settings: Settings
) -> None:
    settings.DEMO = True
    settings.SMTP_HOST = ""
    rsvps.sign_up(vigil(w), member=w.member)
    assert notices.send_due() == 1
    [message] = DemoMessage.objects.filter(member=w.member)
    assert message.subject == "Signed up: Vigil for the Soto families"


@pytest.mark.django_db(transaction=True)
def test_the_count_of_people_coming_is_live_and_names_nobody() -> None:
    w = world()
    m = vigil(w, capacity=2)
    rsvps.sign_up(m, contact=email_of(1), display_name="Ana Secreta")

    async def first_event() -> bytes:
        response = await AsyncClient().get(reverse("mobilization_live", args=[m.pk]))
        stream = response.streaming_content
        try:
            return await anext(aiter(stream))
        finally:
            await stream.aclose()

    body = async_to_sync(first_event)().decode()
    assert "event: update" in body
    assert "Fewer than 5 people are coming." in body
    assert "fewer than 5 places left" in body
    assert "Ana" not in body and "person1" not in body


def test_raising_the_capacity_gives_the_new_places_to_the_people_waiting(w: World) -> None:
    m = vigil(w, capacity=1)
    rsvps.sign_up(m, contact=email_of(1))
    waiting = rsvps.sign_up(m, contact=email_of(2))
    assert waiting.status == RsvpStatus.WAITLIST
    Mobilization.objects.filter(pk=m.pk).update(capacity=2)
    [promoted] = rsvps.fill(m)
    assert promoted.pk == waiting.pk
    waiting.refresh_from_db()
    assert waiting.status == RsvpStatus.GOING
    assert waiting.messages.filter(purpose=Purpose.PROMOTED).exists()


def test_a_committee_waiting_for_approval_is_not_listed(w: World, settings: Settings) -> None:
    settings.COMMITTEES_NEED_APPROVAL = True
    m = vigil(w)
    w.east.approved_at = None
    w.east.save()
    client = Client()
    assert m.title not in text(client.get(reverse("mobilizations")))
    assert m.title not in text(client.get(reverse("home")))
    assert json.loads(client.get(reverse("mobilizations_osdi")).content)["total_records"] == 0
    assert client.get(reverse("committee_ics", args=["east"])).status_code == 404
    # Its own link still opens it.
    assert client.get(reverse("mobilization", args=[m.pk])).status_code == 200


def test_members_find_their_committees_members_only_mobilizations_in_the_list(w: World) -> None:
    # English titles only: Rosa reads Spanish, and a title shows in the other language.
    members = vigil(w, title="Members meeting", title_es="", visibility=Visibility.MEMBERS)
    responders = vigil(w, title="Responder drill", title_es="", visibility=Visibility.RESPONDERS)
    vigil(w, committee=w.west, title="West meeting", title_es="", visibility=Visibility.MEMBERS)

    def listed(client: Client) -> set[str]:
        body = text(client.get(reverse("mobilizations")))
        return {t for t in ("Members meeting", "Responder drill", "West meeting") if t in body}

    assert listed(session_for(w.member)) == {members.title}
    assert listed(session_for(w.responder)) == {members.title, responders.title}
    assert listed(session_for(w.outsider)) == set()
    assert listed(Client()) == set()


# --- push on this device --------------------------------------------------------------


def test_a_stranger_signs_up_for_push_on_this_device_and_gets_the_confirmation(
    w: World,
) -> None:
    m = vigil(w)
    with PushService() as push:
        sub = push.subscription(application_server_key=vapid.application_server_key())
        page = text(Client().get(reverse("mobilization", args=[m.pk])))
        # Offered by the page's script only: without JavaScript the form cannot subscribe.
        assert 'value="webpush"' not in page
        assert f'data-push-key="{vapid.application_server_key()}"' in page
        response = sign_up_on_the_page(
            Client(), m, channel="webpush", address="", subscription=json.dumps(sub)
        )
        assert "We are sending a notification to this device" in text(response)
        rsvp = Rsvp.objects.get()
        assert rsvp.kind == "webpush"
        assert sub["endpoint"].encode() not in bytes(rsvp.sealed)
        assert notices.send_due() == 1
        assert push.rejections == []
        [data] = push.json_for(sub)
    assert data["title"] == "Signed up: Vigil for the Soto families"
    assert data["url"] == f"http://testserver{reverse('rsvp_page', args=[rsvps.link_token(rsvp)])}"


def test_push_to_a_service_the_server_does_not_send_to_is_refused(w: World) -> None:
    m = vigil(w)
    sub = {"endpoint": "https://push.evil.example/x", "keys": {"p256dh": "p", "auth": "a"}}
    response = sign_up_on_the_page(
        Client(), m, channel="webpush", address="", subscription=json.dumps(sub)
    )
    assert response.status_code == 400
    assert "This server does not send to this browser" in text(response)
    assert not Rsvp.objects.exists()
    response = sign_up_on_the_page(Client(), m, channel="webpush", subscription="not json")
    assert response.status_code == 400
    assert not Rsvp.objects.exists()
