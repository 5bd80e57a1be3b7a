"""The dispatcher sees where a report is; nobody else does."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import EAST, world
from tocsin import geo
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import open_incident
from tocsin.intake.models import Channel, ReportKind

pytestmark = pytest.mark.django_db


def client_for(member) -> Client:  # type: ignore[no-untyped-def]
    c = Client()
    c.force_login(member.user)
    return c


def test_the_desk_card_shows_the_place_of_the_report() -> None:
    w = world()
    report = submit_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1]
    )
    page = client_for(w.dispatcher).get(reverse("desk")).content.decode()
    assert report.place in page
    lat, lng = geo.center(report.cell)
    assert abs(lat - EAST[0]) < 0.001 and abs(lng - EAST[1]) < 0.001


def test_the_incident_page_shows_the_place_and_a_map_of_it() -> None:
    w = world()
    report = submit_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1]
    )
    incident = open_incident(report, actor=w.dispatcher)
    page = client_for(w.dispatcher).get(reverse("incident", args=[incident.pk])).content.decode()
    assert incident.place in page
    lat, lng = geo.center(incident.cell)
    assert f'data-lat="{lat:.6f}"' in page
    assert f'data-lng="{lng:.6f}"' in page


def test_the_place_is_not_localized_with_a_decimal_comma() -> None:
    w = world()
    w.dispatcher.language = "es"
    w.dispatcher.save()
    report = submit_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1]
    )
    incident = open_incident(report, actor=w.dispatcher)
    page = client_for(w.dispatcher).get(reverse("incident", args=[incident.pk])).content.decode()
    lat, _lng = geo.center(incident.cell)
    assert f'data-lat="{lat:.6f}"' in page


def test_the_reporters_receipt_page_does_not_repeat_the_place() -> None:
    world()
    report = submit_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1]
    )
    page = Client().get(reverse("report_done", args=[report.receipt])).content.decode()
    assert report.place not in page
