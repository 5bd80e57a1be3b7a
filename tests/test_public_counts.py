"""Counts shown in public hide small numbers: "fewer than 5", never "2 people are coming".

Organizer-only pages show exact counts (tests/test_dashboard.py); every page a stranger
(or a member) can open without staff rights goes through tocsin.lib.counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone, translation
from pytest_django.fixtures import Settings

from tests.factories import World, world
from tocsin.lib.counts import publish_count
from tocsin.mobilize import rsvps
from tocsin.mobilize.planned import Mobilization, MobilizationRole

# A small number said as a count of people or places, in English or Spanish.
SMALL_COUNT = re.compile(
    r"(?<![\d.,:/-])[0-4]\s+(persons?|people|places?|personas?|lugar(es)?)\b", re.IGNORECASE
)


@pytest.fixture
def w(db: None) -> World:
    return world()


def vigil(w: World, *, going: int, capacity: int) -> Mobilization:
    start = timezone.now() + timedelta(days=3)
    m = Mobilization.objects.create(
        committee=w.east,
        kind="vigil",
        title="Vigil for the Soto families",
        title_es="Vigilia por las familias de Soto",
        address="Mariachi Plaza",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        capacity=capacity,
    )
    marshals = MobilizationRole.objects.create(mobilization=m, kind="marshal", capacity=capacity)
    for n in range(going):
        rsvps.sign_up(m, contact=rsvps.Contact("email", f"person{n}@example.org"))
    rsvps.sign_up(m, contact=rsvps.Contact("email", "marshal@example.org"), role=marshals)
    return m


def live_turnout(m: Mobilization, language: str) -> str:
    async def first_event() -> bytes:
        client = AsyncClient()
        client.cookies["django_language"] = language
        response = await client.get(reverse("mobilization_live", args=[m.pk]))
        stream = response.streaming_content
        try:
            return await anext(aiter(stream))
        finally:
            await stream.aclose()

    return async_to_sync(first_event)().decode()


def get(path: str, language: str) -> str:
    client = Client()
    client.cookies["django_language"] = language
    return client.get(path, HTTP_ACCEPT_LANGUAGE=language).content.decode()


# Every public page that shows (or may show) a count of a mobilization; its live stream
# (mobilization_live) is read apart, as the stream needs a real transaction.
PUBLIC_PAGES: dict[str, Callable[[Mobilization, str], str]] = {
    "home": lambda m, lang: get(reverse("home"), lang),
    "mobilizations": lambda m, lang: get(reverse("mobilizations"), lang),
    "mobilization": lambda m, lang: get(reverse("mobilization", args=[m.pk]), lang),
    "mobilizations_osdi": lambda m, lang: get(reverse("mobilizations_osdi"), lang),
    "mobilizations_ics": lambda m, lang: get(reverse("mobilizations_ics"), lang),
    "committee_ics": lambda m, lang: get(reverse("committee_ics", args=["east"]), lang),
}


def test_a_count_below_the_threshold_is_hidden() -> None:
    assert publish_count(4).hidden
    assert publish_count(0).hidden
    assert publish_count(5).n == 5
    assert publish_count(2, threshold=2).n == 2
    with translation.override("en"):
        assert str(publish_count(3)) == "fewer than 5"
        assert str(publish_count(12)) == "12"
    with translation.override("es"):
        assert str(publish_count(3)) == "menos de 5"


def test_the_threshold_is_the_operators_setting(settings: Settings) -> None:
    settings.PUBLIC_MIN_COUNT = 10
    assert publish_count(9).hidden
    assert publish_count(10).n == 10


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("page", sorted(PUBLIC_PAGES))
def test_no_public_page_shows_a_count_below_the_threshold(
    w: World, page: str, language: str
) -> None:
    # 3 people coming (2 attending, 1 marshal), 4 of 6 places left to attend: below 5.
    m = vigil(w, going=2, capacity=6)
    body = PUBLIC_PAGES[page](m, language)
    assert not SMALL_COUNT.search(body), SMALL_COUNT.search(body)


@pytest.mark.parametrize(
    ("language", "hidden"),
    [
        ("en", ["Fewer than 5 people are coming.", "fewer than 5 places left"]),
        ("es", ["Vienen menos de 5 personas.", "quedan menos de 5 lugares"]),
    ],
)
def test_the_mobilization_page_says_fewer_than_the_threshold(
    w: World, language: str, hidden: list[str]
) -> None:
    m = vigil(w, going=2, capacity=6)
    body = PUBLIC_PAGES["mobilization"](m, language)
    for words in hidden:
        assert words in body


def test_counts_at_the_threshold_are_shown(w: World) -> None:
    m = vigil(w, going=6, capacity=12)
    body = PUBLIC_PAGES["mobilization"](m, "en")
    assert "7 people are coming." in body
    assert "6 places left" in body


def test_the_check_would_see_a_small_count(w: World, settings: Settings) -> None:
    """The pattern above catches the page's counts when the operator shows them all."""
    settings.PUBLIC_MIN_COUNT = 1
    m = vigil(w, going=2, capacity=6)
    assert SMALL_COUNT.search(PUBLIC_PAGES["mobilization"](m, "en"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("language", "hidden"),
    [
        ("en", ["Fewer than 5 people are coming.", "fewer than 5 places left"]),
        ("es", ["Vienen menos de 5 personas.", "quedan menos de 5 lugares"]),
    ],
)
def test_the_live_count_hides_small_numbers_too(language: str, hidden: list[str]) -> None:
    m = vigil(world(), going=2, capacity=6)
    body = live_turnout(m, language)
    assert "event: update" in body
    assert not SMALL_COUNT.search(body), SMALL_COUNT.search(body)
    for words in hidden:
        assert words in body
