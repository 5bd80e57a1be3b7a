"""The anonymous report form at /report/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape

from tests import pow_support
from tests.conftest import need
from tests.factories import EAST, WEST, world
from tocsin.intake.models import Report

# Far from both test committees: no one covers it.
NOWHERE = (40.7128, -74.0060)
TEXT = "Two grey vans at the corner of 4th and Soto."
SPANISH_CATALOG = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.mo"


@pytest.fixture
def covered(db: None) -> None:
    """Create the East and West committees, so their areas are covered."""
    world()


def form(place: tuple[float, float] | None = EAST, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "checkpoint",
        "text": TEXT,
        "nonce": "nonce-1",
        "altcha": pow_support.solution(),
        **fields,
    }
    if place is not None:
        data["lat"], data["lng"] = place
    return data


def textarea(page: str) -> str | None:
    """Return what the details textarea holds (the widget starts it with a newline)."""
    match = re.search(r'<textarea name="text"[^>]*>\n?(.*?)</textarea>', page, re.S)
    return match.group(1) if match else None


def post(client: Client, data: dict[str, Any], **extra: Any) -> Any:
    return client.post(reverse("report"), data, **extra)


def test_it_redirects_to_a_receipt_page(client: Client, covered: None) -> None:
    response = post(client, form())
    report = Report.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("report_done", args=[report.receipt])
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert f'id="receipt">{report.receipt}<' in page.content.decode()
    assert report.text == TEXT
    assert report.kind == "checkpoint"


def test_it_accepts_a_place_in_any_committees_area(client: Client, covered: None) -> None:
    assert post(client, form(WEST)).status_code == 302
    assert Report.objects.count() == 1


def test_it_keeps_the_text_when_no_place_is_picked(client: Client, covered: None) -> None:
    response = post(client, form(place=None))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Pick the place on the map" in page
    assert textarea(page) == escape(TEXT)
    assert not Report.objects.exists()


def test_it_refuses_a_place_outside_every_committee_area(client: Client, covered: None) -> None:
    response = post(client, form(NOWHERE))
    page = response.content.decode()
    assert response.status_code == 400
    assert "No committee covers that place yet" in page
    assert textarea(page) == escape(TEXT)
    assert not Report.objects.exists()


def test_it_refuses_text_over_1000_characters(client: Client, covered: None) -> None:
    response = post(client, form(text="x" * 1001))
    assert response.status_code == 400
    assert (
        "Please keep details under 1000 characters (you wrote 1001)." in response.content.decode()
    )
    assert not Report.objects.exists()


def test_it_accepts_text_of_exactly_1000_characters(client: Client, covered: None) -> None:
    assert post(client, form(text="x" * 1000)).status_code == 302
    assert len(Report.objects.get().text) == 1000


def test_a_double_submit_returns_the_same_receipt(client: Client, covered: None) -> None:
    first = post(client, form(nonce="same"))
    second = post(client, form(nonce="same"))
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Report.objects.count() == 1


def test_two_forms_make_two_reports(client: Client, covered: None) -> None:
    first = post(client, form(nonce="one"))
    second = post(client, form(nonce="two"))
    assert first["Location"] != second["Location"]
    assert Report.objects.count() == 2


def test_a_report_keeps_nothing_of_who_sent_it(client: Client, covered: None) -> None:
    from django.contrib.auth.models import User

    from tests.factories import member
    from tocsin.members.models import Member

    client.force_login(member("Rosa").user)
    post(client, form())
    assert Report.objects.count() == 1
    related = {f.related_model for f in Report._meta.get_fields() if f.is_relation}
    assert Member not in related
    assert User not in related


def test_the_receipt_page_404s_for_an_unknown_receipt(client: Client, covered: None) -> None:
    assert client.get(reverse("report_done", args=["ZZZZZZZZ"])).status_code == 404


SPANISH_REQUESTS = [
    pytest.param({"HTTP_ACCEPT_LANGUAGE": "es"}, id="accept-language"),
    pytest.param({}, id="cookie"),
]


def spanish_client(extra: dict[str, str]) -> Client:
    client = Client()
    if not extra:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    return client


def spanish(english: str) -> str:
    """Return the catalog's Spanish for ``english``; fail if it has none."""
    with translation.override("es"):
        text = translation.gettext(english)
    assert text != english, f"no Spanish translation for {english!r}"
    return escape(text)


@pytest.mark.parametrize("extra", SPANISH_REQUESTS)
def test_a_spanish_request_gets_a_spanish_page(covered: None, extra: dict[str, str]) -> None:
    response = spanish_client(extra).get(reverse("report"), **extra)
    page = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="es">' in page
    need(SPANISH_CATALOG.exists(), "locale/es/LC_MESSAGES/django.mo is not compiled yet")
    assert spanish("Report what you see") in page
    assert spanish("Send report") in page
    assert "Report what you see" not in page


@pytest.mark.skipif(
    not SPANISH_CATALOG.exists(), reason="locale/es/LC_MESSAGES/django.mo is not compiled yet"
)
@pytest.mark.parametrize("extra", SPANISH_REQUESTS)
def test_a_spanish_request_gets_spanish_errors(covered: None, extra: dict[str, str]) -> None:
    client = spanish_client(extra)
    no_place = post(client, form(place=None), **extra)
    outside = post(client, form(NOWHERE), **extra)
    assert no_place.status_code == outside.status_code == 400
    assert (
        spanish("Pick the place on the map, search for it by name, or tap “Use my location”.")
        in no_place.content.decode()
    )
    assert (
        spanish(
            "No committee covers that place yet, so nobody could respond. "
            "Check the place on the map; shaded areas are covered."
        )
        in outside.content.decode()
    )


def test_a_double_submit_after_the_area_was_dropped_returns_the_same_receipt(
    client: Client, covered: None
) -> None:
    from tocsin.committees.models import CommitteeCell

    first = post(client, form(nonce="same"))
    CommitteeCell.objects.all().delete()
    second = post(client, form(nonce="same"))
    assert second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Report.objects.count() == 1


@pytest.mark.parametrize("need_approval", [True, False])
def test_a_report_reaches_the_committees_covering_it_as_the_orm_finds_them(
    client: Client, covered: None, settings: Any, need_approval: bool
) -> None:
    from tocsin import geo
    from tocsin.committees.models import Committee, covering_ids

    settings.COMMITTEES_NEED_APPROVAL = need_approval
    east = Committee.objects.get(slug="east")
    Committee.objects.filter(pk=east.pk).update(approved_at=None)
    for place in (EAST, WEST, NOWHERE):
        cell = geo.cell_at(*place, geo.REPORT_RESOLUTION)
        area = geo.parent(cell, settings.AREA_RESOLUTION)
        assert covering_ids(area) == Committee.objects.covering(area).ids()
    stored = post(client, form(nonce="routed"))
    assert stored.status_code == (400 if need_approval else 302)
    if not need_approval:
        assert list(Report.objects.get().committees.values_list("pk", flat=True)) == [east.pk]
