"""`tocsin manage channels`: each channel's state, counts and recent errors; --test sends one."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.factories import World, world
from tocsin.alerts.models import Alert, Certainty, Delivery, DeliveryStatus, MsgType, Purpose
from tocsin.incidents import services as incidents
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, ReportKind
from tocsin.members.models import ContactEndpoint
from tocsin.transports import registry as transports_registry
from tocsin.transports.base import Message, Transport, TransportError

NUMBER = "+12135550100"


class Recorder(Transport):
    kind = "sms"
    label = "SMS"
    sent: ClassVar[list[tuple[dict[str, Any], Message]]] = []
    fail: ClassVar[TransportError | None] = None

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        if Recorder.fail is not None:
            raise Recorder.fail
        Recorder.sent.append((payload, message))


class HalfSignal(Transport):
    kind = "signal"
    label = "Signal"
    own_settings = ("SIGNAL_API_URL", "SIGNAL_NUMBER")

    @classmethod
    def problems(cls) -> list[str]:
        return ["TOCSIN_SIGNAL_NUMBER is not set"]


@pytest.fixture
def w(db: None, monkeypatch: pytest.MonkeyPatch, settings: Any) -> World:
    """SMS on (a recording transport), Signal half configured, Telegram absent."""
    real = transports_registry.registry
    monkeypatch.setattr(transports_registry, "registry", lambda: {**real(), "sms": Recorder})
    monkeypatch.setattr(transports_registry, "_channels", lambda: [Recorder, HalfSignal])
    settings.SIGNAL_API_URL = "http://127.0.0.1:8080"
    settings.SIGNAL_NUMBER = ""
    Recorder.sent = []
    Recorder.fail = None
    return world()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("channels", *args, stdout=out)
    return out.getvalue()


def section(output: str, kind: str) -> str:
    """Return the lines about ``kind``: its status line and the indented lines below it."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{kind}:"))
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines)
    )
    return "\n".join(lines[start:end])


def dead_delivery(w: World, endpoint: ContactEndpoint, error: str, *, hours_ago: int = 1) -> None:
    report = receive_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=34.0339, lng=-118.2107
    )
    incident = incidents.open_incident(report, actor=w.dispatcher)
    alert = Alert.objects.create(
        incident=incident,
        msg_type=MsgType.ALERT,
        purpose=Purpose.CONFIRMED,
        certainty=Certainty.OBSERVED,
        cell=incident.cell,
        ring=1,
        expires_at=timezone.now() + timedelta(hours=6),
    )
    Delivery.objects.create(
        alert=alert,
        member=endpoint.member,
        endpoint=endpoint,
        kind=endpoint.kind,
        status=DeliveryStatus.DEAD,
        error=error,
        created_at=timezone.now() - timedelta(hours=hours_ago),
    )


def test_it_lists_every_channel_kind(w: World) -> None:
    output = run()
    for kind in ("webpush", "email", "sms", "signal", "telegram"):
        assert section(output, kind)


def test_it_says_which_channels_are_on_off_or_partly_configured(w: World) -> None:
    output = run()
    assert section(output, "sms").startswith("sms: on")
    assert section(output, "signal").startswith(
        "signal: partly configured: TOCSIN_SIGNAL_NUMBER is not set"
    )
    assert section(output, "telegram").startswith("telegram: off")


def test_it_counts_verified_and_turned_off_endpoints(w: World) -> None:
    ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    ContactEndpoint.create(w.organizer, "sms", "+12135550101")  # waiting: not counted
    off = ContactEndpoint.create(w.responder, "sms", "+12135550102", verified=True)
    ContactEndpoint.objects.filter(pk=off.pk).update(
        disabled_at=timezone.now(), last_error="stopped by the member"
    )
    assert "1 verified, 1 turned off" in section(run(), "sms")


def test_it_shows_recent_errors_once_each_with_counts(w: World) -> None:
    endpoint = ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    other = ContactEndpoint.create(w.organizer, "sms", "+12135550101", verified=True)
    dead_delivery(w, endpoint, "twilio 30003: unreachable")
    dead_delivery(w, other, "twilio 30003: unreachable")
    dead_delivery(w, endpoint, "twilio 21610: unsubscribed")
    dead_delivery(w, endpoint, "an old error", hours_ago=30)
    sms = section(run(), "sms")
    assert "2x twilio 30003: unreachable" in sms
    assert "1x twilio 21610: unsubscribed" in sms
    assert "an old error" not in sms


def test_it_shows_endpoints_last_errors(w: World) -> None:
    endpoint = ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    ContactEndpoint.objects.filter(pk=endpoint.pk).update(
        disabled_at=timezone.now(), last_error="invalid number"
    )
    assert "1x invalid number" in section(run(), "sms")


def test_it_shows_at_most_ten_errors(w: World) -> None:
    endpoint = ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    for n in range(12):
        dead_delivery(w, endpoint, f"error {n}")
    lines = section(run(), "sms").splitlines()
    assert len([line for line in lines if "x error " in line]) == 10


def test_it_never_prints_an_address(w: World) -> None:
    endpoint = ContactEndpoint.create(w.member, "sms", NUMBER, verified=True)
    dead_delivery(w, endpoint, "twilio 30003: unreachable")
    output = run()
    assert "2135550100" not in output
    assert "example.org" not in output


def test_it_sends_a_test_message(w: World) -> None:
    output = run("--test", "sms", NUMBER)
    assert "sms: sent" in output
    [(payload, message)] = Recorder.sent
    assert payload["address"] == NUMBER
    assert "Tocsin test" in message.text


def test_it_prints_the_transport_error(w: World) -> None:
    Recorder.fail = TransportError("twilio 21211: invalid To number", permanent=True)
    with pytest.raises(CommandError, match="21211: invalid To number"):
        run("--test", "sms", NUMBER)


def test_it_refuses_a_channel_that_is_off(w: World) -> None:
    with pytest.raises(CommandError, match="telegram: not sent"):
        run("--test", "telegram", "12345")


def test_it_refuses_an_unknown_channel(w: World) -> None:
    with pytest.raises(CommandError, match="unknown channel"):
        run("--test", "pigeon", "coop")
