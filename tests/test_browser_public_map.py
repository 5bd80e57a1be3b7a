"""The public map of verified incidents in Chromium at a phone's size, in English and
Spanish: the list shows what the public may see, in words (never coordinates); the map
opens and draws each incident's cell; a resolution reaches the list without a reload; and
the page, with its map open, fits the phone and passes axe (tests/a11y_support.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests import factories
from tests.a11y_support import AXE_JS, PHONE_OPTIONS, phone_problems
from tests.browser_support import WAIT_MS, LiveServer, chromium, orm
from tests.conftest import need
from tests.factories import EAST, WEST
from tests.test_browser_loop import COUNT_LIVE_UPDATES, wait_live
from tocsin.incidents.services import change_state
from tocsin.places.models import Place, PlaceKind
from tocsin.public.incidents import public_id

pytestmark = pytest.mark.django_db(transaction=True)

COORDINATE = re.compile(r"-?\d{1,3}\.\d{3,}")
WORDS = {
    "en": {
        "title": "Map of verified incidents",
        "kind": "Checkpoint",
        "confirmed": "Confirmed",
        "resolved": "Resolved",
        "area": "in Boyle Heights",
        "verified": "confirmed by the committee's dispatcher",
        "guidance": "do not interfere",
        "open": "Show the map",
    },
    "es": {
        "title": "Mapa de incidentes verificados",
        "kind": "Retén",
        "confirmed": "Confirmado",
        "resolved": "Resuelto",
        "area": "en Boyle Heights",
        "verified": "confirmado",
        "guidance": "No interfiera",
        "open": "Mostrar el mapa",
    },
}


@pytest.fixture
def server(transactional_db: None, settings: Any) -> Iterator[str]:
    live = LiveServer()
    try:
        settings.SITE_URL = live.url
        live.start()
        yield live.url
    finally:
        live.stop()


@pytest.fixture
def browser(chromium_path: str, server: str) -> Iterator[Browser]:
    with chromium(chromium_path) as b:
        yield b


@pytest.fixture
def phone(browser: Browser, server: str) -> Iterator[Any]:
    made: list[BrowserContext] = []

    def make(language: str) -> Page:
        ctx = browser.new_context(
            base_url=server, locale="es-ES" if language == "es" else "en-US", **PHONE_OPTIONS
        )
        ctx.set_default_timeout(WAIT_MS)
        ctx.add_init_script(COUNT_LIVE_UPDATES)
        made.append(ctx)
        return ctx.new_page()

    try:
        yield make
    finally:
        for ctx in made:
            ctx.close()


def scene() -> dict[str, int]:
    """One incident the public may see, one too fresh, one false alarm."""
    w = factories.world()
    Place.objects.create(
        committee=w.east, name="Boyle Heights", kind=PlaceKind.AREA, lat=EAST[0], lng=EAST[1]
    )
    public = factories.confirmed_incident(w.dispatcher, EAST, minutes_ago=60)
    fresh = factories.confirmed_incident(w.dispatcher, WEST, minutes_ago=5)
    false_alarm = factories.confirmed_incident(
        w.dispatcher, (34.0600, -118.1900), minutes_ago=120, end="unfounded"
    )
    return {"public": public.pk, "fresh": fresh.pk, "unfounded": false_alarm.pk}


def resolve(pk: int) -> None:
    """Resolve it an hour ago: the public sees a resolution only after its delay (one
    transaction, so the list's re-render on the event already sees the old time)."""
    from django.db import transaction
    from django.utils import timezone

    from tocsin.incidents.models import Incident

    incident = Incident.objects.get(pk=pk)
    dispatcher = factories.Member.objects.get(display_name="Diego")
    with transaction.atomic():
        change_state(incident, "resolved", actor=dispatcher)
        Incident.objects.filter(pk=pk).update(closed_at=timezone.now() - timedelta(hours=1))


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_public_map_on_a_phone(phone: Any, language: str) -> None:
    need(AXE_JS.is_file(), "axe-core is not installed (run `npm ci`)")
    words = WORDS[language]
    s = orm(scene)
    page = phone(language)
    response = page.goto("/map/")
    assert response is not None and response.status == 200
    assert page.evaluate("document.documentElement.lang") == language
    expect(page.locator("h1")).to_have_text(words["title"])

    # The list: only the public incident, in words.
    items = page.locator("[data-incident]")
    expect(items).to_have_count(1)
    assert items.first.get_attribute("data-incident") == public_id(s["public"])
    card = items.first.inner_text()
    for word in ("kind", "confirmed", "area", "verified"):
        assert words[word] in card, (word, card)
    body = page.locator("body").inner_text()
    assert COORDINATE.search(body) is None, COORDINATE.search(body)
    assert words["guidance"] in body

    # The map opens on request and draws the incident's cell.
    wait_live(page)
    mark = page.evaluate("() => { window.__samePage = true; return true; }")
    assert mark
    page.get_by_role("button", name=words["open"]).click()
    expect(page.locator("#map")).to_be_visible()
    page.wait_for_function("() => document.getElementById('map').dataset.drawn === '1'")
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)
    problems = phone_problems(page, f"/map/ ({language}, map open)")

    # A resolution reaches the list without a reload, and the map draws it again.
    before = page.evaluate("() => window.__liveUpdates")
    orm(lambda: resolve(s["public"]))
    wait_live(page, before + 1)
    expect(items.first).to_contain_text(words["resolved"])
    assert page.evaluate("() => window.__samePage === true")
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)
    assert problems == [], "\n".join(problems)


def committees_with_hotlines() -> None:
    from tocsin.committees.models import Committee

    east = factories.committee("East")
    west = factories.committee("West", WEST)
    Committee.objects.filter(pk=east.pk).update(hotline_numbers=["+12135550142"])
    Committee.objects.filter(pk=west.pk).update(hotline_numbers=["+13235550199", "+12135550100"])


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_rights_page_prints_on_one_sheet_with_large_hotlines(phone: Any, language: str) -> None:
    orm(committees_with_hotlines)
    page = phone(language)
    page.goto("/rights/")
    # The QR code to share it is an image that loads.
    assert page.evaluate("() => document.querySelector('img.qr').naturalWidth > 0")
    page.emulate_media(media="print")
    size = page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector('.hotlines .tel')).fontSize)"
    )
    assert size >= 30, size  # 24 pt
    assert not page.locator("header.top").is_visible()
    pdf = page.pdf(format="Letter")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1
