"""Telegram: alerts through the outbox to a local Bot API, and the bot's webhook."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests import factories
from tests.factories import EAST, World
from tests.peers import telegram_api
from tests.peers.telegram_api import TelegramAPI
from tocsin.alerts import messages, outbox
from tocsin.alerts.models import Alert, Delivery, DeliveryStatus, Purpose
from tocsin.incidents.models import Incident
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state, open_incident
from tocsin.members import channels
from tocsin.members.models import ContactEndpoint, Member
from tocsin.mobilize.models import Response, ResponseState
from tocsin.transports import registry as transports_base
from tocsin.transports import telegram
from tocsin.transports.base import Message, TransportError
from tocsin.transports.management.commands.telegram_webhook import Command as WebhookCommand
from tocsin.transports.telegram import TelegramTransport, link_code, link_url, read_link_code

SECRET = "webhook-secret_for-tests"
MATEO_CHAT = 1001  # English
ROSA_CHAT = 1002  # Spanish
STRANGER_CHAT = 4242
LINKED = (
    "Tocsin: done. Alerts for your areas will arrive in this chat. "
    "Reply 1 when you are on your way; send STOP to stop them. "
    "Observe, document, support. Do not interfere."
)


@pytest.fixture
def api(settings: Any) -> Iterator[TelegramAPI]:
    with TelegramAPI() as peer:
        settings.TELEGRAM_API_URL = peer.url
        settings.TELEGRAM_BOT_TOKEN = telegram_api.TOKEN
        settings.TELEGRAM_WEBHOOK_SECRET = SECRET
        settings.TELEGRAM_BOT_USERNAME = "TocsinTestBot"
        yield peer


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung Bot API call gives up after half a second."""
    monkeypatch.setattr(telegram, "TIMEOUT", 0.5)


def first_channel(member: Member, kind: str, address: str) -> ContactEndpoint:
    endpoint = ContactEndpoint.create(member, kind, address, verified=True)
    member.endpoints.exclude(pk=endpoint.pk).update(priority=1)
    ContactEndpoint.objects.filter(pk=endpoint.pk).update(priority=0)
    return endpoint


@pytest.fixture
def w(api: TelegramAPI) -> World:
    w = factories.world()
    first_channel(w.member, "telegram", str(MATEO_CHAT))
    first_channel(w.responder, "telegram", str(ROSA_CHAT))
    return w


def confirm(w: World) -> Incident:
    report = submit_report(channel="web", kind="workplace_raid", lat=EAST[0], lng=EAST[1])
    incident = open_incident(report, actor=w.dispatcher)
    # Straight to confirmed: going through verifying tells the responders first
    # (tests/test_verification.py); here only the confirmed alert is under test.
    return change_state(incident, "confirmed", actor=w.dispatcher)


def expected_text(incident: Incident, purpose: str, member: Member) -> str:
    alert = Alert.objects.filter(incident=incident, purpose=purpose).latest("sent_at")
    return messages.render(alert, member_id=member.pk, language=member.language).text


def message(
    text: str = "Tocsin alert. Confirmed workplace raid. http://testserver/a/t/",
) -> Message:
    return Message(subject="Confirmed", text=text, url="http://testserver/a/t/")


def send(chat: int | str, msg: Message | None = None) -> None:
    TelegramTransport().send({"address": str(chat)}, msg or message(), idempotency_key="a1-e2")


# --- configuration ---


def test_it_is_off_until_the_token_and_the_secret_are_set(settings: Any) -> None:
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    assert len(TelegramTransport.problems()) == 2
    assert "telegram" not in transports_base.registry()


def test_the_registry_picks_it_once_configured(api: TelegramAPI) -> None:
    assert TelegramTransport.problems() == []
    assert transports_base.registry()["telegram"] is TelegramTransport


# --- sending through the outbox ---


@pytest.mark.django_db
def test_an_alert_reaches_an_english_and_a_spanish_speaker_in_their_language(
    api: TelegramAPI, w: World
) -> None:
    incident = confirm(w)
    outcome = outbox.drain()
    assert outcome.failed == 0 and outcome.dead == 0
    [english] = api.to(MATEO_CHAT)
    [spanish] = api.to(ROSA_CHAT)
    assert english == expected_text(incident, Purpose.CONFIRMED, w.member)
    assert spanish == expected_text(incident, Purpose.CONFIRMED, w.responder)
    assert english.startswith("Tocsin alert.")
    with translation.override("es"):
        assert gettext("Observe, document, support. Do not interfere.") in spanish
    assert spanish != english
    sent = api.messages[0].params
    assert sent["disable_web_page_preview"] is True
    # Telegram was their first channel: no email for them.
    assert not [m for m in mail.outbox if {"mateo@example.org", "rosa@example.org"} & set(m.to)]


@pytest.mark.django_db
@pytest.mark.parametrize("purpose", ["resolved", "unfounded"])
def test_every_follow_up_reaches_both_languages(api: TelegramAPI, w: World, purpose: str) -> None:
    incident = confirm(w)
    outbox.drain()
    change_state(incident, purpose, actor=w.dispatcher)
    outbox.drain()
    follow_up = Purpose.ALL_CLEAR if purpose == "resolved" else Purpose.CORRECTION
    for chat, member in ((MATEO_CHAT, w.member), (ROSA_CHAT, w.responder)):
        texts = api.to(chat)
        assert len(texts) == 2
        assert texts[1] == expected_text(incident, follow_up, member)
    assert api.to(MATEO_CHAT)[1] != api.to(ROSA_CHAT)[1]


@pytest.mark.django_db
def test_a_blocked_bot_disables_the_chat_and_falls_back_to_email(
    api: TelegramAPI, w: World
) -> None:
    api.fail(MATEO_CHAT, telegram_api.BLOCKED)
    confirm(w)
    outbox.drain()
    endpoint = ContactEndpoint.objects.get(member=w.member, kind="telegram")
    assert endpoint.disabled_at is not None
    assert "blocked" in endpoint.last_error
    assert [m.to for m in mail.outbox if "mateo@example.org" in m.to] == [["mateo@example.org"]]
    assert len(api.to(ROSA_CHAT)) == 1


@pytest.mark.django_db
def test_a_rate_limit_waits_as_long_as_telegram_asks(api: TelegramAPI, w: World) -> None:
    api.fail(MATEO_CHAT, telegram_api.RATE_LIMITED)
    confirm(w)
    before = timezone.now()
    outbox.drain(max_batches=1)
    delivery = Delivery.objects.get(member=w.member)
    assert delivery.status in (DeliveryStatus.FAILED, DeliveryStatus.QUEUED)
    assert delivery.next_attempt_at >= before + timedelta(seconds=6)
    assert ContactEndpoint.objects.get(member=w.member, kind="telegram").disabled_at is None


@pytest.mark.django_db
def test_a_server_error_is_retried_later(api: TelegramAPI, w: World) -> None:
    api.fail(MATEO_CHAT, telegram_api.SERVER_ERROR)
    confirm(w)
    outbox.drain(max_batches=1)
    delivery = Delivery.objects.get(member=w.member)
    assert delivery.status == DeliveryStatus.FAILED
    assert ContactEndpoint.objects.get(member=w.member, kind="telegram").disabled_at is None


# --- each answer of the Bot API ---


def test_it_sends_the_text_to_the_chat(api: TelegramAPI) -> None:
    send(MATEO_CHAT, message("Observe, documente, apoye. ¡No interfiera! 📹"))
    assert api.to(MATEO_CHAT) == ["Observe, documente, apoye. ¡No interfiera! 📹"]


def test_it_cuts_a_text_to_what_telegram_takes(api: TelegramAPI) -> None:
    send(MATEO_CHAT, message("📹" * 3000))
    [text] = api.to(MATEO_CHAT)
    assert len(text.encode("utf-16-le")) // 2 <= 4096


def test_chat_not_found_is_permanent(api: TelegramAPI) -> None:
    api.fail(MATEO_CHAT, telegram_api.CHAT_NOT_FOUND)
    with pytest.raises(TransportError) as info:
        send(MATEO_CHAT)
    assert info.value.permanent
    assert str(MATEO_CHAT) not in info.value.message


def test_a_blocked_bot_is_permanent(api: TelegramAPI) -> None:
    api.fail(MATEO_CHAT, telegram_api.BLOCKED)
    with pytest.raises(TransportError) as info:
        send(MATEO_CHAT)
    assert info.value.permanent


def test_a_rate_limit_carries_retry_after(api: TelegramAPI) -> None:
    api.fail(MATEO_CHAT, telegram_api.RATE_LIMITED)
    with pytest.raises(TransportError) as info:
        send(MATEO_CHAT)
    assert not info.value.permanent
    assert info.value.retry_after == 7


def test_a_server_error_is_transient(api: TelegramAPI) -> None:
    api.fail(MATEO_CHAT, telegram_api.SERVER_ERROR)
    with pytest.raises(TransportError) as info:
        send(MATEO_CHAT)
    assert not info.value.permanent


def test_a_hung_api_times_out_as_transient(api: TelegramAPI, fast: None) -> None:
    api.fail(MATEO_CHAT, telegram_api.HANG)
    with pytest.raises(TransportError) as info:
        send(MATEO_CHAT)
    assert not info.value.permanent
    assert "timed out" in info.value.message


def test_a_wrong_token_never_disables_members(api: TelegramAPI, settings: Any) -> None:
    settings.TELEGRAM_BOT_TOKEN = "999:not-the-token"
    with pytest.raises(TransportError) as info:
        send(MATEO_CHAT)
    assert not info.value.permanent
    assert "999:not-the-token" not in info.value.message


def test_an_unreachable_api_is_transient_and_never_shows_the_token(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.TELEGRAM_API_URL = f"http://127.0.0.1:{port}"
    settings.TELEGRAM_BOT_TOKEN = telegram_api.TOKEN
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TransportError) as info:
        send(MATEO_CHAT)
    assert not info.value.permanent
    assert telegram_api.TOKEN not in info.value.message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert telegram_api.TOKEN not in caplog.text


# --- linking a chat ---


@pytest.mark.django_db
def test_a_link_code_names_its_member_for_an_hour() -> None:
    member = factories.member("Ana")
    code = link_code(member, now=1_000_000)
    assert len(code) <= 64 and all(c.isalnum() or c in "-_" for c in code)
    assert read_link_code(code, now=1_000_000 + 3599) == member.pk
    assert read_link_code(code, now=1_000_000 + 3601) is None


@pytest.mark.django_db
def test_a_tampered_link_code_names_nobody() -> None:
    code = link_code(factories.member("Ana"))
    for i in range(len(code)):
        changed = code[:i] + ("A" if code[i] != "A" else "B") + code[i + 1 :]
        assert read_link_code(changed) is None
    assert read_link_code(code[:-1]) is None
    assert read_link_code("") is None


@pytest.mark.django_db
def test_the_link_is_a_t_me_start_link(api: TelegramAPI) -> None:
    member = factories.member("Ana")
    url = link_url(member)
    assert url is not None and url.startswith("https://t.me/TocsinTestBot?start=")
    assert read_link_code(url.rsplit("=", 1)[1]) == member.pk


@pytest.mark.django_db
def test_there_is_no_link_until_the_bot_username_is_set(api: TelegramAPI, settings: Any) -> None:
    settings.TELEGRAM_BOT_USERNAME = ""
    assert link_url(factories.member("Ana")) is None


# --- the webhook ---


def update(
    text: str,
    *,
    chat: int = STRANGER_CHAT,
    update_id: int | None = None,
    language: str = "en",
    chat_type: str = "private",
) -> dict[str, Any]:
    update.counter += 1  # type: ignore[attr-defined]
    uid = update_id if update_id is not None else 500_000 + update.counter  # type: ignore[attr-defined]
    return {
        "update_id": uid,
        "message": {
            "message_id": uid,
            "from": {"id": chat, "is_bot": False, "first_name": "A", "language_code": language},
            "chat": {"id": chat, "first_name": "A", "type": chat_type},
            "date": 1_700_000_000,
            "text": text,
        },
    }


update.counter = 0  # type: ignore[attr-defined]


def post(client: Client, body: Any, *, secret: str | None = SECRET, raw: bool = False) -> Any:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    data = body if raw else json.dumps(body)
    return client.post(
        reverse("telegram_update"), data=data, content_type="application/json", headers=headers
    )


def reply_of(response: Any) -> str:
    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "sendMessage"
    return body["text"]


@pytest.mark.django_db
def test_the_webhook_refuses_a_missing_or_wrong_secret(
    api: TelegramAPI, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert post(client, update("STOP"), secret=None).status_code == 403
    assert post(client, update("STOP"), secret="wrong").status_code == 403
    assert post(client, update("STOP"), secret="ñ" * 3).status_code == 403
    assert "secret token" in caplog.text
    assert "STOP" not in caplog.text and str(STRANGER_CHAT) not in caplog.text


@pytest.mark.django_db
def test_the_webhook_is_closed_while_telegram_is_not_configured(
    client: Client, settings: Any
) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    assert post(client, update("STOP"), secret="").status_code == 403


@pytest.mark.django_db
def test_the_webhook_takes_only_post(api: TelegramAPI, client: Client) -> None:
    response = client.get(
        reverse("telegram_update"), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert response.status_code == 405


@pytest.mark.django_db
def test_start_with_a_valid_code_links_the_chat(api: TelegramAPI, client: Client) -> None:
    member = factories.member("Ana", language="es")
    reply = reply_of(post(client, update(f"/start {link_code(member)}", chat=777)))
    endpoint = ContactEndpoint.objects.get(member=member, kind="telegram")
    assert endpoint.verified_at is not None and endpoint.disabled_at is None
    assert endpoint.open()["address"] == "777"
    with translation.override("es"):
        assert reply == gettext(LINKED)
    assert "ALTO" in reply and reply != LINKED


@pytest.mark.django_db
def test_start_answers_in_the_webhook_reply_to_the_same_chat(
    api: TelegramAPI, client: Client
) -> None:
    member = factories.member("Ana")
    response = post(client, update(f"/start {link_code(member)}", chat=778))
    assert response.json()["chat_id"] == 778
    assert "Alerts for your areas will arrive in this chat" in response.json()["text"]
    assert api.messages == []  # no extra Bot API call


@pytest.mark.django_db
def test_a_link_counts_against_the_members_hourly_confirmations(
    api: TelegramAPI, client: Client, settings: Any
) -> None:
    member = factories.member("Ana")
    for _ in range(settings.VERIFICATIONS_PER_HOUR):
        assert channels.take_verification(member)
    reply = reply_of(post(client, update(f"/start {link_code(member)}", chat=781)))
    assert "too many channels linked" in reply
    assert not ContactEndpoint.objects.filter(member=member, kind="telegram").exists()


@pytest.mark.django_db
def test_an_expired_code_is_refused(api: TelegramAPI, client: Client) -> None:
    member = factories.member("Ana")
    code = link_code(member, now=1_000_000)
    reply = reply_of(post(client, update(f"/start {code}", chat=779)))
    assert "not valid or has expired" in reply
    assert not ContactEndpoint.objects.filter(member=member, kind="telegram").exists()


@pytest.mark.django_db
def test_a_tampered_code_is_refused_in_the_senders_language(
    api: TelegramAPI, client: Client
) -> None:
    member = factories.member("Ana")
    code = link_code(member)
    tampered = code[:-2] + ("AA" if code[-2:] != "AA" else "BB")
    reply = reply_of(post(client, update(f"/start {tampered}", chat=780, language="es-MX")))
    with translation.override("es"):
        expected = gettext(
            "Tocsin: this link is not valid or has expired. Open a new Telegram link "
            "on your Tocsin page."
        )
    assert reply == expected
    assert not ContactEndpoint.objects.filter(kind="telegram").exists()


@pytest.mark.django_db
def test_a_code_links_one_chat_only(api: TelegramAPI, client: Client) -> None:
    member = factories.member("Ana")
    code = link_code(member)
    reply_of(post(client, update(f"/start {code}", chat=781)))
    again = reply_of(post(client, update(f"/start {code}", chat=781)))
    assert "Alerts for your areas" in again  # the same chat tapping twice
    other = reply_of(post(client, update(f"/start {code}", chat=782)))
    assert "not valid" in other
    assert ContactEndpoint.objects.filter(member=member, kind="telegram").count() == 1


@pytest.mark.django_db
def test_start_without_a_code_from_an_unknown_chat_says_where_to_get_one(
    api: TelegramAPI, client: Client
) -> None:
    assert "Link Telegram" in reply_of(post(client, update("/start")))
    assert "Conectar Telegram" in reply_of(post(client, update("/start", language="es")))


@pytest.mark.django_db
def test_one_after_an_alert_means_on_my_way(api: TelegramAPI, w: World, client: Client) -> None:
    incident = confirm(w)
    outbox.drain()
    reply = reply_of(post(client, update("1", chat=MATEO_CHAT)))
    assert "on your way" in reply
    response = Response.objects.get(incident=incident, member=w.member)
    assert response.state == ResponseState.ON_MY_WAY


@pytest.mark.django_db
def test_si_from_a_spanish_speaker_gets_a_spanish_thank_you(
    api: TelegramAPI, w: World, client: Client
) -> None:
    incident = confirm(w)
    outbox.drain()
    reply = reply_of(post(client, update("SÍ", chat=ROSA_CHAT)))
    with translation.override("es"):
        assert gettext("Observe, document, support. Do not interfere.") in reply
    assert Response.objects.get(incident=incident, member=w.responder).state == "on_my_way"


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["STOP", "ALTO", "/stop", "/stop@TocsinTestBot"])
def test_stop_turns_telegram_off_for_the_member(
    api: TelegramAPI, w: World, client: Client, word: str
) -> None:
    reply = reply_of(post(client, update(word, chat=MATEO_CHAT)))
    assert "START" in reply
    assert ContactEndpoint.objects.get(member=w.member, kind="telegram").disabled_at is not None
    # The next alert goes to Mateo's email instead.
    confirm(w)
    outbox.drain()
    assert api.to(MATEO_CHAT) == []
    assert any("mateo@example.org" in m.to for m in mail.outbox)


@pytest.mark.django_db
def test_start_turns_it_back_on(api: TelegramAPI, w: World, client: Client) -> None:
    post(client, update("ALTO", chat=MATEO_CHAT))
    reply_of(post(client, update("/start", chat=MATEO_CHAT)))
    assert ContactEndpoint.objects.get(member=w.member, kind="telegram").disabled_at is None


@pytest.mark.django_db
def test_a_replayed_update_is_ignored(api: TelegramAPI, w: World, client: Client) -> None:
    stop = update("STOP", chat=MATEO_CHAT, update_id=9001)
    reply_of(post(client, stop))
    ContactEndpoint.objects.filter(member=w.member).update(disabled_at=None)
    response = post(client, stop)
    assert response.status_code == 200 and response.content == b""
    assert ContactEndpoint.objects.get(member=w.member, kind="telegram").disabled_at is None


@pytest.mark.django_db
def test_a_replayed_start_links_nothing_twice(api: TelegramAPI, client: Client) -> None:
    member = factories.member("Ana")
    start = update(f"/start {link_code(member)}", chat=783, update_id=9002)
    reply_of(post(client, start))
    ContactEndpoint.objects.filter(member=member).delete()
    assert post(client, start).content == b""
    assert not ContactEndpoint.objects.filter(member=member).exists()


@pytest.mark.django_db
def test_malformed_json_is_refused(
    api: TelegramAPI, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for body in ('{"update_id": 1, "message": ', "not json", "[" * 10_000, b"\xff\xfe\x00"):
        assert post(client, body, raw=True).status_code == 400
    assert "not JSON" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"update_id": "1"},
        {"update_id": 1, "edited_message": {"text": "STOP"}},
        {"update_id": 1, "message": {"chat": {"id": 5, "type": "private"}, "sticker": {}}},
        {"update_id": 1, "message": {"chat": {"id": "5", "type": "private"}, "text": "1"}},
        {"update_id": 1, "message": {"chat": {"id": 5, "type": "group"}, "text": "STOP"}},
        {"update_id": True, "message": {"chat": {"id": 5, "type": "private"}, "text": "1"}},
        {"update_id": 1, "message": {"chat": {"id": 2**70, "type": "private"}, "text": "1"}},
    ],
)
def test_anything_but_a_private_text_message_is_ignored(
    api: TelegramAPI, client: Client, body: Any
) -> None:
    response = post(client, body)
    assert response.status_code == 200 and response.content == b""


@pytest.mark.django_db
def test_unicode_nul_and_long_texts_get_an_answer(
    api: TelegramAPI, w: World, client: Client
) -> None:
    assert "Tocsin" in reply_of(post(client, update("¿Qué pasa? 🚨 \u202e", chat=MATEO_CHAT)))
    assert "Tocsin" in reply_of(post(client, update("ST\x00OP\x00", chat=STRANGER_CHAT)))
    raw = json.dumps(update("1\\ud800", chat=MATEO_CHAT)).replace("\\\\ud800", "\\ud800")
    assert post(client, raw, raw=True).status_code == 200
    long = update("REPORT " + "camionetas en la 5 " * 530, chat=MATEO_CHAT)
    assert len(json.dumps(long)) > 10_000
    assert "Tocsin" in reply_of(post(client, long))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
FIELD = st.one_of(st.integers(), st.text(max_size=20), st.none(), st.booleans(), JSON)
UPDATES = st.fixed_dictionaries(
    {"update_id": FIELD},
    optional={
        "message": st.fixed_dictionaries(
            {},
            optional={
                "chat": st.fixed_dictionaries(
                    {},
                    optional={
                        "id": FIELD,
                        "type": st.sampled_from(["private", "group", "channel", ""]) | FIELD,
                    },
                )
                | FIELD,
                "text": st.text(max_size=300) | FIELD,
                "from": st.fixed_dictionaries({}, optional={"language_code": FIELD}) | FIELD,
            },
        )
        | FIELD
    },
)


@pytest.mark.django_db
@hsettings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=UPDATES | JSON)
def test_fuzzed_updates_never_fail(api: TelegramAPI, client: Client, body: Any) -> None:
    response = post(client, body)
    assert response.status_code == 200
    if response.content:
        assert response.json()["method"] == "sendMessage"


@pytest.mark.django_db
@hsettings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=10_240))
def test_fuzzed_bodies_never_fail(api: TelegramAPI, client: Client, body: bytes) -> None:
    assert post(client, body, raw=True).status_code in (200, 400)


# --- the webhook command ---


def test_the_command_sets_the_webhook_with_the_secret(api: TelegramAPI) -> None:
    out = StringIO()
    call_command(WebhookCommand(), stdout=out, stderr=StringIO())
    assert api.webhook is not None
    assert api.webhook["url"] == "http://testserver/hooks/telegram/update/"
    assert api.webhook["secret_token"] == SECRET
    assert "webhook set" in out.getvalue()


def test_the_command_deletes_the_webhook(api: TelegramAPI) -> None:
    call_command(WebhookCommand(), stdout=StringIO(), stderr=StringIO())
    call_command(WebhookCommand(), "--delete", stdout=StringIO())
    assert api.webhook is None
    assert api.calls == ["setWebhook", "deleteWebhook"]


def test_the_command_says_what_is_missing(settings: Any) -> None:
    settings.TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError, match="TOCSIN_TELEGRAM_BOT_TOKEN"):
        call_command(WebhookCommand(), stdout=StringIO())


@pytest.mark.django_db
def test_a_chat_linked_by_a_second_member_belongs_to_them_alone(
    api: TelegramAPI, client: Client
) -> None:
    first = factories.member("Ana")
    second = factories.member("Beto")
    reply_of(post(client, update(f"/start {link_code(first)}", chat=4242)))
    reply_of(post(client, update(f"/start {link_code(second)}", chat=4242)))
    assert not ContactEndpoint.objects.filter(member=first, kind="telegram").exists()
    assert ContactEndpoint.objects.get(member=second, kind="telegram").open()["address"] == "4242"
    # What the chat sends now acts for the second member.
    reply_of(post(client, update("STOP", chat=4242)))
    assert ContactEndpoint.objects.get(member=second, kind="telegram").disabled_at is not None


@pytest.mark.django_db
def test_an_update_that_failed_midway_is_handled_when_telegram_sends_it_again(
    api: TelegramAPI, w: World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.hooks import inbound

    stop = update("STOP", chat=MATEO_CHAT, update_id=9100)

    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("database went away")

    client.raise_request_exception = False
    with monkeypatch.context() as patched:
        patched.setattr(inbound, "_act", broken)
        assert post(client, stop).status_code == 500
    reply_of(post(client, stop))
    assert ContactEndpoint.objects.get(member=w.member, kind="telegram").disabled_at is not None
