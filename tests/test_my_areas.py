"""Areas on /me/: a member adds the places they get alerts for; a mistake keeps what they
typed and says what is missing, in their language."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import EAST, World, session_for
from tocsin import geo
from tocsin.members.models import AlertArea, Member

pytestmark = pytest.mark.django_db


def test_a_member_adds_an_area_by_tapping_the_map(w: World) -> None:
    client = session_for(w.member)
    before = w.member.areas.count()
    data = {"label": "Trabajo", "lat": EAST[0], "lng": EAST[1], "ring": 2}
    response = client.post(reverse("add_area"), data)
    assert response.status_code == 302
    assert w.member.areas.count() == before + 1
    assert w.member.areas.filter(label="Trabajo", ring=2).exists()


def test_an_area_without_a_place_keeps_its_name_and_says_to_tap_the_map(w: World) -> None:
    Member.objects.filter(pk=w.member.pk).update(language="es")
    before = w.member.areas.count()
    response = session_for(w.member).post(reverse("add_area"), {"label": "Trabajo", "ring": 2})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="Trabajo"' in html
    assert '<option value="2" selected>' in html
    assert "Toque el mapa para elegir el lugar." in html
    assert w.member.areas.count() == before


def test_an_eleventh_area_is_refused_and_the_form_kept(w: World) -> None:
    for n in range(10 - w.member.areas.count()):
        AlertArea.objects.create(
            member=w.member, label=f"a{n}", cell=geo.cell_at(*EAST, settings.AREA_RESOLUTION)
        )
    response = session_for(w.member).post(
        reverse("add_area"), {"label": "Escuela", "lat": EAST[0], "lng": EAST[1], "ring": 1}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "You can have up to 10 areas." in html
    assert 'value="Escuela"' in html
    assert w.member.areas.count() == 10


def test_the_maps_centre_is_written_with_a_point_in_spanish_too(w: World) -> None:
    Member.objects.filter(pk=w.member.pk).update(language="es")
    html = session_for(w.member).get(reverse("me")).content.decode()
    lat, lng = settings.MAP_CENTER
    assert f'data-lat="{lat:.6f}" data-lng="{lng:.6f}"' in html
    find = Client(HTTP_ACCEPT_LANGUAGE="es").get(reverse("committees_find")).content.decode()
    assert f'data-lat="{lat:.6f}" data-lng="{lng:.6f}"' in find
