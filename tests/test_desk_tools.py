"""The desk's working tools: hotline calls, address search, holding an incident, sending a
verifier and answering reporters (tocsin/desk/tools.py, tocsin/incidents/replies.py,
tocsin/lib/geocode.py)."""

from __future__ import annotations

import html
import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import EAST, WEST, World, member
from tests.peers.geocoder import Geocoder
from tests.peers.geocoder import running as running_geocoder
from tests.peers.sms_provider import ACCOUNT_SID, AUTH_TOKEN, FROM, SmsProvider, running, use_twilio
from tocsin import vault
from tocsin.alerts.models import Alert, Purpose
from tocsin.committees.models import Role
from tocsin.incidents import replies, services
from tocsin.incidents.models import Incident, IncidentEvent, State, VerificationRequest
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, Report, ReportContact, ReportKind, ReportMessage
from tocsin.lib import geocode
from tocsin.members.models import Member

# A callback number as a dispatcher types it, and the digits that must never be stored.
CALLBACK = "+1 (213) 555-0142"
CALLBACK_E164 = "+12135550142"
CALLBACK_DIGITS = "2135550142"
# Far from both committees: nobody covers it.
NOWHERE = (34.2500, -117.9000)
ADDRESS = "1234 Calle Girasol"


@pytest.fixture
def dana(w: World) -> Member:
    """A second East dispatcher, to contend with Diego for an incident."""
    return member("Dana", w.east, Role.DISPATCHER, email="dana@example.org")


def as_(persona: Member) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


def page(response: Any) -> str:
    return html.unescape(response.content.decode())


def report_at(point: tuple[float, float] = EAST, kind: str = ReportKind.WORKPLACE_RAID) -> Report:
    return receive_report(channel=Channel.WEB, kind=kind, lat=point[0], lng=point[1])


def unheld_incident() -> Incident:
    """An incident nobody holds yet (as a trusted member's report opens one)."""
    return services.open_incident(report_at(), actor=None)


def call(
    point: tuple[float, float] | None = EAST, *, nonce: str = "call-nonce-1", **extra: str
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": ReportKind.WORKPLACE_RAID,
        "text": "Two vans at the car wash on 4th",
        "nonce": nonce,
        "language": "es",
        "callback_kind": "",
        "callback": "",
    }
    if point is not None:
        data["lat"], data["lng"] = point
    data.update(extra)
    return data


def reply(client: Client, report: Report, body: str = "We are checking.") -> Any:
    return client.post(reverse("report_reply"), {"report": report.pk, "body": body}, follow=True)


# A loopback SMS provider (Twilio's API) and a loopback geocoder (Nominatim's API).


@pytest.fixture
def twilio(settings: Settings) -> Iterator[SmsProvider]:
    with running() as peer:
        yield use_twilio(settings, peer)


@pytest.fixture
def geocoder(settings: Settings) -> Iterator[Geocoder]:
    with running_geocoder() as server:
        settings.GEOCODER_URL = server.url + "/"
        settings.GEOCODER_COUNTRIES = ""
        yield server


PLACES = [
    {"display_name": "Car wash, 4th Street, Boyle Heights", "lat": "34.03", "lon": "-118.21"},
    {"display_name": "No coordinates"},
    {"display_name": "Not a number", "lat": "north", "lon": "-118.2"},
    {"display_name": "Off the globe", "lat": "123.0", "lon": "-118.2"},
    {"display_name": "Mariachi Plaza", "lat": "34.0472", "lon": "-118.2197"},
]


# The hotline.


def test_the_hotline_form_is_ready_for_a_call(w: World) -> None:
    response = as_(w.dispatcher).get(reverse("hotline"))
    assert response.status_code == 200
    form = response.context["form"]
    assert len(form.initial["nonce"]) >= 24
    assert form.initial["language"] == "es"
    # No geocoder here: the named places are searched; nobody is told to configure one.
    text = page(response)
    assert f'data-search="{reverse("geocode")}"' in text
    assert "Search for a place by name" in text
    assert "TOCSIN_GEOCODER_URL" not in text and "geocoder" not in text.lower()


def test_the_hotline_form_offers_address_search_when_a_geocoder_is_set(
    w: World, geocoder: Geocoder
) -> None:
    response = as_(w.dispatcher).get(reverse("hotline"))
    assert f'data-search="{reverse("geocode")}"' in page(response)
    assert "Search for a place or an address" in page(response)


def test_a_hotline_call_joins_the_web_reports_incident(w: World) -> None:
    web = report_at(EAST)
    incident = services.open_incident(web, actor=w.dispatcher)
    response = as_(w.dispatcher).post(reverse("hotline"), call(EAST))
    hotline = Report.objects.get(channel=Channel.HOTLINE)
    assert response.status_code == 302
    assert response["Location"] == reverse("incident", args=[incident.pk])
    assert hotline.incident_id == incident.pk
    assert hotline.kind == ReportKind.WORKPLACE_RAID
    assert hotline.language == "es"
    assert hotline.text == "Two vans at the car wash on 4th"
    assert incident.events.filter(action="report_clustered", detail__contains=hotline.receipt)
    assert Incident.objects.count() == 1


def test_a_call_taken_before_the_incident_opened_joins_it_when_it_opens(w: World) -> None:
    response = as_(w.dispatcher).post(reverse("hotline"), call(EAST))
    assert response["Location"] == reverse("desk")
    hotline = Report.objects.get(channel=Channel.HOTLINE)
    assert hotline.incident_id is None
    incident = services.open_incident(report_at(EAST), actor=w.dispatcher)
    assert Report.objects.get(pk=hotline.pk).incident_id == incident.pk


def test_the_callback_number_is_sealed_and_stored_nowhere_in_plain_text(
    w: World, twilio: SmsProvider
) -> None:
    response = as_(w.dispatcher).post(
        reverse("hotline"), call(EAST, callback_kind="sms", callback=CALLBACK)
    )
    assert response.status_code == 302
    report = Report.objects.get(channel=Channel.HOTLINE)
    contact = ReportContact.objects.get(report=report)
    assert contact.kind == "sms"
    assert vault.unseal(bytes(contact.sealed)) == {"address": CALLBACK_E164}
    assert CALLBACK_DIGITS.encode() not in bytes(contact.sealed)
    # Every column of every row of every table, as a seized database would give them.
    text = database_dump()
    assert report.receipt in text  # the dump holds the report...
    for needle in (CALLBACK_DIGITS, "555-0142", "5550142"):
        assert needle not in text  # ...but not the caller's number
    # Nor does a dispatcher see it again on the desk or the hotline page.
    for url in (reverse("desk"), reverse("hotline")):
        assert CALLBACK_DIGITS not in page(as_(w.dispatcher).get(url))


def database_dump() -> str:
    """Return every value stored in the database's tables, binary values as latin-1 (so
    bytes stored in plain text show up as they are)."""
    values: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if isinstance(value, bytes):
                        values.append(value.decode("latin-1"))
                    else:
                        values.append(str(value))
    return "\n".join(values)


def test_a_call_outside_every_committee_area_is_refused_and_nothing_is_saved(w: World) -> None:
    response = as_(w.dispatcher).post(reverse("hotline"), call(NOWHERE))
    assert response.status_code == 400
    assert "None of your committees (or their partners) covers that place." in page(response)
    assert not Report.objects.exists()
    assert not ReportContact.objects.exists()


def test_a_call_without_a_place_is_refused_and_nothing_is_saved(w: World) -> None:
    data = call(EAST)
    del data["lat"]
    response = as_(w.dispatcher).post(reverse("hotline"), data)
    assert response.status_code == 400
    assert "Pick the place on the map, or search for the address." in page(response)
    assert not Report.objects.exists()


def test_callback_kinds_offer_only_the_channels_this_server_has(w: World, settings: Any) -> None:
    def offered() -> list[str]:
        form = as_(w.dispatcher).get(reverse("hotline")).context["form"]
        return [kind for kind, _label in form.fields["callback_kind"].choices]

    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM = FROM
    assert offered() == ["", "sms"]


def test_with_no_channel_to_call_back_on_the_form_asks_for_no_number(
    w: World, settings: Any
) -> None:
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = settings.TWILIO_FROM = ""
    settings.SMS_GATEWAY_URL = settings.SIGNAL_API_URL = settings.TELEGRAM_BOT_TOKEN = ""
    html = page(as_(w.dispatcher).get(reverse("hotline")))
    assert 'name="callback"' not in html and 'name="callback_kind"' not in html
    assert "Tocsin cannot text callers back here" in html
    # A call is taken as it is, with nothing to reach the caller by.
    data = call(EAST)
    del data["callback_kind"], data["callback"]
    response = as_(w.dispatcher).post(reverse("hotline"), data)
    assert response.status_code == 302
    assert not ReportContact.objects.exists()
    Member.objects.filter(pk=w.dispatcher.pk).update(language="es")
    spanish = page(as_(w.dispatcher).get(reverse("hotline")))
    assert "Tocsin no puede escribir de vuelta a quien llama" in spanish


def test_a_callback_on_a_channel_this_server_lacks_is_refused(w: World, settings: Any) -> None:
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = settings.TWILIO_FROM = ""
    settings.SMS_GATEWAY_URL = ""
    # Another channel keeps the callback fields.
    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_WEBHOOK_SECRET = "123:abc", "secret"
    response = as_(w.dispatcher).post(
        reverse("hotline"), call(EAST, callback_kind="sms", callback=CALLBACK)
    )
    assert response.status_code == 400
    assert response.context["form"].has_error("callback_kind")
    assert not Report.objects.exists()


def test_a_callback_number_without_its_area_code_is_refused(w: World, twilio: SmsProvider) -> None:
    response = as_(w.dispatcher).post(
        reverse("hotline"), call(EAST, callback_kind="sms", callback="555-0142")
    )
    assert response.status_code == 400
    assert "That number is too short: write it with its area code" in page(response)
    assert not Report.objects.exists()


def test_sending_the_same_call_twice_takes_it_once(w: World) -> None:
    client = as_(w.dispatcher)
    client.post(reverse("hotline"), call(EAST, nonce="same-call"))
    client.post(reverse("hotline"), call(EAST, nonce="same-call"))
    assert Report.objects.filter(channel=Channel.HOTLINE).count() == 1


def test_a_call_about_another_committees_area_is_refused_and_nothing_is_saved(
    w: World,
) -> None:
    # A hotline call reaches only the desks of the dispatcher's own committees (and
    # partners): a dispatcher cannot put reports on another committee's desk.
    response = as_(w.dispatcher).post(reverse("hotline"), call(WEST))
    assert response.status_code == 400
    assert "give the caller the hotline of the committee there" in page(response)
    assert not Report.objects.exists()
    assert not ReportContact.objects.exists()


def test_the_hotline_page_speaks_spanish_to_a_spanish_speaking_dispatcher(w: World) -> None:
    Member.objects.filter(pk=w.dispatcher.pk).update(language="es")
    text = page(as_(w.dispatcher).get(reverse("hotline")))
    assert "Tomar una llamada de la línea" in text
    assert "Take a hotline call" not in text
    english = page(as_(w.organizer).get(reverse("hotline")))
    assert "Take a hotline call" in english


# Address search.


def test_the_geocoder_answer_is_parsed_and_rows_without_a_valid_place_are_skipped(
    w: World, geocoder: Geocoder, settings: Any
) -> None:
    settings.GEOCODER_COUNTRIES = "us,mx"
    geocoder.answer(PLACES)
    places = geocode.search(f"  {ADDRESS}\x00 ")
    assert places == [
        geocode.Place("Car wash, 4th Street, Boyle Heights", 34.03, -118.21),
        geocode.Place("Mariachi Plaza", 34.0472, -118.2197),
    ]
    [query] = geocoder.queries
    assert geocoder.paths == ["/search"]
    assert query["q"] == [ADDRESS]
    assert query["format"] == ["jsonv2"]
    assert query["limit"] == [str(geocode.MAX_RESULTS)]
    assert query["countrycodes"] == ["us,mx"]


def test_the_geocoder_keeps_at_most_five_places_and_asks_nothing_for_a_blank_query(
    w: World, geocoder: Geocoder
) -> None:
    geocoder.answer([{"display_name": f"P{i}", "lat": "34.0", "lon": "-118.2"} for i in range(9)])
    assert [p.label for p in geocode.search("Main St")] == ["P0", "P1", "P2", "P3", "P4"]
    assert geocode.search("   ") == []
    assert len(geocoder.queries) == 1


def test_the_address_search_answers_the_dispatcher_with_places(
    w: World, geocoder: Geocoder
) -> None:
    geocoder.answer(PLACES)
    response = as_(w.dispatcher).get(reverse("geocode"), {"q": ADDRESS})
    assert response.status_code == 200
    assert response.json() == {
        "places": [],
        "addresses": [
            {"label": "Car wash, 4th Street, Boyle Heights", "lat": 34.03, "lng": -118.21},
            {"label": "Mariachi Plaza", "lat": 34.0472, "lng": -118.2197},
        ],
    }


@pytest.mark.parametrize("body", [None, b"<html>busy</html>"])
def test_a_failing_geocoder_still_answers_with_the_named_places_and_says_so(
    w: World, geocoder: Geocoder, body: bytes | None
) -> None:
    if body is None:
        geocoder.answer({"error": "overloaded"}, status=500)
    else:
        geocoder.body = body  # 200, but not JSON
    response = as_(w.dispatcher).get(reverse("geocode"), {"q": ADDRESS})
    assert response.status_code == 200
    assert response.json() == {
        "places": [],
        "addresses": [],
        "address_error": "Address search is not answering.",
    }


def test_an_unreachable_geocoder_is_said_not_to_answer(w: World, settings: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.GEOCODER_URL = f"http://127.0.0.1:{port}"
    response = as_(w.dispatcher).get(reverse("geocode"), {"q": ADDRESS})
    assert response.status_code == 200
    assert response.json()["address_error"] == "Address search is not answering."


def test_without_a_geocoder_the_search_finds_named_places_only(w: World, settings: Any) -> None:
    settings.GEOCODER_URL = ""
    response = as_(w.dispatcher).get(reverse("geocode"), {"q": ADDRESS})
    assert response.status_code == 200
    assert response.json() == {"places": [], "addresses": []}
    with pytest.raises(geocode.GeocoderError):
        geocode.search(ADDRESS)


def test_the_address_typed_never_reaches_the_logs(
    w: World, geocoder: Geocoder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # as TOCSIN_LOG_LEVEL=DEBUG
    client = as_(w.dispatcher)
    geocoder.answer(PLACES)
    assert client.get(reverse("geocode"), {"q": ADDRESS}).status_code == 200
    geocoder.answer([], status=500)
    assert "address_error" in client.get(reverse("geocode"), {"q": ADDRESS}).json()
    assert len(geocoder.queries) == 2
    # The failure was logged (so the capture works), without what was searched for.
    assert "geocoder answered HTTP 500" in caplog.text
    for needle in (ADDRESS, quote_plus(ADDRESS), "Girasol"):
        assert needle not in caplog.text
    assert not Report.objects.exists()  # nor is it stored


# Who may use the tools.


def _routes(
    incident: Incident, report: Report, verifier: Member
) -> dict[str, tuple[str, str, dict]]:
    return {
        "hotline": ("get", reverse("hotline"), {}),
        "hotline_post": ("post", reverse("hotline"), call(EAST, nonce="refused-call")),
        "geocode": ("get", reverse("geocode"), {"q": ADDRESS}),
        "take_over": ("post", reverse("incident_take", args=[incident.pk]), {}),
        "release": ("post", reverse("incident_release", args=[incident.pk]), {}),
        "reply": ("post", reverse("report_reply"), {"report": report.pk, "body": "Hello"}),
        "verifier": (
            "post",
            reverse("incident_verify", args=[incident.pk]),
            {"verifier": verifier.pk},
        ),
    }


# Hotline and address search are for anyone who dispatches somewhere, but a call is taken
# only for a place their own committees cover (West's call at East's place is refused with
# a 400); incidents and reports only for their own committee's dispatchers.
ROUTES = ("hotline", "hotline_post", "geocode", "take_over", "release", "reply", "verifier")
REFUSED = {
    "outsider": set(ROUTES),
    "member": set(ROUTES),
    "west_dispatcher": {"take_over", "release", "reply", "verifier"},
}
TURNED_AWAY = {"west_dispatcher": {"hotline_post"}}


@pytest.mark.parametrize("persona", ["outsider", "member", "west_dispatcher"])
@pytest.mark.parametrize("route", ROUTES)
def test_the_desk_tools_refuse_whoever_does_not_dispatch_for_the_incident(
    w: World, persona: str, route: str
) -> None:
    verifier = member("Vera", w.east, Role.VERIFIER, email="vera@example.org")
    incident = services.open_incident(report_at(), actor=w.dispatcher)
    report = incident.reports.get()
    method, url, data = _routes(incident, report, verifier)[route]
    held_until = Incident.objects.get(pk=incident.pk).held_until
    response = getattr(as_(getattr(w, persona)), method)(url, data)
    if route in REFUSED[persona]:
        assert response.status_code == 404
    elif route in TURNED_AWAY.get(persona, set()):
        assert response.status_code == 400
    else:
        assert response.status_code in (200, 302, 503)
    # Whatever the answer, nothing of East's incident changed.
    after = Incident.objects.get(pk=incident.pk)
    assert (after.held_by_id, after.held_until, after.state) == (
        w.dispatcher.pk,
        held_until,
        State.REPORTED,
    )
    assert not ReportMessage.objects.exists()
    assert not VerificationRequest.objects.exists()
    assert not IncidentEvent.objects.filter(action="took_over").exists()
    assert not Report.objects.filter(channel=Channel.HOTLINE).exists()


@pytest.mark.parametrize("route", ["hotline", "geocode", "take_over", "release", "reply"])
def test_the_desk_tools_send_anonymous_visitors_to_the_login(w: World, route: str) -> None:
    verifier = member("Vera", w.east, Role.VERIFIER)
    incident = services.open_incident(report_at(), actor=w.dispatcher)
    method, url, data = _routes(incident, incident.reports.get(), verifier)[route]
    response = getattr(Client(), method)(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    assert not ReportMessage.objects.exists()


def test_the_east_dispatcher_may_use_every_tool_on_an_east_incident(w: World) -> None:
    verifier = member("Vera", w.east, Role.VERIFIER, email="vera@example.org")
    incident = unheld_incident()
    routes = _routes(incident, incident.reports.get(), verifier)
    client = as_(w.dispatcher)
    answers = {
        name: getattr(client, m)(url, data).status_code for name, (m, url, data) in routes.items()
    }
    assert answers == {
        "hotline": 200,
        "hotline_post": 302,
        "geocode": 200,  # the named places; no geocoder in the tests
        "take_over": 302,
        "release": 302,
        "reply": 302,
        "verifier": 302,
    }


# Holding an incident.


def test_acting_on_an_incident_holds_it_against_another_dispatcher(w: World, dana: Member) -> None:
    incident = unheld_incident()
    report = incident.reports.get()
    reply(as_(w.dispatcher), report, "Diego here, we are checking.")
    incident.refresh_from_db()
    assert incident.holder() == w.dispatcher.pk
    dana_client = as_(dana)
    response = reply(dana_client, report, "Dana here.")
    assert "Diego is handling this incident. Take it over first if you need to act." in page(
        response
    )
    assert list(ReportMessage.objects.values_list("body", flat=True)) == [
        "Diego here, we are checking."
    ]
    response = dana_client.post(
        reverse("incident_state", args=[incident.pk]), {"state": State.CONFIRMED}, follow=True
    )
    assert "Diego is handling this incident." in page(response)
    after = Incident.objects.get(pk=incident.pk)
    assert after.state == State.REPORTED
    assert after.held_by_id == w.dispatcher.pk
    assert not Alert.objects.exists()
    # The incident page offers Dana to take it over.
    text = page(dana_client.get(reverse("incident", args=[incident.pk])))
    assert reverse("incident_take", args=[incident.pk]) in text


def test_taking_over_lets_the_second_dispatcher_act_and_is_on_the_timeline(
    w: World, dana: Member
) -> None:
    incident = services.open_incident(report_at(), actor=w.dispatcher)
    report = incident.reports.get()
    dana_client = as_(dana)
    response = dana_client.post(reverse("incident_take", args=[incident.pk]), follow=True)
    assert "You are handling this incident now." in page(response)
    incident.refresh_from_db()
    assert incident.holder() == dana.pk
    event = incident.events.get(action="took_over")
    assert (event.actor_id, event.text) == (dana.pk, "Diego")
    reply(dana_client, report, "Dana here.")
    assert ReportMessage.objects.get().author_id == dana.pk
    # Now Diego is the one who must take it back.
    response = reply(as_(w.dispatcher), report, "Diego again.")
    assert "Dana is handling this incident." in page(response)
    assert ReportMessage.objects.count() == 1


def test_taking_over_an_incident_one_already_holds_adds_nothing_to_the_timeline(
    w: World,
) -> None:
    incident = services.open_incident(report_at(), actor=w.dispatcher)
    before = incident.events.count()
    as_(w.dispatcher).post(reverse("incident_take", args=[incident.pk]))
    assert incident.events.count() == before
    assert Incident.objects.get(pk=incident.pk).holder() == w.dispatcher.pk


def test_letting_go_frees_the_incident_for_another_dispatcher(w: World, dana: Member) -> None:
    incident = services.open_incident(report_at(), actor=w.dispatcher)
    # Dana cannot release Diego's hold.
    as_(dana).post(reverse("incident_release", args=[incident.pk]))
    assert Incident.objects.get(pk=incident.pk).holder() == w.dispatcher.pk
    response = as_(w.dispatcher).post(reverse("incident_release", args=[incident.pk]))
    assert response["Location"] == reverse("incident", args=[incident.pk])
    after = Incident.objects.get(pk=incident.pk)
    assert (after.held_by_id, after.held_until) == (None, None)
    response = as_(dana).post(
        reverse("incident_state", args=[incident.pk]), {"state": State.VERIFYING}, follow=True
    )
    assert "Incident is now: Verifying" in page(response)
    after = Incident.objects.get(pk=incident.pk)
    assert after.state == State.VERIFYING and after.holder() == dana.pk


def test_a_hold_lapses_hold_minutes_after_the_last_action(w: World, dana: Member) -> None:
    incident = unheld_incident()
    start = timezone.now()
    services.hold(incident, w.dispatcher, now=start)
    assert incident.held_until == start + timedelta(minutes=services.HOLD_MINUTES)
    almost = start + timedelta(minutes=services.HOLD_MINUTES) - timedelta(seconds=1)
    with pytest.raises(services.HeldByOther) as refused:
        services.hold(incident, dana, now=almost)
    assert refused.value.holder_id == w.dispatcher.pk
    # Diego's next action renews the hold from then on.
    services.hold(incident, w.dispatcher, now=almost)
    assert incident.held_until == almost + timedelta(minutes=services.HOLD_MINUTES)
    lapsed = almost + timedelta(minutes=services.HOLD_MINUTES)
    assert incident.holder(lapsed) is None
    services.hold(incident, dana, now=lapsed)
    assert incident.held_by_id == dana.pk


def test_after_a_lapsed_hold_another_dispatcher_acts_without_taking_over(
    w: World, dana: Member
) -> None:
    incident = services.open_incident(report_at(), actor=w.dispatcher)
    report = incident.reports.get()
    Incident.objects.filter(pk=incident.pk).update(held_until=timezone.now() - timedelta(seconds=1))
    response = reply(as_(dana), report, "Dana here.")
    assert "is handling this incident" not in page(response)
    assert ReportMessage.objects.get().author_id == dana.pk
    incident.refresh_from_db()
    assert incident.holder() == dana.pk
    assert not incident.events.filter(action="took_over").exists()


# Sending a verifier.


def test_sending_a_verifier_moves_the_incident_to_verifying(w: World) -> None:
    vera = member("Vera", w.east, Role.VERIFIER, email="vera@example.org")
    incident = unheld_incident()
    response = as_(w.dispatcher).post(
        reverse("incident_verify", args=[incident.pk]), {"verifier": vera.pk}, follow=True
    )
    assert "Vera is asked to verify." in page(response)
    incident.refresh_from_db()
    assert incident.state == State.VERIFYING
    assert incident.holder() == w.dispatcher.pk
    request = VerificationRequest.objects.get()
    assert (request.verifier_id, request.requested_by_id) == (vera.pk, w.dispatcher.pk)
    assert request.alert is not None and request.alert.purpose == Purpose.VERIFY


def test_a_verifier_cannot_be_sent_while_another_dispatcher_holds_the_incident(
    w: World, dana: Member
) -> None:
    vera = member("Vera", w.east, Role.VERIFIER, email="vera@example.org")
    incident = services.open_incident(report_at(), actor=w.dispatcher)
    response = as_(dana).post(
        reverse("incident_verify", args=[incident.pk]), {"verifier": vera.pk}, follow=True
    )
    assert "Diego is handling this incident." in page(response)
    assert Incident.objects.get(pk=incident.pk).state == State.REPORTED
    assert not VerificationRequest.objects.exists()
    assert not Alert.objects.exists()


def test_only_a_verifier_of_the_committee_can_be_sent(w: World) -> None:
    incident = unheld_incident()
    for someone in (w.member, w.west_dispatcher):
        response = as_(w.dispatcher).post(
            reverse("incident_verify", args=[incident.pk]), {"verifier": someone.pk}
        )
        assert response.status_code == 404
    assert not VerificationRequest.objects.exists()


# Answering reporters.


def test_a_web_reporter_reads_the_reply_on_the_receipt_page(w: World) -> None:
    incident = unheld_incident()
    report = incident.reports.get()
    response = reply(as_(w.dispatcher), report, "Thank you, a verifier is on the way.")
    assert f"Reply saved: the reporter sees it with receipt code {report.receipt}." in page(
        response
    )
    message = ReportMessage.objects.get()
    assert message.status == ReportMessage.Status.SHOWN
    assert message.direction == ReportMessage.Direction.TO_REPORTER
    assert incident.events.filter(action="replied", detail__contains=report.receipt).exists()
    receipt = page(Client().get(reverse("report_done", args=[report.receipt])))
    assert "Thank you, a verifier is on the way." in receipt
    # Nothing to deliver: the worker leaves it alone.
    assert replies.send_due() == 0
    assert ReportMessage.objects.get().status == ReportMessage.Status.SHOWN


def test_an_empty_reply_is_refused(w: World) -> None:
    incident = unheld_incident()
    response = reply(as_(w.dispatcher), incident.reports.get(), "   ")
    assert "Write a message first (at most 1,000 characters)." in page(response)
    assert not ReportMessage.objects.exists()
    with pytest.raises(replies.EmptyMessage):
        replies.reply(incident.reports.get(), "\x00 ", actor=w.dispatcher)


def test_a_reply_to_a_report_on_no_incident_goes_back_to_the_desk(w: World) -> None:
    report = report_at()
    response = as_(w.dispatcher).post(reverse("report_reply"), {"report": report.pk, "body": "Hi"})
    assert response["Location"] == reverse("desk")
    assert ReportMessage.objects.get().report_id == report.pk


def test_a_hotline_caller_gets_the_reply_by_sms_in_their_language(
    w: World, twilio: SmsProvider
) -> None:
    client = as_(w.dispatcher)
    client.post(reverse("hotline"), call(EAST, callback_kind="sms", callback=CALLBACK))
    report = Report.objects.get(channel=Channel.HOTLINE)
    response = reply(client, report, "Ya vamos en camino.")
    assert "Reply queued on the reporter's own channel." in page(response)
    message = ReportMessage.objects.get()
    assert message.status == ReportMessage.Status.QUEUED
    assert twilio.messages == []  # the view only queues; a worker sends
    assert replies.send_due() == 1
    assert twilio.rejections == []
    [sent] = twilio.messages
    assert sent.to == CALLBACK_E164
    assert (
        sent.body
        == f"Despachador de Tocsin, sobre su reporte {report.receipt}: Ya vamos en camino."
    )
    assert sent.key == f"reply-{message.pk}"
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error) == (
        ReportMessage.Status.SENT,
        1,
        "",
    )
    # Sent once: the worker does not send it again.
    assert replies.send_due() == 0
    assert len(twilio.messages) == 1


def test_a_reply_the_provider_refuses_for_now_is_retried_later(
    w: World, twilio: SmsProvider
) -> None:
    report = receive_report(
        channel=Channel.HOTLINE,
        kind=ReportKind.CHECKPOINT,
        lat=EAST[0],
        lng=EAST[1],
        language="en",
        reply_to=("sms", CALLBACK_E164),
    )
    message = replies.reply(report, "We are checking.", actor=w.dispatcher)
    twilio.fail_next(500)
    assert replies.send_due() == 0
    message.refresh_from_db()
    assert message.status == ReportMessage.Status.FAILED
    assert message.attempts == 1
    assert message.next_attempt_at > timezone.now()
    assert CALLBACK_DIGITS not in message.error
    assert replies.send_due() == 0  # not due yet
    ReportMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert replies.send_due() == 1
    [sent] = twilio.to(CALLBACK_E164)
    assert sent.body == f"Tocsin dispatcher, about your report {report.receipt}: We are checking."
    assert ReportMessage.objects.get(pk=message.pk).status == ReportMessage.Status.SENT


def test_a_reply_waits_uncounted_while_its_channel_is_paused_and_a_429_pauses_it(
    w: World, twilio: SmsProvider
) -> None:
    from tocsin.alerts.outbox import limiter

    report = receive_report(
        channel=Channel.HOTLINE,
        kind=ReportKind.CHECKPOINT,
        lat=EAST[0],
        lng=EAST[1],
        language="en",
        reply_to=("sms", CALLBACK_E164),
    )
    message = replies.reply(report, "We are checking.", actor=w.dispatcher)
    # The provider said "too many" a moment ago, for alerts: the reply waits its turn too.
    limiter("sms").pause(30)
    before = timezone.now()
    assert replies.send_due() == 0
    message.refresh_from_db()
    assert (message.status, message.attempts) == (ReportMessage.Status.QUEUED, 0)
    assert message.next_attempt_at >= before + timedelta(seconds=20)
    assert twilio.messages == []
    # And a 429 to a reply pauses the channel for everything else sent on it.
    from tocsin.alerts.outbox import reset_pacing

    reset_pacing()
    ReportMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    twilio.fail_next(429, retry_after="40")
    assert replies.send_due() == 0
    assert limiter("sms").paused_for() > 30


def test_a_reply_whose_channel_was_turned_off_is_marked_failed(w: World, settings: Any) -> None:
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = settings.TWILIO_FROM = ""
    settings.SMS_GATEWAY_URL = ""
    report = receive_report(
        channel=Channel.SMS,
        kind=ReportKind.CHECKPOINT,
        lat=EAST[0],
        lng=EAST[1],
        reply_to=("sms", CALLBACK_E164),
    )
    message = replies.reply(report, "We are checking.", actor=w.dispatcher)
    assert message.status == ReportMessage.Status.QUEUED
    assert replies.send_due() == 0
    message.refresh_from_db()
    assert message.status == ReportMessage.Status.DEAD
    assert "not configured" in message.error


def test_the_answer_box_names_the_report_as_a_noun_in_spanish(w: World) -> None:
    report = receive_report(channel="web", kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1])
    incident = services.open_incident(report, actor=w.dispatcher)
    Member.objects.filter(pk=w.dispatcher.pk).update(language="es")
    html = page(as_(w.dispatcher).get(reverse("incident", args=[incident.pk])))
    assert 'Reporte <select name="report">' in html
