"""The alert page a member opens from their alert (/a/<token>/): every member alerted to a
confirmed incident answers "I'm on my way" there (members as observers, responders with
the role they pick), and the dispatcher's headcount shows both."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import AsyncClient, Client
from django.urls import reverse

from tests.factories import EAST, World, member, own_incident, session_for, world
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.committees.models import Role
from tocsin.hooks.inbound import Inbound, handle
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state
from tocsin.lib.links import alert_link_token
from tocsin.members.models import ContactEndpoint, Member
from tocsin.mobilize import services as mobilize
from tocsin.mobilize.models import Response

pytestmark = pytest.mark.django_db


def confirmed(w: World) -> Incident:
    """An incident at East, confirmed: Mateo (member) and Rosa (responder) are alerted."""
    report = submit_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    return change_state(own_incident(report, w.dispatcher), State.CONFIRMED, actor=w.dispatcher)


def page(m: Member, incident: Incident) -> str:
    return reverse("alert_page", args=[alert_link_token(member_id=m.pk, incident_id=incident.pk)])


def answer(m: Member, incident: Incident, **data: str) -> int:
    return Client().post(page(m, incident), {"state": "on_my_way", **data}).status_code


def row(html: str, role: str) -> tuple[str, str]:
    """Return (on the way, arrived) of the headcount row for ``role``."""
    found = re.search(
        rf'<tr data-role="{role}">.*?class="n-way">(\d+)<.*?class="n-arrived">(\d+)<', html, re.S
    )
    assert found, html
    return found.group(1), found.group(2)


def test_a_member_alerted_to_a_confirmed_incident_is_offered_im_on_my_way(w: World) -> None:
    html = Client().get(page(w.member, confirmed(w))).content.decode()
    assert 'id="on-my-way"' in html
    # A member answers as an observer: there is no role to pick.
    assert 'name="role"' not in html


def test_a_member_says_they_are_on_their_way_as_an_observer(w: World) -> None:
    incident = confirmed(w)
    assert answer(w.member, incident, eta_minutes="15") == 302
    response = Response.objects.get(incident=incident, member=w.member)
    assert (response.role, response.state, response.eta_minutes) == ("observer", "on_my_way", 15)


def test_a_member_cannot_answer_as_a_trained_role(w: World) -> None:
    incident = confirmed(w)
    assert answer(w.member, incident, role="legal_observer") == 302
    assert Response.objects.get(incident=incident, member=w.member).role == "observer"


def test_the_minutes_away_are_optional(w: World) -> None:
    incident = confirmed(w)
    assert answer(w.member, incident) == 302
    assert Response.objects.get(incident=incident, member=w.member).eta_minutes is None


def test_a_responder_picks_their_role(w: World) -> None:
    incident = confirmed(w)
    assert 'name="role"' in Client().get(page(w.responder, incident)).content.decode()
    assert answer(w.responder, incident, role="legal_observer", eta_minutes="5") == 302
    assert Response.objects.get(incident=incident, member=w.responder).role == "legal_observer"


def test_nobody_answers_an_incident_that_is_over(w: World) -> None:
    incident = confirmed(w)
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    assert 'id="on-my-way"' not in Client().get(page(w.member, incident)).content.decode()
    assert answer(w.member, incident) == 400
    assert not Response.objects.exists()


def test_someone_who_was_not_alerted_cannot_open_or_answer(w: World) -> None:
    incident = confirmed(w)
    walt = member("Wes", w.west, Role.MEMBER, email="wes@example.org")
    for persona in (w.outsider, walt):
        assert Client().get(page(persona, incident)).status_code == 404
        assert answer(persona, incident) == 404
    assert not Response.objects.exists()


def test_the_headcount_shows_responders_by_role_and_members_as_observers(w: World) -> None:
    incident = confirmed(w)
    answer(w.responder, incident, role="legal_observer")
    answer(w.member, incident)
    counts = {h["role"]: (h["on_my_way"], h["arrived"]) for h in mobilize.headcount(incident)}
    assert counts["legal_observer"] == (1, 0)
    assert counts["observer"] == (0, 0)
    assert counts["member"] == (1, 0)
    html = session_for(w.dispatcher, strong=True).get(reverse("incident", args=[incident.pk]))
    assert row(html.content.decode(), "legal_observer") == ("1", "0")
    assert row(html.content.decode(), "member") == ("1", "0")


def test_a_member_who_arrives_moves_to_arrived(w: World) -> None:
    incident = confirmed(w)
    answer(w.member, incident)
    Client().post(page(w.member, incident), {"state": "arrived"})
    html = Client().get(page(w.responder, incident)).content.decode()
    assert row(html, "member") == ("0", "1")


def test_a_members_reply_1_counts_them_as_an_observing_member(w: World) -> None:
    incident = confirmed(w)
    ContactEndpoint.create(w.member, "sms", "+12135550142", verified=True)
    Delivery.objects.filter(member=w.member).update(status=DeliveryStatus.SENT)
    assert handle(Inbound(kind="sms", address="+12135550142", text="1")) is not None
    response = Response.objects.get(incident=incident, member=w.member)
    assert (response.role, response.state) == ("observer", "on_my_way")
    counts = {h["role"]: h["on_my_way"] for h in mobilize.headcount(incident)}
    assert counts["member"] == 1
    assert counts["observer"] == 0


def test_a_responders_reply_1_keeps_the_role_they_picked(w: World) -> None:
    incident = confirmed(w)
    answer(w.responder, incident, role="interpreter")
    Client().post(page(w.responder, incident), {"state": "cancelled", "role": "interpreter"})
    ContactEndpoint.create(w.responder, "sms", "+12135550143", verified=True)
    Delivery.objects.filter(member=w.responder).update(status=DeliveryStatus.SENT)
    handle(Inbound(kind="sms", address="+12135550143", text="1"))
    response = Response.objects.get(incident=incident, member=w.responder)
    assert (response.role, response.state) == ("interpreter", "on_my_way")


# The language switch: the person's choice in this browser wins over the stored language.


def switch(client: Client, language: str, next_path: str) -> None:
    response = client.post(reverse("set_language"), {"language": language, "next": next_path})
    assert response.status_code == 302 and response["Location"] == next_path


def test_the_alert_page_speaks_the_members_language(w: World) -> None:
    html = Client().get(page(w.responder, confirmed(w))).content.decode()
    assert '<html lang="es">' in html
    assert "Voy en camino" in html


def test_the_language_switch_changes_the_alert_page(w: World) -> None:
    path = page(w.responder, confirmed(w))
    client = Client()
    switch(client, "en", path)
    html = client.get(path).content.decode()
    assert '<html lang="en">' in html
    assert "I&#x27;m on my way" in html or "I'm on my way" in html
    # Only this browser: the language stored for Rosa's messages stays hers.
    assert Member.objects.get(pk=w.responder.pk).language == "es"
    switch(client, "es", path)
    assert '<html lang="es">' in client.get(path).content.decode()


def first_event(path: str, cookies: dict[str, str]) -> str:
    """Return the first event of a live stream."""

    async def read() -> str:
        client = AsyncClient()
        client.cookies.load(cookies)
        response = await client.get(path)
        stream = response.streaming_content
        try:
            return (await anext(aiter(stream))).decode()
        finally:
            await stream.aclose()

    return async_to_sync(read)()


# The stream renders in another thread: the data must be committed.
@pytest.mark.django_db(transaction=True)
def test_the_live_headcount_follows_the_language_chosen_in_this_browser() -> None:
    w = world()
    token = alert_link_token(member_id=w.responder.pk, incident_id=confirmed(w).pk)
    path = reverse("alert_live", args=[token])
    assert "En camino" in first_event(path, {})
    chosen = first_event(path, {settings.LANGUAGE_COOKIE_NAME: "en"})
    assert "On the way" in chosen and "En camino" not in chosen


@pytest.mark.django_db(transaction=True)
def test_the_live_parts_keep_the_members_form_while_confirmed_and_take_it_away_after() -> None:
    w = world()
    incident = confirmed(w)
    path = reverse(
        "alert_live", args=[alert_link_token(member_id=w.responder.pk, incident_id=incident.pk)]
    )
    while_confirmed = first_event(path, {settings.LANGUAGE_COOKIE_NAME: "en"})
    # One person's form cannot be in an update shared by everyone: the page keeps its own,
    # and a page opened before the confirmation (no form) is told to reload.
    assert 'data-part="respond" data-keep' in while_confirmed
    assert "Reload this page to say whether you are coming." in while_confirmed
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    after = first_event(path, {settings.LANGUAGE_COOKIE_NAME: "en"})
    assert '<div data-part="respond"></div>' in after
    assert 'data-testid="state" data-say>False alarm<' in after


@pytest.mark.django_db(transaction=True)
def test_an_alert_page_of_an_incident_that_expired_unverified_says_there_is_nothing_to_do() -> None:
    w = world()
    report = submit_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    incident = change_state(own_incident(report, w.dispatcher), State.VERIFYING, actor=w.dispatcher)
    change_state(incident, State.EXPIRED, actor=None)
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(page(w.responder, incident)).content.decode()
    assert "nobody could confirm it in time. Nothing to do." in html
    assert 'id="on-my-way"' not in html


def test_an_answer_from_a_page_opened_before_the_false_alarm_says_it_was_not_recorded(
    w: World,
) -> None:
    incident = confirmed(w)
    change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(page(w.member, incident), {"state": "arrived"})
    assert response.status_code == 400
    assert "your answer was not recorded" in response.content.decode()
    assert not Response.objects.filter(member=w.member).exists()
