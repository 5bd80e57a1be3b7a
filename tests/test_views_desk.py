"""Dispatcher and organizer flows: the desk, incident states, committee pages, invites, login."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import EAST, WEST, World
from tocsin import geo
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.committees.models import Invite, Membership, Role
from tocsin.incidents import services
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, Report, ReportKind
from tocsin.members.models import LoginCode, Member


@pytest.fixture
def outbox(settings: Any) -> list[mail.EmailMessage]:
    mail.outbox = []
    return mail.outbox


def as_(persona: Member) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


def report_at(point: tuple[float, float] = EAST) -> Report:
    return receive_report(
        channel=Channel.WEB, kind=ReportKind.WORKPLACE_RAID, lat=point[0], lng=point[1]
    )


def incident_in(w: World, state: str) -> Incident:
    incident = services.open_incident(report_at(), actor=w.dispatcher)
    path = {
        State.REPORTED: [],
        State.VERIFYING: [State.VERIFYING],
        State.CONFIRMED: [State.CONFIRMED],
    }[State(state)]
    for step in path:
        incident = services.change_state(incident, step, actor=w.dispatcher)
    return incident


def change_state(client: Client, incident: Incident, state: str) -> Any:
    return client.post(reverse("incident_state", args=[incident.pk]), {"state": state}, follow=True)


def page(response: Any) -> str:
    return response.content.decode()


# The desk.


def test_the_desk_lists_an_east_report_for_the_east_dispatcher(w: World) -> None:
    report = report_at(EAST)
    response = as_(w.dispatcher).get(reverse("desk"))
    assert response.status_code == 200
    assert f'data-report="{report.pk}"' in page(response)
    assert report.receipt in page(response)


def test_the_desk_hides_an_east_report_from_the_west_dispatcher(w: World) -> None:
    east, west = report_at(EAST), report_at(WEST)
    response = as_(w.west_dispatcher).get(reverse("desk"))
    assert response.status_code == 200
    assert east.receipt not in page(response)
    assert west.receipt in page(response)


def test_the_desk_refuses_a_member_who_does_not_dispatch(w: World) -> None:
    report = report_at(EAST)
    response = as_(w.member).get(reverse("desk"))
    assert response.status_code == 403
    assert report.receipt not in page(response)


def test_opening_a_report_creates_an_incident_and_redirects(w: World) -> None:
    report = report_at()
    response = as_(w.dispatcher).post(reverse("open_report", args=[report.pk]))
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("incident", args=[incident.pk])
    assert Report.objects.get(pk=report.pk).incident_id == incident.pk
    assert incident.state == State.REPORTED
    assert incident.events.get().actor_id == w.dispatcher.pk


def test_opening_a_report_twice_keeps_one_incident(w: World) -> None:
    report = report_at()
    client = as_(w.dispatcher)
    first = client.post(reverse("open_report", args=[report.pk]))
    second = client.post(reverse("open_report", args=[report.pk]))
    assert first["Location"] == second["Location"]
    assert Incident.objects.count() == 1


def test_dismissing_a_report_takes_it_off_the_desk(w: World) -> None:
    report = report_at()
    client = as_(w.dispatcher)
    response = client.post(reverse("dismiss_report", args=[report.pk]))
    assert response["Location"] == reverse("desk")
    assert Report.objects.get(pk=report.pk).dismissed
    assert report.receipt not in page(client.get(reverse("desk")))


def test_the_west_dispatcher_cannot_open_an_east_report(w: World) -> None:
    report = report_at()
    response = as_(w.west_dispatcher).post(reverse("open_report", args=[report.pk]))
    assert response.status_code == 404
    assert not Incident.objects.exists()


# Incident states.


@pytest.mark.parametrize(
    ("start", "wanted"),
    [
        (State.REPORTED, State.VERIFYING),
        (State.REPORTED, State.CONFIRMED),
        (State.VERIFYING, State.CONFIRMED),
        (State.CONFIRMED, State.RESOLVED),
    ],
)
def test_it_changes_the_incident_state(w: World, start: str, wanted: str) -> None:
    incident = incident_in(w, start)
    response = change_state(as_(w.dispatcher), incident, wanted)
    assert response.redirect_chain == [(reverse("incident", args=[incident.pk]), 302)]
    assert f"Incident is now: {State(wanted).label}" in page(response)
    assert Incident.objects.get(pk=incident.pk).state == wanted
    assert incident.events.filter(action=wanted, actor=w.dispatcher).exists()


def test_an_impossible_transition_shows_an_error_and_changes_nothing(w: World) -> None:
    incident = incident_in(w, State.REPORTED)
    response = change_state(as_(w.dispatcher), incident, State.RESOLVED)
    assert "That change is not possible" in page(response)
    assert Incident.objects.get(pk=incident.pk).state == State.REPORTED
    assert list(incident.events.values_list("action", flat=True)) == ["opened"]
    assert not incident.alerts.exists()


def test_an_unknown_state_shows_an_error_and_changes_nothing(w: World) -> None:
    incident = incident_in(w, State.REPORTED)
    response = change_state(as_(w.dispatcher), incident, "bogus")
    assert "Unknown state." in page(response)
    assert Incident.objects.get(pk=incident.pk).state == State.REPORTED
    assert list(incident.events.values_list("action", flat=True)) == ["opened"]


def test_confirming_queues_deliveries_for_east_members_with_areas(w: World) -> None:
    incident = incident_in(w, State.VERIFYING)
    change_state(as_(w.dispatcher), incident, State.CONFIRMED)
    deliveries = Delivery.objects.filter(alert__incident=incident)
    # Rosa and Mateo have areas at East; Olga, Diego and West's people have none there.
    assert set(deliveries.values_list("member_id", flat=True)) == {w.responder.pk, w.member.pk}
    assert set(deliveries.values_list("status", flat=True)) == {DeliveryStatus.QUEUED}
    assert {d.endpoint.member_id for d in deliveries} == {d.member_id for d in deliveries}


@pytest.mark.parametrize("state", [State.REPORTED, State.VERIFYING])
def test_no_member_is_alerted_before_confirmation(w: World, state: str) -> None:
    incident = incident_in(w, State.REPORTED)
    if state == State.VERIFYING:
        change_state(as_(w.dispatcher), incident, State.VERIFYING)
    assert Incident.objects.get(pk=incident.pk).state == state
    # Only the responder nearby hears of an incident being verified (DESIGN.md section 3).
    told = set(Delivery.objects.values_list("member_id", flat=True))
    assert told == ({w.responder.pk} if state == State.VERIFYING else set())


def test_resolving_before_anyone_was_alerted_cancels_the_queued_alerts(w: World) -> None:
    incident = incident_in(w, State.CONFIRMED)
    change_state(as_(w.dispatcher), incident, State.RESOLVED)
    statuses = set(Delivery.objects.values_list("status", flat=True))
    assert statuses == {DeliveryStatus.CANCELLED}


def test_the_west_dispatcher_cannot_confirm_an_east_incident(w: World) -> None:
    incident = incident_in(w, State.VERIFYING)
    response = as_(w.west_dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": State.CONFIRMED}
    )
    assert response.status_code == 404
    assert Incident.objects.get(pk=incident.pk).state == State.VERIFYING
    assert not Delivery.objects.filter(alert__purpose="confirmed").exists()


# Organizer pages.


def post_area(client: Client, **data: Any) -> Any:
    return client.post(reverse("committee_area", args=["east"]), data, follow=True)


def test_it_sets_the_committee_area(w: World) -> None:
    lat, lng = 34.0400, -118.2000
    response = post_area(as_(w.organizer), lat=lat, lng=lng, radius_km=1)
    expected = geo.cells_for_circle(lat, lng, 1000, settings.AREA_RESOLUTION)
    assert w.east.cells() == expected
    assert geo.cell_at(lat, lng, settings.AREA_RESOLUTION) in expected
    assert f"Area saved: {len(expected)} cells." in page(response)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"radius_km": 1}, id="no-centre"),
        pytest.param({"lat": 34.04, "lng": -118.2, "radius_km": 50}, id="too-big"),
        pytest.param({"lat": 95, "lng": -118.2, "radius_km": 1}, id="bad-latitude"),
    ],
)
def test_it_keeps_the_area_when_the_form_is_wrong(w: World, data: dict[str, Any]) -> None:
    before = w.east.cells()
    response = post_area(as_(w.organizer), **data)
    assert 'class="error"' in page(response)
    assert w.east.cells() == before


def test_the_west_organizer_cannot_set_the_east_area(w: World) -> None:
    before = w.east.cells()
    response = as_(w.west_organizer).post(
        reverse("committee_area", args=["east"]), {"lat": 34.04, "lng": -118.2, "radius_km": 1}
    )
    assert response.status_code == 404
    assert w.east.cells() == before


def membership(committee: Any, member: Member) -> Membership:
    return Membership.objects.get(committee=committee, member=member)


def post_role(client: Client, target: Membership, role: str) -> Any:
    return client.post(
        reverse("committee_role", args=[target.committee.slug, target.pk]),
        {"role": role},
        follow=True,
    )


def test_it_sets_a_role(w: World) -> None:
    target = membership(w.east, w.member)
    response = post_role(as_(w.organizer), target, Role.RESPONDER)
    assert "Role updated." in page(response)
    assert membership(w.east, w.member).role == Role.RESPONDER


def test_it_refuses_an_unknown_role(w: World) -> None:
    target = membership(w.east, w.member)
    response = post_role(as_(w.organizer), target, "king")
    assert "Unknown role." in page(response)
    assert membership(w.east, w.member).role == Role.MEMBER


def test_it_removes_a_member(w: World) -> None:
    target = membership(w.east, w.member)
    response = post_role(as_(w.organizer), target, "remove")
    assert "Removed from the committee." in page(response)
    assert not Membership.objects.filter(pk=target.pk).exists()
    assert Member.objects.filter(pk=w.member.pk).exists()


def test_an_organizer_cannot_demote_themself(w: World) -> None:
    mine = membership(w.east, w.organizer)
    response = post_role(as_(w.organizer), mine, Role.MEMBER)
    assert "Ask another organizer to change your own role." in page(response)
    assert membership(w.east, w.organizer).role == Role.ORGANIZER


def test_an_organizer_cannot_remove_themself(w: World) -> None:
    mine = membership(w.east, w.organizer)
    response = post_role(as_(w.organizer), mine, "remove")
    assert "You cannot remove yourself." in page(response)
    assert membership(w.east, w.organizer).role == Role.ORGANIZER


def test_the_west_organizer_cannot_change_an_east_role(w: World) -> None:
    target = membership(w.east, w.member)
    response = as_(w.west_organizer).post(
        reverse("committee_role", args=["east", target.pk]), {"role": Role.ORGANIZER}
    )
    assert response.status_code == 404
    assert membership(w.east, w.member).role == Role.MEMBER


def test_a_dispatcher_cannot_change_roles(w: World) -> None:
    target = membership(w.east, w.member)
    response = as_(w.dispatcher).post(
        reverse("committee_role", args=["east", target.pk]), {"role": Role.ORGANIZER}
    )
    assert response.status_code == 404
    assert membership(w.east, w.member).role == Role.MEMBER


# Invites.


def test_a_new_invite_revokes_the_old_one(w: World) -> None:
    client = as_(w.organizer)
    client.get(reverse("committee", args=["east"]))
    old = Invite.objects.get(committee=w.east)
    client.post(reverse("committee_invite", args=["east"]))
    new = Invite.objects.get(committee=w.east, revoked=False)
    assert new.pk != old.pk
    assert Invite.objects.get(pk=old.pk).revoked
    assert Client().get(reverse("join", args=[old.token])).status_code == 404
    assert Client().get(reverse("join", args=[new.token])).status_code == 200


def test_the_invite_link_creates_a_member_and_logs_them_in(w: World) -> None:
    invite = Invite.objects.create(committee=w.east, created_by=w.organizer)
    client = Client()
    url = reverse("join", args=[invite.token])
    assert client.get(url).status_code == 200
    response = client.post(url, {"display_name": "Nina", "language": "es", "email": ""})
    nina = Member.objects.get(display_name="Nina")
    assert response.status_code == 302
    assert response["Location"] == reverse("me")
    assert client.session["_auth_user_id"] == str(nina.user.pk)
    assert nina.language == "es"
    joined = membership(w.east, nina)
    assert (joined.role, joined.vouched_by_id) == (Role.MEMBER, w.organizer.pk)
    assert Invite.objects.get(pk=invite.pk).uses == 1
    assert client.get(reverse("me")).status_code == 200


def test_an_existing_member_joins_with_the_invite_link(w: World) -> None:
    invite = Invite.objects.create(committee=w.east, created_by=w.organizer)
    members = Member.objects.count()
    response = as_(w.outsider).post(reverse("join", args=[invite.token]))
    assert response["Location"] == reverse("me")
    assert membership(w.east, w.outsider).role == Role.MEMBER
    assert Member.objects.count() == members


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"expires_at": timezone.now() - timedelta(minutes=1)}, id="expired"),
        pytest.param({"revoked": True}, id="revoked"),
        pytest.param({"uses": 200}, id="used-up"),
    ],
)
def test_an_unusable_invite_shows_the_invalid_page(w: World, change: dict[str, Any]) -> None:
    invite = Invite.objects.create(committee=w.east, created_by=w.organizer)
    Invite.objects.filter(pk=invite.pk).update(**change)
    url = reverse("join", args=[invite.token])
    client = Client()
    shown = client.get(url)
    posted = client.post(url, {"display_name": "Nina", "language": "en", "email": ""})
    assert shown.status_code == posted.status_code == 404
    assert "This invite does not work" in page(shown)
    assert not Member.objects.filter(display_name="Nina").exists()
    assert "_auth_user_id" not in client.session


def test_an_unknown_invite_token_shows_the_invalid_page(w: World) -> None:
    response = Client().get(reverse("join", args=["no-such-token"]))
    assert response.status_code == 404
    assert "This invite does not work" in page(response)


# Login by emailed code.


def ask_code(client: Client, email: str) -> Any:
    return client.post(reverse("login"), {"email": email})


def code_in(message: mail.EmailMessage) -> str:
    match = re.search(r"\b(\d{6})\b", message.subject)
    assert match, message.subject
    return match.group(1)


def enter(client: Client, code: str) -> Any:
    return client.post(reverse("login_code"), {"code": code})


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_it_logs_in_with_the_emailed_code(w: World, outbox: list[mail.EmailMessage]) -> None:
    client = Client()
    response = ask_code(client, "olga@example.org")
    assert response["Location"] == reverse("login_code")
    [message] = outbox
    assert message.to == ["olga@example.org"]
    logged_in = enter(client, code_in(message))
    assert logged_in.status_code == 302
    assert logged_in["Location"] == reverse("me")
    assert client.session["_auth_user_id"] == str(w.organizer.user.pk)


def test_it_finds_the_address_whatever_its_case(w: World, outbox: list[mail.EmailMessage]) -> None:
    ask_code(Client(), "  OLGA@Example.org ")
    assert len(outbox) == 1


def test_an_unknown_email_gets_the_same_next_page_and_no_mail(
    w: World, outbox: list[mail.EmailMessage]
) -> None:
    known = Client().post(reverse("login"), {"email": "olga@example.org"}, follow=True)
    outbox.clear()
    unknown = Client().post(reverse("login"), {"email": "nobody@example.org"}, follow=True)
    assert outbox == []
    assert unknown.redirect_chain == known.redirect_chain == [(reverse("login_code"), 302)]
    assert unknown.status_code == known.status_code == 200
    assert [t.name for t in unknown.templates] == [t.name for t in known.templates]
    scrub = re.compile(rb'(nonce|value)="[^"]*"')
    assert scrub.sub(b"", unknown.content) == scrub.sub(b"", known.content)


def test_an_unknown_email_cannot_log_in_with_any_code(
    w: World, outbox: list[mail.EmailMessage]
) -> None:
    client = Client()
    ask_code(client, "nobody@example.org")
    assert enter(client, "123456").status_code == 400
    assert "_auth_user_id" not in client.session


def test_a_wrong_code_five_times_locks_the_code(w: World, outbox: list[mail.EmailMessage]) -> None:
    client = Client()
    ask_code(client, "olga@example.org")
    code = code_in(outbox[0])
    for _ in range(5):
        wrong = enter(client, other_than(code))
        assert wrong.status_code == 400
        assert "That code is wrong or expired." in page(wrong)
    locked = enter(client, code)
    assert locked.status_code == 400
    assert "_auth_user_id" not in client.session
    assert LoginCode.objects.get().attempts == 5


def test_the_right_code_still_works_after_four_wrong_ones(
    w: World, outbox: list[mail.EmailMessage]
) -> None:
    client = Client()
    ask_code(client, "olga@example.org")
    code = code_in(outbox[0])
    for _ in range(4):
        enter(client, other_than(code))
    assert enter(client, code).status_code == 302
    assert client.session["_auth_user_id"] == str(w.organizer.user.pk)


def test_a_code_works_only_once(w: World, outbox: list[mail.EmailMessage]) -> None:
    client = Client()
    ask_code(client, "olga@example.org")
    code = code_in(outbox[0])
    assert enter(client, code).status_code == 302
    session_login_id = client.session["login_id"]
    again = Client()
    session = again.session
    session["login_id"] = session_login_id
    session.save()
    assert enter(again, code).status_code == 400
    assert "_auth_user_id" not in again.session


def test_a_flood_of_anonymous_reports_never_pushes_a_members_report_off_the_desk(
    w: World,
) -> None:
    from tocsin.desk.views import QUEUE_SIZE

    mine = receive_report(
        channel=Channel.SMS, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1], member=w.member
    )
    assert mine.source_tag and mine.incident_id is None  # not trusted: it waits on the desk
    later = timezone.now() + timedelta(minutes=1)
    flood = [report_at(EAST) for _ in range(QUEUE_SIZE + 1)]
    Report.objects.filter(pk__in=[r.pk for r in flood]).update(received_at=later)
    page_ = page(as_(w.dispatcher).get(reverse("desk")))
    assert f'data-report="{mine.pk}"' in page_
    assert page_.count("data-report=") == QUEUE_SIZE
    assert f'data-testid="report-count">{QUEUE_SIZE + 2}<' in page_
    assert f"Showing {QUEUE_SIZE} of {QUEUE_SIZE + 2}" in page_
    # The newest anonymous ones fill the rest; the oldest one is the one left off.
    assert f'data-report="{flood[0].pk}"' not in page_
    assert f'data-report="{flood[-1].pk}"' in page_
