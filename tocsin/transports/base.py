"""The transport contract: one small class per channel, one error type, one registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Message:
    """What a person receives, already rendered in their language."""

    subject: str
    text: str
    url: str
    html: str = ""
    # Extra fields a channel may use (for push: tag, urgency, ttl).
    extra: dict[str, Any] = field(default_factory=dict)


class TransportError(Exception):
    """Sending failed. ``permanent`` means retrying the same endpoint cannot succeed.

    ``retry_after`` (seconds) carries a provider's request to wait. ``message`` is a short
    text safe to show an operator; it never holds the address.
    """

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


class NoTransport(TransportError):
    """This server has no transport for the channel (the operator turned it off): the
    delivery cannot be sent, but the member's endpoint is not at fault."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class Transport:
    """Sends a rendered message to one opened endpoint.

    ``send`` is called by a delivery worker with the endpoint's unsealed payload (always
    holding ``address``) and an idempotency key unique per (alert, endpoint). It returns
    when the provider accepted the message and raises TransportError otherwise.
    """

    kind: ClassVar[str]

    @classmethod
    def problems(cls) -> list[str]:
        """What the operator still has to configure for this channel (empty: ready)."""
        return []

    # Whether sends may run on the worker's pool of threads. A transport that writes to
    # the database says False and runs in the worker's own thread.
    concurrent: ClassVar[bool] = True
    # Whether one provider account serves every endpoint of this kind (SMS, email): a
    # 429 with Retry-After then pauses the whole channel, not only the one delivery.
    shared_limit: ClassVar[bool] = True

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        raise NotImplementedError


def registry() -> dict[str, type[Transport]]:
    """Return the transports this process may use, by endpoint kind."""
    from django.conf import settings

    from tocsin.transports.email import EmailTransport
    from tocsin.transports.webpush import WebPushTransport

    transports: dict[str, type[Transport]] = {"email": EmailTransport, "webpush": WebPushTransport}
    for transport in _channels():
        if not transport.problems():
            transports[transport.kind] = transport
    if settings.DEMO and not settings.SMTP_HOST:
        from tocsin.transports.demo import DemoInboxTransport

        transports["email"] = DemoInboxTransport
    return transports


def get(kind: str) -> Transport:
    try:
        return registry()[kind]()
    except KeyError:
        raise NoTransport(f"channel {kind} is not configured on this server") from None


def _channels() -> list[type[Transport]]:
    """The channels an operator turns on by configuring them (SMS, Signal, Telegram)."""
    from importlib import import_module
    from importlib.util import find_spec

    found = []
    for module, name in (
        ("tocsin.transports.sms", "SmsTransport"),
        ("tocsin.transports.signal", "SignalTransport"),
        ("tocsin.transports.telegram", "TelegramTransport"),
    ):
        if find_spec(module) is not None:
            found.append(getattr(import_module(module), name))
    return found
