"""The escalation ladder of a confirmed incident (issue 16, "From alarm to mass
turnout"): responders further out -> every member of the committee -> a public call.
Each rung is one tap, shows how many people it reaches before it is sent, reaches only
people nobody alerted yet, and waits for a second staff member where the two-person rule
asks (a public call always)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.factories import EAST, World, member, own_incident, session_for
from tocsin.alerts.models import Alert, Delivery, Purpose
from tocsin.committees.models import Approval, Role
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report
from tocsin.incidents.services import change_state
from tocsin.members.models import Member
from tocsin.mobilize import ladder, services
from tocsin.mobilize.escalation import LadderStep, Step
from tocsin.mobilize.models import ResponderRole, ResponseState
from tocsin.mobilize.planned import MobilizationKind, Visibility
from tocsin.places.models import Place, PlaceKind

pytestmark = pytest.mark.django_db

# About 6 km east of the incident: beyond the members' alert, within the responders' reach.
FAR = (EAST[0], EAST[1] + 0.07)


@pytest.fixture
def far_responder(w: World) -> Member:
    return member("Fede", w.east, Role.RESPONDER, area=FAR, email="fede@example.org")


@pytest.fixture
def far_member(w: World) -> Member:
    return member("Carmen", w.east, area=FAR, email="carmen@example.org", language="es")


@pytest.fixture
def plaza(w: World) -> Place:
    return Place.objects.create(
        committee=w.east, name="Mariachi Plaza", kind=PlaceKind.OTHER, lat=34.0472, lng=-118.2196
    )


def confirmed(w: World) -> Incident:
    report = receive_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    return change_state(own_incident(report, w.dispatcher), State.CONFIRMED, actor=w.dispatcher)


def alerted() -> list[int]:
    """Every member with a confirmed alert, once per alert."""
    return list(
        Delivery.objects.filter(alert__purpose=Purpose.CONFIRMED, extra=False).values_list(
            "member_id", flat=True
        )
    )


def take(w: World, incident: Incident, step: str, **kw: object) -> LadderStep:
    return ladder.take(incident, step, actor=w.dispatcher, committee_ids={w.east.pk}, **kw)  # type: ignore[arg-type]


def test_the_first_rung_reaches_only_responders_confirming_did_not(
    w: World, far_responder: Member, far_member: Member
) -> None:
    incident = confirmed(w)
    assert sorted(alerted()) == sorted([w.member.pk, w.responder.pk])
    taken = take(w, incident, Step.RESPONDERS)
    assert taken.done_at is not None and taken.reached == 1
    assert sorted(alerted()) == sorted([w.member.pk, w.responder.pk, far_responder.pk])


def test_the_members_rung_reaches_every_member_nobody_alerted_and_nobody_twice(
    w: World, far_responder: Member, far_member: Member
) -> None:
    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    taken = take(w, incident, Step.MEMBERS)
    # The staff without areas and Carmen; not Mateo, Rosa or Fede again.
    assert taken.reached == 3
    reached = alerted()
    assert len(reached) == len(set(reached))
    assert {far_member.pk, w.organizer.pk, w.dispatcher.pk} <= set(reached)
    assert w.west_dispatcher.pk not in reached and w.outsider.pk not in reached


def test_the_reach_shown_is_what_the_rung_sends(
    w: World, far_responder: Member, far_member: Member
) -> None:
    incident = confirmed(w)
    shown = {r.step: r.reach for r in ladder.rungs(incident, {w.east.pk})}
    assert shown[Step.RESPONDERS] == 1
    assert take(w, incident, Step.RESPONDERS).reached == shown[Step.RESPONDERS]
    shown = {r.step: r.reach for r in ladder.rungs(incident, {w.east.pk})}
    assert take(w, incident, Step.MEMBERS).reached == shown[Step.MEMBERS] == 3


def test_an_unconfirmed_incident_does_not_climb(w: World, far_responder: Member) -> None:
    report = receive_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    incident = change_state(own_incident(report, w.dispatcher), State.VERIFYING, actor=w.dispatcher)
    with pytest.raises(ladder.LadderError):
        take(w, incident, Step.RESPONDERS)
    assert alerted() == []
    assert not any(r.is_next for r in ladder.rungs(incident, {w.east.pk}))


def test_the_rungs_go_in_order(w: World, far_member: Member, plaza: Place) -> None:
    incident = confirmed(w)
    with pytest.raises(ladder.LadderError):
        take(w, incident, Step.MEMBERS)
    with pytest.raises(ladder.LadderError):
        take(w, incident, Step.PUBLIC, place=plaza)
    assert far_member.pk not in alerted()


def test_a_rung_is_taken_once(w: World) -> None:
    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    with pytest.raises(ladder.LadderError):
        take(w, incident, Step.RESPONDERS)


def test_a_rung_beyond_one_persons_reach_waits_for_a_second_staff_member(
    w: World, far_member: Member
) -> None:
    w.east.alert_threshold = 2
    w.east.save()
    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    taken = take(w, incident, Step.MEMBERS)
    assert taken.done_at is None and taken.approval is not None
    assert far_member.pk not in alerted()
    # The dispatcher who asked cannot approve it; the organizer, from their session, can.
    mine = session_for(w.dispatcher, strong=True).post(
        reverse("approval_decide", args=[taken.approval.pk]), {"decision": "approve"}
    )
    assert mine.status_code == 302 and far_member.pk not in alerted()
    second = session_for(w.organizer, strong=True).post(
        reverse("approval_decide", args=[taken.approval.pk]), {"decision": "approve"}
    )
    assert second.status_code == 302
    assert far_member.pk in alerted()
    taken.refresh_from_db()
    assert taken.done_at is not None and taken.reached == 3


def test_a_rung_waits_while_another_alert_waits_for_a_second_person(w: World) -> None:
    w.east.alert_threshold = 1
    w.east.save()
    incident = confirmed(w)  # Mateo and Rosa: beyond one person's reach, it waits.
    assert Approval.objects.filter(object_id=incident.pk).exists()
    with pytest.raises(ladder.LadderError):
        take(w, incident, Step.RESPONDERS)


def test_the_public_call_waits_for_a_second_person_then_publishes_a_page_in_both_languages(
    w: World, plaza: Place
) -> None:
    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    take(w, incident, Step.MEMBERS)
    taken = take(w, incident, Step.PUBLIC, place=plaza)
    assert taken.done_at is None and taken.mobilization is None
    assert taken.approval is not None
    ladder.approve(taken.approval, by=w.organizer)
    taken.refresh_from_db()
    m = taken.mobilization
    assert m is not None
    assert (m.kind, m.visibility, m.place) == (
        MobilizationKind.PUBLIC_CALL,
        Visibility.PUBLIC,
        plaza,
    )
    assert "Mariachi Plaza" in m.title and "Mariachi Plaza" in m.title_es
    assert "Do not interfere" in m.description and "No interfiera" in m.description_es
    # Whatever the incident's kind is called: "Confirmed nearby: agents or vehicles seen."
    assert m.description.startswith(f"Confirmed nearby: {incident.get_kind_display().lower()}.")
    page = Client().get(reverse("mobilization", args=[m.pk]))
    assert page.status_code == 200


def test_the_second_person_sees_where_and_what_the_public_call_will_say_before_approving(
    w: World, plaza: Place
) -> None:
    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    take(w, incident, Step.MEMBERS)
    taken = take(w, incident, Step.PUBLIC, place=plaza)
    said = f"Confirmed nearby: {incident.get_kind_display().lower()}. Come to Mariachi Plaza"
    organizer = session_for(w.organizer, strong=True)
    for path in (
        reverse("desk"),
        reverse("incident", args=[incident.pk]),
        reverse("committee", args=[w.east.slug]),
    ):
        html = organizer.get(path).content.decode()
        card = html.split(f'data-approval="{taken.approval_id}"')[1].split("</li>")[0]
        assert 'data-testid="public-call"' in card, path
        assert "Mariachi Plaza" in card and said in card, (path, card)
    Member.objects.filter(pk=w.organizer.pk).update(language="es")
    html = organizer.get(reverse("desk")).content.decode()
    assert "Se confirmó un reporte de " in html.split(f'data-approval="{taken.approval_id}"')[1]


def test_a_waiting_public_call_is_named_as_one_to_the_staff_it_waits_for(
    w: World, plaza: Place
) -> None:
    from tocsin.alerts.messages import render

    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    take(w, incident, Step.MEMBERS)
    taken = take(w, incident, Step.PUBLIC, place=plaza)
    assert taken.approval is not None
    assert taken.approval.get_reason_display() == "a public call reaches anyone"
    [notice] = Alert.objects.filter(incident=incident, purpose=Purpose.APPROVAL)
    [delivery] = Delivery.objects.filter(alert=notice)[:1]
    text = render(notice, member_id=delivery.member_id, language="en").text
    assert "an alert to members" not in text and "reaches many members" not in text
    assert "a public call" in text


def test_the_public_call_needs_an_assembly_point_of_the_committee(w: World) -> None:
    west_place = Place.objects.create(
        committee=w.west, name="Elsewhere", kind=PlaceKind.OTHER, lat=34.0467, lng=-118.333
    )
    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    take(w, incident, Step.MEMBERS)
    for place in (None, west_place):
        with pytest.raises(ladder.LadderError):
            take(w, incident, Step.PUBLIC, place=place)


def test_the_public_call_page_shows_counts_only(w: World, plaza: Place) -> None:
    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    take(w, incident, Step.MEMBERS)
    taken = take(w, incident, Step.PUBLIC, place=plaza)
    assert taken.approval is not None
    ladder.approve(taken.approval, by=w.organizer)
    services.respond(
        incident,
        w.responder,
        role=ResponderRole.LEGAL_OBSERVER,
        state=ResponseState.ON_MY_WAY,
        eta_minutes=5,
    )
    taken.refresh_from_db()
    assert taken.mobilization is not None
    with translation.override("en"):
        html = Client().get(reverse("mobilization", args=[taken.mobilization.pk])).content.decode()
    # One person is below the public threshold (TOCSIN_PUBLIC_MIN_COUNT): the count hides.
    assert "Fewer than 5 responders and members are on the way" in html
    assert "Rosa" not in html and "Legal observer" not in html


def test_a_planned_mobilization_shows_no_incident_counts(w: World, plaza: Place) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from tocsin.mobilize.planned import Mobilization

    now = timezone.now()
    m = Mobilization.objects.create(
        committee=w.east,
        kind=MobilizationKind.VIGIL,
        title="Vigil",
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=1),
        place=plaza,
    )
    html = Client().get(reverse("mobilization", args=[m.pk])).content.decode()
    assert 'data-testid="call-headcount"' not in html


def test_the_escalation_page_shows_the_reach_before_anything_is_sent(
    w: World, far_responder: Member
) -> None:
    incident = confirmed(w)
    before = Alert.objects.count()
    desk = session_for(w.dispatcher, strong=True)
    html = desk.get(reverse("incident_escalation", args=[incident.pk])).content.decode()
    assert "Reaches 1 person not alerted yet." in html
    assert "Alert 1 person" in html
    assert Alert.objects.count() == before
    response = desk.post(reverse("incident_escalate", args=[incident.pk, Step.RESPONDERS]))
    assert response.status_code == 302
    assert far_responder.pk in alerted()


def test_the_assembly_points_offered_start_with_the_nearest(w: World, plaza: Place) -> None:
    # "Aardvark Park" comes first by name but lies far away; the plaza is about 500 m off.
    Place.objects.create(
        committee=w.east, name="Aardvark Park", kind=PlaceKind.OTHER, lat=34.09, lng=-118.30
    )
    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    take(w, incident, Step.MEMBERS)
    desk = session_for(w.dispatcher, strong=True)
    html = desk.get(reverse("incident_escalation", args=[incident.pk])).content.decode()
    for name in ("place", "redirect"):
        select = html.split(f'<select name="{name}"')[1].split("</select>")[0]
        assert select.index("Mariachi Plaza") < select.index("Aardvark Park"), select


def test_another_committees_dispatcher_cannot_escalate(w: World, far_responder: Member) -> None:
    incident = confirmed(w)
    desk = session_for(w.west_dispatcher, strong=True)
    page = desk.get(reverse("incident_escalation", args=[incident.pk]))
    step = desk.post(reverse("incident_escalate", args=[incident.pk, Step.RESPONDERS]))
    assert (page.status_code, step.status_code) == (404, 404)
    assert far_responder.pk not in alerted()


def test_everyone_a_rung_alerted_hears_how_it_ended(w: World, far_responder: Member) -> None:
    from tocsin.alerts.models import DeliveryStatus

    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    Delivery.objects.update(status=DeliveryStatus.SENT)
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    told = set(
        Delivery.objects.filter(alert__purpose=Purpose.ALL_CLEAR).values_list(
            "member_id", flat=True
        )
    )
    assert far_responder.pk in told


def test_a_declined_rung_can_be_asked_again(w: World, far_member: Member) -> None:
    from tocsin.committees import approvals

    w.east.alert_threshold = 2
    w.east.save()
    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    asked = take(w, incident, Step.MEMBERS)
    assert asked.approval is not None
    approvals.decline(asked.approval, by=w.organizer)
    members_rung = {r.step: r for r in ladder.rungs(incident, {w.east.pk})}[Step.MEMBERS]
    assert members_rung.is_next and not members_rung.waiting
    again = take(w, incident, Step.MEMBERS)
    assert again.pk == asked.pk
    assert again.approval is not None and again.approval.pk != asked.approval.pk
    assert far_member.pk not in alerted()


def test_each_committee_climbs_its_own_ladder(w: World, far_member: Member) -> None:
    """West's dispatcher acting on the same incident (as a partner would) reaches West's
    people, and East's rungs stay East's."""
    from tests.factories import committee

    incident = confirmed(w)
    take(w, incident, Step.RESPONDERS)
    north = committee("North")
    norma = member("Norma", north, Role.DISPATCHER, email="norma@example.org")
    nico = member("Nico", north, area=FAR, email="nico@example.org")
    theirs = {r.step: r for r in ladder.rungs(incident, {north.pk})}
    assert theirs[Step.RESPONDERS].is_next
    ladder.take(incident, Step.RESPONDERS, actor=norma, committee_ids={north.pk})
    taken = ladder.take(incident, Step.MEMBERS, actor=norma, committee_ids={north.pk})
    assert taken.committee_id == north.pk
    assert {nico.pk, norma.pk} <= set(alerted())
    assert far_member.pk not in alerted()
