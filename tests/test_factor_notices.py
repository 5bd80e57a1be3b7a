"""Every factor change is told on another channel: to the member, and to the organizers of
each committee where they are a dispatcher or an organizer.

Someone holding only the member's mailbox must not be able to change a factor quietly:
the notice goes to every working channel of the member (Signal, SMS, push, email), and to
their organizers, each in their own language. A worker sends it (only workers open a
sealed address); tests run the queued tasks as `tocsin worker` does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from tests.factories import World, member, session_for, world
from tocsin.committees.models import Role
from tocsin.members import security
from tocsin.members.models import ContactEndpoint, Member, SecondFactor
from tocsin.transports import registry as transports_registry
from tocsin.transports.base import Message, Transport

pytestmark = pytest.mark.django_db

DIEGO_PHONE = "+12135550111"


class SmsRecorder(Transport):
    kind = "sms"
    sent: ClassVar[list[tuple[dict[str, Any], Message]]] = []

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        SmsRecorder.sent.append((payload, message))


@pytest.fixture
def w(settings: Any) -> World:
    mail.outbox = []
    return world()


@pytest.fixture
def sms(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], Message]]:
    real = transports_registry.registry
    monkeypatch.setattr(transports_registry, "registry", lambda: {**real(), "sms": SmsRecorder})
    SmsRecorder.sent = []
    return SmsRecorder.sent


def run_tasks() -> None:
    """Run every queued task, as the worker would."""
    for result in DBTaskResult.objects.ready().order_by("enqueued_at"):
        result.task.call(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
        result.delete()


def add_totp(member: Member) -> SecondFactor:
    return SecondFactor.objects.create(
        member=member,
        kind=SecondFactor.Kind.TOTP,
        totp_secret=security.seal_totp(security.new_totp_secret()),
        confirmed=True,
    )


def enroll_totp(client: Client, member: Member) -> str:
    client.post(reverse("totp_start"))
    pending = SecondFactor.objects.get(member=member, confirmed=False)
    secret = security.open_totp(pending.totp_secret)
    assert secret is not None
    client.post(reverse("totp_confirm"), {"code": security.totp_at(secret, int(time.time() // 30))})
    return secret


def mail_to(address: str) -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if address in m.to]


@pytest.fixture
def change(django_capture_on_commit_callbacks: Any) -> Callable[[Callable[[], Any]], None]:
    """Run ``action`` (a request), let its transaction commit, then run the worker."""

    def run(action: Callable[[], Any]) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            action()
        run_tasks()

    return run


def test_adding_a_factor_tells_the_member_on_every_channel(
    w: World, sms: list, change: Callable
) -> None:
    ContactEndpoint.create(w.dispatcher, "sms", DIEGO_PHONE, verified=True)
    add_totp(w.dispatcher)
    change(lambda: enroll_totp(session_for(w.dispatcher, strong=True), w.dispatcher))
    [email] = mail_to("diego@example.org")
    [(payload, text)] = sms
    assert payload["address"] == DIEGO_PHONE
    for body in (email.body, text.text):
        assert "an authenticator app was added to your account" in body
        assert "Log out everywhere" in body
        assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", body)


def test_adding_a_factor_tells_the_organizers_of_the_members_committees(
    w: World, change: Callable
) -> None:
    add_totp(w.dispatcher)
    change(lambda: enroll_totp(session_for(w.dispatcher, strong=True), w.dispatcher))
    [notice] = mail_to("olga@example.org")
    assert "Diego" in notice.body
    assert "authenticator app was added" in notice.body
    for outsider in ("wendy@example.org", "walt@example.org", "mateo@example.org"):
        assert mail_to(outsider) == []


def test_removing_a_factor_tells_the_member_and_the_organizers(w: World, change: Callable) -> None:
    factor = add_totp(w.dispatcher)
    client = session_for(w.dispatcher, strong=True)
    change(lambda: client.post(reverse("remove_factor", args=[factor.pk])))
    [mine] = mail_to("diego@example.org")
    [organizers] = mail_to("olga@example.org")
    assert "an authenticator app was removed from your account" in mine.body
    assert "removed" in organizers.body and "Diego" in organizers.body


def test_each_recipient_reads_the_notice_in_their_language(w: World, change: Callable) -> None:
    Member.objects.filter(pk=w.dispatcher.pk).update(language="es")
    factor = add_totp(w.dispatcher)
    client = session_for(w.dispatcher, strong=True)
    change(lambda: client.post(reverse("remove_factor", args=[factor.pk])))
    [spanish] = mail_to("diego@example.org")
    [english] = mail_to("olga@example.org")
    assert "Cerrar sesión en todas partes" in spanish.body
    assert "Log out everywhere" in english.body


def test_the_notice_never_holds_the_secret(w: World, change: Callable) -> None:
    add_totp(w.dispatcher)
    secrets: list[str] = []
    change(
        lambda: secrets.append(enroll_totp(session_for(w.dispatcher, strong=True), w.dispatcher))
    )
    assert mail.outbox
    for message in mail.outbox:
        assert secrets[0] not in message.body
        assert secrets[0] not in message.subject


def test_a_plain_members_notice_goes_to_them_alone(w: World, change: Callable) -> None:
    change(lambda: enroll_totp(session_for(w.member), w.member))
    assert [m.to for m in mail.outbox] == [["mateo@example.org"]]


def test_an_organizers_own_change_goes_to_the_other_organizers(w: World, change: Callable) -> None:
    member("Omar", w.east, Role.ORGANIZER, email="omar@example.org")
    factor = add_totp(w.organizer)
    client = session_for(w.organizer, strong=True)
    change(lambda: client.post(reverse("remove_factor", args=[factor.pk])))
    [mine] = mail_to("olga@example.org")
    assert "your account" in mine.body
    [other] = mail_to("omar@example.org")
    assert "Olga" in other.body
