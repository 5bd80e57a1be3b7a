"""Public broadcast channels, against local peers. The Telegram channel
(tocsin/public/broadcast.py): each incident posted once when the public sees it confirmed
and once resolved, in English and Spanish. The daily email digest (tocsin/digest): double
opt-in, sealed addresses, an unsubscribe link. Neither is ever finer or earlier than
published(), nor carries a false alarm or held text."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import checks
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import EAST, WEST, World, confirmed_incident
from tests.peers import telegram_api
from tests.peers.smtp import SMTPPeer, mail_settings
from tests.peers.telegram_api import TelegramAPI
from tocsin import geo
from tocsin.digest import service as digest
from tocsin.digest.models import Subscription
from tocsin.incidents.models import Incident
from tocsin.incidents.services import change_state
from tocsin.places.models import Place, PlaceKind
from tocsin.public import broadcast
from tocsin.public.models import PublicPost

pytestmark = pytest.mark.django_db

CHANNEL = "@tocsin_la_public"


@pytest.fixture
def api(settings: Any) -> Iterator[TelegramAPI]:
    with TelegramAPI() as peer:
        settings.TELEGRAM_API_URL = peer.url
        settings.TELEGRAM_BOT_TOKEN = telegram_api.TOKEN
        settings.TELEGRAM_WEBHOOK_SECRET = "s" * 32
        settings.TELEGRAM_PUBLIC_CHANNEL = CHANNEL
        yield peer


def posts(api: TelegramAPI) -> list[str]:
    return api.to(CHANNEL)


def test_a_public_incident_is_posted_once_in_english_and_spanish(
    api: TelegramAPI, w: World
) -> None:
    Place.objects.create(
        committee=w.east, name="Boyle Heights", kind=PlaceKind.AREA, lat=EAST[0], lng=EAST[1]
    )
    # Public once its quarter hour has ended, plus the 30 minutes' delay: by 45 minutes.
    confirmed_incident(w.dispatcher, minutes_ago=45)
    assert broadcast.sweep().sent == 1
    [text] = posts(api)
    assert "Confirmed: Checkpoint in Boyle Heights" in text
    assert "confirmed by the committee's dispatcher" in text
    assert "Confirmado: Retén en Boyle Heights" in text
    assert "Observe, document, support. Do not interfere." in text
    # Another sweep, or another worker's, posts nothing more.
    assert broadcast.sweep().sent == 0
    assert len(posts(api)) == 1


def test_nothing_is_posted_before_the_public_delay(api: TelegramAPI, w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=5)
    broadcast.sweep()
    assert posts(api) == []
    # Its quarter hour ends within 15 minutes of the confirmation; 30 minutes' delay after.
    later = timezone.now() + dt.timedelta(minutes=40)
    broadcast.sweep(later)
    assert len(posts(api)) == 1
    assert PublicPost.objects.get().incident_id == incident.pk


def test_the_post_is_as_coarse_as_the_map_and_carries_no_held_text(
    api: TelegramAPI, w: World
) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=47)
    Incident.objects.filter(pk=incident.pk).update(summary="Agent John Smith badge 4411")
    broadcast.sweep()
    [text] = posts(api)
    assert "John Smith" not in text and "4411" not in text
    assert "Diego" not in text and "East" not in text
    assert "somewhere in the area shown on the map" in text
    # No coordinates, neither the report's nor the cell's; the rounded public time.
    lat, lng = geo.center(incident.cell)
    for number in (f"{EAST[0]:.3f}", f"{lat:.3f}", f"{lng:.3f}"):
        assert number not in text
    rounded = timezone.localtime(incident.confirmed_at)
    rounded -= dt.timedelta(minutes=rounded.minute % 15, seconds=rounded.second)
    assert f"around {rounded:%H:%M}" in text


def test_resolved_is_posted_once_after_confirmed(api: TelegramAPI, w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    broadcast.sweep()
    change_state(incident, "resolved", actor=w.dispatcher)
    # The public hears of the end as late as of the start: not yet.
    broadcast.sweep()
    assert len(posts(api)) == 1
    Incident.objects.filter(pk=incident.pk).update(
        closed_at=timezone.now() - dt.timedelta(minutes=50)
    )
    broadcast.sweep()
    broadcast.sweep()
    confirmed, resolved = posts(api)
    assert confirmed.startswith("Tocsin. Confirmed:")
    assert resolved.startswith("Tocsin. Over: Checkpoint")
    assert "Tocsin. Terminó: Retén" in resolved
    assert sorted(PublicPost.objects.values_list("state", flat=True)) == ["confirmed", "resolved"]


def test_a_confirmation_that_turns_out_a_false_alarm_is_corrected_once(
    api: TelegramAPI, w: World
) -> None:
    Place.objects.create(
        committee=w.east, name="Boyle Heights", kind=PlaceKind.AREA, lat=EAST[0], lng=EAST[1]
    )
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    broadcast.sweep()
    change_state(incident, "unfounded", actor=w.dispatcher)
    broadcast.sweep()
    broadcast.sweep()
    confirmed, correction = posts(api)
    assert correction.startswith(
        "Tocsin. Correction: the checkpoint in Boyle Heights confirmed around "
    )
    assert "was a false alarm." in correction
    assert "Corrección: lo publicado con la confirmación de las " in correction
    assert "fue una falsa alarma: retén en Boyle Heights." in correction


def test_no_correction_for_what_the_channel_never_carried(api: TelegramAPI, w: World) -> None:
    api.fail(CHANNEL, telegram_api.SERVER_ERROR)
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    broadcast.sweep()
    api.recover(CHANNEL)
    change_state(incident, "unfounded", actor=w.dispatcher)
    broadcast.sweep(timezone.now() + dt.timedelta(hours=1))
    assert posts(api) == []


def test_a_false_alarm_is_never_posted(api: TelegramAPI, w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=120, end="unfounded")
    broadcast.sweep()
    assert posts(api) == []


def test_turning_the_channel_on_does_not_post_old_history(api: TelegramAPI, w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60 * 24, end="resolved")
    recent = confirmed_incident(w.dispatcher, WEST, minutes_ago=60)
    broadcast.sweep()
    assert len(posts(api)) == 1
    assert PublicPost.objects.get().incident_id == recent.pk


def test_a_failed_post_is_retried_later_and_then_sent_once(api: TelegramAPI, w: World) -> None:
    api.fail(CHANNEL, telegram_api.SERVER_ERROR)
    confirmed_incident(w.dispatcher, minutes_ago=60)
    outcome = broadcast.sweep()
    assert (outcome.sent, outcome.failed) == (0, 1)
    post = PublicPost.objects.get()
    assert post.status == PublicPost.Status.FAILED
    assert post.error == "Telegram sendMessage: server error (500)"
    api.recover(CHANNEL)
    broadcast.sweep(post.next_attempt_at + dt.timedelta(seconds=1))
    assert len(posts(api)) == 1
    assert PublicPost.objects.get().status == PublicPost.Status.SENT


def test_a_channel_the_bot_cannot_post_to_is_given_up(api: TelegramAPI, w: World) -> None:
    api.fail(CHANNEL, telegram_api.CHAT_NOT_FOUND)
    confirmed_incident(w.dispatcher, minutes_ago=60)
    assert broadcast.sweep().dead == 1
    assert PublicPost.objects.get().status == PublicPost.Status.DEAD


def test_it_is_off_until_a_channel_is_set(api: TelegramAPI, w: World, settings: Any) -> None:
    settings.TELEGRAM_PUBLIC_CHANNEL = ""
    confirmed_incident(w.dispatcher, minutes_ago=60)
    assert broadcast.sweep().sent == 0
    assert posts(api) == [] and not PublicPost.objects.exists()


def test_a_channel_without_a_bot_is_a_warning(settings: Any) -> None:
    settings.TELEGRAM_PUBLIC_CHANNEL = CHANNEL
    settings.TELEGRAM_BOT_TOKEN = ""
    found = [m for m in checks.run_checks() if m.id == "public.W001"]
    assert len(found) == 1


# --- the daily email digest ------------------------------------------------------------


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        settings.DELIVERY_RATE = {**settings.DELIVERY_RATE, "email": 0}
        settings.DIGEST_HOUR = 0
        yield peer


def sign_up(address: str, client: Client | None = None, **headers: str) -> HttpResponse:
    return (client or Client()).post(reverse("public_digest"), {"email": address}, headers=headers)


def scrub(body: bytes) -> bytes:
    """The page without what differs per request anyway: nonces and CSRF tokens."""
    body = re.sub(rb'nonce="[^"]*"', b"", body)
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", body)


def link_in(mail: Any, name: str) -> str:
    [path] = re.findall(rf"http://testserver(/digest/{name}/[^/\s]+/)", mail.get_content())
    return path


def confirmed(address: str, smtp: SMTPPeer, **headers: str) -> Subscription:
    assert sign_up(address, **headers).status_code == 200
    assert digest.send_due() == 1
    path = link_in(smtp.to(address)[-1], "confirm")
    assert Client().post(path).status_code == 200
    return Subscription.objects.get(confirmed_at__isnull=False)


def test_signing_up_seals_the_address_and_asks_to_confirm(w: World, smtp: SMTPPeer) -> None:
    response = sign_up("ana@example.org")
    assert "Check your email" in response.content.decode()
    subscription = Subscription.objects.get()
    assert subscription.confirmed_at is None
    assert b"ana@example.org" not in bytes(subscription.sealed)
    assert digest.send_due() == 1
    [mail] = smtp.to("ana@example.org")
    assert mail["Subject"] == "Confirm: Tocsin's daily digest"
    # Opening the link (a mail scanner does) confirms nothing; the button does.
    path = link_in(mail, "confirm")
    assert Client().get(path).status_code == 200
    subscription.refresh_from_db()
    assert subscription.confirmed_at is None
    Client().post(path)
    subscription.refresh_from_db()
    assert subscription.confirmed_at is not None


def test_an_address_signed_up_already_gets_no_second_email(w: World, smtp: SMTPPeer) -> None:
    first, second = sign_up("ana@example.org"), sign_up(" ana@example.org ")
    assert scrub(first.content) == scrub(second.content)
    assert Subscription.objects.count() == 1
    digest.send_due()
    assert len(smtp.to("ana@example.org")) == 1


def test_the_days_digest_lists_newly_public_incidents_as_the_map_shows_them(
    w: World, smtp: SMTPPeer
) -> None:
    confirmed("ana@example.org", smtp)
    sign_up("unconfirmed@example.org")
    shown = confirmed_incident(w.dispatcher, minutes_ago=60)
    Incident.objects.filter(pk=shown.pk).update(summary="Agent John Smith badge 4411")
    confirmed_incident(w.dispatcher, WEST, minutes_ago=5)  # not public yet
    confirmed_incident(w.dispatcher, WEST, minutes_ago=90, end="unfounded")
    issue = digest.issue_due()
    assert issue is not None and issue.incident_ids == [shown.pk]
    assert digest.issue_due() is None  # once a day
    assert digest.send_due() == 2  # the digest, and the other address's confirmation
    mail = smtp.to("ana@example.org")[-1]
    assert mail["Subject"].startswith("Tocsin: verified incidents, ")
    body = mail.get_content()
    assert "- Checkpoint somewhere in the area shown on the map: confirmed around" in body
    assert "John Smith" not in body and "Diego" not in body and "East" not in body
    lat, lng = geo.center(shown.cell)
    for number in (f"{EAST[0]:.3f}", f"{lat:.3f}", f"{lng:.3f}"):
        assert number not in body
    assert [m["Subject"] for m in smtp.to("unconfirmed@example.org")] == [
        "Confirm: Tocsin's daily digest"
    ]


def test_the_next_days_digest_does_not_repeat_an_incident(w: World, smtp: SMTPPeer) -> None:
    confirmed("ana@example.org", smtp)
    first = confirmed_incident(w.dispatcher, minutes_ago=60)
    digest.issue_due()
    digest.send_due()
    second = confirmed_incident(w.dispatcher, WEST, minutes_ago=40)
    tomorrow = timezone.now() + dt.timedelta(days=1)
    issue = digest.issue_due(tomorrow)
    assert issue is not None and issue.incident_ids == [second.pk]
    assert first.pk not in issue.incident_ids
    # A day with nothing new sends nothing.
    assert digest.issue_due(tomorrow + dt.timedelta(days=1)).incident_ids == []  # type: ignore[union-attr]
    digest.send_due(now=tomorrow + dt.timedelta(days=1))
    assert len(smtp.to("ana@example.org")) == 3


def test_a_spanish_reader_gets_it_in_spanish(w: World, smtp: SMTPPeer) -> None:
    confirmed("ana@example.org", smtp, **{"Accept-Language": "es"})
    assert smtp.to("ana@example.org")[0]["Subject"] == "Confirme: el resumen diario de Tocsin"
    confirmed_incident(w.dispatcher, minutes_ago=60)
    digest.issue_due()
    digest.send_due()
    body = smtp.to("ana@example.org")[-1].get_content()
    assert (
        "- Retén en algún lugar del área que muestra el mapa (estado: confirmado), hacia las"
        in body
    )


def test_every_digest_has_a_link_that_stops_it_and_deletes_the_address(
    w: World, smtp: SMTPPeer
) -> None:
    confirmed("ana@example.org", smtp)
    confirmed_incident(w.dispatcher, minutes_ago=60)
    digest.issue_due()
    digest.send_due()
    path = link_in(smtp.to("ana@example.org")[-1], "stop")
    assert Client().get(path).status_code == 200
    assert Subscription.objects.exists()  # opening it changes nothing
    assert "no more daily emails" in Client().post(path).content.decode()
    assert not Subscription.objects.exists()
    assert Client().get(path).status_code == 404


def test_a_forged_link_is_a_404(w: World) -> None:
    assert Client().get(reverse("digest_confirm", args=["nope:forged"])).status_code == 404
    assert Client().post(reverse("digest_unsubscribe", args=["x"])).status_code == 404


def test_sign_ups_are_limited_per_network(w: World, smtp: SMTPPeer, settings: Any) -> None:
    settings.DIGEST_PER_10MIN = 2
    client = Client(REMOTE_ADDR="203.0.113.5")
    assert sign_up("a@example.org", client).status_code == 200
    assert sign_up("b@example.org", client).status_code == 200
    assert sign_up("c@example.org", client).status_code == 429
    assert Subscription.objects.count() == 2


def test_unconfirmed_addresses_are_forgotten(w: World, smtp: SMTPPeer) -> None:
    sign_up("ana@example.org")
    digest.forget_stale(timezone.now() + dt.timedelta(days=3))
    assert not Subscription.objects.exists()
