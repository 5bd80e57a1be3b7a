"""A local SMTP server (aiosmtpd) that collects what it receives, parsed as email.

It can refuse chosen recipients at RCPT TO, as a real server refuses an unknown mailbox,
refuse messages at the end of DATA, and advertise PIPELINING (RFC 2920) as Postfix and
Exim do (aiosmtpd reads pipelined commands in order but does not advertise it).
"""

from __future__ import annotations

import email
import email.policy
import logging
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

# aiosmtpd logs every SMTP command at INFO; keep failing tests' output readable.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class Collector:
    """The aiosmtpd handler: accepts mail, refuses the addresses in ``refused`` (and,
    with ``refused_data``, every message at the end of DATA), and counts the
    connections clients opened."""

    def __init__(self, *, pipelining: bool = False) -> None:
        self.messages: list[Received] = []
        self.refused: dict[str, str] = {}
        self.refused_data: str | None = None
        self.pipelining = pipelining
        self.connections = 0
        self._lock = threading.Lock()

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.refused.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refused_data is not None:
            return self.refused_data
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class _RandomPortController(Controller):
    """Bind port 0 and learn the port the kernel chose before aiosmtpd connects to it;
    count each connection (aiosmtpd makes one server object per connection)."""

    handler: Collector

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def factory(self) -> Any:
        with self.handler._lock:
            self.handler.connections += 1
        return super().factory()


class SMTPPeer:
    """An SMTP server on 127.0.0.1 and a random port; use as a context manager."""

    def __init__(self, *, pipelining: bool = False) -> None:
        self.handler = Collector(pipelining=pipelining)
        self._controller = _RandomPortController(self.handler, hostname="127.0.0.1", port=0)

    def __enter__(self) -> SMTPPeer:
        self._controller.start()
        with self.handler._lock:
            self.handler.connections = 0  # not aiosmtpd's own connection to check it is up
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def messages(self) -> list[Received]:
        with self.handler._lock:
            return list(self.handler.messages)

    @property
    def connections(self) -> int:
        """Return how many SMTP connections clients opened."""
        with self.handler._lock:
            return self.handler.connections

    def refuse(self, address: str, reply: str = "550 5.1.1 No such mailbox here") -> None:
        """Refuse ``address`` at RCPT TO with ``reply``."""
        self.handler.refused[address.lower()] = reply

    def to(self, address: str) -> list[EmailMessage]:
        """Return the messages whose envelope included ``address``."""
        wanted = address.lower()
        return [r.message for r in self.messages if wanted in (a.lower() for a in r.rcpt_tos)]


def smtp_mailer(settings: Any, host: str, port: int, *, timeout: float = 20) -> None:
    """Make Django's default mailer (pytest-django ``settings`` fixture) an SMTP one to
    ``host``:``port``, plain, with no login, as tocsin.settings makes it."""
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": host, "port": port, "timeout": timeout},
        }
    }


def mail_settings(settings: Any, peer: SMTPPeer) -> None:
    """Point Django's SMTP backend (pytest-django ``settings`` fixture) at ``peer``."""
    smtp_mailer(settings, peer.host, peer.port)
    settings.SMTP_HOST = peer.host
