"""Limits on the codes people type and on the confirmation messages Tocsin sends.

Every code (a login code, an authenticator code, a channel's code) counts against two
budgets per window: the account's and the network's. The network is counted the way the
report form's limit counts it (tocsin.lib.ratelimit: a keyed hash of the /24 or /48
that changes every day, kept only in the cache). Once a budget is spent the code is not
checked at all: a right code gets the same answer as a wrong one, until the window ends.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from tests.factories import World, session_for, world
from tocsin.members import attempts, channels, security
from tocsin.members.models import ContactEndpoint, Member, SecondFactor
from tocsin.transports import registry as transports_registry
from tocsin.transports.base import Message, Transport

pytestmark = pytest.mark.django_db

TOO_MANY = "Too many tries."
NONCES = re.compile(rb'(nonce|value)="[^"]*"')


class SmsRecorder(Transport):
    kind = "sms"
    sent: ClassVar[list[tuple[dict[str, Any], Message]]] = []

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        SmsRecorder.sent.append((payload, message))


@pytest.fixture
def w(settings: Any) -> World:
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.STAFF_MFA = True
    settings.CODE_TRIES_PER_ACCOUNT = 3
    settings.CODE_TRIES_PER_NETWORK = 100
    mail.outbox = []
    return world()


@pytest.fixture
def sms(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], Message]]:
    real = transports_registry.registry
    monkeypatch.setattr(transports_registry, "registry", lambda: {**real(), "sms": SmsRecorder})
    SmsRecorder.sent = []
    return SmsRecorder.sent


def run_tasks() -> None:
    for result in DBTaskResult.objects.ready().order_by("enqueued_at"):
        result.task.call(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
        result.delete()


def add_totp(member: Member) -> str:
    secret = security.new_totp_secret()
    SecondFactor.objects.create(
        member=member,
        kind=SecondFactor.Kind.TOTP,
        totp_secret=security.seal_totp(secret),
        confirmed=True,
    )
    return secret


def code_now(secret: str) -> str:
    return security.totp_at(secret, int(time.time() // 30))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def verify(client: Client, code: str) -> Any:
    return client.post(reverse("login_verify"), {"code": code, "next": reverse("desk")})


def text(response: Any) -> str:
    return response.content.decode()


def same_page(a: Any, b: Any) -> bool:
    return NONCES.sub(b"", a.content) == NONCES.sub(b"", b.content)


def desk_opens(client: Client) -> bool:
    return client.get(reverse("desk")).status_code == 200


# Authenticator codes at the second login step.


def test_login_verify_refuses_even_the_right_code_after_too_many_tries(w: World) -> None:
    secret = add_totp(w.dispatcher)
    client = session_for(w.dispatcher)
    for _ in range(3):
        verify(client, wrong(code_now(secret)))
    refused_wrong = verify(client, wrong(code_now(secret)))
    refused_right = verify(client, code_now(secret))
    assert TOO_MANY in text(refused_right)
    assert same_page(refused_wrong, refused_right)
    assert not desk_opens(client)


def test_the_totp_limit_holds_for_a_new_session(w: World) -> None:
    secret = add_totp(w.dispatcher)
    first = session_for(w.dispatcher)
    for _ in range(3):
        verify(first, wrong(code_now(secret)))
    second = session_for(w.dispatcher)
    assert TOO_MANY in text(verify(second, code_now(secret)))
    assert not desk_opens(second)


def test_another_account_is_not_held_back_by_one_accounts_tries(w: World) -> None:
    add_totp(w.dispatcher)
    walt_secret = add_totp(w.west_dispatcher)
    diego = session_for(w.dispatcher)
    for _ in range(4):
        verify(diego, "000000")
    walt = session_for(w.west_dispatcher)
    verify(walt, code_now(walt_secret))
    assert desk_opens(walt)


def test_totp_confirm_stops_checking_after_too_many_tries(w: World) -> None:
    client = session_for(w.member)
    client.post(reverse("totp_start"))
    pending = SecondFactor.objects.get(member=w.member, confirmed=False)
    secret = security.open_totp(pending.totp_secret)
    assert secret is not None
    for _ in range(3):
        client.post(reverse("totp_confirm"), {"code": wrong(code_now(secret))})
    response = client.post(reverse("totp_confirm"), {"code": code_now(secret)}, follow=True)
    assert TOO_MANY in text(response)
    assert not SecondFactor.objects.filter(member=w.member, confirmed=True).exists()


# Emailed login codes.


def ask_code(client: Client, email: str) -> None:
    client.post(reverse("login"), {"email": email})


def emailed_code() -> str:
    match = re.search(r"\b(\d{6})\b", mail.outbox[-1].subject)
    assert match
    return match.group(1)


def enter(client: Client, code: str) -> Any:
    return client.post(reverse("login_code"), {"code": code})


def test_login_codes_stop_after_the_account_limit_even_with_a_new_code(w: World) -> None:
    client = Client()
    ask_code(client, "olga@example.org")
    for _ in range(3):
        enter(client, wrong(emailed_code()))
    ask_code(client, "olga@example.org")
    response = enter(client, emailed_code())
    assert TOO_MANY in text(response)
    assert "_auth_user_id" not in client.session


def test_the_login_code_limit_answers_the_same_for_an_unknown_address(w: World) -> None:
    known, unknown = Client(), Client()
    ask_code(known, "olga@example.org")
    ask_code(unknown, "nobody@example.org")
    for _ in range(3):
        enter(known, "000000")
        enter(unknown, "000000")
    known_refused, unknown_refused = enter(known, "000000"), enter(unknown, "000000")
    assert TOO_MANY in text(known_refused)
    assert known_refused.status_code == unknown_refused.status_code
    assert same_page(known_refused, unknown_refused)


# Codes that confirm a phone channel.


def test_channel_codes_stop_after_the_account_limit(
    w: World, sms: list, django_capture_on_commit_callbacks: Any
) -> None:
    client = session_for(w.member)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("add_phone"), {"kind": "sms", "number": "+1 213-555-0100"})
    run_tasks()
    endpoint = w.member.endpoints.get(kind="sms")
    code = re.search(r"\b(\d{6})\b", sms[-1][1].text)
    assert code
    page = reverse("verify_channel", args=[endpoint.pk])
    client.post(page, {"code": wrong(code.group(1))})
    client.post(page, {"code": wrong(code.group(1))})
    client.post(page, {"code": wrong(code.group(1))})
    response = client.post(page, {"code": code.group(1)})
    assert TOO_MANY in text(response)
    assert ContactEndpoint.objects.get(pk=endpoint.pk).verified_at is None


# Per network.


def test_codes_from_one_network_stop_after_the_network_limit(w: World, settings: Any) -> None:
    settings.CODE_TRIES_PER_NETWORK = 4
    settings.CODE_TRIES_PER_ACCOUNT = 10
    add_totp(w.dispatcher)
    add_totp(w.organizer)
    walt_secret = add_totp(w.west_dispatcher)
    for persona in (w.dispatcher, w.dispatcher, w.organizer, w.organizer):
        verify(session_for(persona), "000000")
    walt = session_for(w.west_dispatcher)
    assert TOO_MANY in text(verify(walt, code_now(walt_secret)))
    assert not desk_opens(walt)


def test_another_network_is_not_held_back(w: World, settings: Any) -> None:
    settings.CODE_TRIES_PER_NETWORK = 4
    settings.CODE_TRIES_PER_ACCOUNT = 10
    add_totp(w.dispatcher)
    walt_secret = add_totp(w.west_dispatcher)
    for _ in range(5):
        verify(session_for(w.dispatcher), "000000")
    walt = session_for(w.west_dispatcher)
    walt.defaults["REMOTE_ADDR"] = "198.51.100.7"
    verify(walt, code_now(walt_secret))
    assert desk_opens(walt)


def test_a_network_is_counted_by_a_keyed_hash_never_by_its_address(w: World) -> None:
    add_totp(w.dispatcher)
    client = session_for(w.dispatcher)
    client.defaults["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(2):
        verify(client, "000000")
    stored = repr(list(cache._cache.items()))  # type: ignore[attr-defined]
    assert "tries" in stored
    assert "203.0.113" not in stored


def test_the_limit_lifts_after_the_window(w: World, settings: Any) -> None:
    start = 1_800_000_000.0
    window = settings.CODE_TRIES_MINUTES * 60
    for _ in range(3):
        assert attempts.take("totp", "m1", "net", now=start)
    assert not attempts.take("totp", "m1", "net", now=start)
    assert attempts.take("totp", "m1", "net", now=start + window)


def test_the_refusal_speaks_spanish(w: World) -> None:
    Member.objects.filter(pk=w.dispatcher.pk).update(language="es")
    add_totp(w.dispatcher)
    client = session_for(w.dispatcher)
    for _ in range(3):
        verify(client, "000000")
    assert "Demasiados intentos." in text(verify(client, "000000"))


# Confirmation messages per member per hour, on every channel.


def test_25_new_addresses_on_me_email_send_at_most_the_hourly_limit(
    w: World, settings: Any
) -> None:
    client = session_for(w.member)
    for n in range(25):
        client.post(reverse("add_email"), {"email": f"target{n}@example.net"})
    sent = [m for m in mail.outbox if m.to[0].startswith("target")]
    assert len(sent) == settings.VERIFICATIONS_PER_HOUR
    assert w.member.endpoints.filter(kind="email").count() <= 1 + settings.VERIFICATIONS_PER_HOUR


def test_the_member_hears_why_no_confirmation_was_sent(w: World, settings: Any) -> None:
    client = session_for(w.member)
    for n in range(settings.VERIFICATIONS_PER_HOUR):
        client.post(reverse("add_email"), {"email": f"target{n}@example.net"})
    response = client.post(reverse("add_email"), {"email": "one-more@example.net"}, follow=True)
    assert "Too many confirmation messages sent. Try again in an hour." in text(response)


def test_emails_and_phone_codes_share_one_hourly_budget(
    w: World, sms: list, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = session_for(w.member)
    for n in range(settings.VERIFICATIONS_PER_HOUR - 1):
        client.post(reverse("add_email"), {"email": f"target{n}@example.net"})
    with django_capture_on_commit_callbacks(execute=True):
        for number in ("+1 213-555-0101", "+1 213-555-0102"):
            client.post(reverse("add_phone"), {"kind": "sms", "number": number})
    run_tasks()
    emails = [m for m in mail.outbox if m.to[0].startswith("target")]
    assert len(emails) + len(sms) == settings.VERIFICATIONS_PER_HOUR


def test_adding_a_confirmed_email_again_keeps_it_confirmed_and_sends_nothing(w: World) -> None:
    response = session_for(w.member).post(
        reverse("add_email"), {"email": "mateo@example.org"}, follow=True
    )
    assert w.member.endpoints.get(kind="email").verified_at is not None
    assert mail.outbox == []
    assert "You already get alerts at that address." in text(response)


def test_the_budget_is_per_member(w: World, settings: Any) -> None:
    for _ in range(settings.VERIFICATIONS_PER_HOUR):
        assert channels.take_verification(w.member)
    assert not channels.take_verification(w.member)
    assert channels.take_verification(w.responder)
