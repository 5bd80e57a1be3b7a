"""The Atom feed of verified incidents (/feed/), read with feedparser, a library other than
the one that wrote it: only what tocsin.public.incidents.published() gives, in the
reader's language, never finer or earlier than the public map."""

from __future__ import annotations

import feedparser
import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import EAST, WEST, World, confirmed_incident
from tocsin import geo
from tocsin.incidents.models import Incident
from tocsin.places.models import Place, PlaceKind
from tocsin.public.incidents import public_id

pytestmark = pytest.mark.django_db

OFFICER = "Agent John Smith badge 4411"


def read(client: Client | None = None, **headers: str) -> feedparser.FeedParserDict:
    response = (client or Client()).get(reverse("public_feed"), headers=headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def read_lang(lang: str) -> feedparser.FeedParserDict:
    response = Client().get(reverse("public_feed"), {"lang": lang})
    assert response.status_code == 200
    return feedparser.parse(response.content)


def test_it_is_an_atom_feed_of_the_published_incidents(w: World) -> None:
    Place.objects.create(
        committee=w.east, name="Boyle Heights", kind=PlaceKind.AREA, lat=EAST[0], lng=EAST[1]
    )
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    feed = read()
    assert feed.feed.title == "Tocsin: verified incidents"
    [entry] = feed.entries
    assert entry.title == "Checkpoint in Boyle Heights"
    assert "Confirmed, confirmed by the committee's dispatcher" in entry.summary
    assert entry.link.endswith(f"/api/v1/incidents/{public_id(incident.pk)}")


def test_an_incident_confirmed_minutes_ago_is_not_in_the_feed_yet(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=5)
    assert read().entries == []


def test_an_unfounded_incident_never_appears_and_a_resolved_one_does(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=120, end="unfounded")
    resolved = confirmed_incident(w.dispatcher, WEST, minutes_ago=120, end="resolved")
    [entry] = read().entries
    assert entry.link.endswith(f"/incidents/{public_id(resolved.pk)}")
    assert "Resolved" in entry.summary


def test_the_time_is_the_rounded_public_time_and_no_place_finer_than_the_cell(
    w: World,
) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=47)
    response = Client().get(reverse("public_feed"))
    [entry] = feedparser.parse(response.content).entries
    updated = entry.updated_parsed
    assert updated.tm_min % 15 == 0 and updated.tm_sec == 0
    body = response.content.decode()
    # No coordinates at all, neither the report's nor the cell's: the place is words.
    lat, lng = geo.center(incident.cell)
    for number in (f"{EAST[0]:.3f}", f"{EAST[1]:.3f}", f"{lat:.3f}", f"{lng:.3f}"):
        assert number not in body
    assert "somewhere in the area shown on the map" in entry.title


def test_held_text_and_the_summary_never_appear(w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    Incident.objects.filter(pk=incident.pk).update(summary=f"{OFFICER} at the Food 4 Less")
    body = Client().get(reverse("public_feed")).content.decode()
    assert "John Smith" not in body and "4411" not in body and "Food 4 Less" not in body
    assert "Diego" not in body and "East" not in body


def test_it_speaks_spanish_with_lang_es(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    feed = read_lang("es")
    assert feed.feed.title == "Tocsin: incidentes verificados"
    [entry] = feed.entries
    assert entry.title.startswith("Retén")
    assert "Confirmado" in entry.summary
    # The time as the map says it, in the committees' zone: not a UTC stamp.
    assert "UTC" not in entry.summary and " de " in entry.summary


def test_it_speaks_spanish_to_a_reader_asking_for_it(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    feed = read(**{"Accept-Language": "es-MX,es;q=0.9"})
    assert feed.feed.title == "Tocsin: incidentes verificados"
    assert read_lang("en").feed.title == "Tocsin: verified incidents"


def test_every_page_tells_feed_readers_where_the_feed_is(w: World) -> None:
    body = Client().get(reverse("home")).content.decode()
    assert (
        '<link rel="alternate" type="application/atom+xml" href="/feed/" '
        'title="Tocsin: verified incidents">'
    ) in body
