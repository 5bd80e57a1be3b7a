"""Providers that hang or drop the connection: every such send is a transient failure
that the outbox retries later; nothing is lost and no endpoint is blamed.

A small TCP server on loopback plays the broken provider: it reads the request and then
either never answers (a timeout) or resets the connection (RST).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.peers.smtp import smtp_mailer
from tests.test_outbox import PUSH_DATA
from tocsin.transports.base import Message, TransportError
from tocsin.transports.email import EmailTransport
from tocsin.transports.webpush import WebPushTransport


class BrokenProvider:
    """Accepts connections; ``mode`` "hang" reads and stays silent, "reset" reads (or
    waits half a second for a request) and resets the connection."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)
            # A client that waits to be spoken to first (SMTP) sends nothing: the reset
            # comes after half a second of silence, before the client's own timeout.
            conn.settimeout(0.5 if self.mode == "reset" else 2)
            try:
                conn.recv(65536)
            except OSError:
                pass
            if self.mode == "reset":
                # SO_LINGER with a zero timeout makes close() send RST, not FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()

    def close(self) -> None:
        """Stop serving. The sockets are shut down, which ends a read the serving
        thread is waiting in, and closed only after that thread has ended (closing them
        under it would pull the socket from under its next call: Bad file descriptor)."""
        self.stopped.set()
        # Shutting the listening socket down ends a wait in accept() at once.
        for conn in [self.sock, *self.connections]:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)
        self.sock.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture(params=["hang", "reset"])
def provider(request: pytest.FixtureRequest) -> Iterator[BrokenProvider]:
    server = BrokenProvider(request.param)
    yield server
    server.close()


MESSAGE = Message(subject="Confirmed", text="Tocsin alert", url="https://tocsin.example/a/x/")


def test_a_push_service_that_hangs_or_resets_is_a_transient_failure(
    provider: BrokenProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.transports import webpush

    monkeypatch.setattr(webpush, "TIMEOUT", (1.0, 1.0))  # connect, read
    _forget_connection_pools(webpush)
    payload: dict[str, Any] = {"address": f"http://127.0.0.1:{provider.port}/push/1", **PUSH_DATA}
    payload["keys"] = _browser_keys()
    try:
        with pytest.raises(TransportError) as failure:
            WebPushTransport().send(payload, MESSAGE, idempotency_key="a1-e1")
    finally:
        _forget_connection_pools(webpush)
    assert not failure.value.permanent
    assert "127.0.0.1" not in failure.value.message


def test_an_smtp_server_that_hangs_or_resets_is_a_transient_failure(
    provider: BrokenProvider, settings: Any
) -> None:
    smtp_mailer(settings, "127.0.0.1", provider.port, timeout=1)
    settings.SMTP_HOST = "127.0.0.1"
    with pytest.raises(TransportError) as failure:
        EmailTransport().send({"address": "mateo@example.org"}, MESSAGE, idempotency_key="a1-e2")
    assert not failure.value.permanent
    assert "mateo@example.org" not in failure.value.message


def _forget_connection_pools(module: Any) -> None:
    """Drop the transport's cached connection pools, which keep the timeout they were
    made with."""
    for name in ("_direct", "_proxied", "_pools_for"):
        cached = getattr(module, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


def _browser_keys() -> dict[str, str]:
    """A real P-256 key and auth secret, as a browser's subscription carries."""
    import base64
    import os

    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    encode = base64.urlsafe_b64encode
    return {
        "p256dh": encode(raw).rstrip(b"=").decode(),
        "auth": encode(os.urandom(16)).rstrip(b"=").decode(),
    }
