"""Where Tocsin may connect when someone other than the operator chose the address.

A member's push endpoint, a committee channel's Apprise URL and a partner network's
inbox name a host; the worker that connects there holds the vault key and sits inside the
operator's network. So a connection made for such an address resolves the name once
(``resolve``, the one lookup, which tests point at a fake answer), refuses the lot if any
answer is not a public address (``is_public``: loopback, private, link-local,
unique-local, CGNAT, multicast, unspecified, reserved, documentation, and IPv4 addresses
carried inside IPv6 as mapped, compatible, 6to4 or NAT64 forms of those), and connects to
the very address it checked, so a second lookup can never answer otherwise. TLS is the
caller's and still checks the host name. Redirects are the caller's too, and Tocsin's
callers follow none.

The operator may trust a destination on their own network (a relay, a self-hosted ntfy,
the local peers of the tests): the caller passes ``trusted=True`` and the answers are
not checked, but still pinned. Which hosts are trusted is the caller's setting
(TOCSIN_PUSH_HOSTS, TOCSIN_APPRISE_PRIVATE_HOSTS, TOCSIN_FEDERATION_PRIVATE_HOSTS); host
lists share the syntax of ``parse_hosts``.

For code that connects through urllib3 (Apprise, through requests), ``guarded()`` applies
the same rule to every connection urllib3 opens in that context; outside a guarded block
urllib3 works as shipped. Following redirects is the caller's to turn off (Apprise has
its own switch).
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(OSError):
    """The destination is not a public address, and the operator did not trust it.
    The message never names the host or the address."""


class Unresolved(OSError):
    """The name did not resolve to any address."""


# --- addresses ---

# Not reachable on the public internet, beyond what ipaddress calls private: CGNAT
# (RFC 6598) and the IETF protocol assignments (RFC 6890), some of which Python 3.12
# still calls global.
_NOT_PUBLIC_V4 = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("192.0.0.0/24"))
# NAT64 (RFC 6052, 8215): the well-known prefix carries an IPv4 address in its last 32
# bits; the local-use prefix is the operator's own network.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _inner_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address stands for, if it carries one."""
    value = int(address)
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return address.ipv4_mapped
    if value >> 32 == 0 or value >> 32 == 0xFFFF0000:  # ::a.b.c.d, ::ffff:0:a.b.c.d
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address.sixtofour is not None:  # 2002:aabb:ccdd::
        return address.sixtofour
    return None


def is_public(address: Address) -> bool:
    """Return whether ``address`` is a globally routable unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL or address.scope_id:
            return False
        inner = _inner_ipv4(address)
        if inner is not None:
            return is_public(inner)
        if address.is_site_local:
            return False
    elif any(address in network for network in _NOT_PUBLIC_V4):
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def resolve(host: str, port: int) -> list[Address]:
    """Return the addresses ``host`` resolves to, in the resolver's order, once each.

    Every lookup for a connection goes through here (tests replace it). An IP literal
    in any form the system accepts (``2130706433``, ``0177.0.0.1``) comes back as the
    address it means. Raises Unresolved."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as e:  # ValueError: a NUL, a label IDNA refuses
        raise Unresolved(f"lookup failed: {type(e).__name__}") from None
    found: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def check(host: str, port: int, *, trusted: bool = False) -> list[Address]:
    """Return the addresses to connect to for ``host``: resolved once, and (unless
    ``trusted``) every one of them public. Raises Refused or Unresolved."""
    found = resolve(host, port)
    if not found:
        raise Unresolved("no address")
    if not trusted and not all(is_public(a) for a in found):
        raise Refused("not a public address")
    return found


def connect(
    host: str,
    port: int,
    *,
    timeout: float | None,
    trusted: bool = False,
    options: Iterable[tuple[int, int, Any]] = (),
) -> socket.socket:
    """Return a socket connected to ``host``: to one of the addresses ``check`` gave,
    tried in order. Raises Refused, Unresolved, or the last connection's OSError."""
    error: OSError = Unresolved("no address")
    for address in check(host, port, trusted=trusted):
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for option in options:
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            sock.connect((str(address), port))
        except OSError as e:
            sock.close()
            error = e
            continue
        return sock
    raise error


# --- host lists (TOCSIN_PUSH_HOSTS, TOCSIN_APPRISE_PRIVATE_HOSTS, ...) ---

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _is_name(host: str) -> bool:
    """A DNS host name: letters, digits and hyphens in labels of 1-63, no empty label,
    and a last label that is not a number (``127.1`` and ``2130706433`` are not names:
    resolvers read them as addresses)."""
    labels = host.split(".")
    return (
        len(host) <= 253
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def _literal(host: str) -> Address | None:
    """Return the address ``host`` writes in the one strict form (dotted quad, or IPv6
    with or without brackets), or None."""
    try:
        return ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return None


def normal_host(host: str) -> str | None:
    """Return ``host`` as the lists compare it (lower case; an address in its
    canonical form), or None when it is neither a host name nor a strict IP literal."""
    host = host.strip().lower()
    address = _literal(host)
    if address is not None:
        return None if address.version == 6 and address.scope_id else str(address)
    return host if _is_name(host) else None


def parse_hosts(text: str) -> tuple[str, ...]:
    """Return the entries of a comma-separated host list: host names, ``*.`` and a
    domain of two labels or more (any name under it, not the domain itself), IP
    addresses. Raises ValueError naming the first entry that is none of those."""
    entries: list[str] = []
    for raw in text.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        wildcard = entry.startswith("*.")
        host = normal_host(entry[2:] if wildcard else entry)
        if host is None or (wildcard and (_literal(host) is not None or "." not in host)):
            raise ValueError(f"{raw.strip()!r} is not a host name, *.domain or IP address")
        entries.append(f"*.{host}" if wildcard else host)
    return tuple(entries)


def matches(host: str, entries: Iterable[str]) -> bool:
    """Return whether ``host`` (as a URL gives it) is one of ``entries``."""
    normal = normal_host(host)
    if normal is None:
        return False
    is_name = _literal(normal) is None
    for entry in entries:
        if entry.startswith("*."):
            if is_name and normal.endswith(entry[1:]):
                return True
        elif entry == normal:
            return True
    return False


def named_by_address(host: str, entries: Iterable[str]) -> bool:
    """Return whether ``host`` is an entry that names one machine outright: an IP
    address, or ``localhost``. That is how an operator says "this one is mine"."""
    normal = normal_host(host)
    if normal is None or (normal != "localhost" and _literal(normal) is None):
        return False
    return normal in tuple(entries)


# --- connections urllib3 opens (Apprise, through requests) ---


@dataclass
class Guard:
    """What a guarded block allows, and how many connections it refused."""

    trusted: Callable[[str], bool]
    proxies: frozenset[tuple[str, int]]
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_guard: contextvars.ContextVar[Guard | None] = contextvars.ContextVar("egress", default=None)
_installed = threading.Lock()
_hooks: list[Any] = []


def _proxies() -> frozenset[tuple[str, int]]:
    """The proxies the environment names (HTTPS_PROXY, HTTP_PROXY): the operator's."""
    found = set()
    for url in urllib.request.getproxies().values():
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.hostname:
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                continue
            found.add((parts.hostname, port))
    return frozenset(found)


def _install() -> None:
    """Put the guard's hook into urllib3, once per process: urllib3 looks
    ``connection.create_connection`` up on every new connection. The hook does what
    urllib3 does unless the calling context is guarded."""
    with _installed:
        if _hooks:
            return
        from urllib3.util import connection

        create = connection.create_connection

        def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
            guard = _guard.get()
            host, port = address
            host = host.strip("[]")
            if guard is None or (host, port) in guard.proxies:
                return create(address, *args, **kwargs)
            # urllib3 passes (timeout, source_address, socket_options), by position or name.
            given = dict(zip(("timeout", "source_address", "socket_options"), args, strict=False))
            given.update(kwargs)
            timeout = given.get("timeout")
            try:
                return connect(
                    host,
                    port,
                    timeout=timeout if isinstance(timeout, int | float) else None,
                    trusted=guard.trusted(host),
                    options=given.get("socket_options") or (),
                )
            except Refused:
                with guard.lock:
                    guard.refused += 1
                raise

        connection.create_connection = create_connection  # type: ignore[assignment]
        _hooks.append(create_connection)


@contextmanager
def guarded(*, trusted: Callable[[str], bool] = lambda host: False) -> Iterator[Guard]:
    """Apply this module's rule to every connection urllib3 opens in this context
    (threads started with a copy of it, as Apprise's are, included).

    ``trusted(host)`` says which hosts the operator trusts; the proxies the environment
    names are connected to as configured (the proxy then does the connecting)."""
    _install()
    guard = Guard(trusted=trusted, proxies=_proxies())
    token = _guard.set(guard)
    try:
        yield guard
    finally:
        _guard.reset(token)
