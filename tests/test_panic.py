"""The panic button: triggers (button, SMS keyword with the PIN, a dispatcher with the PIN
on the hotline, a missed check-in), the messages to the contacts, cancelling a mistake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import World, session_for, world
from tests.peers.sms_provider import SmsProvider, running, use_twilio
from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin.family import panic, sending, signals
from tocsin.family.models import ContactMessage, EmergencyContact, FamilyPlan, Trigger
from tocsin.hooks import inbound
from tocsin.members.models import ContactEndpoint

PIN = "2468"
MATEO_PHONE = "+12135550111"


@pytest.fixture
def w(db: None) -> World:
    w = world()
    w.east.hotline_numbers = ["+12135550100"]
    w.east.save()
    return w


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DELIVERY_RATE = {**settings.DELIVERY_RATE, "email": 0}
        yield peer


@pytest.fixture
def twilio(settings: Settings) -> Iterator[SmsProvider]:
    with running() as peer:
        yield use_twilio(settings, peer)


def prepared(w: World, *, confirmed: bool = True, sms: bool = False) -> FamilyPlan:
    """Mateo's plan: a PIN, Ana (Spanish, by email) and, with ``sms``, Beto by SMS."""
    plan = panic.plan_for(w.member)
    plan.set_pin(PIN)
    plan.save()
    contacts = [
        panic.add_contact(plan, label="Ana", kind="email", address="ana@example.org", language="es")
    ]
    if sms:
        contacts.append(
            panic.add_contact(
                plan, label="Beto", kind="sms", address="(213) 555-0142", language="en"
            )
        )
    ContactMessage.objects.all().delete()  # the requests to agree are another test's
    if confirmed:
        for c in contacts:
            panic.confirm_contact(c.token)
    return plan


class Heard:
    def __init__(self) -> None:
        self.triggered: list[Trigger] = []
        self.cancelled: list[Trigger] = []

    def on_triggered(self, sender: Any, trigger: Trigger, **kwargs: Any) -> None:
        self.triggered.append(trigger)

    def on_cancelled(self, sender: Any, trigger: Trigger, **kwargs: Any) -> None:
        self.cancelled.append(trigger)


@pytest.fixture
def heard() -> Iterator[Heard]:
    h = Heard()
    signals.panic_triggered.connect(h.on_triggered)
    signals.panic_cancelled.connect(h.on_cancelled)
    yield h
    signals.panic_triggered.disconnect(h.on_triggered)
    signals.panic_cancelled.disconnect(h.on_cancelled)


def test_the_button_alerts_every_confirmed_contact_in_their_language(
    w: World,
    smtp: SMTPPeer,
    twilio: SmsProvider,
    heard: Heard,
    django_capture_on_commit_callbacks: Any,
) -> None:
    prepared(w, sms=True)
    with django_capture_on_commit_callbacks(execute=True):
        r = session_for(w.member).post(reverse("family_panic"))
    assert r.status_code == 302
    [t] = heard.triggered
    assert (t.member_id, t.committee_id, t.kind, t.cancelled_at) == (
        w.member.pk,
        w.east.pk,
        "button",
        None,
    )
    assert sending.send_due() == 2
    [mail] = smtp.to("ana@example.org")
    assert mail["Subject"] == "Mateo necesita ayuda"
    assert "Mateo necesita ayuda. Llame a la línea legal +12135550100." in mail.get_content()
    [sms] = twilio.messages
    assert sms.to == "+12135550142"
    assert sms.body == "Mateo needs help. Call the legal line +12135550100."


def test_the_button_answers_a_queued_fetch_with_json(w: World) -> None:
    prepared(w)
    r = session_for(w.member).post(reverse("family_panic"), HTTP_ACCEPT="application/json")
    assert r.json() == {"sent": True}
    assert Trigger.objects.count() == 1


def test_a_contact_who_has_not_agreed_is_not_alerted(w: World) -> None:
    prepared(w, confirmed=False)
    panic.trigger(w.member, Trigger.Kind.BUTTON)
    assert not ContactMessage.objects.filter(purpose="panic").exists()


def test_a_second_press_alerts_nobody_twice(w: World) -> None:
    prepared(w)
    first = panic.trigger(w.member, Trigger.Kind.BUTTON)
    assert panic.trigger(w.member, Trigger.Kind.BUTTON) == first
    assert ContactMessage.objects.filter(purpose="panic").count() == 1


def test_the_member_cancels_a_mistake_with_the_pin_and_everyone_alerted_hears_it(
    w: World, smtp: SMTPPeer, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    prepared(w)
    client = session_for(w.member)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("family_panic"))
    assert sending.send_due() == 1
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("family_cancel"), {"pin": "1111"})
    assert heard.cancelled == []
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("family_cancel"), {"pin": PIN})
    [t] = heard.cancelled
    assert t.cancelled_at is not None
    assert sending.send_due() == 1
    mistake = smtp.to("ana@example.org")[-1]
    assert (
        "Mateo está bien: el mensaje anterior pidiendo ayuda fue un error." in mistake.get_content()
    )


def test_a_mistake_cancelled_before_sending_sends_nothing(w: World, smtp: SMTPPeer) -> None:
    prepared(w)
    t = panic.trigger(w.member, Trigger.Kind.BUTTON)
    assert panic.cancel(t)
    assert sending.send_due() == 0
    assert smtp.to("ana@example.org") == []


def sms_member(w: World) -> None:
    ContactEndpoint.create(w.member, "sms", MATEO_PHONE, verified=True)


def test_an_sms_with_the_pin_triggers_and_cancels(w: World, twilio: SmsProvider) -> None:
    prepared(w)
    sms_member(w)
    reply = inbound.handle(inbound.Inbound("sms", MATEO_PHONE, f"AYUDA {PIN}"))
    assert reply is not None and reply.startswith(
        "Tocsin: your emergency contacts are being alerted"
    )
    t = Trigger.objects.get()
    assert t.kind == "sms"
    reply = inbound.handle(inbound.Inbound("sms", MATEO_PHONE, f"cancelar {PIN}"))
    assert reply == "Tocsin: cancelled. Your contacts hear it was a mistake."
    t.refresh_from_db()
    assert t.cancelled_at is not None
    # "CANCEL <PIN>" did not stop the member's messages.
    assert ContactEndpoint.objects.get(kind="sms").disabled_at is None


def test_an_sms_with_a_wrong_pin_triggers_nothing(w: World) -> None:
    prepared(w)
    sms_member(w)
    reply = inbound.handle(inbound.Inbound("sms", MATEO_PHONE, "HELP 9999"))
    assert reply == "Tocsin: that PIN is not right."
    assert not Trigger.objects.exists()


def test_help_from_a_member_without_a_plan_is_still_the_help_text(w: World) -> None:
    sms_member(w)
    reply = inbound.handle(inbound.Inbound("sms", MATEO_PHONE, "HELP 1234"))
    assert reply is not None and "PIN" not in reply
    assert not Trigger.objects.exists()


def test_a_dispatcher_triggers_with_the_callers_phone_and_pin(w: World) -> None:
    prepared(w)
    sms_member(w)
    client = session_for(w.dispatcher, strong=True)
    r = client.post(reverse("hotline_panic"), {"phone": "(213) 555-0111", "pin": "0000"})
    assert r.status_code == 400
    assert not Trigger.objects.exists()
    # The page comes back at the PIN form and its error, not at the top of the hotline
    # page two screens above it.
    assert f'action="{reverse("hotline_panic")}#hotline-panic"' in r.content.decode()
    assert 'id="hotline-panic"' in r.content.decode()
    r = client.post(reverse("hotline_panic"), {"phone": "(213) 555-0111", "pin": PIN})
    assert r.status_code == 302
    assert Trigger.objects.get().kind == "hotline"


def test_a_dispatcher_of_another_committee_cannot_trigger_for_our_member(w: World) -> None:
    prepared(w)
    sms_member(w)
    client = session_for(w.west_dispatcher, strong=True)
    r = client.post(reverse("hotline_panic"), {"phone": MATEO_PHONE, "pin": PIN})
    assert r.status_code == 400
    assert not Trigger.objects.exists()


def test_a_member_cannot_use_the_hotline_form(w: World) -> None:
    prepared(w)
    sms_member(w)
    r = session_for(w.responder).post(reverse("hotline_panic"), {"phone": MATEO_PHONE, "pin": PIN})
    assert r.status_code == 404
    assert not Trigger.objects.exists()


def test_a_missed_check_in_fires_once(w: World) -> None:
    plan = prepared(w)
    client = session_for(w.member)
    client.post(reverse("family_check_in"), {"at": "18:00"})
    plan.refresh_from_db()
    assert plan.check_in_by is not None and plan.check_in_by > timezone.now()
    assert panic.fire_missed_check_ins() == []
    later = plan.check_in_by + timedelta(minutes=1)
    [t] = panic.fire_missed_check_ins(now=later)
    assert t.kind == "missed_checkin"
    assert panic.fire_missed_check_ins(now=later + timedelta(hours=1)) == []
    assert ContactMessage.objects.filter(purpose="panic").count() == 1


def test_checking_in_in_time_alerts_nobody(w: World) -> None:
    plan = prepared(w)
    client = session_for(w.member)
    client.post(reverse("family_check_in"), {"at": "18:00"})
    client.post(reverse("family_check_in"), {"fine": "1"})
    plan.refresh_from_db()
    assert plan.check_in_by is None
    assert panic.fire_missed_check_ins(now=timezone.now() + timedelta(days=2)) == []


def test_the_sms_says_nothing_about_the_detention(w: World, twilio: SmsProvider) -> None:
    plan = prepared(w, sms=True)
    plan.set_texts(children="Luis at Soto school", message="They took me at the car wash")
    plan.save()
    panic.trigger(w.member, Trigger.Kind.BUTTON)
    sending.send_due()
    [sms] = twilio.messages
    assert "Soto" not in sms.body and "car wash" not in sms.body
    assert sms.key.startswith("family-")


def test_a_contact_address_never_reaches_the_page(w: World) -> None:
    prepared(w)
    page = session_for(w.member).get(reverse("family_plan")).content.decode()
    assert "Ana" in page and "ana@example.org" not in page
    assert EmergencyContact.objects.get().confirmed_at is not None


def test_after_five_wrong_pins_even_the_right_one_is_refused_for_a_while(w: World) -> None:
    prepared(w)
    sms_member(w)
    for _ in range(panic.PIN_TRIES):
        inbound.handle(inbound.Inbound("sms", MATEO_PHONE, "HELP 1111"))
    reply = inbound.handle(inbound.Inbound("sms", MATEO_PHONE, f"HELP {PIN}"))
    assert reply == "Tocsin: that PIN is not right."
    assert not Trigger.objects.exists()


def test_a_call_for_help_waiting_for_a_retry_is_not_sent_after_a_cancel(
    w: World, smtp: SMTPPeer
) -> None:
    prepared(w)
    t = panic.trigger(w.member, Trigger.Kind.BUTTON)
    # The first try failed; it waits for its retry when the member cancels.
    ContactMessage.objects.filter(purpose="panic").update(status="failed", attempts=1)
    assert panic.cancel(t)
    ContactMessage.objects.update(next_attempt_at=timezone.now())
    sending.send_due()
    subjects = [m["Subject"] for m in smtp.to("ana@example.org")]
    assert subjects == ["Mateo: fue un error"]
    assert ContactMessage.objects.get(purpose="panic").status == "dead"


def test_a_panic_opens_a_legal_case_with_the_plans_tasks_and_a_cancel_closes_it(
    w: World, django_capture_on_commit_callbacks: Any
) -> None:
    # The seam between the family plans and the legal module: family sends its signals,
    # legal (which listens) opens the case with what the member let the legal team see.
    from tocsin.legal.models import Case

    plan = prepared(w)
    plan.set_texts(children="Sofia, Roosevelt Elementary, 3 pm")
    plan.legal_may_see_plan = True
    plan.save()
    with django_capture_on_commit_callbacks(execute=True):
        t = panic.trigger(w.member, Trigger.Kind.BUTTON)
    case = Case.objects.get(trigger_id=t.pk)
    assert case.committee_id == w.east.pk
    assert case.state == "open"
    assert "childcare" in set(case.tasks.values_list("kind", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        assert panic.cancel(t)
    case.refresh_from_db()
    assert case.state == "closed"


def test_without_the_members_leave_the_case_gets_no_family_tasks(
    w: World, django_capture_on_commit_callbacks: Any
) -> None:
    from tocsin.legal.models import Case

    plan = prepared(w)
    plan.set_texts(children="Sofia, Roosevelt Elementary, 3 pm")
    plan.legal_may_see_plan = False
    plan.save()
    with django_capture_on_commit_callbacks(execute=True):
        t = panic.trigger(w.member, Trigger.Kind.BUTTON)
    case = Case.objects.get(trigger_id=t.pk)
    assert "childcare" not in set(case.tasks.values_list("kind", flat=True))


def test_a_call_for_help_goes_before_a_backlog_of_requests_to_agree(
    w: World, smtp: SMTPPeer
) -> None:
    plan = prepared(w)
    # More requests to agree waiting (written earlier) than one round sends.
    for n in range(3):
        panic.add_contact(
            plan,
            label=f"Vecino {n}",
            kind="email",
            address=f"vecino{n}@example.org",
            language="es",
        )
    panic.trigger(w.member, Trigger.Kind.BUTTON)
    assert sending.send_due(limit=1) == 1
    assert ContactMessage.objects.get(purpose="panic").status == "sent"
    assert len(smtp.to("ana@example.org")) == 1


def test_the_panic_page_says_which_contacts_were_reached_and_which_could_not_be(
    w: World, smtp: SMTPPeer, twilio: SmsProvider
) -> None:
    prepared(w, sms=True)
    client = session_for(w.member)
    Member_language_en(w)
    client.post(reverse("family_panic"))
    page = client.get(reverse("family_panic")).content.decode()
    # Nothing is sent yet: the page does not say the contacts were alerted.
    assert "Your contacts were alerted." not in page
    assert "Ana" in page and "sending" in page
    twilio.fail_next(400, code=21211)  # Beto's number is not a mobile number
    sending.send_due()
    page = client.get(reverse("family_panic")).content.decode()
    ana = page.split('data-contact="Ana"')[1].split("</li>")[0]
    beto = page.split('data-contact="Beto"')[1].split("</li>")[0]
    assert "sent" in ana
    assert "could not be reached" in beto


def test_when_no_contact_could_be_reached_the_page_says_to_call_for_help(
    w: World, twilio: SmsProvider
) -> None:
    prepared(w, sms=True)
    EmergencyContact.objects.filter(label="Ana").delete()  # only Beto, by SMS, is left
    client = session_for(w.member)
    Member_language_en(w)
    client.post(reverse("family_panic"))
    twilio.fail_next(400, code=21211)  # not a mobile number: it never will be
    sending.send_due()
    page = client.get(reverse("family_panic")).content.decode()
    assert 'role="alert"' in page and "None of your contacts could be reached" in page
    assert "+12135550100" in page or "(213) 555-0100" in page  # the committee's hotline


def Member_language_en(w: World) -> None:
    from tocsin.members.models import Member

    Member.objects.filter(pk=w.member.pk).update(language="en")


def test_a_contact_our_request_could_not_reach_is_marked_on_the_plan(
    w: World, twilio: SmsProvider
) -> None:
    plan = panic.plan_for(w.member)
    Member_language_en(w)
    panic.add_contact(plan, label="Beto", kind="sms", address="(213) 555-0142", language="en")
    twilio.fail_next(400, code=21211)
    sending.send_due()
    page = session_for(w.member).get(reverse("family_plan")).content.decode()
    assert 'data-testid="unreachable"' in page and "could not reach them" in page
