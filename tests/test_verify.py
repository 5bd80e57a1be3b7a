"""Verification on the ground (tocsin.incidents.verify and the verifier's answer page):
suggesting and sending verifiers, their answers by link or reply, the committees' rules
confirming, and unverified incidents expiring."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import EAST, WEST, World, member, world
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, Purpose
from tocsin.committees.models import Membership, Role, Shift, VerificationRules
from tocsin.hooks.inbound import Inbound, handle
from tocsin.incidents import services, verify
from tocsin.incidents.models import Answer, Incident, IncidentEvent, State, VerificationRequest
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.intake.models import Channel, Report
from tocsin.lib.links import verify_link_token
from tocsin.members.models import ContactEndpoint, Member
from tocsin.transports import registry as transports_base
from tocsin.transports.base import Message, Transport

# A few hundred metres from EAST, inside the East committee's area.
NEAR = (EAST[0] + 0.004, EAST[1])
FAR = (EAST[0] - 0.012, EAST[1] + 0.006)


class Recording(Transport):
    kind = "recording"
    sent: ClassVar[list[tuple[str, Message]]] = []

    def send(self, payload: dict, message: Message, *, idempotency_key: str) -> None:
        self.sent.append((payload["address"], message))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Message]]:
    recording = type("Rec", (Recording,), {"sent": []})
    monkeypatch.setattr(
        transports_base,
        "registry",
        lambda: {"email": recording, "webpush": recording, "sms": recording},
    )
    return recording.sent


@pytest.fixture
def w(db: None, sent: list[tuple[str, Message]]) -> World:
    return world()


def verifier(
    w: World,
    name: str,
    *,
    area: tuple[float, float] = NEAR,
    vouched: bool = True,
    language: str = "en",
    committee: Any = None,
) -> Member:
    """A verifier of East (or ``committee``) vouched for by the organizer (trusted), with
    an alert area and a verified email."""
    m = member(name, area=area, email=f"{name.lower()}@example.org", language=language)
    Membership.objects.create(
        committee=committee or w.east,
        member=m,
        role=Role.VERIFIER,
        vouched_by=w.organizer if vouched else None,
    )
    return m


def on_duty(w: World, m: Member) -> Shift:
    now = timezone.now()
    return Shift.objects.create(
        committee=w.east,
        member=m,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
    )


def incident_at(w: World, place: tuple[float, float] = EAST) -> Incident:
    report = submit_report(channel=Channel.WEB, kind="checkpoint", lat=place[0], lng=place[1])
    return services.open_incident(report, actor=w.dispatcher)


def state_of(incident: Incident) -> str:
    return Incident.objects.get(pk=incident.pk).state


def link(req: VerificationRequest) -> str:
    token = verify_link_token(member_id=req.verifier_id, incident_id=req.incident_id)
    return reverse("verify_answer", args=[token])


Capture = Callable[..., Any]


# Suggesting verifiers.


def test_the_desk_suggests_on_duty_verifiers_first_then_the_nearest(w: World) -> None:
    far_off_duty = verifier(w, "Nora", area=FAR)
    far_on_duty = verifier(w, "Fabi", area=FAR)
    on_duty(w, far_on_duty)
    near_off_duty = verifier(w, "Omar", area=EAST)
    incident = incident_at(w)
    order = [c.member for c in verify.suggest(incident)]
    assert order.index(far_on_duty) == 0
    assert order.index(near_off_duty) < order.index(far_off_duty)


def test_a_verifier_without_a_working_channel_is_listed_last_and_unreachable(w: World) -> None:
    mute = verifier(w, "Muda", area=EAST)
    ContactEndpoint.objects.filter(member=mute).delete()
    ready = verifier(w, "Lista", area=FAR)
    candidates = verify.suggest(incident_at(w))
    assert [c.member for c in candidates][-1] == mute
    assert not candidates[-1].reachable
    assert candidates[0].member == ready and candidates[0].reachable


def test_only_verifiers_of_a_committee_covering_the_place_are_suggested(w: World) -> None:
    ours = verifier(w, "Nora")
    theirs = verifier(w, "Wes", area=WEST, committee=w.west)
    suggested = {c.member for c in verify.suggest(incident_at(w))}
    assert ours in suggested
    assert theirs not in suggested
    # Plain members and responders are not verifiers; dispatchers and organizers rank above.
    assert w.member not in suggested and w.responder not in suggested
    assert w.outsider not in suggested


def test_a_verifier_already_asked_is_marked(w: World) -> None:
    nora = verifier(w, "Nora")
    incident = incident_at(w)
    verify.request(incident, nora, actor=w.dispatcher)
    [candidate] = [c for c in verify.suggest(incident) if c.member == nora]
    assert candidate.asked


# Sending a verifier.


def test_sending_a_verifier_moves_the_incident_to_verifying_and_messages_only_them(
    w: World, sent: list[tuple[str, Message]], django_capture_on_commit_callbacks: Capture
) -> None:
    nora = verifier(w, "Nora")
    incident = incident_at(w)
    with django_capture_on_commit_callbacks(execute=True):
        req = verify.request(incident, nora, actor=w.dispatcher)
    assert state_of(incident) == State.VERIFYING
    assert req.alert is not None and req.alert.targeted == 1
    assert list(Delivery.objects.filter(alert=req.alert).values_list("member_id", flat=True)) == [
        nora.pk
    ]
    outbox.drain()
    # Responders nearby hear it is being verified; the request itself goes to Nora alone.
    # (She is nearby too, but gets only the request, not the general notice.)
    [message] = [m for address, m in sent if address == "nora@example.org"]
    assert "please check" in message.text
    assert all(
        "please check" not in m.text and "Por favor" not in m.text
        for address, m in sent
        if address != "nora@example.org"
    )
    # The exact place, the evidence checklist and the signed one-tap link.
    assert incident.place in message.text
    for item in ("ICE", "CBP", "local police", "vehicles", "how many agents", "photo if safe"):
        assert item in message.text
    assert "CONFIRM, POLICE or NOTHING" in message.text
    assert f"{settings.SITE_URL}/v/" in message.text
    assert IncidentEvent.objects.filter(incident=incident, action="verifier_sent").exists()


@pytest.mark.parametrize("ended", [State.UNFOUNDED, State.EXPIRED])
def test_a_verifier_sent_to_check_hears_when_she_no_longer_needs_to_go(
    w: World, sent: list[tuple[str, Message]], ended: str
) -> None:
    nora = verifier(w, "Nora")
    incident = incident_at(w)
    verify.request(incident, nora, actor=w.dispatcher)
    outbox.drain()
    services.change_state(incident, ended, actor=None if ended == State.EXPIRED else w.dispatcher)
    outbox.drain()
    to_nora = [m for address, m in sent if address == "nora@example.org"]
    assert len(to_nora) == 2, [m.subject for m in to_nora]
    assert "Nothing to do" in to_nora[1].text


def test_a_request_to_verify_still_queued_is_not_sent_after_the_incident_closed(
    w: World, sent: list[tuple[str, Message]]
) -> None:
    nora = verifier(w, "Nora")
    rosa_heard = incident_at(w)
    services.change_state(rosa_heard, State.VERIFYING, actor=w.dispatcher)
    outbox.drain()  # the responders nearby heard it is being verified
    verify.request(rosa_heard, nora, actor=w.dispatcher)  # queued, not sent yet
    services.change_state(rosa_heard, State.UNFOUNDED, actor=w.dispatcher)
    outbox.drain()
    assert all("please check" not in m.text for address, m in sent if address == "nora@example.org")


def test_members_hear_nothing_when_a_verifier_is_sent(w: World) -> None:
    verify.request(incident_at(w), verifier(w, "Nora"), actor=w.dispatcher)
    assert not Delivery.objects.filter(member=w.member).exists()
    assert not Delivery.objects.filter(alert__purpose=Purpose.CONFIRMED).exists()


def test_a_spanish_verifier_gets_the_request_in_spanish(
    w: World, sent: list[tuple[str, Message]], django_capture_on_commit_callbacks: Capture
) -> None:
    vera = verifier(w, "Vera", language="es")
    with django_capture_on_commit_callbacks(execute=True):
        verify.request(incident_at(w), vera, actor=w.dispatcher)
    outbox.drain()
    [message] = [m for address, m in sent if address == "vera@example.org"]
    assert "Tocsin:" in message.text and "please check" not in message.text
    assert "ICE" in message.text and "policía local" in message.text


@pytest.mark.parametrize("who", ["member", "responder", "outsider", "west_dispatcher"])
def test_only_a_verifier_of_the_place_can_be_sent(w: World, who: str) -> None:
    incident = incident_at(w)
    with pytest.raises(verify.NotAVerifier):
        verify.request(incident, getattr(w, who), actor=w.dispatcher)
    assert not VerificationRequest.objects.exists()
    assert state_of(incident) == State.REPORTED


def test_a_confirmed_incident_is_not_sent_for_verification(w: World) -> None:
    incident = services.change_state(incident_at(w), State.CONFIRMED, actor=w.dispatcher)
    with pytest.raises(services.states.TransitionError):
        verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    assert not VerificationRequest.objects.exists()


def test_sending_while_another_dispatcher_holds_it_is_refused(w: World) -> None:
    second = member("Dani", w.east, Role.DISPATCHER)
    incident = incident_at(w)
    services.take_over(incident, w.dispatcher)
    with pytest.raises(services.HeldByOther):
        verify.request(incident, verifier(w, "Nora"), actor=second)
    assert not VerificationRequest.objects.exists()


def test_asking_the_same_verifier_again_keeps_one_request(w: World) -> None:
    nora = verifier(w, "Nora")
    incident = incident_at(w)
    verify.request(incident, nora, actor=w.dispatcher)
    verify.request(incident, nora, actor=w.dispatcher)
    assert VerificationRequest.objects.filter(incident=incident).count() == 1
    assert Delivery.objects.filter(member=nora, alert__purpose=Purpose.VERIFY).count() == 2


# Answers and the rules.


def test_a_trusted_verifiers_confirmation_confirms_and_alerts_members(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    nora = verifier(w, "Nora")
    incident = incident_at(w)
    req = verify.request(incident, nora, actor=w.dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        verify.record_answer(req, Answer.CONFIRMED, channel="web", agency="ice", agents=6)
    assert state_of(incident) == State.CONFIRMED
    event = IncidentEvent.objects.get(incident=incident, action=State.CONFIRMED)
    assert event.actor is None and "trusted verifier" in event.text
    assert Delivery.objects.filter(alert__purpose=Purpose.CONFIRMED, member=w.member).exists()


def test_an_unvouched_verifiers_confirmation_waits_for_the_dispatcher(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    newcomer = verifier(w, "Nueva", vouched=False)
    incident = incident_at(w)
    req = verify.request(incident, newcomer, actor=w.dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        verify.record_answer(req, Answer.CONFIRMED, channel="web")
    assert state_of(incident) == State.VERIFYING
    assert not Delivery.objects.filter(alert__purpose=Purpose.CONFIRMED).exists()


def test_a_committee_that_wants_more_than_one_verifier_is_obeyed(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    VerificationRules.objects.create(committee=w.east, verifier_confirms=False)
    incident = incident_at(w)
    req = verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        verify.record_answer(req, Answer.CONFIRMED, channel="web")
    assert state_of(incident) == State.VERIFYING


@pytest.mark.parametrize("answer", [Answer.POLICE, Answer.NOTHING])
def test_police_or_nothing_leaves_the_decision_to_the_dispatcher(
    w: World, answer: str, django_capture_on_commit_callbacks: Capture
) -> None:
    incident = incident_at(w)
    req = verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        verify.record_answer(req, answer, channel="sms")
    assert state_of(incident) == State.VERIFYING
    req.refresh_from_db()
    assert (req.answer, req.answer_channel) == (answer, "sms")


def test_an_unknown_answer_is_refused(w: World) -> None:
    req = verify.request(incident_at(w), verifier(w, "Nora"), actor=w.dispatcher)
    with pytest.raises(ValueError):
        verify.record_answer(req, "maybe", channel="web")
    req.refresh_from_db()
    assert req.answer == ""


def test_details_naming_an_officer_are_held_back(w: World) -> None:
    incident = incident_at(w)
    req = verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    verify.record_answer(
        req, Answer.NOTHING, channel="web", details="Officer John Smith, badge #4471, was there"
    )
    req.refresh_from_db()
    assert req.held_reasons
    report = Report.objects.get(incident=incident, channel=Channel.VERIFIER)
    assert report.held_reasons


def test_a_verifiers_record_counts_how_their_answers_held(w: World) -> None:
    nora = verifier(w, "Nora")
    right = incident_at(w)
    wrong = incident_at(w, FAR)
    assert wrong.pk != right.pk
    verify.record_answer(
        verify.request(right, nora, actor=w.dispatcher), Answer.POLICE, channel="web"
    )
    verify.record_answer(
        verify.request(wrong, nora, actor=w.dispatcher), Answer.CONFIRMED, channel="web"
    )
    services.change_state(right, State.UNFOUNDED, actor=w.dispatcher)
    services.change_state(wrong, State.UNFOUNDED, actor=w.dispatcher)
    record = verify.accuracy_for(nora)
    assert record is not None
    assert (record.confirmed, record.refuted) == (1, 1)


def test_three_trusted_members_reporting_confirm_by_quorum(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    reporters = [member(n, w.east, area=EAST) for n in ("Ana", "Beto", "Caro")]
    Membership.objects.filter(member__in=reporters).update(vouched_by=w.organizer)
    with django_capture_on_commit_callbacks(execute=True):
        for m in reporters[:2]:
            submit_report(
                channel=Channel.SMS, kind="checkpoint", lat=EAST[0], lng=EAST[1], member=m
            )
    incident = Report.objects.latest("pk").incident
    assert incident is not None and incident.state == State.REPORTED
    with django_capture_on_commit_callbacks(execute=True):
        submit_report(
            channel=Channel.TELEGRAM,
            kind="checkpoint",
            lat=EAST[0],
            lng=EAST[1],
            member=reporters[2],
        )
    assert state_of(incident) == State.CONFIRMED
    event = IncidentEvent.objects.get(incident=incident, action=State.CONFIRMED)
    assert "3 trusted members" in event.text


def test_one_member_reporting_three_times_never_confirms(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    Membership.objects.filter(member=w.member).update(vouched_by=w.organizer)
    with django_capture_on_commit_callbacks(execute=True):
        for channel in (Channel.SMS, Channel.SIGNAL, Channel.TELEGRAM):
            submit_report(
                channel=channel, kind="checkpoint", lat=EAST[0], lng=EAST[1], member=w.member
            )
    incident = Report.objects.latest("pk").incident
    assert incident is not None
    assert state_of(incident) == State.REPORTED
    assert Report.objects.filter(incident=incident).values("source_tag").distinct().count() == 1


def test_anonymous_reports_never_confirm(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        incident = incident_at(w)
        for _ in range(6):
            submit_report(channel=Channel.WEB, kind="checkpoint", lat=EAST[0], lng=EAST[1])
    assert Report.objects.filter(incident=incident).count() == 7
    verify.evaluate(incident)
    assert state_of(incident) == State.REPORTED


def test_unvouched_members_reporting_never_confirm(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    strangers = [member(n, w.east, area=EAST) for n in ("Ana", "Beto", "Caro", "Dora")]
    with django_capture_on_commit_callbacks(execute=True):
        for m in strangers:
            submit_report(
                channel=Channel.SMS, kind="checkpoint", lat=EAST[0], lng=EAST[1], member=m
            )
    assert not Incident.objects.filter(state=State.CONFIRMED).exists()


# Expiry.


def test_an_incident_nobody_verified_expires_with_a_note(w: World) -> None:
    incident = incident_at(w)
    later = timezone.now() + timedelta(minutes=verify.verification.DEFAULT.expire_minutes + 5)
    assert verify.expire_stale(later) == 1
    assert state_of(incident) == State.EXPIRED
    event = IncidentEvent.objects.get(incident=incident, action=State.EXPIRED)
    assert "nobody verified it" in event.text
    assert not Delivery.objects.filter(member=w.member).exists()


def test_a_verifier_who_never_answered_an_expired_incident_is_not_still_awaited(
    w: World,
) -> None:
    vero = verifier(w, "Vero")
    incident = incident_at(w)
    verify.request(incident, vero, actor=w.dispatcher)
    page = Client()
    page.force_login(w.dispatcher.user)
    url = reverse("incident", args=[incident.pk])
    assert "waiting for an answer" in page.get(url).content.decode()
    later = timezone.now() + timedelta(minutes=verify.verification.DEFAULT.expire_minutes + 5)
    assert verify.expire_stale(later) == 1
    html = page.get(url).content.decode()
    assert "waiting for an answer" not in html
    assert "no answer" in html.split('data-testid="verification-')[1]


def test_an_incident_with_recent_activity_does_not_expire(w: World) -> None:
    incident = incident_at(w)
    soon = timezone.now() + timedelta(minutes=verify.verification.DEFAULT.expire_minutes - 5)
    assert verify.expire_stale(soon) == 0
    assert state_of(incident) == State.REPORTED


def test_sending_a_verifier_counts_as_activity(w: World) -> None:
    incident = incident_at(w)
    Incident.objects.filter(pk=incident.pk).update(
        opened_at=timezone.now() - timedelta(hours=3),
        first_seen_at=timezone.now() - timedelta(hours=3),
        last_seen_at=timezone.now() - timedelta(hours=3),
        updated_at=timezone.now() - timedelta(hours=3),
    )
    verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    assert verify.expire_stale() == 0


def test_a_committee_can_keep_unverified_incidents_open(w: World) -> None:
    VerificationRules.objects.create(committee=w.east, expire_minutes=0)
    incident = incident_at(w)
    assert verify.expire_stale(timezone.now() + timedelta(days=3)) == 0
    assert state_of(incident) == State.REPORTED


def test_a_confirmed_incident_never_expires(w: World) -> None:
    incident = services.change_state(incident_at(w), State.CONFIRMED, actor=w.dispatcher)
    assert verify.expire_stale(timezone.now() + timedelta(days=3)) == 0
    assert state_of(incident) == State.CONFIRMED


# The answer page (the signed link).


def test_the_answer_page_shows_the_place_checklist_and_three_answers(w: World) -> None:
    incident = incident_at(w)
    req = verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    response = Client().get(link(req))
    assert response.status_code == 200
    page = response.content.decode()
    assert incident.place in page
    for testid in ("answer-confirmed", "answer-police", "answer-nothing"):
        assert f'data-testid="{testid}"' in page
    assert "Which agency?" in page and "How many agents?" in page


def test_opening_the_link_records_nothing(w: World) -> None:
    req = verify.request(incident_at(w), verifier(w, "Nora"), actor=w.dispatcher)
    Client().get(link(req) + "?a=confirmed")
    req.refresh_from_db()
    assert req.answer == ""


def test_one_tap_on_confirmed_confirms(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    incident = incident_at(w)
    req = verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(link(req), {"answer": "confirmed", "agency": "ice", "agents": "4"})
    assert response.status_code == 302
    req.refresh_from_db()
    assert (req.answer, req.agency, req.agents, req.answer_channel) == (
        "confirmed",
        "ice",
        4,
        "web",
    )
    assert state_of(incident) == State.CONFIRMED
    assert 'data-testid="answered"' in client.get(link(req)).content.decode()


def test_an_answer_after_the_incident_closed_is_kept_for_the_desk_and_said_so(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    # Vero was on her way when the dispatcher marked a false alarm; she finds agents there.
    incident = incident_at(w)
    req = verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    services.change_state(incident, State.UNFOUNDED, actor=w.dispatcher)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            link(req), {"answer": "confirmed", "agency": "ice", "agents": "6"}, follow=True
        )
    page = response.content.decode()
    assert "after this incident was closed" in page
    assert reverse("report") in page  # a new report is one tap away
    req.refresh_from_db()
    assert (req.answer, req.agents) == ("confirmed", 6)
    assert state_of(incident) == State.UNFOUNDED  # nobody is alerted by it
    desk = Client()
    desk.force_login(w.dispatcher.user)
    html = desk.get(reverse("incident", args=[incident.pk])).content.decode()
    answer = html.split(f'data-testid="verification-{req.verifier_id}"')[1].split("</li>")[0]
    assert "Confirmed" in answer and "after it closed" in answer
    # A second late tap changes nothing.
    client.post(link(req), {"answer": "nothing"})
    req.refresh_from_db()
    assert req.answer == "confirmed"


def test_the_answer_page_speaks_the_verifiers_language(w: World) -> None:
    req = verify.request(incident_at(w), verifier(w, "Vera", language="es"), actor=w.dispatcher)
    page = Client().get(link(req)).content.decode()
    assert "No hay nada" in page and "Es policía local" in page
    assert "Nothing here" not in page


def test_a_wrong_answer_keeps_the_form_and_records_nothing(w: World) -> None:
    req = verify.request(incident_at(w), verifier(w, "Nora"), actor=w.dispatcher)
    response = Client().post(link(req), {"answer": "maybe", "agents": "-3"})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    req.refresh_from_db()
    assert req.answer == ""


@pytest.mark.parametrize("token", ["nonsense", "a" * 300, "1:2:3"])
def test_a_forged_link_is_not_found(w: World, token: str) -> None:
    assert Client().get(reverse("verify_answer", args=[token])).status_code == 404


def test_a_link_for_someone_who_was_not_asked_is_not_found(w: World) -> None:
    incident = incident_at(w)
    verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    other = verifier(w, "Omar")
    token = verify_link_token(member_id=other.pk, incident_id=incident.pk)
    assert Client().get(reverse("verify_answer", args=[token])).status_code == 404
    assert (
        Client().post(reverse("verify_answer", args=[token]), {"answer": "confirmed"}).status_code
        == 404
    )


def test_an_expired_link_is_not_found(w: World) -> None:
    req = verify.request(incident_at(w), verifier(w, "Nora"), actor=w.dispatcher)
    old = timezone.now() - timedelta(hours=settings.VERIFY_LINK_HOURS, minutes=5)
    token = verify_link_token(member_id=req.verifier_id, incident_id=req.incident_id, at=old)
    assert Client().get(reverse("verify_answer", args=[token])).status_code == 404


def test_a_verifier_removed_from_the_committee_loses_the_link(w: World) -> None:
    nora = verifier(w, "Nora")
    req = verify.request(incident_at(w), nora, actor=w.dispatcher)
    Membership.objects.filter(member=nora).delete()
    assert Client().post(link(req), {"answer": "confirmed"}).status_code == 404
    req.refresh_from_db()
    assert req.answer == ""


# Replies by SMS (Signal and Telegram go through the same handler).

PHONE = "+13105550142"


def on_sms(m: Member) -> Member:
    """The verifier, reachable (and answering) by SMS at PHONE."""
    ContactEndpoint.create(m, "sms", PHONE, verified=True)
    return m


def test_a_verifier_replies_confirm_by_sms(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    nora = on_sms(verifier(w, "Nora"))
    incident = incident_at(w)
    verify.request(incident, nora, actor=w.dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        answer = handle(Inbound("sms", PHONE, "CONFIRM 3 vans, ICE jackets", "m1"))
    assert answer is not None and "the dispatcher has your answer" in answer
    req = VerificationRequest.objects.get(incident=incident)
    assert (req.answer, req.answer_channel) == ("confirmed", "sms")
    assert "3 vans" in req.details
    assert state_of(incident) == State.CONFIRMED


def test_a_spanish_verifier_replies_nada(w: World) -> None:
    vera = on_sms(verifier(w, "Vera", language="es"))
    incident = incident_at(w)
    verify.request(incident, vera, actor=w.dispatcher)
    answer = handle(Inbound("sms", PHONE, "nada", "m2"))
    assert answer is not None and "gracias" in answer.lower()
    assert VerificationRequest.objects.get(incident=incident).answer == Answer.NOTHING


def test_a_reply_answers_the_newest_waiting_request(w: World) -> None:
    nora = on_sms(verifier(w, "Nora"))
    first = incident_at(w)
    second = incident_at(w, FAR)
    verify.request(first, nora, actor=w.dispatcher)
    verify.request(second, nora, actor=w.dispatcher)
    handle(Inbound("sms", PHONE, "POLICE", "m3"))
    assert VerificationRequest.objects.get(incident=second).answer == Answer.POLICE
    assert VerificationRequest.objects.get(incident=first).answer == ""


def test_a_reply_with_nothing_to_answer_says_so(w: World) -> None:
    on_sms(verifier(w, "Nora"))
    answer = handle(Inbound("sms", PHONE, "CONFIRM", "m4"))
    assert answer is not None and "no verification request" in answer


def test_confirm_from_an_unknown_number_changes_nothing(w: World) -> None:
    incident = incident_at(w)
    verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    handle(Inbound("sms", "+13105550199", "CONFIRM", "m5"))
    assert VerificationRequest.objects.get(incident=incident).answer == ""
    assert state_of(incident) == State.VERIFYING


# The desk's view of sending a verifier.


def test_the_dispatcher_sends_a_verifier_from_the_incident_page(w: World) -> None:
    nora = verifier(w, "Nora")
    incident = incident_at(w)
    client = Client()
    client.force_login(w.dispatcher.user)
    page = client.get(reverse("incident", args=[incident.pk])).content.decode()
    assert "Nora" in page
    response = client.post(
        reverse("incident_verify", args=[incident.pk]), {"verifier": nora.pk}, follow=True
    )
    assert response.status_code == 200
    assert "Nora is asked to verify." in response.content.decode()
    assert VerificationRequest.objects.filter(incident=incident, verifier=nora).exists()


@pytest.mark.parametrize("who", ["west_dispatcher", "member", "outsider"])
def test_nobody_else_sends_a_verifier(w: World, who: str) -> None:
    nora = verifier(w, "Nora")
    incident = incident_at(w)
    client = Client()
    client.force_login(getattr(w, who).user)
    response = client.post(reverse("incident_verify", args=[incident.pk]), {"verifier": nora.pk})
    assert response.status_code in (302, 403, 404)
    assert not VerificationRequest.objects.exists()


def test_a_west_verifier_cannot_be_sent_to_an_east_incident(w: World) -> None:
    wes = verifier(w, "Wes", area=WEST, committee=w.west)
    incident = incident_at(w)
    client = Client()
    client.force_login(w.dispatcher.user)
    response = client.post(reverse("incident_verify", args=[incident.pk]), {"verifier": wes.pk})
    assert response.status_code == 404
    assert not VerificationRequest.objects.exists()


# The timeline.


def timeline_of(incident: Incident, viewer: Member) -> str:
    client = Client()
    client.force_login(viewer.user)
    page = client.get(reverse("incident", args=[incident.pk])).content.decode()
    return page.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]


def test_the_timeline_tells_everything_in_each_dispatchers_language(
    w: World, django_capture_on_commit_callbacks: Capture
) -> None:
    nora = on_sms(verifier(w, "Nora"))
    incident = incident_at(w)
    submit_report(channel=Channel.SMS, kind="checkpoint", lat=EAST[0], lng=EAST[1])
    verify.request(incident, nora, actor=w.dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        handle(Inbound("sms", PHONE, "CONFIRM", "m6"))
    assert state_of(incident) == State.CONFIRMED

    english = timeline_of(incident, w.dispatcher)
    for line in (
        "Opened",
        "Report joined (SMS ",
        "Verifying",
        "Verifier asked (Nora: 1)",
        "Verifier answered (Confirmed (SMS))",
        "rule of East: a trusted verifier confirmed; Confirmed incident: ",
    ):
        assert line in english
    assert english.count("· Diego") >= 3  # who did what; the rules act as nobody

    dolores = member("Dolores", w.east, Role.DISPATCHER, language="es")
    spanish = timeline_of(incident, dolores)
    assert "regla de East: lo confirmó un verificador de confianza" in spanish
    assert "rule of" not in spanish and "Report joined" not in spanish


def test_a_deleted_verifiers_name_leaves_the_timeline(w: World) -> None:
    from tocsin.accounts.account import delete_account

    nora = verifier(w, "Nora")
    incident = incident_at(w)
    verify.request(incident, nora, actor=w.dispatcher)
    assert "Verifier asked (Nora: 1)" in timeline_of(incident, w.dispatcher)
    delete_account(nora)
    timeline = timeline_of(incident, w.dispatcher)
    assert "Nora" not in timeline
    assert "Verifier asked (a removed member: 1)" in timeline
    assert not IncidentEvent.objects.filter(detail__contains="Nora").exists()


def test_the_timeline_reads_the_names_it_shows_in_one_query(w: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    incident = incident_at(w)

    def queries() -> int:
        """How many queries of the page read members (the names it shows among them)."""
        with CaptureQueriesContext(connection) as seen:
            timeline_of(incident, w.dispatcher)
        return sum('FROM "members_member"' in q["sql"] for q in seen.captured_queries)

    verify.request(incident, verifier(w, "Nora"), actor=w.dispatcher)
    one = queries()
    for name in ("Omar", "Fabi", "Lupe", "Ines"):
        verify.request(incident, verifier(w, name), actor=w.dispatcher)
    # More verifiers named on the timeline add rows, not a query per name.
    assert queries() == one
    assert all(
        f"Verifier asked ({n}: 1)" in timeline_of(incident, w.dispatcher) for n in ("Nora", "Ines")
    )


def test_the_language_switch_changes_the_answer_page(w: World) -> None:
    req = verify.request(incident_at(w), verifier(w, "Vera", language="es"), actor=w.dispatcher)
    client = Client()
    client.post(reverse("set_language"), {"language": "en", "next": link(req)})
    page = client.get(link(req)).content.decode()
    assert "Nothing here" in page and "No hay nada" not in page
    assert '<html lang="en">' in page
