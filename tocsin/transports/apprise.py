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

Where a post may go (tocsin.lib.egress): the worker holds the vault key inside the
operator's network, so a channel's server must be at a public address unless the
operator lists it in TOCSIN_APPRISE_PRIVATE_HOSTS. Before Apprise runs (and when the
operator adds the channel), the server the URL names is looked up and refused if any
answer is not public; a service whose URL names no server (discord://ID/TOKEN: the
service's own) is not looked up. While Apprise sends, every connection it makes through
requests goes through egress.guarded: looked up once, refused if not public, made to the
address checked (TLS still checks the name), so a name that answers differently the
second time, or a server the service itself points to, is refused too. Apprise follows
no redirect (its http_redirects switch, and each channel's own). Not covered: services
Apprise reaches other than through requests (mailto:// through smtplib, MQTT, XMPP):
for them only the check before sending holds, so the address they connect to is looked
up again by the library; and through a proxy the environment names, the proxy connects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from typing import Any

from django.conf import settings

from tocsin.lib import egress
from tocsin.transports.base import Message, Transport, TransportError

# Apprise's generic webhooks pass extra headers on: they carry the idempotency key, so a
# receiver that honours Idempotency-Key drops the repeat a crashed worker's retry sends.
WEBHOOK_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
NOT_PUBLIC = (
    "the channel's server is not at a public address; if it is on your own network, "
    "list it in TOCSIN_APPRISE_PRIVATE_HOSTS"
)


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
        http_redirects=False,
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
    # Whatever the URL says (?redirect=yes): never follow a server elsewhere.
    plugin.redirects = False
    return plugin


def _trusted(host: str) -> bool:
    return egress.matches(host, settings.APPRISE_PRIVATE_HOSTS)


def _check_server(plugin: Any) -> None:
    """Raise a permanent TransportError if the server the URL names is not at a public
    address (and not listed by the operator). A name that does not resolve now passes:
    the connection's own lookup is checked when Apprise sends."""
    # Only a service whose URL carries a host names a server there; in the others
    # (discord://ID/TOKEN, tgram://BOT_TOKEN/CHAT) that part is an id or a token.
    if "host" not in getattr(plugin, "template_tokens", {}):
        return
    host = str(getattr(plugin, "host", "") or "").strip("[]")
    if not host or _trusted(host):
        return
    port = getattr(plugin, "port", None) or (443 if getattr(plugin, "secure", False) else 80)
    try:
        egress.check(host, int(port))
    except egress.Refused:
        raise TransportError(NOT_PUBLIC, permanent=True) from None
    except egress.Unresolved:
        pass


def describe(url: str) -> Service:
    """Return the service ``url`` points at; raise a permanent TransportError if Apprise
    cannot use it or its server is not one Tocsin may post to."""
    plugin = _load(url)
    _check_server(plugin)
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
            code = found.group(1)
            return f"HTTP {code}, redirect not followed" if code[0] == "3" else f"HTTP {code}"
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
        _check_server(plugin)
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

        with egress.guarded(trusted=_trusted) as guard:
            result = box.notify(
                body=message.text,
                title=message.subject,
                body_format=apprise.NotifyFormat.TEXT,
                timeout=send_timeout(),
                log_callback=keep,
            )
        if guard.refused:
            # The name answered otherwise for the connection, or the service pointed
            # Apprise at another server: nothing was connected to there.
            raise TransportError(f"{plugin.service_name}: not a public address", permanent=True)
        if not result:
            reason = _reason(result.status, lines)
            raise TransportError(
                f"{plugin.service_name}: {reason}", permanent="redirect not followed" in reason
            )
