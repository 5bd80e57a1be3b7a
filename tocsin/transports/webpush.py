"""Web push (RFC 8030, 8291 aes128gcm, 8292 VAPID) to a browser's push service.

Each push is one POST to the subscription's endpoint: the payload encrypted for that
browser with a fresh sender key (RFC 8291, tocsin.transports.ece), a VAPID token for the
push service's origin (signed once and reused for hours, see vapid.authorization), over
a connection kept alive to that push service. Encryption is the cost no sender avoids;
the rest used to be a new TCP (and TLS) connection and a new signature per push
(docs/benchmarks.md).

The endpoint is a URL a member's browser handed us, and the worker that sends holds the
vault key inside the operator's network. So an endpoint must be on a push service the
operator allows (settings.PUSH_HOSTS), over https unless the operator named the host by
address; the page checks that when the subscription is stored (check_endpoint) and the
worker again before each send. Connections go through tocsin.lib.http.pinned_post, over
tocsin.lib.egress (the name resolved once, public addresses only unless the operator
named the host, connected to the address checked), and a redirect is never followed.
Through a proxy the environment names (HTTPS_PROXY), the proxy resolves and connects:
Tocsin still checks the allow-list, its own answer for the name (refusing a non-public
one) and follows no redirect, but the address the proxy reaches is the proxy's to check.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy
from py_vapid import VapidException

from tocsin.lib import egress, http
from tocsin.lib.http import retry_after_seconds
from tocsin.transports import ece, vapid
from tocsin.transports.base import Message, Transport, TransportError

# Push services cap payloads near 4 KB; stay well under it after encryption overhead.
MAX_PAYLOAD = 3000
# Connect and read, in seconds.
TIMEOUT: tuple[float, float] = (5.0, 10.0)


def payload_for(message: Message) -> bytes:
    data = {
        "title": message.subject,
        "body": message.text[:600],
        "url": message.url,
        "tag": message.extra.get("tag", ""),
    }
    if message.extra.get("receipt"):
        # The service worker posts it when the push arrives: "confirmed delivered".
        data["receipt"] = message.extra["receipt"]
    raw = _JSON.encode(data).encode()
    if len(raw) > MAX_PAYLOAD:
        data["body"] = data["body"][:200]
        raw = _JSON.encode(data).encode()
    return raw


# json.dumps builds a new encoder on every call that is not all defaults.
_JSON = json.JSONEncoder(ensure_ascii=False)
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _unb64(text: str) -> bytes:
    # base64.urlsafe_b64decode, as lenient, without its layers of Python.
    padded = (text + "=" * (-len(text) % 4)).encode("ascii")
    return binascii.a2b_base64(padded.translate(_URLSAFE))


def encrypt(data: bytes, *, p256dh: str, auth: str) -> bytes:
    """Return ``data`` encrypted for one subscription (RFC 8291, aes128gcm, one record)
    with a new sender key pair: no two pushes share a key. Raises ValueError when the
    subscription's keys are not a P-256 point and a secret."""
    try:
        receiver, secret = _unb64(p256dh), _unb64(auth)
    except binascii.Error as e:
        raise ValueError("keys are not base64url") from e
    return ece.encrypt(data, receiver_key=receiver, auth_secret=secret)


# Anything that could break out of an HTTP request line.
_UNSAFE_TARGET = re.compile(r"[^\x21-\x7e]")


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """Return the origin (``scheme://host[:port]``, the VAPID token's audience) and the
    request target (path and query) of a push endpoint. Raises ValueError for anything
    but an http(s) URL with a host, no credentials and a plain ASCII path (the endpoint
    comes from a browser)."""
    parts = urlsplit(endpoint)
    hostname = parts.hostname
    if parts.scheme not in ("https", "http") or not hostname:
        raise ValueError("not an http(s) URL")
    if "@" in parts.netloc:
        raise ValueError("credentials in the endpoint")
    host = f"[{hostname}]" if ":" in hostname else hostname
    # An origin leaves out its scheme's default port (RFC 6454).
    port_number = parts.port
    default = 443 if parts.scheme == "https" else 80
    port = f":{port_number}" if port_number not in (None, default) else ""
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if _UNSAFE_TARGET.search(target):
        raise ValueError("not a usable request target")
    return f"{parts.scheme}://{host}{port}", target


class NotAllowed(ValueError):
    """The endpoint is not on a push service this server sends to (settings.PUSH_HOSTS),
    or asks for plain http to a host the operator did not name by address, or its name
    resolves to an address that is not public."""


@dataclass(frozen=True)
class Endpoint:
    """A push endpoint this server may send to."""

    origin: str  # scheme://host[:port], the VAPID audience
    target: str  # path and query
    host: str  # as the URL names it (IPv6 without brackets)
    port: int
    # The operator named this host by address (or as localhost) in TOCSIN_PUSH_HOSTS:
    # it may be plain http, and its address is not checked.
    trusted: bool


def _parse_endpoint(endpoint: str) -> Endpoint:
    origin, target = split_endpoint(endpoint)
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if not egress.matches(host, settings.PUSH_HOSTS):
        raise NotAllowed("not an allowed push service")
    trusted = egress.named_by_address(host, settings.PUSH_HOSTS)
    if parts.scheme != "https" and not trusted:
        raise NotAllowed("plain http to a push service")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Endpoint(origin=origin, target=target, host=host, port=port, trusted=trusted)


@lru_cache(maxsize=256)
def _allowed_origin(prefix: str, hosts: tuple[str, ...]) -> Endpoint:
    # The checks of one push service (a handful serve every browser) under one list of
    # allowed hosts; an endpoint's own part is only its path. Refusals are not cached.
    return _parse_endpoint(prefix)


def parse_endpoint(endpoint: str) -> Endpoint:
    """Return the parts of an endpoint on an allowed push service, without a lookup.
    Raises ValueError (see split_endpoint) or NotAllowed."""
    # Each push reads its endpoint: checking the host against the allow-list (address
    # parsing) cost a fifth of the encryption, so it is done once per push service. The
    # short way takes only what urlsplit would read the same way: printable ASCII, no
    # fragment, a lower-case http(s) scheme; anything else goes the long way.
    if isinstance(endpoint, str) and not _UNSAFE_TARGET.search(endpoint) and "#" not in endpoint:
        if endpoint.startswith("https://"):
            start = 8
        elif endpoint.startswith("http://"):
            start = 7
        else:
            return _parse_endpoint(endpoint)
        end = len(endpoint)
        for mark in "/?":
            at = endpoint.find(mark, start)
            if 0 <= at < end:
                end = at
        rest = endpoint[end:]
        if rest.find("?") == len(rest) - 1:
            rest = rest[:-1]  # an empty query: urlsplit drops it
        if not rest.startswith("/"):
            rest = "/" + rest
        try:
            service = _allowed_origin(endpoint[:end], tuple(settings.PUSH_HOSTS))
        except ValueError:
            return _parse_endpoint(endpoint)  # the refusal, said as the long way says it
        return Endpoint(service.origin, rest, service.host, service.port, service.trusted)
    return _parse_endpoint(endpoint)


def check_endpoint(endpoint: str) -> Endpoint:
    """Return the parts of ``endpoint`` if a member may store it: an allowed push
    service whose name resolves (now) to public addresses only. A name that does not
    resolve at this moment passes: the worker checks again when it sends. Raises
    ValueError or NotAllowed."""
    found = parse_endpoint(endpoint)
    if not found.trusted:
        try:
            egress.check(found.host, found.port)
        except egress.Refused:
            raise NotAllowed("not a public address") from None
        except egress.Unresolved:
            pass
    return found


def _pool_size() -> int:
    # As many connections alive as the worker has threads sending push.
    return max(1, settings.DELIVERY_CONCURRENCY.get("webpush", 4))


def _forget_pools() -> None:
    http.forget_pools()


# Why a push went nowhere, for the operator: no host or address in it.
_REFUSED = "push service address refused: not a public address"


def _post(endpoint: Endpoint, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST ``body`` to the endpoint; return the status and any Retry-After."""
    try:
        return http.pinned_post(
            endpoint.origin,
            endpoint.target,
            body,
            headers,
            trusted=endpoint.trusted,
            timeouts=TIMEOUT,
            size=_pool_size(),
        )
    except egress.Refused:
        # A name on an allowed service that now resolves inside the network (a resolver
        # gone wrong, or someone who controls it): never connected; retried later.
        raise TransportError(_REFUSED) from None
    except http.Unreachable as e:
        raise TransportError(f"push service unreachable: {e}") from None


class WebPushTransport(Transport):
    kind = "webpush"
    label = gettext_lazy("Push on a device")
    optional = False
    # Each subscription lives on its own push service (FCM, Mozilla, Apple): a 429 from
    # one delays only that delivery.
    shared_limit = False

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        address = payload["address"]
        try:
            endpoint = parse_endpoint(address)
        except NotAllowed as e:
            # Stored before the allow-list, or the operator has changed it since.
            raise TransportError(
                "push service not allowed here (TOCSIN_PUSH_HOSTS)", permanent=True
            ) from e
        except (TypeError, ValueError) as e:
            raise TransportError("not a usable push subscription", permanent=True) from e
        origin = endpoint.origin
        try:
            keys = payload["keys"]
            body = encrypt(payload_for(message), p256dh=keys["p256dh"], auth=keys["auth"])
        except (KeyError, TypeError, ValueError) as e:
            raise TransportError("not a usable push subscription", permanent=True) from e
        try:
            authorization = vapid.authorization(origin)
        except VapidException as e:
            # The operator's TOCSIN_VAPID_SUBJECT, or an origin py_vapid cannot name.
            raise TransportError(f"VAPID token refused: {e}") from e
        headers = {
            "TTL": str(int(message.extra.get("ttl", 3600))),
            "Urgency": message.extra.get("urgency", "high"),
            # Topic replaces an undelivered push with the same topic: retries never stack
            # up on a device, and an all-clear replaces a stale alert still waiting for an
            # offline phone. Max 32 url-safe characters.
            "Topic": (message.extra.get("topic") or idempotency_key).replace(":", "-")[:32],
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": authorization,
        }
        status, retry_after = _post(endpoint, body, headers)
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            # No push service redirects (RFC 8030); one that does is not one to follow.
            raise TransportError(
                f"push service redirected ({status}), not followed", permanent=True
            )
        if status in (404, 410):
            raise TransportError(f"subscription gone ({status})", permanent=True)
        if status == 429:
            retry = retry_after_seconds(retry_after or None)
            raise TransportError("push service rate limit", retry_after=retry)
        if status in (401, 403):
            # Usually a subscription made for another key; sign afresh in case it was ours.
            vapid.forget(origin)
        if 400 <= status < 500:
            raise TransportError(f"push service refused ({status})", permanent=True)
        raise TransportError(f"push service error ({status})")
