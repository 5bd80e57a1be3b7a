"""The public map of verified incidents (/map/), its GeoJSON and its live list: confirmed
and resolved incidents only, never finer or earlier than tocsin.public.incidents.published,
in the operator's time zone, in English and Spanish; and the shareable, printable
know-your-rights page."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import h3
import pytest
from django.conf import settings
from django.http import StreamingHttpResponse
from django.test import Client, RequestFactory
from django.utils import formats, timezone, translation
from shapely.geometry import Point, shape

from tests.factories import EAST, WEST, World, confirmed_incident, world
from tocsin import geo
from tocsin.demo.data import load_demo
from tocsin.incidents.models import Incident
from tocsin.incidents.services import change_state
from tocsin.intake.models import Report
from tocsin.lib import exposure, live, sse
from tocsin.public import incident_map, views
from tocsin.public.incidents import public_id, published

# Only against hangs: every wait here ends long before this.
WAIT = 30.0
# A decimal coordinate as a page might leak one: "34.0452" or "-118.2107".
COORDINATE = re.compile(r"-?\d{1,3}\.\d{3,}")
HELD = "Agent John Smith, badge 4411, stop the van"


@pytest.fixture
def w(db: None) -> World:
    return world()


def _text(html: str) -> str:
    """Return what a person reads of ``html``: no tags, no attributes."""
    return re.sub(r"<[^>]+>", " ", html)


def _hold_text(incident: Incident) -> None:
    """Give the incident and its report words the public must never read."""
    Incident.objects.filter(pk=incident.pk).update(summary=HELD)
    Report.objects.filter(incident=incident).update(text=HELD)


def _scene(w: World) -> dict[str, Incident]:
    """An incident for each case: public, too fresh, a false alarm, resolved."""
    old = confirmed_incident(w.dispatcher, minutes_ago=60)
    _hold_text(old)
    return {
        "old": old,
        "fresh": confirmed_incident(w.dispatcher, WEST, minutes_ago=5),
        "unfounded": confirmed_incident(
            w.dispatcher, (34.0600, -118.1900), minutes_ago=120, end="unfounded"
        ),
        "resolved": confirmed_incident(
            w.dispatcher, (34.0300, -118.2300), minutes_ago=180, end="resolved", kind="agents_seen"
        ),
    }


# --- the page ---------------------------------------------------------------------------


def test_the_page_lists_what_the_public_may_see_and_nothing_finer_or_earlier(w: World) -> None:
    s = _scene(w)
    response = Client().get("/map/")
    assert response.status_code == 200
    html = response.content.decode()
    shown = re.findall(r'data-incident="([a-z2-7]+)"', html)
    assert shown == [p.public_id for p in published()]
    assert shown == [public_id(s["old"].pk), public_id(s["resolved"].pk)]
    text = _text(html)
    assert HELD not in html
    assert COORDINATE.search(text) is None
    # The public time only: the confirmation rounded down, never the exact minute.
    for p in published():
        assert f'datetime="{p.at.isoformat()}"' in html
    exact = s["old"].confirmed_at
    assert exact is not None and f'datetime="{exact.isoformat()}"' not in html


def test_the_page_names_kind_state_area_time_and_verification(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    [p] = published()
    text = _text(Client().get("/map/").content.decode())
    assert "Checkpoint" in text and "Confirmed" in text
    assert p.place_text in text
    assert "confirmed by the committee" in text
    local = p.at.astimezone(ZoneInfo(settings.TIME_ZONE))
    assert local.utcoffset() != timedelta(0)
    assert formats.date_format(local, "DATETIME_FORMAT") in text
    assert formats.date_format(p.at, "DATETIME_FORMAT") not in text


def test_the_page_is_in_spanish(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    client = Client(headers={"accept-language": "es"})
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    text = _text(client.get("/map/").content.decode())
    assert "Mapa de incidentes verificados" in text
    assert "Confirmado" in text
    assert "Observe, documente" in text


def test_the_filter_shows_one_kind_over_one_period(w: World) -> None:
    checkpoint = confirmed_incident(w.dispatcher, minutes_ago=60)
    agents = confirmed_incident(w.dispatcher, WEST, minutes_ago=60, kind="agents_seen")
    week_old = confirmed_incident(w.dispatcher, (34.0300, -118.2300), minutes_ago=3 * 24 * 60)

    def listed(query: str) -> set[str]:
        html = Client().get(f"/map/?{query}").content.decode()
        return set(re.findall(r'data-incident="([a-z2-7]+)"', html))

    ids = {i.pk: public_id(i.pk) for i in (checkpoint, agents, week_old)}
    assert listed("") == {ids[checkpoint.pk], ids[agents.pk], ids[week_old.pk]}
    assert listed("window=24h") == {ids[checkpoint.pk], ids[agents.pk]}
    assert listed("kind=agents_seen&window=30d") == {ids[agents.pk]}
    # Anything unknown is the default, never an error.
    assert listed("kind=nonsense&window=1y") == set(ids.values())


def test_with_nothing_to_show_the_page_says_so(w: World) -> None:
    response = Client().get("/map/")
    assert b'data-testid="no-public-incidents"' in response.content


def test_the_page_loads_the_map_only_when_asked(w: World) -> None:
    html = Client().get("/map/").content.decode()
    head, _sep, rest = html.partition('<template id="map-scripts">')
    assert "leaflet.js" not in head
    assert "leaflet.js" in rest
    assert 'id="map-open"' in html


def test_the_home_page_and_the_navigation_link_to_the_map(db: None) -> None:
    html = Client().get("/").content.decode()
    assert html.count('href="/map/"') >= 2


# --- GeoJSON ----------------------------------------------------------------------------


def _geojson(query: str = "") -> dict[str, Any]:
    response = Client().get(f"/map/incidents.geojson{query}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    return json.loads(response.content)


def test_the_geojson_is_the_public_cell_of_each_public_incident(w: World) -> None:
    s = _scene(w)
    data = _geojson()
    assert data["type"] == "FeatureCollection"
    assert [f["id"] for f in data["features"]] == [
        public_id(s["old"].pk),
        public_id(s["resolved"].pk),
    ]
    for f, p in zip(data["features"], published(), strict=True):
        polygon = shape(f["geometry"])  # shapely: not the code that wrote it
        assert polygon.geom_type == "Polygon" and polygon.is_valid
        # RFC 7946: the exterior ring follows the right-hand rule (counterclockwise).
        assert polygon.exterior.is_ccw
        # Longitude first: the cell's centre is inside, not its mirror image.
        lat, lng = geo.center(p.cell)
        assert polygon.contains(Point(lng, lat))
        assert not polygon.contains(Point(lat, lng))
        # The whole public cell, never a finer one.
        expected = shape(
            {
                "type": "Polygon",
                "coordinates": [[[x, y] for y, x in h3.cell_to_boundary(p.cell_id)]],
            }
        )
        assert abs(polygon.area - expected.area) < expected.area * 1e-3
        assert h3.get_resolution(f["properties"]["cell"]) == settings.PUBLIC_RESOLUTION
        assert f["properties"]["at"] == p.at.isoformat().replace("+00:00", "Z")


def test_the_geojson_carries_only_public_fields(w: World) -> None:
    s = _scene(w)
    body = Client().get("/map/incidents.geojson").content.decode()
    assert HELD not in body
    assert s["old"].confirmed_at is not None
    assert s["old"].confirmed_at.isoformat() not in body
    data = json.loads(body)
    allowed = {"kind", "kind_label", "state", "state_label", "at", "place", "verification"}
    allowed |= {"cell", "resolution"}
    for f in data["features"]:
        assert set(f["properties"]) == allowed
        assert f["properties"]["state"] in ("confirmed", "resolved")


def test_the_geojson_is_filtered_like_the_page(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    agents = confirmed_incident(w.dispatcher, WEST, minutes_ago=60, kind="agents_seen")
    data = _geojson("?kind=agents_seen")
    assert [f["id"] for f in data["features"]] == [public_id(agents.pk)]


# --- the live list ----------------------------------------------------------------------


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[live.InProcessBroker]:
    chosen = live.InProcessBroker()
    monkeypatch.setattr(live, "broker", lambda: chosen)
    sse._hubs.clear()
    yield chosen
    sse._hubs.clear()


def _open(query: str = "", language: str = "en") -> AsyncIterator[bytes]:
    request = RequestFactory().get(f"/map/live/{query}")
    with translation.override(language):
        response = views.public_map_live(request)
    assert isinstance(response, StreamingHttpResponse)
    return aiter(response.streaming_content)  # type: ignore[arg-type]


async def _read(stream: AsyncIterator[bytes]) -> str:
    chunk = await asyncio.wait_for(anext(stream), WAIT)
    lines = chunk.decode().splitlines()
    return "\n".join(line.removeprefix("data: ") for line in lines if line.startswith("data: "))


async def _close(stream: AsyncIterator[bytes]) -> None:
    await stream.aclose()  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_the_live_list_is_never_finer_or_earlier(broker: live.InProcessBroker) -> None:
    s = _scene(world())

    async def run() -> str:
        stream = _open()
        try:
            return await _read(stream)
        finally:
            await _close(stream)

    html = asyncio.run(run())
    assert re.findall(r'data-incident="([a-z2-7]+)"', html) == [
        public_id(s["old"].pk),
        public_id(s["resolved"].pk),
    ]
    assert HELD not in html
    assert COORDINATE.search(_text(html)) is None


@pytest.mark.django_db(transaction=True)
def test_the_live_list_shows_an_incident_when_its_delay_passes_with_no_event(
    broker: live.InProcessBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world()
    # Nothing is published and neither poll comes: only the list's own timer renders.
    monkeypatch.setattr(sse, "FALLBACK_SECONDS", 3600.0)
    monkeypatch.setattr(sse, "SAFETY_POLL_SECONDS", 3600.0)
    monkeypatch.setattr(views, "MAP_RENDER_SECONDS", 0.1)
    incident = confirmed_incident(w.dispatcher, minutes_ago=20)

    async def run() -> tuple[str, str]:
        stream = _open()
        try:
            before = await _read(stream)
            # Time passes: the delay is over (the operator's rules say none now; its
            # quarter hour ended at most 15 minutes after it was confirmed, 20 ago).
            settings.PUBLIC_DELAY_MINUTES = 0
            return before, await _read(stream)
        finally:
            await _close(stream)

    original = settings.PUBLIC_DELAY_MINUTES
    try:
        before, after = asyncio.run(run())
    finally:
        settings.PUBLIC_DELAY_MINUTES = original
    assert f'data-incident="{public_id(incident.pk)}"' not in before
    assert f'data-incident="{public_id(incident.pk)}"' in after


def test_a_resolution_reaches_the_public_only_after_its_delay(w: World) -> None:
    # Shown at once, a resolution would tell the public the minute it ended.
    incident = confirmed_incident(w.dispatcher, minutes_ago=120)
    change_state(incident, "resolved", actor=w.dispatcher)
    client = Client()
    assert [p.state for p in published()] == ["confirmed"]
    assert "Resolved" not in _text(client.get("/map/").content.decode())
    assert [f["properties"]["state"] for f in _geojson()["features"]] == ["confirmed"]
    [item] = client.get("/api/v1/incidents").json()
    assert item["state"] == "confirmed"
    # Time passes: its time step has ended, and the delay after it.
    closed = timezone.now() - timedelta(minutes=settings.PUBLIC_DELAY_MINUTES)
    Incident.objects.filter(pk=incident.pk).update(closed_at=closed)
    step = timedelta(minutes=settings.PUBLIC_TIME_STEP_MINUTES)
    assert [p.state for p in published()] == (
        ["resolved"] if (closed - exposure.EPOCH) % step == timedelta(0) else ["confirmed"]
    )
    Incident.objects.filter(pk=incident.pk).update(closed_at=closed - step)
    assert [p.state for p in published()] == ["resolved"]
    assert "Resolved" in _text(client.get("/map/").content.decode())


@pytest.mark.django_db(transaction=True)
def test_a_resolution_reaches_the_live_list_when_its_delay_passes(
    broker: live.InProcessBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world()
    monkeypatch.setattr(sse, "FALLBACK_SECONDS", 3600.0)
    monkeypatch.setattr(sse, "SAFETY_POLL_SECONDS", 3600.0)
    monkeypatch.setattr(views, "MAP_RENDER_SECONDS", 0.1)
    incident = confirmed_incident(w.dispatcher, minutes_ago=120)

    def resolve_then_let_time_pass() -> str:
        change_state(incident, "resolved", actor=w.dispatcher)
        # What the live list renders now (on the resolution's event): still confirmed.
        now_shown = views._map_list(incident_map.Filter())["incidents"]
        Incident.objects.filter(pk=incident.pk).update(
            closed_at=timezone.now() - timedelta(hours=1)
        )
        return [p.state for p in now_shown][0]  # type: ignore[index]

    async def run() -> tuple[str, str, str]:
        stream = _open()
        try:
            before = await _read(stream)
            meanwhile = await asyncio.to_thread(resolve_then_let_time_pass)
            return before, meanwhile, await _read(stream)
        finally:
            await _close(stream)

    before, meanwhile, after = asyncio.run(run())
    assert "Confirmed" in _text(before) and "Resolved" not in _text(before)
    assert meanwhile == "confirmed"
    # The list's own timer shows it once the delay has passed, with no event.
    assert "Resolved" in _text(after)


@pytest.mark.django_db(transaction=True)
def test_one_render_serves_every_viewer_of_a_filter_and_language(
    broker: live.InProcessBroker,
) -> None:
    w = world()
    confirmed_incident(w.dispatcher, minutes_ago=60)

    async def run() -> tuple[list[str], int]:
        streams = [_open() for _ in range(20)] + [_open(language="es")]
        try:
            frames = await asyncio.gather(*(_read(s) for s in streams))
            return list(frames), len(next(iter(sse._hubs.values())).feeds)
        finally:
            for s in streams:
                await _close(s)

    frames, feeds = asyncio.run(run())
    assert len(set(frames[:20])) == 1
    assert "Confirmado" in frames[20]
    assert feeds == 2


# --- know your rights -------------------------------------------------------------------


def test_the_rights_page_can_be_shared_and_printed(db: None) -> None:
    html = Client().get("/rights/").content.decode()
    assert f"{settings.SITE_URL}/rights/" in html
    assert 'src="/rights/qr.svg"' in html
    assert re.search(
        r'<link rel="stylesheet" media="print" href="[^"]*rights-print[^"]*\.css"', html
    )


def test_the_rights_qr_code_is_an_svg_of_the_page(db: None) -> None:
    response = Client().get("/rights/qr.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert (
        response.content.startswith(b"<svg")
        and b'xmlns="http://www.w3.org/2000/svg"' in response.content
    )


def test_the_printed_rights_page_has_the_hotlines(w: World) -> None:
    w.east.hotline_numbers = ["+12135550142"]
    w.east.save(update_fields=["hotline_numbers"])
    html = Client().get("/rights/").content.decode()
    assert 'href="tel:+12135550142"' in html


def test_a_time_is_never_shown_before_it_is_public(w: World) -> None:
    """The delay holds for every output at once: nothing on the page, nothing in the
    GeoJSON, nothing in published(), until TOCSIN_PUBLIC_DELAY_MINUTES have passed."""
    confirmed_incident(w.dispatcher, EAST, minutes_ago=settings.PUBLIC_DELAY_MINUTES - 1)
    assert published() == []
    assert b"data-incident=" not in Client().get("/map/?window=24h").content
    assert _geojson()["features"] == []


def test_the_demo_shows_past_incidents_on_the_public_map(db: None) -> None:
    load_demo(members=20)
    states = {p.state for p in published()}
    assert states == {"confirmed", "resolved"}
    assert all(p.verification for p in published())
    html = Client().get("/map/").content.decode()
    assert html.count("data-incident=") == len(published()) == 3
