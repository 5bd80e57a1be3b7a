"""A drain renders each alert once per language, however many batches it claims."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from tests.factories import EAST, World, member
from tests.test_outbox import RecordingTransport, confirmed_incident
from tocsin.alerts import messages, outbox
from tocsin.alerts.models import Alert, Purpose
from tocsin.alerts.outbox import draining
from tocsin.transports import registry as transports_base

pytestmark = pytest.mark.django_db


def test_a_drain_renders_an_alert_once_per_language_across_its_batches(
    w: World, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    recording = type("Recording", (RecordingTransport,), {"sent": [], "failures": {}})
    monkeypatch.setattr(
        transports_base, "registry", lambda: {"email": recording, "webpush": recording}
    )
    for name in ("Ana", "Bea", "Cruz"):
        member(name, w.east, area=EAST, email=f"{name.lower()}@example.org")
    settings.DELIVERY_BATCH = 1  # a batch per delivery
    monkeypatch.setattr(draining, "FIRST_CLAIM", 1)
    rendered: list[str] = []
    render = messages._render

    def counted(alert: Any, *, url: str, language: str, **kwargs: Any) -> messages.Message:
        rendered.append(language)
        return render(alert, url=url, language=language, **kwargs)

    monkeypatch.setattr(messages, "_render", counted)
    confirmed_incident(w)
    assert outbox.drain().sent == 5  # Rosa (Spanish), Mateo, Ana, Bea, Cruz
    assert sorted(rendered) == ["en", "es"]


def test_an_alert_in_a_second_language_reads_no_places_again(w: World) -> None:
    # The incident's committees and their places are read for the first language only:
    # two queries fewer before a bilingual alert's first messages leave.
    incident = confirmed_incident(w)
    alert = Alert.objects.select_related("incident").get(
        incident=incident, purpose=Purpose.CONFIRMED
    )
    renderer = messages.Renderer()
    with CaptureQueriesContext(connection) as first:
        english = renderer.render(alert, member_id=w.member.pk, language="en")
    with CaptureQueriesContext(connection) as second:
        spanish = renderer.render(alert, member_id=w.responder.pk, language="es")
    assert len(first) >= 2  # the committees, their places
    assert len(second) == 0, [q["sql"] for q in second]
    assert spanish.text == messages._render(alert, url=spanish.url, language="es").text.replace(
        spanish.url, spanish.url
    )
    assert english.subject != spanish.subject


def test_each_members_copy_is_the_alert_rendered_with_their_own_link(w: World) -> None:
    incident = confirmed_incident(w)
    alert = Alert.objects.get(incident=incident, purpose=Purpose.CONFIRMED)
    renderer = messages.Renderer()
    for who, language in ((w.member, "en"), (w.responder, "es"), (w.member, "es")):
        url = messages.alert_url(member_id=who.pk, incident_id=incident.pk, at=alert.sent_at)
        direct = messages._render(alert, url=url, language=language)
        mine = renderer.render(alert, member_id=who.pk, language=language)
        assert (mine.subject, mine.text, mine.url, mine.html) == (
            direct.subject,
            direct.text,
            url,
            direct.html,
        )
        assert mine.extra == direct.extra


def test_a_message_made_fast_is_the_same_frozen_message() -> None:
    import dataclasses

    from tocsin.transports.base import Message

    made = Message.of("Subject", "Text", "https://x/a/", "<p>Text</p>", {"topic": "i1-e2"})
    assert made == Message("Subject", "Text", "https://x/a/", "<p>Text</p>", {"topic": "i1-e2"})
    assert repr(made) == repr(Message("Subject", "Text", "https://x/a/", "<p>Text</p>", made.extra))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.text = "changed"  # type: ignore[misc]
    assert dataclasses.replace(made, text="Other").text == "Other"
