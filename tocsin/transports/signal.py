"""Signal through a signal-cli REST API server the operator runs
(https://github.com/bbernhard/signal-cli-rest-api).

Alerts go out with ``POST /v2/send``. Messages members send back are fetched with
``GET /v1/receive/<number>`` (the server's "normal" or "native" mode) by ``run()``, a loop
a worker starts in a thread; each one goes to the shared keyword handler
(tocsin.transports.inbound) and its reply goes back with ``/v2/send``.

signal-cli quotes the recipient's number in its errors: its answers are never logged
or kept, only a short description of what kind of failure it was.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import close_old_connections

from tocsin.lib import untrusted
from tocsin.lib.http import retry_after_seconds
from tocsin.transports import inbound
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


def _api(path: str) -> str:
    return settings.SIGNAL_API_URL.rstrip("/") + path


def send_text(recipient: str, text: str) -> None:
    """Send ``text`` to one Signal address; raise TransportError if it was not accepted."""
    body = {"message": text[:MAX_TEXT], "number": settings.SIGNAL_NUMBER, "recipients": [recipient]}
    try:
        response = requests.post(_api("/v2/send"), json=body, timeout=TIMEOUT)
    except requests.Timeout:
        raise TransportError("signal-cli: timed out") from None
    except requests.ConnectionError:
        raise TransportError("signal-cli: unreachable") from None
    except requests.RequestException as e:
        raise TransportError(f"signal-cli: request failed ({type(e).__name__})") from None
    if response.status_code in (200, 201):
        return
    raise error_for(
        response.status_code, _error_text(response), response.headers.get("Retry-After")
    )


def _error_text(response: requests.Response) -> str:
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


# --- receiving ---


def poll_once() -> int:
    """Fetch the messages waiting on the signal-cli server, act on each and send the
    replies. Return how many messages were handled. A server that is down or answers
    nonsense is logged, not raised: nothing was taken from it, so nothing is lost."""
    try:
        return _poll()
    except TransportError as e:
        logger.warning("signal receive failed: %s", e.message)
        return 0


def _poll() -> int:
    number = quote(settings.SIGNAL_NUMBER, safe="+")
    try:
        response = requests.get(
            _api(f"/v1/receive/{number}"), params={"timeout": RECEIVE_WAIT}, timeout=TIMEOUT
        )
    except requests.RequestException as e:
        raise TransportError(f"signal-cli: unreachable ({type(e).__name__})") from None
    if response.status_code != 200:
        raise TransportError(f"signal-cli: status {response.status_code}")
    try:
        items = untrusted.load_json(response.content)
    except untrusted.NotJSON:
        raise TransportError("signal-cli: the answer is not JSON") from None
    if not isinstance(items, list):
        raise TransportError("signal-cli: the answer is not a list of envelopes")
    return handle_items(items)


def handle_items(items: list[Any]) -> int:
    """Act on received envelopes; return how many messages were handled."""
    handled = 0
    for item in items:
        msg = read_envelope(item)
        if msg is None:
            continue
        try:
            reply = inbound.handle(msg)
        except Exception:
            # One message that breaks the handler must not cost the ones after it.
            logger.exception("signal message not handled")
            continue
        handled += 1
        if reply:
            try:
                send_text(msg.address, reply)
            except TransportError as e:
                logger.warning("signal reply not sent: %s", e.message)
    return handled


def read_envelope(item: Any) -> inbound.Inbound | None:
    """Return the text message in one received envelope, or None.

    Receipts, typing notices and sync messages carry no ``dataMessage`` and are skipped
    quietly; anything else that is not a readable message is skipped with a log line.
    """
    envelope = item.get("envelope") if isinstance(item, dict) else None
    if not isinstance(envelope, dict):
        logger.info("signal envelope skipped: malformed")
        return None
    data = envelope.get("dataMessage")
    if data is None:
        return None
    if not isinstance(data, dict):
        logger.info("signal envelope skipped: malformed message")
        return None
    if data.get("groupInfo") is not None:
        # A group the number was added to: alerts and keywords are one-to-one.
        return None
    text = data.get("message")
    if text is None:
        return None  # a reaction, a sticker or an attachment without words
    source = envelope.get("sourceNumber") or envelope.get("source")
    timestamp = envelope.get("timestamp", data.get("timestamp"))
    if (
        not isinstance(text, str)
        or not isinstance(source, str)
        or not 0 < len(source) <= 64
        or not isinstance(timestamp, int)
        or isinstance(timestamp, bool)
    ):
        logger.info("signal envelope skipped: malformed message")
        return None
    # Inbound drops NUL and lone surrogates ("\\ud800" in JSON) from every field.
    return inbound.Inbound("signal", source, text, f"{source}:{timestamp}")


def run(stop_event: threading.Event, interval: float = 2.0) -> None:
    """Poll until ``stop_event`` is set. Errors are logged and polling goes on, waiting
    longer (up to a minute) while they repeat."""
    failures = 0
    while not stop_event.is_set():
        try:
            _poll()
            failures = 0
        except TransportError as e:
            failures += 1
            logger.warning("signal receive failed: %s", e.message)
        except Exception:
            failures += 1
            logger.exception("signal poll failed")
        finally:
            # A long-lived thread must not hold a dead or stale database connection.
            close_old_connections()
        wait = interval if not failures else min(MAX_POLL_BACKOFF, interval * 2**failures)
        stop_event.wait(wait)
