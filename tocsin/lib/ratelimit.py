"""Private rate limits for the web form: counted per network, never per address.

A request's *source* is HMAC-SHA256(daily secret, network prefix), where the prefix is the
/24 of an IPv4 address or the /48 of an IPv6 address, and the daily secret is derived from
SECRET_KEY and the UTC date: today's source for a network cannot be linked to yesterday's
without the server's key. ``SourceMiddleware`` computes it before PrivacyMiddleware drops
the address and keeps only the source on the request. Counters live in Django's cache
(Redis when configured) and expire within minutes; nothing reaches the database or a log.

A network's reports are never refused for being many, only for coming faster than people
type (REPORT_REFUSE_PER_10MIN): past its share (REPORT_RATE_PER_10MIN) they need a harder
proof of work and wait in the desk's burst lane, where a dispatcher releases them (coworkers
on one Wi-Fi at a raid) or dismisses them (a flood). The same counters limit receipt codes
looked up without a match (tocsin.intake.receipts).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable, Iterable
from enum import StrEnum

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac

WINDOW_SECONDS = 600

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def prefix(address: str) -> str | None:
    """Return the /24 (IPv4) or /48 (IPv6) network of ``address``, or None if it is not one.

    An IPv4-mapped IPv6 address counts as its IPv4 address.
    """
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def daily_secret(day: dt.date) -> bytes:
    """Return the secret of one UTC day, derived from SECRET_KEY."""
    # The salt keeps its first module name: a new one would change every source key.
    return salted_hmac("tocsin.intake.ratelimit", day.isoformat(), algorithm="sha256").digest()


def source_key(address: str, *, day: dt.date | None = None) -> str | None:
    """Return the source of ``address`` on ``day`` (today, UTC), or None for no address."""
    network = prefix(address)
    if network is None:
        return None
    day = day or dt.datetime.now(dt.UTC).date()
    return hmac.new(daily_secret(day), network.encode(), hashlib.sha256).hexdigest()[:32]


def client_address(remote_addr: str, forwarded_for: str, trusted: Iterable[Network]) -> str:
    """Return the client's address: ``remote_addr``, or when that is a trusted proxy, the
    nearest address in X-Forwarded-For that is not a trusted proxy."""
    trusted = list(trusted)

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return False
        return any(ip in net for net in trusted)

    if not trusted or not is_trusted(remote_addr) or not forwarded_for:
        return remote_addr
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else remote_addr


def trusted_proxies() -> list[Network]:
    return [ipaddress.ip_network(p, strict=False) for p in settings.TRUSTED_PROXIES]


class SourceMiddleware:
    """Put the request's source (a keyed hash of its network) on ``request.tocsin_source``.

    Runs before PrivacyMiddleware, which then removes the address from the request. Only
    the hash is kept; it is neither logged nor stored in the database.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tocsin_source = source_from(request)  # type: ignore[attr-defined]
        return self.get_response(request)


def source_from(request: HttpRequest) -> str | None:
    """Return the source of ``request``'s client (a keyed hash of its network)."""
    address = client_address(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        trusted_proxies(),
    )
    return source_key(address)


def source_of(request: HttpRequest) -> str | None:
    return getattr(request, "tocsin_source", None)


def _counter(scope: str, source: str, now: float) -> str:
    return f"tocsin:rl:{scope}:{source}:{int(now // WINDOW_SECONDS)}"


def _used(scope: str, source: str, now: float, current: int) -> float:
    """Counts in the last WINDOW_SECONDS, estimated from two fixed windows: this one's
    count plus the previous one's, weighted by how much of it is still within reach. A
    source cannot send its share at the end of one window and again at the start of the
    next."""
    elapsed = (now % WINDOW_SECONDS) / WINDOW_SECONDS
    previous = cache.get(_counter(scope, source, now - WINDOW_SECONDS), 0)
    return current + previous * (1 - elapsed)


def count(scope: str, source: str, *, now: float | None = None) -> float:
    """Count one more of ``scope`` (reports, receipt misses) from ``source`` and return
    how many there were in the last WINDOW_SECONDS, this one included.

    The count goes up first and is checked after, so concurrent requests from one network
    can never all slip in under a limit; see uncount() to take one back."""
    now = time.time() if now is None else now
    key = _counter(scope, source, now)
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        current = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
        current = 1
    return _used(scope, source, now, current)


def uncount(scope: str, source: str, *, now: float | None = None) -> None:
    """Take back one count of ``scope`` made with count()."""
    key = _counter(scope, source, time.time() if now is None else now)
    try:
        cache.decr(key)
    except ValueError:  # the window ended meanwhile: nothing to take back
        pass


def used(scope: str, source: str, *, now: float | None = None) -> float:
    """Return the counts of ``scope`` from ``source`` in the last WINDOW_SECONDS."""
    now = time.time() if now is None else now
    return _used(scope, source, now, cache.get(_counter(scope, source, now), 0))


class Share(StrEnum):
    """Where a web report stands against its network's share (settings)."""

    # Within REPORT_RATE_PER_10MIN: the normal queue.
    WITHIN = "within"
    # Past it: taken, after a harder proof of work, into the desk's burst lane.
    OVER = "over"
    # Past REPORT_REFUSE_PER_10MIN, faster than people type: refused.
    REFUSED = "refused"


def exceeded(source: str | None, *, now: float | None = None) -> bool:
    """Return whether ``source`` already sent its share: its next report is over it."""
    if source is None:
        return False
    return used("report", source, now=now) >= settings.REPORT_RATE_PER_10MIN


def refusing(source: str | None, *, now: float | None = None) -> bool:
    """Return whether the next report from ``source`` would be refused (without counting
    it): take() decides, this only foretells."""
    if source is None:
        return False
    return used("report", source, now=now) + 1 > settings.REPORT_REFUSE_PER_10MIN


def take(source: str | None, *, now: float | None = None) -> Share:
    """Count one report from ``source`` and return where it stands. A refused one is
    taken back at once; see give_back() for one that was not stored after all."""
    if source is None:
        return Share.WITHIN
    now = time.time() if now is None else now
    sent = count("report", source, now=now)
    if sent > settings.REPORT_REFUSE_PER_10MIN:
        give_back(source, now=now)
        return Share.REFUSED
    if sent > settings.REPORT_RATE_PER_10MIN:
        return Share.OVER
    return Share.WITHIN


def give_back(source: str | None, *, now: float | None = None) -> None:
    """Un-count a report taken with ``take`` that was not stored after all."""
    if source is not None:
        uncount("report", source, now=now)
