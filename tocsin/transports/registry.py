"""The one table of channels: endpoint kind -> transport class.

Adding a channel adds one line to ``CHANNELS`` (docs/adding-a-channel.md). What a channel
is (its name, its settings, what its addresses are, how a member proves one, whether
reports and callbacks go over it) is said by its transport class, and read here by
everyone else: the start-up check, the member pages, the keyword router, the desk and the
choice lists of the models. Email and web push need no provider account and are always
on; every other channel turns on once the operator configures it (its ``problems()`` is
empty).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.conf import settings

from tocsin import vault
from tocsin.transports.base import NoTransport, Transport
from tocsin.transports.email import EmailTransport
from tocsin.transports.signal import SignalTransport
from tocsin.transports.sms import SmsTransport
from tocsin.transports.telegram import TelegramTransport
from tocsin.transports.webpush import WebPushTransport

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# In the order people see them (a member's channel list, the choices of the models).
CHANNELS: dict[str, type[Transport]] = {
    "webpush": WebPushTransport,
    "email": EmailTransport,
    "sms": SmsTransport,
    "signal": SignalTransport,
    "telegram": TelegramTransport,
}

# Where email goes in demo mode without SMTP: the demo's inbox page. Set by tocsin.demo
# when it loads (transports only send; they know no app).
demo_inbox: type[Transport] | None = None


def registry() -> dict[str, type[Transport]]:
    """Return the transports this process may use, by endpoint kind."""
    transports = {kind: t for kind, t in CHANNELS.items() if not t.optional}
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
    return [transport for transport in CHANNELS.values() if transport.optional]


# --- what the channels are, for the layers above ---


def label(kind: str) -> StrOrPromise:
    """Return the channel's name for people (the kind itself for one not in the table)."""
    transport = CHANNELS.get(kind)
    return transport.label if transport is not None else kind


def endpoint_choices() -> list[tuple[str, StrOrPromise]]:
    """Return (kind, name) of every channel: the choices of a member's contact endpoint."""
    return [(kind, t.label) for kind, t in CHANNELS.items()]


def report_kinds() -> list[str]:
    """Return the channels people send reports on by text (and hear back on)."""
    return [kind for kind, t in CHANNELS.items() if t.takes_reports]


def report_choices() -> list[tuple[str, StrOrPromise]]:
    """Return (kind, name) of the channels reports arrive on by text."""
    return [(kind, CHANNELS[kind].label) for kind in report_kinds()]


def code_kinds() -> list[str]:
    """Return the channels a member proves with a code typed back, in display order."""
    return [kind for kind, t in CHANNELS.items() if t.confirm_by_code]


def callback_choices() -> list[tuple[str, StrOrPromise]]:
    """Return (kind, what the desk types) of the channels a hotline caller can be called
    back on."""
    return [
        (kind, t.callback_label) for kind, t in CHANNELS.items() if t.callback_label is not None
    ]


def is_phone(kind: str) -> bool:
    """True if an address on this channel is a phone number (kept in E.164)."""
    transport = CHANNELS.get(kind)
    return transport is not None and transport.address_type == "phone"


def address_problem(kind: str, address: str) -> StrOrPromise:
    """Return what is wrong with a callback address that is not a phone number ("" if
    nothing is)."""
    transport = CHANNELS.get(kind)
    if transport is None or not transport.address_pattern:
        return ""
    if re.fullmatch(transport.address_pattern, address):
        return ""
    return transport.address_error


def blind_index(kind: str, address: str) -> str:
    """Return the keyed HMAC that finds an endpoint of this kind by its address: the
    vault hashes it as the channel's address type says, under the kind's name."""
    transport = CHANNELS.get(kind)
    form = transport.address_type if transport is not None else "opaque"
    return vault.blind_index(kind, address, form=form)
