"""The map of upcoming public mobilizations in Chromium at a phone's size, in English and
Spanish: the list is the page; the map opens on request (Leaflet loads only then, from
this server), draws each public mobilization at its assembly point, never a members-only
one, and tapping a marker opens the mobilization's page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories
from tests.a11y_support import AXE_JS, phone_problems
from tests.browser_support import orm
from tests.conftest import need
from tests.test_browser_public_map import browser, phone, server  # noqa: F401 (fixtures)
from tocsin.mobilize.planned import Mobilization, Visibility

pytestmark = pytest.mark.django_db(transaction=True)

OPEN = {"en": "Show the map", "es": "Mostrar el mapa"}


def scene() -> dict[str, int]:
    w = factories.world()
    start = timezone.now() + timedelta(days=3)
    common: dict[str, Any] = {
        "committee": w.east,
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
    }
    vigil = Mobilization.objects.create(
        kind="vigil",
        title="Vigil for the Soto families",
        title_es="Vigilia por las familias de Soto",
        address="Mariachi Plaza",
        lat=34.0472,
        lng=-118.2195,
        **common,
    )
    training = Mobilization.objects.create(
        kind="kyr_training",
        title="Know your rights",
        title_es="Conozca sus derechos",
        address="Soto St & 4th St",
        lat=34.0361,
        lng=-118.2093,
        **common,
    )
    private = Mobilization.objects.create(
        kind="meeting",
        title="Members meeting",
        title_es="Reunión de miembros",
        address="Hollenbeck Park",
        lat=34.0420,
        lng=-118.2170,
        visibility=Visibility.MEMBERS,
        **common,
    )
    return {"vigil": vigil.pk, "training": training.pk, "private": private.pk}


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_mobilization_map_on_a_phone(phone: Any, server: str, language: str) -> None:  # noqa: F811
    need(AXE_JS.is_file(), "axe-core is not installed (run `npm ci`)")
    s = orm(scene)
    page = phone(language)
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
    leaflet: list[str] = []
    page.on("request", lambda r: leaflet.append(r.url) if "leaflet" in r.url else None)
    response = page.goto("/m/")
    assert response is not None and response.status == 200
    # The list is the page: the map library waits until someone opens the map.
    expect(page.locator("[data-mobilization]")).to_have_count(2)
    assert leaflet == []

    page.get_by_role("button", name=OPEN[language]).click()
    expect(page.locator("#map")).to_be_visible()
    page.wait_for_function("() => document.getElementById('map').dataset.drawn === '2'")
    markers = page.locator("#map path.leaflet-interactive")
    expect(markers).to_have_count(2)
    assert leaflet, "Leaflet loaded when the map opened"
    assert hosts == {urlsplit(server).netloc}, hosts
    problems = phone_problems(page, f"/m/ ({language}, map open)")
    assert problems == [], "\n".join(problems)

    # Tapping a marker opens that mobilization's page.
    page.locator("#map").evaluate("el => el.scrollIntoView()")
    markers.first.dispatch_event("click")
    page.wait_for_url(lambda url: urlsplit(url).path.startswith("/m/") and url.count("/") > 4)
    path = urlsplit(page.url).path
    assert path in {f"/m/{s['vigil']}/", f"/m/{s['training']}/"}, path
    assert path != f"/m/{s['private']}/"
