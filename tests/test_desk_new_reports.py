"""A second report on an open incident shows on the desk as new, until a dispatcher opens
the incident."""

from __future__ import annotations

import re

from django.urls import reverse

from tests.factories import EAST, World, session_for
from tocsin.incidents import services as incidents
from tocsin.incidents.models import Incident
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, Report, ReportKind


def report_at(text: str = "Agents at the car wash.") -> Report:
    return receive_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1], text=text
    )


def card(page: str, incident: Incident) -> str:
    match = re.search(rf'<li class="([^"]*)" data-incident="{incident.pk}">(.*?)</li>', page, re.S)
    assert match, page
    return f"{match.group(1)} | {match.group(2)}"


def desk(w: World) -> str:
    return session_for(w.dispatcher, strong=True).get(reverse("desk")).content.decode()


def test_a_second_report_shows_on_the_incident_card_as_new(w: World) -> None:
    incident = incidents.open_incident(report_at(), actor=w.dispatcher)
    seen = card(desk(w), incident)
    assert "1 report" in seen and "new" not in seen

    second = report_at("More agents arriving, two vans.")
    assert second.incident_id == incident.pk
    fresh = card(desk(w), incident)
    assert "has-new" in fresh
    assert "2 reports" in fresh
    assert "1 new report since last opened" in fresh


def test_opening_the_incident_clears_it_and_marks_the_new_report_there(w: World) -> None:
    incident = incidents.open_incident(report_at(), actor=w.dispatcher)
    second = report_at("More agents arriving, two vans.")
    page = session_for(w.dispatcher, strong=True).get(reverse("incident", args=[incident.pk]))
    assert f'data-new-report="{second.pk}"' in page.content.decode()
    assert 'data-new-report="' not in page.content.decode().replace(
        f'data-new-report="{second.pk}"', ""
    )
    assert "new" not in card(desk(w), incident).split(" | ")[0]
    assert "since last opened" not in card(desk(w), incident)
    # The page's live part marks the same report: it is new since the last visit.
    since = re.search(r"\?since=(\d+)", page.content.decode())
    assert since and int(since.group(1)) > 0


def test_an_incident_no_dispatcher_opened_yet_shows_all_its_reports_as_new(w: World) -> None:
    report = report_at()
    incident = incidents.open_incident(report, actor=None)  # a trusted member's report
    assert "1 new report since last opened" in card(desk(w), incident)


def test_only_a_dispatcher_who_may_open_it_clears_it(w: World) -> None:
    incident = incidents.open_incident(report_at(), actor=w.dispatcher)
    report_at("More agents arriving, two vans.")
    for persona in (w.west_dispatcher, w.outsider, w.member):
        client = session_for(persona, strong=True)
        assert client.get(reverse("incident", args=[incident.pk])).status_code == 404
    assert "1 new report since last opened" in card(desk(w), incident)
    assert Incident.objects.get(pk=incident.pk).desk_seen_at is not None
