"""A member's channels on /me/: add a phone, confirm it with a code, order, test, turn on.

Codes and test messages are sent by tasks a worker runs (only workers can open a sealed
number); tests run the queued tasks the way `tocsin worker` does, through django-tasks-db.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.factories import World
from tocsin.members import channels
from tocsin.members.models import ContactEndpoint, EndpointVerification, Member
from tocsin.transports import registry as transports_registry
from tocsin.transports.base import Message, Transport, TransportError

NUMBER = "+1 213-555-0100"


class Recorder(Transport):
    """Records what it was asked to send; ``fail`` makes the next sends fail."""

    kind = "sms"
    sent: ClassVar[list[tuple[dict[str, Any], Message, str]]] = []
    fail: ClassVar[TransportError | None] = None

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        if Recorder.fail is not None:
            raise Recorder.fail
        Recorder.sent.append((payload, message, idempotency_key))


class SignalRecorder(Recorder):
    kind = "signal"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], Message, str]]:
    """Turn SMS and Signal on with recording transports; return what they sent."""
    real = transports_registry.registry

    def registry() -> dict[str, type[Transport]]:
        return {**real(), "sms": Recorder, "signal": SignalRecorder}

    monkeypatch.setattr(transports_registry, "registry", registry)
    Recorder.sent = []
    Recorder.fail = None
    return Recorder.sent


@pytest.fixture
def no_phones(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server with neither SMS nor Signal configured."""
    real = transports_registry.registry

    def registry() -> dict[str, type[Transport]]:
        return {k: v for k, v in real().items() if k not in ("sms", "signal", "telegram")}

    monkeypatch.setattr(transports_registry, "registry", registry)


def as_(persona: Member) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


def run_tasks() -> None:
    """Run every queued task, as the worker would (its loop closes the test's connection)."""
    for result in DBTaskResult.objects.ready().order_by("enqueued_at"):
        result.task.call(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
        result.delete()


def add_phone(client: Client, capture: Any, kind: str = "sms", number: str = NUMBER) -> Any:
    with capture(execute=True):
        return client.post(reverse("add_phone"), {"kind": kind, "number": number})


def code_in(message: Message) -> str:
    match = re.search(r"\b(\d{6})\b", message.text)
    assert match, message.text
    return match.group(1)


def phone_of(member: Member, kind: str = "sms") -> ContactEndpoint:
    return member.endpoints.get(kind=kind)


# Adding a number.


def test_it_offers_only_the_phone_channels_this_server_has(w: World, no_phones: None) -> None:
    page = as_(w.member).get(reverse("me")).content.decode()
    assert 'id="phone-form"' not in page


def test_it_offers_sms_and_signal_when_configured(w: World, sent: list) -> None:
    page = as_(w.member).get(reverse("me")).content.decode()
    assert 'id="phone-form"' in page
    assert 'value="sms"' in page and 'value="signal"' in page


def test_it_refuses_a_channel_this_server_does_not_have(
    w: World, no_phones: None, django_capture_on_commit_callbacks: Any
) -> None:
    response = add_phone(as_(w.member), django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert not w.member.endpoints.filter(kind="sms").exists()


def test_it_stores_an_unverified_sealed_number(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    response = add_phone(as_(w.member), django_capture_on_commit_callbacks)
    endpoint = phone_of(w.member)
    assert response["Location"] == reverse("verify_channel", args=[endpoint.pk])
    assert endpoint.verified_at is None
    assert endpoint.open()["address"] == "+12135550100"
    assert b"2135550100" not in bytes(endpoint.sealed)


# A number without its country code is one of TOCSIN_PHONE_REGION's (tests/test_phones.py).
@pytest.mark.parametrize("number", ["555-0100", "+1 213", "+1 213 555 0100 x12", "+" + "9" * 16])
def test_it_refuses_a_number_no_phone_can_have(
    w: World, sent: list, django_capture_on_commit_callbacks: Any, number: str
) -> None:
    add_phone(as_(w.member), django_capture_on_commit_callbacks, number=number)
    assert not w.member.endpoints.filter(kind="sms").exists()


def test_it_sends_the_code_from_the_worker(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    add_phone(as_(w.member), django_capture_on_commit_callbacks)
    assert sent == []  # the web process only queued it
    run_tasks()
    endpoint = phone_of(w.member)
    [(payload, message, key)] = sent
    assert payload["address"] == "+12135550100"
    assert key == f"verify-{endpoint.pk}-{endpoint.verifications.get().pk}"
    assert message.url == ""
    verification = endpoint.verifications.get()
    assert code_in(message) not in verification.code_hash
    assert verification.expires_at > timezone.now() + timedelta(minutes=9)


def test_it_sends_the_code_in_the_members_language(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    add_phone(as_(w.responder), django_capture_on_commit_callbacks)  # Rosa reads Spanish
    run_tasks()
    assert "su código es" in sent[0][1].text


def test_it_sends_a_signal_code_through_signal(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    add_phone(as_(w.member), django_capture_on_commit_callbacks, kind="signal")
    run_tasks()
    assert phone_of(w.member, "signal").verified_at is None
    assert len(sent) == 1


def test_adding_a_verified_number_again_keeps_it_verified(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    endpoint = ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    add_phone(as_(w.member), django_capture_on_commit_callbacks)
    run_tasks()
    endpoint.refresh_from_db()
    assert endpoint.verified_at is not None
    assert sent == []


def test_a_failed_send_is_shown_on_the_code_page(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    Recorder.fail = TransportError("invalid number (21211)", permanent=True)
    client = as_(w.member)
    add_phone(client, django_capture_on_commit_callbacks)
    run_tasks()
    endpoint = phone_of(w.member)
    assert not endpoint.verifications.exists()
    page = client.get(reverse("verify_channel", args=[endpoint.pk])).content.decode()
    assert "the number or account does not work" in page
    assert "21211" not in page


# Typing the code.


@pytest.fixture
def pending(w: World, sent: list, django_capture_on_commit_callbacks: Any) -> tuple[Client, str]:
    """Mateo added a number and the worker sent its code: (his client, the code)."""
    client = as_(w.member)
    add_phone(client, django_capture_on_commit_callbacks)
    run_tasks()
    return client, code_in(sent[-1][1])


def verify(client: Client, endpoint: ContactEndpoint, code: str) -> Any:
    return client.post(reverse("verify_channel", args=[endpoint.pk]), {"code": code})


def test_the_right_code_verifies_the_number(w: World, pending: tuple[Client, str]) -> None:
    client, code = pending
    endpoint = phone_of(w.member)
    response = verify(client, endpoint, code)
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.verified_at is not None
    assert not endpoint.verifications.exists()


def test_a_wrong_code_counts_an_attempt(w: World, pending: tuple[Client, str]) -> None:
    client, code = pending
    endpoint = phone_of(w.member)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    response = verify(client, endpoint, wrong)
    assert response.status_code == 400
    assert endpoint.verifications.get().attempts == 1
    assert phone_of(w.member).verified_at is None


def test_the_right_code_fails_after_five_wrong_ones(w: World, pending: tuple[Client, str]) -> None:
    client, code = pending
    endpoint = phone_of(w.member)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(channels.MAX_ATTEMPTS):
        verify(client, endpoint, wrong)
    response = verify(client, endpoint, code)
    assert response.status_code == 400
    assert phone_of(w.member).verified_at is None


def test_an_expired_code_is_refused(w: World, pending: tuple[Client, str]) -> None:
    client, code = pending
    endpoint = phone_of(w.member)
    EndpointVerification.objects.filter(endpoint=endpoint).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = verify(client, endpoint, code)
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert phone_of(w.member).verified_at is None


def test_a_new_code_replaces_the_old_one(
    w: World, pending: tuple[Client, str], sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    client, old = pending
    endpoint = phone_of(w.member)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("resend_code", args=[endpoint.pk]))
    run_tasks()
    new = code_in(sent[-1][1])
    assert endpoint.verifications.count() == 1
    if new != old:
        assert verify(client, endpoint, old).status_code == 400
    assert verify(client, endpoint, new).status_code == 302


def test_it_sends_at_most_three_codes_an_hour_per_number(
    w: World, pending: tuple[Client, str], sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    client, _code = pending
    endpoint = phone_of(w.member)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("resend_code", args=[endpoint.pk]), follow=True)
    run_tasks()
    assert len(sent) == channels.CODES_PER_HOUR
    assert "Too many codes" in response.content.decode()


def test_another_members_number_is_a_404_like_a_missing_one(
    w: World, pending: tuple[Client, str]
) -> None:
    _client, code = pending
    endpoint = phone_of(w.member)
    outsider = as_(w.outsider)
    for name in ("verify_channel", "resend_code", "test_endpoint", "enable_endpoint"):
        foreign = outsider.post(reverse(name, args=[endpoint.pk]), {"code": code})
        missing = outsider.post(reverse(name, args=[987654]), {"code": code})
        assert foreign.status_code == missing.status_code == 404
    assert phone_of(w.member).verified_at is None


def test_the_code_page_speaks_spanish(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    client = as_(w.responder)
    client.cookies["django_language"] = "es"
    add_phone(client, django_capture_on_commit_callbacks)
    endpoint = phone_of(w.responder)
    page = client.get(reverse("verify_channel", args=[endpoint.pk])).content.decode()
    assert "Confirme su número" in page


# Order.


def kinds_in_order(member: Member) -> list[str]:
    return list(member.endpoints.order_by("priority", "id").values_list("kind", flat=True))


def test_it_moves_a_channel_up_and_down(w: World) -> None:
    sms = ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    client = as_(w.member)
    assert kinds_in_order(w.member) == ["email", "sms"]
    client.post(reverse("move_endpoint", args=[sms.pk]), {"direction": "up"})
    assert kinds_in_order(w.member) == ["sms", "email"]
    client.post(reverse("move_endpoint", args=[sms.pk]), {"direction": "down"})
    assert kinds_in_order(w.member) == ["email", "sms"]


def test_moving_the_first_channel_up_changes_nothing(w: World) -> None:
    ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    email = w.member.endpoints.get(kind="email")
    as_(w.member).post(reverse("move_endpoint", args=[email.pk]), {"direction": "up"})
    assert kinds_in_order(w.member) == ["email", "sms"]


def test_moving_untangles_tied_priorities(w: World) -> None:
    sms = ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    ContactEndpoint.objects.filter(member=w.member).update(priority=0)
    as_(w.member).post(reverse("move_endpoint", args=[sms.pk]), {"direction": "up"})
    assert kinds_in_order(w.member) == ["sms", "email"]
    assert sorted(w.member.endpoints.values_list("priority", flat=True)) == [0, 1]


def test_an_outsider_cannot_move_someone_elses_channel(w: World) -> None:
    email = w.member.endpoints.get(kind="email")
    response = as_(w.outsider).post(reverse("move_endpoint", args=[email.pk]))
    assert response.status_code == 404


# Test messages.


def test_it_sends_a_test_message_from_the_worker(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    sms = ContactEndpoint.create(w.responder, "sms", NUMBER, verified=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_(w.responder).post(reverse("test_endpoint", args=[sms.pk]), follow=True)
    assert "mensaje de prueba" in response.content.decode()
    run_tasks()
    [(payload, message, key)] = sent
    assert payload["address"] == "+12135550100"  # kept in E.164 as written NUMBER is not
    assert message.text.startswith("Tocsin: mensaje de prueba")
    assert key.startswith(f"test-{sms.pk}-")


def test_it_sends_at_most_three_tests_in_ten_minutes(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    sms = ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    client = as_(w.member)
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("test_endpoint", args=[sms.pk]), follow=True)
    run_tasks()
    assert len(sent) == channels.TESTS_PER_WINDOW
    assert "Try again in 10 minutes" in response.content.decode()


def test_it_sends_no_test_to_an_unverified_channel(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    sms = ContactEndpoint.create(w.member, "sms", NUMBER)
    with django_capture_on_commit_callbacks(execute=True):
        as_(w.member).post(reverse("test_endpoint", args=[sms.pk]))
    run_tasks()
    assert sent == []


# Turned-off channels.


def stopped(member: Member) -> ContactEndpoint:
    sms = ContactEndpoint.create(member, "sms", NUMBER, verified=True)
    ContactEndpoint.objects.filter(pk=sms.pk).update(
        disabled_at=timezone.now(), last_error=channels.STOPPED
    )
    return sms


def test_it_shows_a_channel_stopped_by_the_member_in_plain_words(w: World) -> None:
    stopped(w.member)
    page = as_(w.member).get(reverse("me")).content.decode()
    assert "turned off" in page
    assert "stopped by you (STOP)" in page
    assert "turn on again" in page


def test_it_shows_a_gone_push_device_in_plain_words(w: World) -> None:
    push = ContactEndpoint.create(w.member, "webpush", "https://push.example/1", verified=True)
    ContactEndpoint.objects.filter(pk=push.pk).update(
        disabled_at=timezone.now(), last_error="subscription gone (410)"
    )
    page = as_(w.member).get(reverse("me")).content.decode()
    assert "the push service says this device is gone" in page
    assert "(410)" not in page


def test_it_turns_a_stopped_channel_on_again(w: World) -> None:
    sms = stopped(w.member)
    as_(w.member).post(reverse("enable_endpoint", args=[sms.pk]))
    sms.refresh_from_db()
    assert sms.disabled_at is None
    assert sms.last_error == ""


def test_it_turns_on_only_the_members_own_endpoint(w: World) -> None:
    mine = stopped(w.member)
    theirs = stopped(w.responder)  # the same number, another member
    as_(w.member).post(reverse("enable_endpoint", args=[mine.pk]))
    theirs.refresh_from_db()
    assert theirs.disabled_at is not None


def test_it_turns_on_an_email_the_member_unsubscribed(w: World) -> None:
    email = w.member.endpoints.get(kind="email")
    ContactEndpoint.objects.filter(pk=email.pk).update(
        disabled_at=timezone.now(), last_error=channels.UNSUBSCRIBED
    )
    client = as_(w.member)
    assert "stopped by you (unsubscribe link)" in client.get(reverse("me")).content.decode()
    client.post(reverse("enable_endpoint", args=[email.pk]))
    email.refresh_from_db()
    assert email.disabled_at is None


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("SMS member replied STOP (21610)", "text START to our number"),
        ("signal-cli: recipient not on Signal (400)", "not on Signal"),
        ("Telegram sendMessage: forbidden (403)", "you blocked the bot"),
        ("SMS undelivered (error 30005)", "could not deliver our texts"),
        ("something nobody foresaw", "cannot deliver our messages"),
    ],
)
def test_it_explains_provider_errors_without_their_codes(error: str, words: str) -> None:
    assert words in channels.error_in_plain_words(error)


def test_a_failed_test_message_shows_on_the_page(
    w: World, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    sms = ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    Recorder.fail = TransportError("SMS twilio error (500)")
    client = as_(w.member)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("test_endpoint", args=[sms.pk]))
    run_tasks()
    sms.refresh_from_db()
    assert sms.disabled_at is None
    assert "last try:" in client.get(reverse("me")).content.decode()


def test_it_does_not_turn_on_a_channel_the_provider_refused(w: World) -> None:
    sms = ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    ContactEndpoint.objects.filter(pk=sms.pk).update(
        disabled_at=timezone.now(), last_error="invalid number"
    )
    as_(w.member).post(reverse("enable_endpoint", args=[sms.pk]))
    sms.refresh_from_db()
    assert sms.disabled_at is not None


# The page.


def test_the_channels_speak_spanish(w: World) -> None:
    stopped(w.responder)  # Rosa reads Spanish
    client = as_(w.responder)
    page = client.get(reverse("me")).content.decode()
    assert "detenido por usted (STOP)" in page
    assert "enviarme un mensaje de prueba" in page


def test_it_shows_a_telegram_link_when_the_bot_offers_one(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channels, "telegram_link", lambda member: "https://t.me/tocsin_bot?start=x")
    page = as_(w.member).get(reverse("me")).content.decode()
    assert 'href="https://t.me/tocsin_bot?start=x"' in page


def test_it_shows_no_telegram_link_when_telegram_is_off(w: World, no_phones: None) -> None:
    assert channels.telegram_link(w.member) is None
    page = as_(w.member).get(reverse("me")).content.decode()
    assert 'id="link-telegram"' not in page
