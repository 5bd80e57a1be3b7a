"""EmailTransport against a local SMTP server (aiosmtpd)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.peers.smtp import SMTPPeer, mail_settings, smtp_mailer
from tocsin.transports.base import Message, TransportError
from tocsin.transports.email import EmailTransport

KEY = "a12-e34"


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        yield peer


def message() -> Message:
    return Message(
        subject="Confirmed: Workplace raid near 34.0339, -118.2107",
        text="Tocsin alert. Confirmed workplace raid. http://testserver/a/token123/",
        url="http://testserver/a/token123/",
        html='<p>Tocsin alert. <a href="http://testserver/a/token123/">Details</a></p>',
    )


def send(address: str, msg: Message | None = None, key: str = KEY) -> None:
    EmailTransport().send({"address": address}, msg or message(), idempotency_key=key)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_it_sends_to_the_recipient(smtp: SMTPPeer) -> None:
    send("rosa@example.org")
    [received] = smtp.messages
    assert received.rcpt_tos == ["rosa@example.org"]
    assert received.message["To"] == "rosa@example.org"
    assert received.mail_from == "alerts@tocsin.example"


def test_it_sends_text_and_html_parts(smtp: SMTPPeer) -> None:
    send("rosa@example.org")
    [email] = smtp.to("rosa@example.org")
    assert email["Subject"] == "Confirmed: Workplace raid near 34.0339, -118.2107"
    text = email.get_body(preferencelist=("plain",))
    html = email.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "http://testserver/a/token123/" in text.get_content()
    assert '<a href="http://testserver/a/token123/">' in html.get_content()


def test_it_sends_only_text_when_there_is_no_html(smtp: SMTPPeer) -> None:
    send("rosa@example.org", Message(subject="All clear", text="Thank you.", url="/"))
    [email] = smtp.to("rosa@example.org")
    assert not email.is_multipart()
    assert email.get_content().strip() == "Thank you."


def test_it_derives_the_message_id_from_the_idempotency_key(smtp: SMTPPeer) -> None:
    send("rosa@example.org", key="a12-e34")
    send("rosa@example.org", key="a12-e34")
    send("rosa@example.org", key="a12-e35")
    ids = [email["Message-ID"] for email in smtp.to("rosa@example.org")]
    # A resend of the same (alert, endpoint) keeps its Message-ID so servers can drop it.
    assert ids[0] == ids[1] == "<a12-e34@tocsin.example>"
    assert ids[2] == "<a12-e35@tocsin.example>"


def test_it_marks_the_mail_as_automatic(smtp: SMTPPeer) -> None:
    send("rosa@example.org")
    [email] = smtp.to("rosa@example.org")
    assert email["Auto-Submitted"] == "auto-generated"


def test_it_keeps_non_ascii_text_intact(smtp: SMTPPeer) -> None:
    msg = Message(
        subject="Confirmada: redada en el lugar de trabajo cerca de la estación",
        text="Observe, documente, apoye. ¡No interfiera! 📹",
        url="/",
    )
    send("rosa@example.org", msg)
    [email] = smtp.to("rosa@example.org")
    assert email["Subject"] == "Confirmada: redada en el lugar de trabajo cerca de la estación"
    assert email.get_content().strip() == "Observe, documente, apoye. ¡No interfiera! 📹"


@pytest.mark.parametrize("length", range(60, 100))
def test_a_plain_subject_arrives_exactly_as_sent_whatever_its_length(
    smtp: SMTPPeer, length: int
) -> None:
    subject = "Alerta confirmada: Redada en lugar de trabajo cerca de 34.0334, -118.2129 "
    subject = (subject * 2)[:length].strip()
    send("rosa@example.org", Message(subject=subject, text="x", url="/"))
    [email] = smtp.to("rosa@example.org")
    assert email["Subject"] == subject


def test_it_treats_a_refused_recipient_as_permanent(smtp: SMTPPeer) -> None:
    smtp.refuse("gone@example.org")
    with pytest.raises(TransportError) as info:
        send("gone@example.org")
    assert info.value.permanent
    assert "gone@example.org" not in info.value.message
    assert smtp.messages == []


def test_it_treats_a_busy_mailbox_as_transient(smtp: SMTPPeer) -> None:
    smtp.refuse("busy@example.org", "450 4.2.1 Mailbox busy, try later")
    with pytest.raises(TransportError) as info:
        send("busy@example.org")
    # A 4xx reply is the server saying "not now": retry later, keep the endpoint.
    assert not info.value.permanent
    assert smtp.messages == []


def test_it_retries_when_the_server_is_unreachable(settings: Any) -> None:
    smtp_mailer(settings, "127.0.0.1", closed_port())
    with pytest.raises(TransportError) as info:
        send("rosa@example.org")
    assert not info.value.permanent
