"""The transport contract: one small class per channel and one error type.

The channels themselves are listed in one table, tocsin.transports.registry.
"""

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
