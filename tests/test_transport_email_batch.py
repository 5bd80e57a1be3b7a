"""A batch of emails goes over one SMTP connection, as the worker sends it
(tocsin.alerts.outbox through EmailTransport.batch), against a local SMTP server."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from typing import Any

import pytest

from tests import factories
from tests.factories import EAST
from tests.peers.smtp import SMTPPeer, mail_settings, smtp_mailer
from tests.test_provider_faults import BrokenProvider
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state
from tocsin.transports.base import Message, TransportError
from tocsin.transports.email import EmailTransport

MESSAGE = Message(subject="Confirmed", text="Tocsin alert", url="https://tocsin.example/a/x/")
NEIGHBORS = ["ana", "beto", "carla", "dario", "elena"]


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        yield peer


@pytest.mark.django_db
def test_the_worker_sends_a_batch_of_emails_over_one_connection(smtp: SMTPPeer) -> None:
    w = factories.world()
    for name in NEIGHBORS:
        factories.member(name.title(), w.east, area=EAST, email=f"{name}@example.org")
    report = submit_report(channel="web", kind="workplace_raid", lat=EAST[0], lng=EAST[1])
    change_state(factories.own_incident(report, w.dispatcher), "confirmed", actor=w.dispatcher)
    emails = Delivery.objects.filter(endpoint__kind="email").count()
    assert emails >= len(NEIGHBORS)

    outcome = outbox.drain()

    assert outcome.failed == 0 and outcome.dead == 0
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == emails
    assert len(smtp.messages) == emails
    for name in NEIGHBORS:
        assert len(smtp.to(f"{name}@example.org")) == 1
    assert smtp.connections == 1


def test_a_batch_keeps_its_connection_between_messages(smtp: SMTPPeer) -> None:
    with EmailTransport().batch() as sender:
        for i, name in enumerate(NEIGHBORS):
            sender.send({"address": f"{name}@example.org"}, MESSAGE, idempotency_key=f"a1-e{i}")
    assert [r.rcpt_tos for r in smtp.messages] == [[f"{n}@example.org"] for n in NEIGHBORS]
    assert smtp.connections == 1


def test_a_refused_recipient_does_not_cost_the_batch_its_connection(smtp: SMTPPeer) -> None:
    smtp.refuse("beto@example.org")
    with EmailTransport().batch() as sender:
        for i, name in enumerate(NEIGHBORS):
            try:
                sender.send({"address": f"{name}@example.org"}, MESSAGE, idempotency_key=f"a1-e{i}")
            except TransportError as e:
                assert name == "beto" and e.permanent
    assert len(smtp.messages) == len(NEIGHBORS) - 1
    assert smtp.connections == 1


@pytest.mark.parametrize("mode", ["hang", "reset"])
def test_a_batch_tries_a_broken_server_twice_then_fails_the_rest_at_once(
    mode: str, settings: Any
) -> None:
    provider = BrokenProvider(mode)
    smtp_mailer(settings, "127.0.0.1", provider.port, timeout=1)
    settings.SMTP_HOST = "127.0.0.1"
    errors: list[TransportError] = []
    try:
        with EmailTransport().batch() as sender:
            for i, name in enumerate(NEIGHBORS):
                with pytest.raises(TransportError) as failure:
                    sender.send(
                        {"address": f"{name}@example.org"}, MESSAGE, idempotency_key=f"a1-e{i}"
                    )
                errors.append(failure.value)
    finally:
        provider.close()
    # Every message is a transient failure the outbox retries; no address is blamed.
    assert not any(e.permanent for e in errors)
    assert all("example.org" not in e.message for e in errors)
    # The first connection and one more, not one timeout per message: the other three
    # failed without trying the server.
    assert len(provider.connections) == 2
    assert "failed twice" in errors[-1].message


def test_a_sender_name_with_accents_arrives_intact(smtp: SMTPPeer, settings: Any) -> None:
    settings.DEFAULT_FROM_EMAIL = "Comité Tocsín <alerts@tocsin.example>"
    html = "<p>¡No interfiera! <a href='https://tocsin.example/a/x/'>Detalles</a></p>"
    with EmailTransport().batch() as sender:
        sender.send(
            {"address": "ana@example.org"},
            Message(
                subject="Confirmada: redada", text="Observe. ¡No interfiera!", url="/", html=html
            ),
            idempotency_key="a1-e1",
        )
    [email] = smtp.to("ana@example.org")
    assert email["From"] == "Comité Tocsín <alerts@tocsin.example>"
    assert smtp.messages[0].mail_from == "alerts@tocsin.example"
    text, rich = email.get_body(("plain",)), email.get_body(("html",))
    assert text is not None and text.get_content().strip() == "Observe. ¡No interfiera!"
    assert rich is not None and rich.get_content().strip() == html


# --- PIPELINING (RFC 2920): MAIL, RCPT and DATA in one write ---


@pytest.fixture
def pipelining(settings: Any) -> Iterator[SMTPPeer]:
    with SMTPPeer(pipelining=True) as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        yield peer


class _Writes:
    """Count what the client writes to the server, one count per socket write."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        send = smtplib.SMTP.send

        def counted(smtp: smtplib.SMTP, data: Any) -> None:
            self.count += 1
            send(smtp, data)

        monkeypatch.setattr(smtplib.SMTP, "send", counted)


def _send_all(names: list[str], message: Message = MESSAGE) -> list[str]:
    """Send ``message`` to each name in one batch; return the names refused permanently."""
    refused = []
    with EmailTransport().batch() as sender:
        sender.send({"address": "ana@example.org"}, message, idempotency_key="warm")
        for i, name in enumerate(names):
            try:
                sender.send({"address": f"{name}@example.org"}, message, idempotency_key=f"a1-e{i}")
            except TransportError as e:
                assert e.permanent
                refused.append(name)
    return refused


def test_a_server_that_pipelines_gets_each_message_in_two_writes(
    pipelining: SMTPPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _Writes(monkeypatch)
    with EmailTransport().batch() as sender:
        sender.send({"address": "ana@example.org"}, MESSAGE, idempotency_key="warm")
        before = writes.count
        for i, name in enumerate(NEIGHBORS):
            sender.send({"address": f"{name}@example.org"}, MESSAGE, idempotency_key=f"a1-e{i}")
        # The commands in one write, the content in another: two round trips, not four.
        assert writes.count - before == 2 * len(NEIGHBORS)
    assert [r.rcpt_tos for r in pipelining.messages[1:]] == [
        [f"{n}@example.org"] for n in NEIGHBORS
    ]
    assert pipelining.connections == 1


def test_a_server_that_does_not_pipeline_gets_one_command_a_write(
    smtp: SMTPPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _Writes(monkeypatch)
    with EmailTransport().batch() as sender:
        sender.send({"address": "ana@example.org"}, MESSAGE, idempotency_key="warm")
        before = writes.count
        sender.send({"address": "beto@example.org"}, MESSAGE, idempotency_key="a1-e1")
        assert writes.count - before == 4  # MAIL, RCPT, DATA, the content
    assert len(smtp.to("beto@example.org")) == 1


def test_a_pipelined_refused_recipient_keeps_the_connection_for_the_next(
    pipelining: SMTPPeer,
) -> None:
    pipelining.refuse("beto@example.org")
    assert _send_all(NEIGHBORS) == ["beto"]
    got = [r.rcpt_tos for r in pipelining.messages[1:]]
    assert got == [[f"{n}@example.org"] for n in NEIGHBORS if n != "beto"]
    assert pipelining.connections == 1


def test_a_pipelined_message_refused_at_its_end_is_a_permanent_failure(
    pipelining: SMTPPeer,
) -> None:
    pipelining.handler.refused_data = "554 5.6.0 Message refused"
    with EmailTransport().batch() as sender:
        for i, name in enumerate(NEIGHBORS[:2]):
            with pytest.raises(TransportError) as refused:
                sender.send({"address": f"{name}@example.org"}, MESSAGE, idempotency_key=f"e{i}")
            assert refused.value.permanent
    assert pipelining.messages == []
    assert pipelining.connections == 1


def test_a_pipelined_line_that_starts_with_a_dot_arrives_intact(pipelining: SMTPPeer) -> None:
    text = "Confirmed at the plant.\n.\n..and a line that starts with dots\nObserve."
    _send_all(["beto"], Message(subject="Confirmed", text=text, url="/"))
    [email] = pipelining.to("beto@example.org")
    body = email.get_body(("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n").strip() == text
