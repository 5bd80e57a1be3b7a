"""The one table of channels: endpoint kind -> transport class.

Adding a channel adds one line to ``CHANNELS`` (docs/adding-a-channel.md). Email and web
push need no provider account and are always on; every other channel turns on once the
operator configures it (its ``problems()`` is empty).
"""

from __future__ import annotations

from django.conf import settings

from tocsin.transports.base import NoTransport, Transport
from tocsin.transports.email import EmailTransport
from tocsin.transports.signal import SignalTransport
from tocsin.transports.sms import SmsTransport
from tocsin.transports.telegram import TelegramTransport
from tocsin.transports.webpush import WebPushTransport

CHANNELS: dict[str, type[Transport]] = {
    "email": EmailTransport,
    "webpush": WebPushTransport,
    "sms": SmsTransport,
    "signal": SignalTransport,
    "telegram": TelegramTransport,
}
ALWAYS_ON = frozenset({"email", "webpush"})

# Where email goes in demo mode without SMTP: the demo's inbox page. Set by tocsin.demo
# when it loads (transports only send; they know no app).
demo_inbox: type[Transport] | None = None


def registry() -> dict[str, type[Transport]]:
    """Return the transports this process may use, by endpoint kind."""
    transports = {kind: CHANNELS[kind] for kind in CHANNELS if kind in ALWAYS_ON}
    for transport in _channels():
        if not transport.problems():
            transports[transport.kind] = transport
    if settings.DEMO and not settings.SMTP_HOST and demo_inbox is not None:
        transports["email"] = demo_inbox
    return transports


def get(kind: str) -> Transport:
    try:
        return registry()[kind]()
    except KeyError:
        raise NoTransport(f"channel {kind} is not configured on this server") from None


def _channels() -> list[type[Transport]]:
    """The channels an operator turns on by configuring them (SMS, Signal, Telegram)."""
    return [transport for kind, transport in CHANNELS.items() if kind not in ALWAYS_ON]
