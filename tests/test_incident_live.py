"""The dispatcher's incident page follows the incident live: its stream re-renders the
state forms (a part of their own, so typing there is kept: static/js/live.js) as well as
the panel, so after a verifier or a quorum confirms, the page offers "Resolved", not
"Confirm and alert members". The browser side is in tests/test_browser_promises.py."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from tests.factories import EAST, World, member, own_incident, session_for, world
from tocsin.committees.models import Membership, Role
from tocsin.incidents import verify
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.members.models import Member


def first_event(path: str, persona: Member) -> str:
    """Return the HTML of the first event of a stream, as ``persona`` reads it."""

    async def read() -> str:
        client = AsyncClient()
        await sync_to_async(client.force_login)(persona.user)
        response = await client.get(path)
        assert response.status_code == 200
        stream = response.streaming_content
        try:
            chunk = (await anext(aiter(stream))).decode()
        finally:
            await stream.aclose()
        return "\n".join(line[len("data: ") :] for line in re.findall(r"^data: .*$", chunk, re.M))

    return async_to_sync(read)()


def part(html: str, name: str) -> str:
    found = re.search(
        rf'<div data-part="{name}">(.*?)</div>\n<div data-part=|'
        rf'<div data-part="{name}">(.*)</div>$',
        html,
        re.S,
    )
    assert found, html[:300]
    return found.group(1) or found.group(2)


def verifying(w: World) -> tuple[Incident, Member]:
    """An East incident being verified by Vera, a trusted verifier."""
    vera = member("Vera", area=EAST, email="vera@example.org")
    Membership.objects.create(
        committee=w.east, member=vera, role=Role.VERIFIER, vouched_by=w.organizer
    )
    report = submit_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    incident = own_incident(report, w.dispatcher)
    verify.request(incident, vera, actor=w.dispatcher)
    return incident, vera


@pytest.mark.django_db(transaction=True)
def test_after_a_verifier_confirms_the_live_forms_offer_resolved_not_confirm() -> None:
    w = world()
    incident, vera = verifying(w)
    path = reverse("incident_live", args=[incident.pk])
    before = part(first_event(path, w.dispatcher), "actions")
    assert 'value="confirmed"' in before and 'value="resolved"' not in before
    req = verify.latest_request(vera)
    assert req is not None
    verify.record_answer(req, "confirmed", channel="web")
    assert Incident.objects.get(pk=incident.pk).state == State.CONFIRMED
    html = first_event(path, w.dispatcher)
    actions = part(html, "actions")
    assert 'value="resolved"' in actions and 'value="unfounded"' in actions
    assert 'value="confirmed"' not in actions
    assert 'name="csrfmiddlewaretoken"' in actions
    assert "data-say" in actions
    assert 'data-testid="state"' in part(html, "panel")


@pytest.mark.django_db
def test_the_page_marks_the_state_forms_as_a_live_part() -> None:
    w = world()
    incident, _vera = verifying(w)
    html = session_for(w.dispatcher, strong=True).get(reverse("incident", args=[incident.pk]))
    page = html.content.decode()
    assert 'id="actions" data-part="actions"' in page
    assert 'id="panel" data-part="panel"' in page
    assert "data-live-parts" in page and "data-live-announce" in page


@pytest.mark.django_db
def test_a_page_with_a_held_note_keeps_its_form_out_of_live_updates() -> None:
    w = world()
    incident, _vera = verifying(w)
    client = session_for(w.dispatcher, strong=True)
    response = client.post(
        reverse("incident_state", args=[incident.pk]),
        {"state": State.CONFIRMED, "summary": "Agent John Smith, badge 4411, is there"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="summary-held"' in page
    assert 'id="actions" data-part="actions"' not in page
    assert Incident.objects.get(pk=incident.pk).state == State.VERIFYING
