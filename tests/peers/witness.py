"""A loopback server that records every connection that reaches it.

Tests of where Tocsin may connect point a member's (or an organizer's) address at a
witness: that it saw no connection is the proof that nothing was sent there, whatever the
sender said. A witness that is meant to be reached answers each HTTP request with its
``answer`` (a redirect, say), so a test can also show where a sender went next.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


def redirect(status: int, location: str) -> bytes:
    """Return an HTTP answer sending the client to ``location``."""
    reason = {301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect"}.get(status, "")
    return (
        f"HTTP/1.1 {status} {reason}\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


class Witness:
    """Listens on ``host`` (127.0.0.1 or ::1) and a free port. ``connections`` counts the
    connections accepted; ``received`` holds the bytes that arrived on each."""

    def __init__(self, *, host: str = "127.0.0.1", answer: bytes = CREATED) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, 0), family=family)
        self.host = host
        self.port: int = self.sock.getsockname()[1]
        self.answer = answer
        self.lock = threading.Lock()
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def connections(self) -> int:
        with self.lock:
            return len(self.received)

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                index = len(self.received)
                self.received.append(b"")
            threading.Thread(target=self._talk, args=(conn, index), daemon=True).start()

    def _talk(self, conn: socket.socket, index: int) -> None:
        data = b""
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
                with self.lock:
                    self.received[index] += chunk
                head, sep, rest = data.partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length" and value.strip().isdigit():
                        length = int(value)
                if len(rest) >= length:
                    conn.sendall(self.answer)
                    data = b""
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Witness:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
