"""The public Telegram channel (tocsin/public/broadcast.py), against the local Bot API
peer: each incident posted once when the public sees it confirmed and once resolved, in
English and Spanish, never finer or earlier than published(), never a false alarm."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import checks
from django.utils import timezone

from tests.factories import EAST, WEST, World, confirmed_incident
from tests.peers import telegram_api
from tests.peers.telegram_api import TelegramAPI
from tocsin import geo
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
    confirmed_incident(w.dispatcher, minutes_ago=40)
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
    later = timezone.now() + dt.timedelta(minutes=30)
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
    broadcast.sweep()
    broadcast.sweep()
    confirmed, resolved = posts(api)
    assert confirmed.startswith("Tocsin. Confirmed:")
    assert resolved.startswith("Tocsin. Over: Checkpoint")
    assert "Tocsin. Terminó: Retén" in resolved
    assert sorted(PublicPost.objects.values_list("state", flat=True)) == ["confirmed", "resolved"]


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
