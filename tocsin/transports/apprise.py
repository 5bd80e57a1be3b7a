"""Apprise: posts to a committee's room or topic on any service Apprise speaks.

Apprise answers only "sent" or "not sent". A URL Apprise cannot load (an unknown service,
a malformed URL, a service this server's Apprise cannot use) is a permanent error: no
retry can fix it. Every other failure is transient and retried.

Apprise's own log lines name the server, the room or the topic, so they never reach
Tocsin's log (settings.LOGGING silences the "apprise" logger). This module reads the
lines of each call only for what is safe to show an operator: the HTTP status, or that
the server was unreachable or too slow.

The apprise package loads every service module on first use (about a second), so it is
imported only here, when a worker or the operator's command first needs it: web
processes write posts but never send them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from typing import Any

from django.conf import settings

from tocsin.transports.base import Message, Transport, TransportError

# Apprise's generic webhooks pass extra headers on: they carry the idempotency key, so a
# receiver that honours Idempotency-Key drops the repeat a crashed worker's retry sends.
WEBHOOK_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")


@dataclass(frozen=True)
class Service:
    """What an Apprise URL points at, without the URL: safe to store and to show."""

    name: str  # as Apprise names it: "Matrix", "ntfy", "JSON"
    scheme: str  # "matrixs", "ntfys", "json"


def _apprise() -> Any:
    import apprise

    return apprise


@cache
def _asset() -> Any:
    """Return how Apprise presents Tocsin: no icons (a receiving app would fetch them from
    Apprise's project site), nothing written to disk, and no send longer than the part of
    a lease that leaves time to record the outcome."""
    apprise = _apprise()
    return apprise.AppriseAsset(
        app_id="Tocsin",
        app_desc="Tocsin",
        app_url=settings.SITE_URL,
        image_url_mask="",
        image_url_logo="",
        image_path_mask=False,
        storage_mode="memory",
        service_timeout=send_timeout(),
    )


def send_timeout() -> float:
    """Seconds one post may take: well inside the lease, so no other worker claims it
    while it is still being sent."""
    return max(1.0, min(30.0, settings.DELIVERY_LEASE_SECONDS / 2))


def _load(url: str) -> Any:
    plugin = _apprise().Apprise.instantiate(url, asset=_asset())
    if plugin is None:
        raise TransportError(
            "Apprise cannot use this URL (an unknown service, or a malformed URL); "
            "remove the channel and add a working URL",
            permanent=True,
        )
    return plugin


def describe(url: str) -> Service:
    """Return the service ``url`` points at; raise a permanent TransportError if Apprise
    cannot use it."""
    plugin = _load(url)
    scheme = url.split("://", 1)[0].strip().lower()
    return Service(name=str(plugin.service_name), scheme=scheme[:20])


def preload() -> None:
    """Load Apprise's service modules now, so the first post does not wait for them."""
    _apprise().Apprise.instantiate("json://localhost/", asset=_asset())


def _reason(status: Any, lines: list[str]) -> str:
    """Return why Apprise did not send, in words that hold no part of the URL."""
    apprise = _apprise()
    if status == apprise.AppriseResultStatus.TIMEOUT:
        return "no answer in time"
    for line in lines:
        found = _HTTP_STATUS.search(line)
        if found:
            return f"HTTP {found.group(1)}"
    if any("connection error" in line.lower() for line in lines):
        return "server unreachable"
    return "not accepted"


class AppriseTransport(Transport):
    kind = "apprise"
    # One committee channel is one room: a pause asked by one service says nothing about
    # another channel.
    shared_limit = False

    @classmethod
    def problems(cls) -> list[str]:
        if not settings.APPRISE_ENABLED:
            return ["TOCSIN_APPRISE_ENABLED is off"]
        if find_spec("apprise") is None:
            return ["the apprise package is not installed"]
        return []

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        apprise = _apprise()
        url = payload["address"]
        plugin = _load(url)
        if url.split("://", 1)[0].lower() in WEBHOOK_SCHEMES and isinstance(
            getattr(plugin, "headers", None), dict
        ):
            plugin.headers["Idempotency-Key"] = idempotency_key
        box = apprise.Apprise(asset=_asset())
        box.add(plugin)
        lines: list[str] = []

        def keep(entry: Any, _service: Any) -> None:
            if entry.level in ("WARNING", "ERROR"):
                lines.append(str(entry.message))

        result = box.notify(
            body=message.text,
            title=message.subject,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=send_timeout(),
            log_callback=keep,
        )
        if not result:
            raise TransportError(f"{plugin.service_name}: {_reason(result.status, lines)}")
