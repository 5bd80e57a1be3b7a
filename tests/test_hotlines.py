"""Committees' hotline numbers: set by organizers, shown to reporters wherever a report
could hit a dead end (report page, every refusal, receipt page, know-your-rights page)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from tests import pow_support
from tests.factories import EAST, WEST, World, committee, session_for, world
from tocsin.committees import hotlines
from tocsin.committees.models import Committee
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, ReportKind
from tocsin.lib import phones

NOWHERE = (40.7128, -74.0060)
EAST_LINE = "+12135550142"
WEST_LINE = "+13235550199"
MEXICO_LINE = "+525512345678"


@pytest.fixture
def w(db: None) -> World:
    scene = world()
    scene.east.hotline_numbers = [EAST_LINE, MEXICO_LINE]
    scene.east.save()
    scene.west.hotline_numbers = [WEST_LINE]
    scene.west.save()
    return scene


def save_numbers(client: Client, slug: str, *numbers: str, **extra: Any) -> Any:
    data = {f"number_{n}": typed for n, typed in enumerate(numbers, start=1)}
    return client.post(reverse("committee_hotlines", args=[slug]), data, follow=True, **extra)


def test_a_number_is_shown_as_people_of_the_region_write_it() -> None:
    assert phones.display(EAST_LINE) == "(213) 555-0142"
    assert phones.display(MEXICO_LINE) == "+52 55 1234 5678"
    assert phones.display("not a number") == "not a number"


def test_an_organizer_sets_the_hotline_numbers_as_people_write_them(w: World) -> None:
    olga = session_for(w.organizer, strong=True)
    page = save_numbers(olga, "east", "(213) 555-0100", "", "+52 55 8765 4321").content.decode()
    w.east.refresh_from_db()
    assert w.east.hotline_numbers == ["+12135550100", "+525587654321"]
    assert "Hotline numbers saved" in page
    assert 'value="(213) 555-0100"' in page and 'value="+52 55 8765 4321"' in page


def test_a_number_no_phone_can_have_is_refused_and_nothing_changes(w: World) -> None:
    olga = session_for(w.organizer, strong=True)
    page = save_numbers(olga, "east", "(213) 555-0100", "555-01").content.decode()
    assert "Hotline number 2: That number is too short" in page
    w.east.refresh_from_db()
    assert w.east.hotline_numbers == [EAST_LINE, MEXICO_LINE]
    # What she typed stays in the boxes, with the reason beside the form.
    assert 'value="(213) 555-0100"' in page and 'value="555-01"' in page
    form = page.split('data-testid="hotline-numbers"')[1].split("</section>")[0]
    assert 'role="alert"' in form and "That number is too short" in form


def test_the_refusal_of_a_number_speaks_spanish(w: World) -> None:
    olga = session_for(w.organizer, strong=True)
    olga.post(reverse("set_language"), {"language": "es", "next": "/"})
    page = save_numbers(olga, "east", "hola").content.decode()
    with translation.override("es"):
        from tocsin.members.forms import PHONE_ERRORS

        assert str(PHONE_ERRORS[phones.LETTERS]) in page.replace("&#x27;", "'")


def test_clearing_every_number_leaves_none(w: World) -> None:
    save_numbers(session_for(w.organizer, strong=True), "east", "", "", "")
    w.east.refresh_from_db()
    assert w.east.hotline_numbers == []


def test_only_the_committees_organizers_set_its_numbers(w: World) -> None:
    for persona in (w.dispatcher, w.west_organizer, w.outsider):
        response = session_for(persona, strong=True).post(
            reverse("committee_hotlines", args=["east"]), {"number_1": "(213) 555-0100"}
        )
        assert response.status_code == 404
    w.east.refresh_from_db()
    assert w.east.hotline_numbers == [EAST_LINE, MEXICO_LINE]


def test_the_report_page_shows_every_committees_hotline_before_a_place_is_picked(
    w: World,
) -> None:
    rogue = committee("Rogue", EAST)
    Committee.objects.filter(pk=rogue.pk).update(approved_at=None, hotline_numbers=["+12135550111"])
    page = Client().get(reverse("report")).content.decode()
    assert 'href="tel:+12135550142"' in page and "(213) 555-0142" in page
    assert 'href="tel:+13235550199"' in page
    # A committee the operator has not approved takes no reports: no number for it.
    assert "555-0111" not in page


def test_the_hotlines_of_a_place_are_those_of_the_committees_covering_it(w: World) -> None:
    near = Client().get(reverse("report_hotlines"), {"lat": EAST[0], "lng": EAST[1]})
    assert near.status_code == 200
    assert "tel:+12135550142" in near.content.decode()
    assert "tel:+13235550199" not in near.content.decode()
    # Nobody covers it, or no place: every committee's.
    for params in ({"lat": NOWHERE[0], "lng": NOWHERE[1]}, {}, {"lat": "x"}):
        page = Client().get(reverse("report_hotlines"), params).content.decode()
        assert "tel:+12135550142" in page and "tel:+13235550199" in page


def test_a_refused_report_carries_the_hotlines_of_its_place(w: World) -> None:
    data = {"kind": "checkpoint", "lat": WEST[0], "lng": WEST[1], "nonce": "n1", "altcha": ""}
    page = Client().post(reverse("report"), data).content.decode()
    refusal = page[page.index('data-testid="refusal"') :]
    refusal = refusal[: refusal.index("</div>")]
    assert "needs JavaScript" in refusal
    assert 'href="tel:+13235550199"' in refusal and "tel:+12135550142" not in refusal


def test_a_report_outside_every_area_is_refused_with_every_hotline(w: World) -> None:
    data = {
        "kind": "checkpoint",
        "lat": NOWHERE[0],
        "lng": NOWHERE[1],
        "nonce": "n2",
        "altcha": pow_support.solution(),
    }
    page = Client().post(reverse("report"), data).content.decode()
    refusal = page[page.index('data-testid="refusal"') :]
    refusal = refusal[: refusal.index("</div>")]
    assert "No committee covers that place" in refusal
    assert "tel:+12135550142" in refusal and "tel:+13235550199" in refusal


def test_the_receipt_page_shows_the_hotlines_of_the_reports_committees(w: World) -> None:
    report = receive_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1]
    )
    page = Client().get(reverse("report_done", args=[report.receipt])).content.decode()
    assert 'href="tel:+12135550142"' in page and 'href="tel:+525512345678"' in page
    assert "+52 55 1234 5678" in page
    assert "tel:+13235550199" not in page


def test_the_know_your_rights_page_shows_every_hotline_in_spanish(w: World) -> None:
    page = Client().get(reverse("rights"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    with translation.override("es"):
        from django.utils.translation import gettext

        heading = gettext("Rapid-response hotlines")
    with translation.override("en"):
        assert heading != gettext("Rapid-response hotlines")
    assert heading in page
    assert 'href="tel:+12135550142"' in page and 'href="tel:+13235550199"' in page


def test_no_numbers_no_hotline_section(db: None) -> None:
    world()
    assert hotlines.everywhere() == []
    page = Client().get(reverse("rights")).content.decode()
    assert 'data-testid="hotlines"' not in page


def test_committees_are_listed_by_name(w: World) -> None:
    Committee.objects.create(
        name="Boyle Heights",
        slug="bh",
        kind=Committee.Kind.NEIGHBORHOOD,
        approved_at=timezone.now(),
        hotline_numbers=["+13235550100"],
    )
    assert [h.committee for h in hotlines.everywhere()] == ["Boyle Heights", "East", "West"]
