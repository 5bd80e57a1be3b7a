"""A small HTTP/1.1 client for one job: many POSTs to one origin over kept-alive
connections, as a web push fan-out makes them.

A push costs one encryption that no sender avoids, plus an HTTP request; through urllib3
the request cost three times the encryption (docs/benchmarks.md). Here a request is one
``sendall`` of bytes built in one join, and the answer is read straight off the socket:
the status, the headers as a dict, the body by Content-Length or chunks. TLS is the
standard library's with certificate and host checks (the system's CA bundle, or
SSL_CERT_FILE). Proxies are not handled: callers use urllib3 when one is configured.

The origin is a member's choice (their push endpoint), so connections are made through
tocsin.lib.egress: the name is resolved once, a non-public answer is refused (egress.Refused,
raised as is) unless the caller trusts the host, and the socket is connected to the
address checked; TLS still checks the host name. Redirects are answers like any other:
the caller gets the 3xx and nothing follows it.

A connection the server closed while idle (every server closes idle keep-alive
connections sooner or later) shows as a reset or an end of stream before any byte of an
answer; the request is then sent once more on a new connection. The server had not read
it, and a push carries a Topic, so even a duplicate would replace, not add, a message.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
import threading
from collections import deque
from dataclasses import dataclass
from functools import cache

from tocsin.lib import egress

# An answer's head and body are small for push services; anything larger is refused.
MAX_HEAD = 64 * 1024
MAX_BODY = 256 * 1024
# Interim answers (100 Continue, 103 Early Hints) before the real one: a server that
# sends more is not answering.
MAX_INTERIM = 8
# The framing is read strictly (RFC 9112): a length or chunk size in any other form is
# an error, never a guess (int() would take "+5", "5_0" or "0x5").
_STATUS = re.compile(r"[0-9]{3}")
_LENGTH = re.compile(r"[0-9]{1,12}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,12}")
# What bytes.strip() takes off; str.strip() would also take latin-1's NBSP and more.
_BLANK = " \t\n\r\x0b\x0c"


class HTTPError(Exception):
    """The request got no usable answer: connection refused, reset, timed out, or an
    answer that is not HTTP/1.1."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class _NoAnswer(HTTPError):
    """The connection ended before any byte of an answer (a stale keep-alive)."""


@cache
def _tls_context() -> ssl.SSLContext:
    # The default verify paths honour SSL_CERT_FILE.
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


def connect(
    scheme: str,
    host: str,
    port: int,
    *,
    connect_timeout: float,
    read_timeout: float,
    trusted: bool = False,
) -> Connection:
    """Return a new connection to ``host`` (over TLS for https). Raises egress.Refused
    for an address Tocsin must not reach, HTTPError when no connection can be made."""
    try:
        sock = egress.connect(host, port, timeout=connect_timeout, trusted=trusted)
    except egress.Refused:
        raise
    except OSError as e:
        raise HTTPError(f"connect: {type(e).__name__}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if scheme == "https":
        try:
            sock = _tls_context().wrap_socket(sock, server_hostname=host.strip("[]"))
        except (OSError, ssl.SSLError) as e:
            sock.close()
            raise HTTPError(f"TLS: {type(e).__name__}") from None
        sock.settimeout(read_timeout)
    else:
        # Plain TCP waits in the kernel: a socket with a Python timeout polls before
        # every send and every read, two more system calls per request, and a thread
        # switch more for a worker sending on many threads. A read or write that waits
        # longer than the timeout fails with EAGAIN (BlockingIOError), a timeout here.
        # (The ssl module cannot: a blocking TLS socket would retry a timed-out read.)
        timeval = struct.pack("ll", int(read_timeout), int(read_timeout % 1 * 1_000_000))
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
            sock.settimeout(None)
        except OSError:
            sock.settimeout(read_timeout)
    return Connection(sock)


class Connection:
    """One connection, over a socket already connected (and wrapped in TLS)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.open = True

    def close(self) -> None:
        self.open = False
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, *, first: bool = False) -> int:
        """Read more of the answer; ``first``: nothing of it has come yet, so a reset
        or an end of stream means the server had closed the connection (_NoAnswer)."""
        try:
            chunk = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            raise HTTPError("read timed out") from None
        except ConnectionResetError:
            raise (_NoAnswer if first else HTTPError)("connection reset") from None
        except OSError as e:
            raise HTTPError(f"read: {type(e).__name__}") from None
        if not chunk and first:
            raise _NoAnswer("closed before the answer")
        self.buffer += chunk
        return len(chunk)

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not self._fill():
                raise HTTPError("connection closed in the body")
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD or not self._fill():
                raise HTTPError("bad chunked body")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def _head(self, *, first: bool) -> tuple[str, int, dict[str, str]]:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD:
                raise HTTPError("answer head too large")
            if not self._fill(first=first and not self.buffer):
                raise HTTPError("connection closed in the answer head")
        # One decode for the whole head (latin-1 maps each byte to one character).
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not _STATUS.fullmatch(parts[1]):
            raise HTTPError("not an HTTP/1.x answer")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip(_BLANK).lower()] = value.strip(_BLANK)
        return parts[0], int(parts[1]), headers

    def request(self, head: bytes, body: bytes) -> Response:
        """Send a request (``head``: the request line and headers, each ending in CRLF,
        without Content-Length or the blank line) and return the answer."""
        try:
            self.sock.sendall(b"".join((head, b"Content-Length: %d\r\n\r\n" % len(body), body)))
        except (BrokenPipeError, ConnectionResetError) as e:
            raise _NoAnswer(type(e).__name__) from None
        except (TimeoutError, BlockingIOError):
            raise HTTPError("write timed out") from None
        except OSError as e:
            raise HTTPError(f"write: {type(e).__name__}") from None
        version, status, headers = self._head(first=True)
        interim = 0
        while 100 <= status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows.
            interim += 1
            if interim > MAX_INTERIM:
                raise HTTPError("too many interim answers")
            version, status, headers = self._head(first=False)
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if status in (204, 304):
            data = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            data = self._chunked()
        elif "content-length" in headers:
            if not _LENGTH.fullmatch(headers["content-length"]):
                raise HTTPError("bad Content-Length")
            length = int(headers["content-length"])
            if length > MAX_BODY:
                raise HTTPError("answer body too large")
            data = self._exactly(length)
        else:
            # No length: the body runs to the end of the connection.
            while self._fill():
                if len(self.buffer) > MAX_BODY:
                    raise HTTPError("answer body too large")
            data, keep = bytes(self.buffer), False
            self.buffer.clear()
        if not keep:
            self.close()
        return Response(status, headers, data)

    def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self._line().split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_line):
                raise HTTPError("bad chunk size")
            size = int(size_line, 16)
            if size == 0:
                trailers = 0
                while line := self._line():  # trailers, up to the blank line
                    trailers += len(line) + 2
                    if trailers > MAX_HEAD:
                        raise HTTPError("trailers too large")
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise HTTPError("answer body too large")
            body += self._exactly(size)
            if self._exactly(2) != b"\r\n":
                raise HTTPError("bad chunk end")


class Pool:
    """Kept-alive connections to one origin, shared by threads (each takes one, uses it
    and gives it back); at most ``size`` stay open while idle."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        size: int,
        timeouts: tuple[float, float],
        trusted: bool = False,
    ) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self.size = size
        self.timeouts = timeouts
        # Whether the operator trusts this host: then its address is not checked.
        self.trusted = trusted
        self.idle: deque[Connection] = deque()
        self.lock = threading.Lock()
        self.opened = 0

    def _new(self) -> Connection:
        self.opened += 1
        connect_timeout, read_timeout = self.timeouts
        return connect(
            self.scheme,
            self.host,
            self.port,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            trusted=self.trusted,
        )

    def request(self, head: bytes, body: bytes) -> Response:
        with self.lock:
            conn = self.idle.pop() if self.idle else None
        reused = conn is not None
        if conn is None:
            conn = self._new()
        try:
            try:
                response = conn.request(head, body)
            except _NoAnswer:
                conn.close()
                if not reused:
                    raise
                conn = self._new()
                response = conn.request(head, body)
        except BaseException:
            conn.close()
            raise
        if conn.open and not conn.buffer:
            with self.lock:
                if len(self.idle) < self.size:
                    self.idle.append(conn)
                    return response
        conn.close()
        return response

    def close(self) -> None:
        with self.lock:
            while self.idle:
                self.idle.pop().close()
