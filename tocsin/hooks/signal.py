"""Signal messages members send back, fetched from the operator's signal-cli REST server.

``run()`` is a loop a worker starts in a thread; each message goes to the shared keyword
handler (tocsin.hooks.inbound) and its reply goes back through the Signal transport.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import close_old_connections

from tocsin.hooks import inbound
from tocsin.lib import http, untrusted
from tocsin.transports import signal as transport
from tocsin.transports.base import TransportError

logger = logging.getLogger(__name__)


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
        response = http.get(
            transport.api_url(f"/v1/receive/{number}"),
            params={"timeout": transport.RECEIVE_WAIT},
            timeout=transport.TIMEOUT,
        )
    except http.RequestException as e:
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
                transport.send_text(msg.address, reply)
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
        wait = interval if not failures else min(transport.MAX_POLL_BACKOFF, interval * 2**failures)
        stop_event.wait(wait)
