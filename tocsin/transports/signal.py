"""Signal through a signal-cli REST API server the operator runs
(https://github.com/bbernhard/signal-cli-rest-api).

Alerts go out with ``POST /v2/send``. Messages members send back are fetched with
``GET /v1/receive/<number>`` (the server's "normal" or "native" mode) by
``tocsin.hooks.signal.run()``, a loop a worker starts in a thread; each one goes to the
shared keyword handler (tocsin.hooks.inbound) and its reply goes back with ``/v2/send``.

signal-cli quotes the recipient's number in its errors: its answers are never logged
or kept, only a short description of what kind of failure it was.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy

from tocsin.lib import http, untrusted
from tocsin.lib.http import retry_after_seconds
from tocsin.transports.base import Message, Transport, TransportError

logger = logging.getLogger(__name__)

# (connect, read) seconds for sending. signal-cli may take a few seconds per message.
TIMEOUT: float | tuple[float, float] = (5.0, 30.0)
# /v1/receive waits up to its ``timeout`` parameter (seconds) for messages to arrive.
RECEIVE_WAIT = 1
# A provider rate limit without a Retry-After pauses the channel this long.
DEFAULT_RETRY_AFTER = 60.0
# The longest a poller waits between attempts while the server is down.
MAX_POLL_BACKOFF = 60.0
# Signal splits longer texts into an attachment; alerts are far shorter.
MAX_TEXT = 2000


class SignalTransport(Transport):
    kind = "signal"
    label = gettext_lazy("Signal")
    own_settings = ("SIGNAL_API_URL", "SIGNAL_NUMBER")
    # A member's number; a sender may also be known only by a UUID, kept as its digits.
    address_type = "phone"
    confirm_by_code = True
    takes_reports = True
    callback_label = label
    # One Signal account sends to everyone: a rate limit pauses the whole channel.
    shared_limit = True

    @classmethod
    def problems(cls) -> list[str]:
        missing = []
        if not settings.SIGNAL_API_URL:
            missing.append("TOCSIN_SIGNAL_API_URL is not set")
        if not settings.SIGNAL_NUMBER:
            missing.append("TOCSIN_SIGNAL_NUMBER is not set")
        return missing

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        send_text(payload["address"], message.text)


def api_url(path: str) -> str:
    return settings.SIGNAL_API_URL.rstrip("/") + path


def send_text(recipient: str, text: str) -> None:
    """Send ``text`` to one Signal address; raise TransportError if it was not accepted."""
    body = {"message": text[:MAX_TEXT], "number": settings.SIGNAL_NUMBER, "recipients": [recipient]}
    try:
        response = http.post(api_url("/v2/send"), json=body, timeout=TIMEOUT)
    except http.Timeout:
        raise TransportError("signal-cli: timed out") from None
    except http.ConnectionError:
        raise TransportError("signal-cli: unreachable") from None
    except http.RequestException as e:
        raise TransportError(f"signal-cli: request failed ({type(e).__name__})") from None
    if response.status_code in (200, 201):
        return
    raise error_for(
        response.status_code, _error_text(response), response.headers.get("Retry-After")
    )


def _error_text(response: http.Response) -> str:
    try:
        body = untrusted.load_json(response.content)
    except untrusted.NotJSON:
        return untrusted.text(response.text[:1000])
    if isinstance(body, dict):
        return str(body.get("error") or "")[:1000]
    return ""


def error_for(status: int, error: str, retry_after: str | None = None) -> TransportError:
    """Map a signal-cli REST API error answer to a TransportError."""
    folded = error.casefold()
    if status == 429 or (
        status in (400, 413) and ("rate limit" in folded or "ratelimit" in folded)
    ):
        # Newer servers answer 429; older ones a 400 quoting Signal's "[413] Rate limit".
        wait = retry_after_seconds(retry_after) or DEFAULT_RETRY_AFTER
        return TransportError(f"signal-cli: rate limit ({status})", retry_after=wait)
    if status == 400 and ("unregistered user" in folded or "invalid" in folded):
        # The number has no Signal account (any more): stop using this endpoint.
        return TransportError("signal-cli: recipient not on Signal (400)", permanent=True)
    if 400 <= status < 500:
        return TransportError(f"signal-cli: refused ({status})")
    return TransportError(f"signal-cli: server error ({status})")
