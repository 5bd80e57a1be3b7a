"""The public JSON API (/api/v1/): what the public map shows, as JSON, with an OpenAPI
document that a validator other than the one that wrote it accepts; rate limited per
network with a JSON 429; no personal data, nothing finer or earlier than published()."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openapi_spec_validator import validate
from pytest_django.fixtures import Settings

from tests.factories import EAST, WEST, World, confirmed_incident
from tocsin import geo
from tocsin.incidents.models import Incident
from tocsin.mobilize.models import Mobilization
from tocsin.mobilize.planned import Visibility
from tocsin.public.incidents import public_id

pytestmark = pytest.mark.django_db


def get(path: str, client: Client | None = None, **params: str) -> dict | list:
    response = (client or Client()).get(path, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def incidents(**params: str) -> list[dict]:
    found = get(reverse("api:api_incidents"), **params)
    assert isinstance(found, list)
    return found


def test_the_openapi_document_is_valid_openapi() -> None:
    document = get(reverse("api:openapi-json"))
    assert isinstance(document, dict)
    validate(document)
    assert {"/api/v1/incidents", "/api/v1/incidents/{incident_id}"} <= set(document["paths"])
    # Read-only: no operation but GET.
    assert {m for ops in document["paths"].values() for m in ops} == {"get"}


def test_there_is_no_docs_page_loading_scripts_from_a_cdn() -> None:
    assert Client().get("/api/v1/docs").status_code == 404


def test_it_lists_the_published_incidents_as_the_map_shows_them(w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=47)
    [seen] = incidents()
    assert seen["id"] == public_id(incident.pk)
    assert seen["kind"] == "checkpoint" and seen["kind_label"] == "Checkpoint"
    assert seen["state"] == "confirmed"
    assert seen["verification"] == "confirmed by the committee's dispatcher"
    assert seen["resolution"] == geo.PUBLIC_RESOLUTION
    assert seen["cell"] == geo.to_str(geo.parent(incident.cell, geo.PUBLIC_RESOLUTION))
    at = dt.datetime.fromisoformat(seen["at"])
    assert at <= incident.confirmed_at and at.minute % 15 == 0 and at.second == 0
    # The centre shown is the public cell's, never the report's place.
    assert (seen["center"]["lat"], seen["center"]["lng"]) == pytest.approx(
        geo.center(geo.parent(incident.cell, geo.PUBLIC_RESOLUTION))
    )
    assert seen["url"] == reverse("api:api_incident", args=[public_id(incident.pk)])
    assert get(seen["url"]) == seen


def test_nothing_is_public_before_the_delay_and_a_false_alarm_never(w: World) -> None:
    fresh = confirmed_incident(w.dispatcher, minutes_ago=5)
    false_alarm = confirmed_incident(w.dispatcher, WEST, minutes_ago=120, end="unfounded")
    assert incidents() == []
    for hidden in (fresh, false_alarm):
        response = Client().get(reverse("api:api_incident", args=[hidden.pk]))
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}


def test_it_never_says_more_than_the_public_fields(w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    Incident.objects.filter(pk=incident.pk).update(summary="Agent John Smith badge 4411")
    body = Client().get(reverse("api:api_incidents")).content.decode()
    assert "John Smith" not in body and "4411" not in body
    assert "Diego" not in body and "East" not in body
    for number in (f"{EAST[0]:.4f}", f"{EAST[1]:.4f}"):
        assert number not in body
    [seen] = incidents()
    assert set(seen) == {
        "id",
        "kind",
        "kind_label",
        "state",
        "state_label",
        "at",
        "area",
        "place_text",
        "verification",
        "cell",
        "resolution",
        "center",
        "url",
    }


def test_it_filters_by_kind_and_since(w: World) -> None:
    old = confirmed_incident(w.dispatcher, minutes_ago=300, kind="workplace_raid")
    new = confirmed_incident(w.dispatcher, WEST, minutes_ago=60)
    assert [i["id"] for i in incidents()] == [public_id(new.pk), public_id(old.pk)]
    assert [i["id"] for i in incidents(kind="workplace_raid")] == [public_id(old.pk)]
    assert incidents(kind="no-such-kind") == []
    since = (timezone.now() - dt.timedelta(minutes=120)).isoformat()
    assert [i["id"] for i in incidents(since=since)] == [public_id(new.pk)]
    bad = Client().get(reverse("api:api_incidents"), {"since": "yesterday"})
    assert bad.status_code == 422


def test_labels_follow_the_readers_language(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    [seen] = incidents(lang="es")
    assert seen["kind_label"] == "Retén" and seen["state_label"] == "Confirmado"
    response = Client().get(reverse("api:api_incidents"), headers={"Accept-Language": "es"})
    assert response.json()[0]["kind_label"] == "Retén"


def test_it_lists_upcoming_public_mobilizations_only(w: World) -> None:
    soon = timezone.now() + dt.timedelta(days=1)
    shown = Mobilization.objects.create(
        committee=w.east,
        kind="vigil",
        title="Vigil at City Hall",
        title_es="Vigilia en el Ayuntamiento",
        address="City Hall steps",
        starts_at=soon,
        ends_at=soon + dt.timedelta(hours=2),
    )
    Mobilization.objects.create(
        committee=w.east,
        kind="vigil",
        title="Members only",
        visibility=Visibility.MEMBERS,
        starts_at=soon,
        ends_at=soon + dt.timedelta(hours=2),
    )
    found = get(reverse("api:api_mobilizations"))
    assert [m["title"] for m in found] == ["Vigil at City Hall"]
    assert found[0]["url"] == reverse("mobilization", args=[shown.pk])
    assert found[0]["where"] == "City Hall steps"
    spanish = get(reverse("api:api_mobilizations"), lang="es")
    assert spanish[0]["title"] == "Vigilia en el Ayuntamiento"


def test_it_lists_the_committees_hotlines(w: World) -> None:
    w.east.hotline_numbers = ["+13235550100"]
    w.east.save()
    assert get(reverse("api:api_committees")) == [{"name": "East", "hotlines": ["+13235550100"]}]


def test_it_is_rate_limited_per_network_with_a_json_error(w: World, settings: Settings) -> None:
    settings.API_RATE_PER_10MIN = 2
    client = Client(REMOTE_ADDR="203.0.113.7")
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert client.get(reverse("api:api_incidents")).status_code == 200
    assert client.get(reverse("api:api_committees")).status_code == 200
    refused = client.get(reverse("api:api_incidents"))
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "Too many requests from your network. Try again in a few minutes."
    }
    assert refused["Retry-After"] == "600"
    # Another network is counted apart; the same /24 is the same network.
    assert other.get(reverse("api:api_incidents")).status_code == 200
    neighbour = Client(REMOTE_ADDR="203.0.113.99")
    assert neighbour.get(reverse("api:api_incidents")).status_code == 429


def test_it_answers_only_get(w: World) -> None:
    response = Client().post(reverse("api:api_incidents"), {})
    assert response.status_code == 405
    assert "Access-Control-Allow-Origin" not in Client().get(reverse("api:api_incidents"))


def test_since_compares_the_rounded_time_so_it_never_tells_the_exact_minute(w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    exact = incident.confirmed_at
    [seen] = incidents()
    at = dt.datetime.fromisoformat(seen["at"])
    assert at < exact  # rounded down (the factory's time is never on a 15-minute mark)
    just_before = (exact - dt.timedelta(seconds=1)).isoformat()
    between = (at + (exact - at) / 2).isoformat()
    # Asking just before the exact confirmation answers as asking anywhere after the
    # rounded time: nothing finer than the public time can be learnt.
    assert incidents(since=just_before) == incidents(since=between) == []
    assert [i["id"] for i in incidents(since=(at - dt.timedelta(seconds=1)).isoformat())] == [
        public_id(incident.pk)
    ]
