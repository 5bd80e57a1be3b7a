"""A TCP proxy on loopback that a test can cut and restore, to play a network outage.

Clients connect to ``proxy.address`` instead of the server. ``cut()`` resets every open
connection and, until ``restore()``, resets each new one as soon as it is accepted: to a
client the server is gone, and it finds out at once, as when a database restarts or a
firewall rejects it. ``cut(silent=True)`` is the other kind of outage, a network that
drops packets: connections stay open and new ones are accepted, but nothing gets through
(until the restore), so a client learns of it only from its own timeouts. Only loopback
addresses are ever involved.
"""

from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType


class TcpProxy:
    """Forward connections from a loopback port to ``upstream``; cut and restore on demand."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._held: list[socket.socket] = []
        self._cut = False
        # Cleared by a silent cut: data waits, as in a partitioned network.
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        # What happened, for a test's report: connections forwarded, and refused while cut.
        self.forwarded = 0
        self.refused = 0

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> TcpProxy:
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()
        return self

    def cut(self, *, silent: bool = False) -> None:
        """Reset every open connection and refuse new ones until ``restore()``; or, if
        ``silent``, leave them all open and answer nothing."""
        with self._lock:
            if silent:
                self._flowing.clear()
                return
            self._cut = True
            for s in self._open:
                _abort(s)

    def restore(self) -> None:
        """Forward again. Connections accepted during a silent cut are reset."""
        with self._lock:
            self._cut = False
            self._flowing.set()
            held, self._held = self._held, []
        for s in held:
            _abort(s)
            s.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.restore()
        self.cut()
        self._listener.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                if not self._flowing.is_set() and not self._closed:
                    self._held.append(client)
                    continue
                refuse = self._cut or self._closed
                if refuse:
                    self.refused += 1
            if refuse:
                _abort(client)
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _abort(client)
                client.close()
                continue
            with self._lock:
                if self._cut:  # cut while connecting upstream
                    for s in (client, server):
                        _abort(s)
                        s.close()
                    continue
                self._open |= {client, server}
                self.forwarded += 1
            for src, dst in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(src, dst), name="tcp-proxy-pump", daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        # Either side ending ends both: neither PostgreSQL nor Redis half-closes.
        with self._lock:
            for s in (src, dst):
                if s in self._open:
                    _abort(s)
                    self._open.discard(s)
                    s.close()


def _abort(s: socket.socket) -> None:
    """Make the connection end with a reset and wake whoever is blocked on it.

    Only shuts the socket down: closing it is left to the thread that owns it, so a file
    descriptor is never closed under another thread's feet.
    """
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
