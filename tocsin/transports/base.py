"""The transport contract: one small class per channel and one error type.

The channels themselves are listed in one table, tocsin.transports.registry.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class Message:
    """What a person receives, already rendered in their language."""

    subject: str
    text: str
    url: str
    html: str = ""
    # Extra fields a channel may use (for push: tag, urgency, ttl).
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, subject: str, text: str, url: str, html: str, extra: dict[str, Any]) -> Message:
        """The same Message, made without the frozen __init__'s five object.__setattr__
        calls (1.7 us against 0.4): one per delivery of a fan-out (alerts.messages)."""
        message = object.__new__(cls)
        message.__dict__.update(subject=subject, text=text, url=url, html=html, extra=extra)
        return message


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

    # What the channel is, read through tocsin.transports.registry by the start-up check,
    # the member pages, the keyword router, the desk and the choice lists of the models.
    # A new channel says these here, and nowhere else.

    # Its name for people (the member pages, the desk, the start-up check).
    label: ClassVar[StrOrPromise]
    # Its own TOCSIN_* settings (without the prefix): the start-up check tells a channel
    # nobody configured (off) from one half set up. Settings with a working default (an
    # API URL, a body template) are left out: they say nothing about intent.
    own_settings: ClassVar[tuple[str, ...]] = ()
    # False for a channel that needs no provider account (email, web push): always on.
    optional: ClassVar[bool] = True
    # What an address on it is, for the vault's blind index: "email", "phone" (kept and
    # found in E.164 however it was written) or "opaque" (a chat id, a push subscription).
    address_type: ClassVar[str] = "opaque"
    # Whether a member proves an address with a code sent there and typed back on /me/.
    confirm_by_code: ClassVar[bool] = False
    # Whether people can send reports on it (and hear back on it about their report).
    takes_reports: ClassVar[bool] = False
    # What the desk types to call a hotline caller back on it ("Telegram chat id"); None:
    # the desk cannot call back on it.
    callback_label: ClassVar[StrOrPromise | None] = None
    # A callback address that is not a phone number must match this pattern in full;
    # ``address_error`` says what it is when it does not.
    address_pattern: ClassVar[str] = ""
    address_error: ClassVar[StrOrPromise] = ""

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
    # A batch's sends get one pool thread for each this many of its messages (up to the
    # channel's concurrency): more for a channel whose threads each hold a connection.
    messages_per_thread: ClassVar[int] = 1

    def batch(self) -> AbstractContextManager[Transport]:
        """Return a context that gives the transport to send one batch with, from one
        thread: a channel may keep what its sends share (a connection) open until the
        context ends. The default shares nothing."""
        return nullcontext(self)

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        raise NotImplementedError
