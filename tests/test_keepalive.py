"""The kept-alive HTTP/1.1 client web push sends through (tocsin.lib.keepalive), against
a scripted server on loopback: each accepted connection answers requests as the test
says, so stale keep-alives, resets, odd framings and TLS are each seen for real."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.peers.tls import self_signed
from tocsin.lib import egress, keepalive

HEAD = b"POST /push/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nTTL: 60\r\n"
CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"

# What the server does with one request on one connection: it gets the request bytes
# and returns what to write back, or None to close the connection without answering.
Script = Callable[[int, int, bytes], bytes | None]


class Reset(bytes):
    """An answer the server writes and then resets the connection after (RST, not FIN)."""


def read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest


class Server:
    """Answers by ``script(connection number, request number on it, request)``."""

    def __init__(self, script: Script, *, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            number = self.connections
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn, number), daemon=True).start()

    def _talk(self, conn: socket.socket, number: int) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            for index in range(1000):
                request = read_request(conn)
                if request is None:
                    return
                self.requests.append(request)
                answer = self.script(number, index, request)
                if answer is None:
                    return
                conn.sendall(answer)
                if isinstance(answer, Reset):
                    # Lingering for 0 s makes the close below send a reset.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(script: Script, **kwargs: object) -> Server:
        server = Server(script, **kwargs)  # type: ignore[arg-type]
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def pool(server: Server, scheme: str = "http", read_timeout: float = 5) -> keepalive.Pool:
    # The scripted server is on loopback, which only a host the operator trusts may be.
    return keepalive.Pool(
        scheme, "127.0.0.1", server.port, size=4, timeouts=(5, read_timeout), trusted=True
    )


def test_it_posts_and_keeps_the_connection_for_the_next_request(
    serve: Callable[..., Server],
) -> None:
    server = serve(lambda c, i, r: CREATED)
    p = pool(server)
    for n in range(5):
        answer = p.request(HEAD, b"body %d" % n)
        assert answer.status == 201
    assert server.connections == 1
    assert server.requests[0].startswith(HEAD)
    assert b"\r\nContent-Length: 6\r\n\r\nbody 0" in server.requests[0]


def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_request_sent_once(
    serve: Callable[..., Server],
) -> None:
    # Each connection answers one request, then closes without a word (an idle timeout).
    server = serve(lambda c, i, r: CREATED if i == 0 else None)
    p = pool(server)
    assert p.request(HEAD, b"first").status == 201
    assert p.request(HEAD, b"second").status == 201
    assert server.connections == 2
    bodies = [r.rsplit(b"\r\n\r\n", 1)[1] for r in server.requests]
    # The second went out on the stale connection (unread) and again on a new one.
    assert bodies.count(b"second") == 2
    assert bodies[-1] == b"second"


def test_a_new_connection_that_gets_no_answer_is_not_retried(
    serve: Callable[..., Server],
) -> None:
    server = serve(lambda c, i, r: None)
    with pytest.raises(keepalive.HTTPError):
        pool(server).request(HEAD, b"once")
    assert len(server.requests) == 1


def test_a_slow_server_is_a_timeout_and_never_a_second_send(
    serve: Callable[..., Server],
) -> None:
    gate = threading.Event()

    def slow(c: int, i: int, r: bytes) -> bytes | None:
        if i == 0 and c == 0:
            return CREATED
        gate.wait(5)
        return CREATED

    server = serve(slow)
    p = pool(server, read_timeout=0.3)
    p.request(HEAD, b"first")
    with pytest.raises(keepalive.HTTPError, match="timed out"):
        p.request(HEAD, b"second")
    gate.set()
    assert [r.endswith(b"second") for r in server.requests].count(True) == 1


def test_a_reset_in_the_middle_of_an_answer_is_an_error_not_a_retry(
    serve: Callable[..., Server],
) -> None:
    # The second answer breaks off in its status line with a reset: the request may have
    # been acted on, so it is not sent again (a reset before any byte would be).
    server = serve(lambda c, i, r: CREATED if i == 0 else Reset(b"HTTP/1.1 201 Cre"))
    p = pool(server)
    p.request(HEAD, b"first")
    with pytest.raises(keepalive.HTTPError, match="connection reset"):
        p.request(HEAD, b"second")
    assert server.connections == 1
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        (
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 30\r\nContent-Length: 4\r\n\r\nslow",
            429,
            b"slow",
        ),
        (
            b"HTTP/1.1 410 Gone\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\ngon\r\n1;x=y\r\ne\r\n0\r\nX-Trailer: 1\r\n\r\n",
            410,
            b"gone",
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
            201,
            b"ok",
        ),
    ],
)
def test_it_reads_each_framing_and_stays_in_step(
    serve: Callable[..., Server], answer: bytes, status: int, body: bytes
) -> None:
    server = serve(lambda c, i, r: answer)
    p = pool(server)
    for _ in range(2):
        got = p.request(HEAD, b"x")
        assert (got.status, got.body) == (status, body)
    assert server.connections == 1
    if status == 429:
        assert got.headers["retry-after"] == "30"


def test_connection_close_and_a_body_to_the_end_are_not_reused(
    serve: Callable[..., Server],
) -> None:
    answers = [
        b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n",
    ]
    server = serve(lambda c, i, r: answers[c % 2] if i == 0 else CREATED)
    p = pool(server)
    p.request(HEAD, b"a")
    p.request(HEAD, b"b")
    p.request(HEAD, b"c")
    assert server.connections == 3


@pytest.mark.parametrize(
    "answer",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 20x Created\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: lots\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 99999999\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_nonsense_is_an_error(serve: Callable[..., Server], answer: bytes) -> None:
    server = serve(lambda c, i, r: answer)
    with pytest.raises(keepalive.HTTPError):
        pool(server).request(HEAD, b"x")


def test_nobody_listening_is_an_error() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(keepalive.HTTPError, match="connect"):
        keepalive.Pool("http", "127.0.0.1", port, size=1, timeouts=(1, 1), trusted=True).request(
            HEAD, b"x"
        )


def test_threads_share_a_pool_and_it_keeps_at_most_its_size(
    serve: Callable[..., Server],
) -> None:
    server = serve(lambda c, i, r: CREATED)
    p = pool(server)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert p.request(HEAD, b"x").status == 201
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(server.requests) == 160
    assert len(p.idle) <= 4


# TLS.


@pytest.fixture
def tls_server(tmp_path: Path, serve: Callable[..., Server]) -> Iterator[tuple[Server, Path]]:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    keepalive._tls_context.cache_clear()
    yield serve(lambda c, i, r: CREATED, tls=context), cert
    keepalive._tls_context.cache_clear()


def test_it_speaks_tls_to_a_server_it_trusts(
    tls_server: tuple[Server, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    p = pool(server, "https")
    assert p.request(HEAD, b"x").status == 201
    assert p.request(HEAD, b"y").status == 201
    assert server.connections == 1


def test_it_refuses_a_certificate_it_does_not_trust(tls_server: tuple[Server, Path]) -> None:
    server, _cert = tls_server
    with pytest.raises(keepalive.HTTPError, match="TLS"):
        pool(server, "https").request(HEAD, b"x")
    assert server.requests == []


# Where it connects (tocsin.lib.egress): the host is a member's choice.


def fake_dns(monkeypatch: pytest.MonkeyPatch, name: str, answer: str) -> list[str]:
    """Make ``name`` resolve to ``answer``; return the names looked up."""
    asked: list[str] = []
    real = egress.resolve

    def resolve(host: str, port: int) -> list[egress.Address]:
        asked.append(host)
        return [ipaddress.ip_address(answer)] if host == name else real(host, port)

    monkeypatch.setattr(egress, "resolve", resolve)
    return asked


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1", "localhost"]
)
def test_it_never_connects_to_loopback_unless_the_host_is_trusted(
    serve: Callable[..., Server], host: str
) -> None:
    server = serve(lambda c, i, r: CREATED)
    untrusted = keepalive.Pool("http", host, server.port, size=1, timeouts=(5, 5))
    with pytest.raises(egress.Refused):
        untrusted.request(HEAD, b"x")
    assert server.connections == 0


def test_it_connects_to_the_address_it_checked_and_looks_the_name_up_once(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(lambda c, i, r: None if i else CREATED)  # a new connection each time
    asked = fake_dns(monkeypatch, "relay.example.net", "127.0.0.1")
    p = keepalive.Pool("http", "relay.example.net", server.port, size=1, timeouts=(5, 5))
    p.trusted = True
    assert p.request(HEAD, b"x").status == 201
    assert asked == ["relay.example.net"]
    assert server.connections == 1


@pytest.fixture
def named_tls(tmp_path: Path, serve: Callable[..., Server]) -> Iterator[tuple[Server, Path]]:
    """A TLS server whose certificate names push.example.net, not its address."""
    cert, key = self_signed(tmp_path, names=("push.example.net",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    keepalive._tls_context.cache_clear()
    yield serve(lambda c, i, r: CREATED, tls=context), cert
    keepalive._tls_context.cache_clear()


def test_tls_checks_the_host_name_on_the_pinned_address(
    named_tls: tuple[Server, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cert = named_tls
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    fake_dns(monkeypatch, "push.example.net", "127.0.0.1")
    right = keepalive.Pool("https", "push.example.net", server.port, size=1, timeouts=(5, 5))
    right.trusted = True
    assert right.request(HEAD, b"x").status == 201
    # The same address under a name the certificate does not carry: refused.
    wrong = keepalive.Pool("https", "127.0.0.1", server.port, size=1, timeouts=(5, 5))
    wrong.trusted = True
    with pytest.raises(keepalive.HTTPError, match="TLS"):
        wrong.request(HEAD, b"x")
