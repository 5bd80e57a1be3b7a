"""The one way Tocsin talks HTTP to providers.

Two kinds of destination, two clients, both here:

- Providers the operator configured (an SMS API or gateway, signal-cli, the Telegram Bot
  API): ``post`` and ``get``, through one requests session per thread, so connections
  are kept alive between sends and never shared between threads. Callers pass their
  own timeout and map ``Timeout``, ``ConnectionError`` and ``RequestException`` (raised
  as requests raises them) to their errors.
- Addresses someone else chose (a member's push endpoint, a partner network's inbox):
  ``pinned_post``, over kept-alive connections made through ``tocsin.lib.egress`` (the
  name resolved once, public addresses only unless trusted, the connection made to the
  address checked), or through the proxy the environment names. It raises ``egress.Refused`` or
  ``Unreachable``; no redirect is ever followed.

A process forked after sending (a test's worker, a supervisor) starts with sessions and
pools of its own: it never shares the parent's open connections.
"""

from __future__ import annotations

import email.utils
import os
import threading
import time
import urllib.request
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from tocsin.lib import egress, keepalive

# What ``post`` and ``get`` raise, as requests raises them.
Timeout = requests.Timeout
ConnectionError = requests.ConnectionError  # noqa: A001
RequestException = requests.RequestException
Response = requests.Response


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Return the wait a ``Retry-After`` header asks for, in seconds, or None.

    RFC 9110 section 10.2.3 allows either a number of seconds or an HTTP date.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# --- providers the operator configured ---

_local = threading.local()


def _session() -> requests.Session:
    # One session per sending thread: connections are reused, sessions are not shared.
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def post(url: str, *, timeout: float | tuple[float, float], **kwargs: Any) -> Response:
    """POST to a provider the operator configured; ``kwargs`` as requests takes them."""
    return _session().post(url, timeout=timeout, **kwargs)


def get(url: str, *, timeout: float | tuple[float, float], **kwargs: Any) -> Response:
    """GET from a provider the operator configured; ``kwargs`` as requests takes them."""
    return _session().get(url, timeout=timeout, **kwargs)


# --- addresses someone else chose ---


class Unreachable(Exception):
    """No answer from the destination: the connection failed, hung or was reset. The
    message names the failure, never the host."""


@cache
def _direct(origin: str, trusted: bool, timeouts: tuple[float, float], size: int) -> keepalive.Pool:
    """Return this process's kept-alive connections to one origin."""
    parts = urlsplit(origin)
    assert parts.hostname is not None
    return keepalive.Pool(
        parts.scheme,
        parts.hostname,
        parts.port or (443 if parts.scheme == "https" else 80),
        size=size,
        timeouts=timeouts,
        trusted=trusted,
    )


@cache
def _proxied(proxy: str, timeouts: tuple[float, float], size: int) -> urllib3.ProxyManager:
    return urllib3.ProxyManager(
        proxy,
        num_pools=32,
        maxsize=size,
        retries=False,
        timeout=urllib3.Timeout(connect=timeouts[0], read=timeouts[1]),
    )


@cache
def _proxy_for(origin: str) -> str | None:
    """Return the proxy that HTTPS_PROXY / HTTP_PROXY name for ``origin`` unless
    NO_PROXY exempts the host (what requests did), else None."""
    scheme, _, host = origin.partition("://")
    proxy = urllib.request.getproxies().get(scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        return proxy
    return None


def forget_pools() -> None:
    """Close nothing, forget every kept-alive pool and session: the next request
    connects afresh."""
    _proxy_for.cache_clear()
    _proxied.cache_clear()
    _direct.cache_clear()
    _local.__dict__.clear()


os.register_at_fork(after_in_child=forget_pools)


def pinned_post(
    origin: str,
    target: str,
    body: bytes,
    headers: dict[str, str],
    *,
    trusted: bool,
    timeouts: tuple[float, float],
    size: int,
) -> tuple[int, str]:
    """POST ``body`` to ``target`` (path and query) on ``origin`` (``scheme://host[:port]``),
    an address someone else chose; return the status and any Retry-After. ``trusted``:
    the operator named the host, its answers are not checked (still pinned).
    ``timeouts``: connect and read, in seconds; ``size``: how many connections to keep
    alive to the origin. Raises egress.Refused or Unreachable.

    Through a proxy the proxy looks the name up and connects: this still refuses what
    our own resolver says is inside the network; no answer here is the proxy's to find.
    """
    proxy = _proxy_for(origin)
    if proxy is not None:
        if not trusted:
            parts = urlsplit(origin)
            assert parts.hostname is not None
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                egress.check(parts.hostname, port)
            except egress.Unresolved:
                pass
        try:
            response = _proxied(proxy, timeouts, size).urlopen(
                "POST", origin + target, body=body, headers=headers, redirect=False
            )
        except urllib3.exceptions.HTTPError as e:
            raise Unreachable(type(e).__name__) from e
        return response.status, response.headers.get("Retry-After") or ""
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if fields.count("\n") != len(headers) or fields.count("\r") != len(headers):
        # A value with a line break of its own (none should have one): flatten it.
        fields = "".join(
            f"{name}: {' '.join(value.splitlines())}\r\n" for name, value in headers.items()
        )
    host = origin.partition("://")[2]
    head = f"POST {target} HTTP/1.1\r\nHost: {host}\r\n{fields}".encode("latin-1")
    try:
        answer = _direct(origin, trusted, timeouts, size).request(head, body)
    except keepalive.HTTPError as e:
        raise Unreachable(str(e)) from None
    return answer.status, answer.headers.get("retry-after", "")
