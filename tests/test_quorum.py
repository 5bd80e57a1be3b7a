"""Dispatch quorum, stand-down, redirect and re-open (issue 16, "From alarm to mass
turnout"): the dispatcher sets how many of each role are needed; when "on my way"
answers reach it, everyone else alerted for that role who has not answered hears
"enough people are there, thank you" (or "go to this other place instead"), on their own
channel and in their own language; the headcount says so; the dispatcher can re-open
the call."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import EAST, World, member, own_incident, session_for
from tocsin.alerts import messages
from tocsin.alerts.models import Alert, Delivery, DeliveryStatus, Purpose
from tocsin.committees.models import Role
from tocsin.hooks.inbound import Inbound, handle
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report
from tocsin.incidents.services import change_state
from tocsin.lib.links import alert_link_token
from tocsin.members.models import Member
from tocsin.mobilize import quorum, services
from tocsin.mobilize.models import ResponderRole, ResponseState
from tocsin.places.models import Place, PlaceKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def lucia(w: World) -> Member:
    """A second member of East near the incident: alerted when it is confirmed."""
    return member("Lucia", w.east, area=EAST, email="lucia@example.org", language="es")


@pytest.fixture
def raul(w: World) -> Member:
    """A second responder of East near the incident."""
    return member("Raul", w.east, Role.RESPONDER, area=EAST, email="raul@example.org")


def confirmed(w: World) -> Incident:
    report = receive_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    return change_state(own_incident(report, w.dispatcher), State.CONFIRMED, actor=w.dispatcher)


def told(purpose: str) -> set[int]:
    return set(Delivery.objects.filter(alert__purpose=purpose).values_list("member_id", flat=True))


def coming(incident: Incident, m: Member, role: str = ResponderRole.OBSERVER) -> None:
    services.respond(incident, m, role=role, state=ResponseState.ON_MY_WAY, eta_minutes=None)


def test_when_enough_members_are_on_their_way_the_other_members_alerted_stand_down(
    w: World, lucia: Member
) -> None:
    incident = confirmed(w)
    quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher)
    assert told(Purpose.STAND_DOWN) == set()
    coming(incident, w.member)
    # Lucia was alerted and did not answer; Mateo answered; Rosa is a responder.
    assert told(Purpose.STAND_DOWN) == {lucia.pk}


def test_nobody_stands_down_before_the_number_is_reached(
    w: World, lucia: Member, raul: Member
) -> None:
    incident = confirmed(w)
    quorum.set_needed(incident, {quorum.MEMBERS: 2, ResponderRole.OBSERVER: 2}, actor=w.dispatcher)
    coming(incident, w.member)
    coming(incident, w.responder)
    assert told(Purpose.STAND_DOWN) == set()


def test_when_a_responder_role_is_filled_the_other_responders_alerted_stand_down(
    w: World, lucia: Member, raul: Member
) -> None:
    incident = confirmed(w)
    quorum.set_needed(incident, {ResponderRole.LEGAL_OBSERVER: 1}, actor=w.dispatcher)
    coming(incident, w.responder, ResponderRole.LEGAL_OBSERVER)
    # Raul (a responder) hears it; the members are not alerted for a responder role.
    assert told(Purpose.STAND_DOWN) == {raul.pk}


def test_an_answer_by_sms_counts_toward_the_number(w: World, lucia: Member) -> None:
    from tocsin.members.models import ContactEndpoint

    ContactEndpoint.create(w.member, "sms", "+13235550101", verified=True)
    incident = confirmed(w)
    Delivery.objects.filter(member=w.member).update(status=DeliveryStatus.SENT)
    quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher)
    handle(Inbound("sms", "+13235550101", "1"))
    assert told(Purpose.STAND_DOWN) == {lucia.pk}


def test_a_number_already_reached_stands_the_others_down_when_it_is_set(
    w: World, lucia: Member
) -> None:
    incident = confirmed(w)
    coming(incident, w.member)
    met = quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher)
    assert [q.role for q in met] == [quorum.MEMBERS]
    assert told(Purpose.STAND_DOWN) == {lucia.pk}


def test_the_stand_down_speaks_each_persons_language(w: World, lucia: Member) -> None:
    incident = confirmed(w)
    quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher)
    coming(incident, w.member)
    alert = Alert.objects.get(purpose=Purpose.STAND_DOWN)
    es = messages.render(alert, member_id=lucia.pk, language="es").text
    en = messages.render(alert, member_id=lucia.pk, language="en").text
    assert "Thank you: you can stand down" in en
    assert "Gracias: puede retirarse" in es
    assert reverse("alert_page", args=["x"]).split("x")[0] in es


def test_a_redirect_names_the_other_place(w: World, lucia: Member) -> None:
    plaza = Place.objects.create(
        committee=w.east, name="Mariachi Plaza", kind=PlaceKind.OTHER, lat=34.0472, lng=-118.2196
    )
    incident = confirmed(w)
    quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher, redirect_place=plaza)
    coming(incident, w.member)
    assert told(Purpose.STAND_DOWN) == set()
    assert told(Purpose.REDIRECT) == {lucia.pk}
    alert = Alert.objects.get(purpose=Purpose.REDIRECT)
    text = messages.render(alert, member_id=lucia.pk, language="en").text
    assert "Mariachi Plaza" in text
    assert "Please go" in text
    assert "Do not interfere" in text


def test_the_headcount_says_enough_people_are_there(w: World, lucia: Member) -> None:
    incident = confirmed(w)
    quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher)
    before = {h["role"]: h for h in services.headcount(incident)}
    assert before[quorum.MEMBERS]["missing"] == 1 and not before[quorum.MEMBERS]["enough"]
    coming(incident, w.member)
    rows = {h["role"]: h for h in services.headcount(incident)}
    assert rows[quorum.MEMBERS]["enough"]
    assert not rows[ResponderRole.OBSERVER]["enough"]
    token = alert_link_token(member_id=lucia.pk, incident_id=incident.pk)
    page = session_for(lucia).get(reverse("alert_page", args=[token]))
    assert 'data-testid="enough"' in page.content.decode()


def test_reopening_calls_back_those_stood_down_who_have_not_answered(
    w: World, lucia: Member
) -> None:
    incident = confirmed(w)
    quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher)
    coming(incident, w.member)
    confirmed_before = Delivery.objects.filter(alert__purpose=Purpose.CONFIRMED).count()
    assert quorum.reopen(incident, quorum.MEMBERS, actor=w.dispatcher) == 1
    called = Delivery.objects.filter(alert__purpose=Purpose.CONFIRMED).order_by("-pk").first()
    assert called is not None and called.member_id == lucia.pk
    assert Delivery.objects.filter(alert__purpose=Purpose.CONFIRMED).count() == confirmed_before + 1
    rows = {h["role"]: h for h in services.headcount(incident)}
    assert not rows[quorum.MEMBERS]["enough"]


def test_after_reopening_no_number_stands_them_down_until_one_is_set_again(
    w: World, lucia: Member
) -> None:
    other = member("Nico", w.east, area=EAST, email="nico@example.org")
    incident = confirmed(w)
    quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher)
    coming(incident, w.member)
    quorum.reopen(incident, quorum.MEMBERS, actor=w.dispatcher)
    coming(incident, other)
    assert Delivery.objects.filter(alert__purpose=Purpose.STAND_DOWN).count() == 2
    quorum.set_needed(incident, {quorum.MEMBERS: 3}, actor=w.dispatcher)
    coming(incident, lucia)
    # Lucia, called back, answered: the second stand-down has nobody left to tell.
    assert Delivery.objects.filter(alert__purpose=Purpose.STAND_DOWN).count() == 2


def test_nobody_hears_stand_down_twice(w: World, raul: Member) -> None:
    tere = member("Tere", w.east, Role.RESPONDER, area=EAST, email="tere@example.org")
    incident = confirmed(w)
    quorum.set_needed(
        incident,
        {ResponderRole.LEGAL_OBSERVER: 1, ResponderRole.INTERPRETER: 1},
        actor=w.dispatcher,
    )
    coming(incident, w.responder, ResponderRole.LEGAL_OBSERVER)
    assert told(Purpose.STAND_DOWN) == {raul.pk, tere.pk}
    coming(incident, raul, ResponderRole.INTERPRETER)
    # The interpreters' number is reached too: Tere was told already.
    assert Delivery.objects.filter(alert__purpose=Purpose.STAND_DOWN, member=tere).count() == 1


def test_only_a_confirmed_incident_takes_a_number(w: World) -> None:
    report = receive_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    incident = own_incident(report, w.dispatcher)
    with pytest.raises(quorum.QuorumError):
        quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher)


def test_the_dispatcher_sets_the_number_from_the_escalation_page(w: World, lucia: Member) -> None:
    incident = confirmed(w)
    coming(incident, w.member)
    desk = session_for(w.dispatcher, strong=True)
    response = desk.post(
        reverse("incident_quorum", args=[incident.pk]), {f"needed_{quorum.MEMBERS}": "1"}
    )
    assert response.status_code == 302
    assert told(Purpose.STAND_DOWN) == {lucia.pk}
    page = desk.get(reverse("incident_escalation", args=[incident.pk])).content.decode()
    assert 'data-testid="enough"' in page
    assert f'data-testid="reopen-{quorum.MEMBERS}"' in page
    desk.post(reverse("incident_reopen_call", args=[incident.pk, quorum.MEMBERS]))
    page = desk.get(reverse("incident_escalation", args=[incident.pk])).content.decode()
    assert 'data-testid="enough"' not in page


def test_another_committees_dispatcher_cannot_set_the_number(w: World, lucia: Member) -> None:
    incident = confirmed(w)
    desk = session_for(w.west_dispatcher, strong=True)
    response = desk.post(
        reverse("incident_quorum", args=[incident.pk]), {f"needed_{quorum.MEMBERS}": "0"}
    )
    assert response.status_code == 404
    assert not incident.quorums.exists()


def test_someone_who_said_they_cannot_come_hears_nothing_more(w: World, lucia: Member) -> None:
    incident = confirmed(w)
    services.respond(incident, lucia, role=None, state=ResponseState.CANCELLED, eta_minutes=None)
    quorum.set_needed(incident, {quorum.MEMBERS: 1}, actor=w.dispatcher)
    coming(incident, w.member)
    assert told(Purpose.STAND_DOWN) == set()
