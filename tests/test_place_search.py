"""Where, in names: the report page's place search and "what is near here" (through
Tocsin only), choosing a named place without GPS or JavaScript, and every screen and
message naming the place at the precision its reader may see."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus

import pytest
from django.core import checks
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from pytest_django.fixtures import Settings

from tests import pow_support
from tests.factories import EAST, WEST, World, member, session_for, world
from tests.peers.geocoder import Geocoder
from tests.peers.geocoder import running as running_geocoder
from tocsin import geo
from tocsin.alerts import messages
from tocsin.alerts.models import Alert, Delivery, Purpose
from tocsin.committees.models import Committee, Role
from tocsin.incidents import verify
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import open_incident
from tocsin.intake.models import Channel, Report, ReportKind
from tocsin.lib import exposure, links
from tocsin.lib.gsm7 import GSM7, segments
from tocsin.places.models import Place, PlaceKind
from tocsin.places.naming import Gazetteer
from tocsin.transports.sms import sms_text

pytestmark = pytest.mark.django_db

# Where the tests' raids are (the centre of EAST's report cell), and a car wash 60 m
# north of it.
RAID = geo.center(geo.cell_at(*EAST, geo.REPORT_RESOLUTION))
WASH = (round(RAID[0] + 60 / 111_195, 6), RAID[1])
ADDRESS = "1234 Calle Girasol"


@pytest.fixture
def w(db: None) -> World:
    found = world()
    Place.objects.create(
        committee=found.east,
        name="Car wash, César Chávez & Soto",
        name_es="Autolavado, César Chávez y Soto",
        kind=PlaceKind.CAR_WASH,
        lat=WASH[0],
        lng=WASH[1],
    )
    Place.objects.create(
        committee=found.east, name="Boyle Heights", kind=PlaceKind.AREA, lat=EAST[0], lng=EAST[1]
    )
    Place.objects.create(
        committee=found.west,
        name="Car wash on Pico",
        kind=PlaceKind.CAR_WASH,
        lat=WEST[0],
        lng=WEST[1],
    )
    return found


@pytest.fixture
def geocoder(settings: Settings) -> Iterator[Geocoder]:
    with running_geocoder() as server:
        settings.GEOCODER_URL = server.url
        yield server


def search(client: Client | None = None, *, language: str = "en", **params: Any) -> Any:
    return (client or Client()).get(reverse("report_places"), params, HTTP_ACCEPT_LANGUAGE=language)


def names(response: Any) -> list[str]:
    return [p["name"] for p in response.json()["places"]]


# --- the search endpoint ---


def test_it_finds_a_place_whatever_the_accents_and_case(w: World) -> None:
    found = search(q="CESAR chavez").json()["places"]
    assert [p["name"] for p in found] == ["Car wash, César Chávez & Soto"]
    [wash] = found
    assert (wash["lat"], wash["lng"], wash["kind"]) == (WASH[0], WASH[1], "Car wash")


def test_it_answers_in_spanish_with_the_spanish_name(w: World) -> None:
    response = search(q="autolavado soto", language="es")
    assert response.json()["places"][0]["name"] == "Autolavado, César Chávez y Soto"
    assert response.json()["places"][0]["kind"] == "Autolavado"


def test_near_a_point_it_searches_only_the_committees_covering_it(w: World) -> None:
    assert set(names(search(q="car wash"))) == {"Car wash, César Chávez & Soto", "Car wash on Pico"}
    assert names(search(q="car wash", lat=EAST[0], lng=EAST[1])) == [
        "Car wash, César Chávez & Soto"
    ]
    assert names(search(q="car wash", lat=WEST[0], lng=WEST[1])) == ["Car wash on Pico"]


def test_a_committee_the_operator_has_not_approved_lends_no_names(
    w: World, settings: Settings
) -> None:
    settings.COMMITTEES_NEED_APPROVAL = True
    Committee.objects.filter(pk=w.west.pk).update(approved_at=None)
    assert names(search(q="car wash")) == ["Car wash, César Chávez & Soto"]


def test_without_a_query_it_says_what_is_near_a_point(w: World) -> None:
    answer = search(lat=RAID[0], lng=RAID[1]).json()
    assert answer["where"] == "60 m south of Car wash, César Chávez & Soto"
    assert [(p["name"], p["metres"]) for p in answer["places"]] == [
        ("Car wash, César Chávez & Soto", 60)
    ]
    assert answer["covered"] is True
    assert answer["address"] == ""  # no geocoder in the tests
    spanish = search(lat=RAID[0], lng=RAID[1], language="es").json()
    assert spanish["where"] == "a 60 m al sur de Autolavado, César Chávez y Soto"


def test_it_asks_for_a_query_or_a_point(w: World) -> None:
    response = search()
    assert response.status_code == 400
    assert response.json() == {"error": "Type a place, or pick one on the map."}


def test_addresses_and_the_address_of_a_point_come_from_the_operators_geocoder(
    w: World, geocoder: Geocoder
) -> None:
    geocoder.answer(
        [{"display_name": "1234 Calle Girasol, Los Angeles", "lat": "34.035", "lon": "-118.211"}]
    )
    geocoder.address("1st St & Soto St, Boyle Heights")
    found = search(q=ADDRESS).json()
    assert found["addresses"] == [
        {"label": "1234 Calle Girasol, Los Angeles", "lat": 34.035, "lng": -118.211}
    ]
    near = search(lat=EAST[0], lng=EAST[1]).json()
    assert near["address"] == "1st St & Soto St, Boyle Heights"
    assert geocoder.paths == ["/search", "/reverse"]
    assert geocoder.queries[1]["lat"] == [f"{EAST[0]:.6f}"]


def test_searches_are_limited_per_network_like_reports(w: World, settings: Settings) -> None:
    settings.PLACE_SEARCH_RATE_PER_10MIN = 2
    client = Client()
    assert search(client, q="soto").status_code == 200
    assert search(client, lat=EAST[0], lng=EAST[1]).status_code == 200
    refused = search(client, q="soto")
    assert refused.status_code == 429
    assert refused.json() == {"error": "Too many searches from your network. Tap the map instead."}
    assert refused["Retry-After"] == "600"


def test_what_a_reporter_searches_is_never_logged_nor_stored(
    w: World, geocoder: Geocoder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    geocoder.answer([], status=500)
    response = search(q=ADDRESS)
    assert response.json()["address_error"] == "Address search is not answering."
    assert "geocoder answered HTTP 500" in caplog.text  # the capture works
    for needle in (ADDRESS, quote_plus(ADDRESS), "Girasol"):
        assert needle not in caplog.text
    assert response["Cache-Control"].startswith("max-age=0")
    assert not Report.objects.exists()


# --- the report page, without JavaScript and without GPS ---


def test_the_report_page_offers_the_search_and_no_address_search_without_a_geocoder(
    w: World,
) -> None:
    text = html.unescape(Client().get(reverse("report")).content.decode())
    assert f'data-search="{reverse("report_places")}"' in text
    assert "Search for a place by name" in text
    assert "address" not in text.lower().split("search for a place")[1][:40]


def test_a_reporter_without_gps_finds_the_place_by_name_and_reports_there(w: World) -> None:
    client = Client()
    page = html.unescape(client.get(reverse("report"), {"where": "cesar chavez"}).content.decode())
    wash = Place.objects.get(name__startswith="Car wash, César")
    assert f'name="place" value="p{wash.pk}"' in page
    assert (
        "Car wash, César Chávez &amp; Soto"
        in client.get(reverse("report"), {"where": "cesar chavez"}).content.decode()
    )
    response = client.post(
        reverse("report"),
        {
            "kind": ReportKind.CHECKPOINT,
            "text": "",
            "nonce": "nonce-place",
            "altcha": pow_support.solution(client),
            "place": f"p{wash.pk}",
        },
    )
    assert response.status_code == 302
    report = Report.objects.get()
    # At the place's point, in a cell of the usual resolution.
    assert report.cell == geo.cell_at(*WASH, geo.REPORT_RESOLUTION)
    assert list(report.committees.all()) == [w.east]


def test_an_address_found_without_javascript_places_the_report(w: World) -> None:
    client = Client()
    response = client.post(
        reverse("report"),
        {
            "kind": ReportKind.CHECKPOINT,
            "nonce": "nonce-address",
            "altcha": pow_support.solution(client),
            "place": f"a{EAST[0]:.6f},{EAST[1]:.6f}",
        },
    )
    assert response.status_code == 302
    assert Report.objects.get().cell == geo.cell_at(*EAST, geo.REPORT_RESOLUTION)


@pytest.mark.parametrize(
    "value", ["p987654", "pabc", "p²", "p" + "9" * 40, "a95,0", "anorth,west", "anan,nan", "x1"]
)
def test_a_made_up_place_choice_places_nothing(w: World, value: str) -> None:
    client = Client()
    response = client.post(
        reverse("report"),
        {
            "kind": ReportKind.CHECKPOINT,
            "nonce": f"n-{value}",
            "altcha": pow_support.solution(client),
            "place": value,
        },
    )
    assert response.status_code == 400
    assert not Report.objects.exists()


def test_an_unapproved_committees_place_cannot_place_a_report(w: World, settings: Settings) -> None:
    settings.COMMITTEES_NEED_APPROVAL = True
    Committee.objects.filter(pk=w.west.pk).update(approved_at=None)
    pico = Place.objects.get(name="Car wash on Pico")
    client = Client()
    response = client.post(
        reverse("report"),
        {
            "kind": ReportKind.CHECKPOINT,
            "nonce": "n-pico",
            "altcha": pow_support.solution(client),
            "place": f"p{pico.pk}",
        },
    )
    assert response.status_code == 400


def test_the_search_of_the_report_page_without_javascript_is_rate_limited(
    w: World, settings: Settings
) -> None:
    settings.PLACE_SEARCH_RATE_PER_10MIN = 1
    client = Client()
    assert 'name="place"' in client.get(reverse("report"), {"where": "soto"}).content.decode()
    refused = client.get(reverse("report"), {"where": "soto"}).content.decode()
    assert "Too many searches from your network" in html.unescape(refused)
    assert 'name="place"' not in refused


# --- the hotline form searches the desk's gazetteer first ---


def test_the_hotline_search_finds_the_desks_named_places_only(w: World) -> None:
    diego = session_for(w.dispatcher, strong=True)
    assert [
        p["name"] for p in diego.get(reverse("geocode"), {"q": "car wash"}).json()["places"]
    ] == ["Car wash, César Chávez & Soto"]
    walt = session_for(w.west_dispatcher, strong=True)
    assert [
        p["name"] for p in walt.get(reverse("geocode"), {"q": "car wash"}).json()["places"]
    ] == ["Car wash on Pico"]
    near = diego.get(reverse("geocode"), {"lat": EAST[0], "lng": EAST[1]}).json()
    assert near["where"] == "60 m south of Car wash, César Chávez & Soto"


# --- places in words on every screen and message ---


def incident_at(w: World, point: tuple[float, float] = EAST) -> Any:
    report = submit_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=point[0], lng=point[1]
    )
    return open_incident(report, actor=w.dispatcher)


def alert(incident: Any, purpose: str) -> Alert:
    return Alert.objects.create(
        incident=incident,
        msg_type="Alert",
        purpose=purpose,
        certainty="Observed",
        cell=incident.cell,
        ring=1,
        expires_at=timezone.now() + timedelta(hours=6),
    )


def test_the_desk_card_and_the_incident_page_name_the_place_with_a_maps_link(w: World) -> None:
    incident = incident_at(w)
    diego = session_for(w.dispatcher, strong=True)
    loose = submit_report(
        channel=Channel.WEB, kind=ReportKind.HOME_ARREST, lat=EAST[0], lng=EAST[1]
    )
    desk = html.unescape(diego.get(reverse("desk")).content.decode())
    assert "60 m south of Car wash, César Chávez & Soto" in desk
    lat, lng = geo.center(loose.cell)
    assert f'href="geo:{lat:.5f},{lng:.5f}"' in desk
    page = html.unescape(diego.get(reverse("incident", args=[incident.pk])).content.decode())
    assert "60 m south of Car wash, César Chávez & Soto" in page
    assert incident.place in page  # the coordinates, second


def test_another_committees_names_never_describe_this_committees_incident(w: World) -> None:
    # West names a spot right where East's raid is: East's people never read it.
    Place.objects.create(committee=w.west, name="West's name", lat=EAST[0], lng=EAST[1])
    incident = incident_at(w)
    assert Gazetteer.of(incident).exact(incident.cell).name == "Car wash, César Chávez & Soto"


@pytest.mark.parametrize(
    ("language", "name", "responders"),
    [
        ("en", "Car wash, César Chávez & Soto", "60 m south of Car wash, César Chávez & Soto"),
        (
            "es",
            "Autolavado, César Chávez y Soto",
            "a 60 m al sur de Autolavado, César Chávez y Soto",
        ),
    ],
)
def test_alerts_name_the_place_members_at_the_block_responders_exactly(
    w: World, language: str, name: str, responders: str
) -> None:
    incident = incident_at(w)
    with translation.override(language):
        members = Gazetteer.of(incident).block(incident.cell).text
    confirmed = messages.render(
        alert(incident, Purpose.CONFIRMED), member_id=w.member.pk, language=language
    )
    possible = messages.render(
        alert(incident, Purpose.POSSIBLE), member_id=w.responder.pk, language=language
    )
    verify_text = messages.render(
        alert(incident, Purpose.VERIFY), member_id=w.responder.pk, language=language
    )
    assert name in members
    assert members in confirmed.subject and members in confirmed.text
    assert responders not in confirmed.text
    assert responders in possible.subject and responders in possible.text
    assert responders in verify_text.text
    # The email opens the phone's own maps app, at the block for members.
    block_lat, block_lng = exposure.block_point(incident.cell)
    assert f'href="geo:{block_lat:.4f},{block_lng:.4f}"' in confirmed.html


def test_members_never_read_a_place_finer_than_their_block(w: World) -> None:
    """Raids anywhere in one block read the same to members, even beside a named place,
    and the distance they read is coarse."""
    incident = incident_at(w)
    block = geo.parent(incident.cell, geo.BLOCK_RESOLUTION)
    gazetteer = Gazetteer.of(incident)
    inside = [c for c in geo.disk(incident.cell, 3) if geo.parent(c, geo.BLOCK_RESOLUTION) == block]
    said = {gazetteer.block(c) for c in inside}
    assert len(inside) > 5 and len(said) == 1
    [where] = said
    assert where.name == "Car wash, César Chávez & Soto"
    assert where.metres % 100 == 0
    assert where.coordinates == "{:.4f}, {:.4f}".format(*exposure.block_point(incident.cell))


def test_the_alert_page_gives_a_member_the_block_and_a_responder_the_exact_place(w: World) -> None:
    incident = incident_at(w)
    a = alert(incident, Purpose.CONFIRMED)
    for m in (w.member, w.responder):
        Delivery.objects.create(alert=a, member=m, endpoint=m.endpoints.get())
    incident.state = "confirmed"
    incident.save()
    mateo = Client().get(
        reverse(
            "alert_page",
            args=[messages.alert_link_token(member_id=w.member.pk, incident_id=incident.pk)],
        )
    )
    rosa = Client().get(
        reverse(
            "alert_page",
            args=[messages.alert_link_token(member_id=w.responder.pk, incident_id=incident.pk)],
        )
    )
    with translation.override("en"):
        members = Gazetteer.of(incident).block(incident.cell).text
    assert members[0].upper() + members[1:] in html.unescape(mateo.content.decode())
    assert "60 m al sur de Autolavado" in html.unescape(rosa.content.decode())  # Rosa reads Spanish
    block_lat, block_lng = exposure.block_point(incident.cell)
    assert f'href="geo:{block_lat:.4f},{block_lng:.4f}"' in mateo.content.decode()


def test_the_verifiers_answer_page_names_the_exact_place(w: World) -> None:
    incident = incident_at(w)
    vera = member("Vera", w.east, Role.VERIFIER, email="vera@example.org")
    verify.request(incident, vera, actor=w.dispatcher, committee_ids={w.east.pk})
    token = links.verify_link_token(member_id=vera.pk, incident_id=incident.pk)
    page = html.unescape(Client().get(reverse("verify_answer", args=[token])).content.decode())
    assert "60 m south of Car wash, César Chávez & Soto" in page
    assert "geo:" in page
    # The map draws the committees' areas around the dot, for a map without streets.
    assert f'data-areas="{reverse("coverage")}"' in page


def test_an_sms_naming_a_long_place_still_fits_two_segments(w: World) -> None:
    Place.objects.filter(name__startswith="Car wash, César").update(
        name="Car wash and day-labor corner, César Chávez Avenue & Soto Street, east side"[:80]
    )
    incident = incident_at(w)
    for language in ("en", "es"):
        msg = messages.render(
            alert(incident, Purpose.CONFIRMED), member_id=w.member.pk, language=language
        )
        out = sms_text(msg, language)
        assert segments(out)[0] == GSM7 and segments(out)[1] <= 2, out


# --- the operator hears once that address search is off ---


def test_the_operator_is_told_once_that_address_search_is_off(settings: Settings) -> None:
    settings.GEOCODER_URL = ""
    [info] = [m for m in checks.run_checks() if m.id == "places.I001"]
    assert info.level == checks.INFO
    assert "TOCSIN_GEOCODER_URL" in info.msg
    settings.GEOCODER_URL = "http://127.0.0.1:9"
    assert not [m for m in checks.run_checks() if m.id == "places.I001"]
