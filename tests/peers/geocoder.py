"""A loopback geocoder speaking Nominatim's API: ``GET /search?q=…&format=jsonv2`` and
``GET /reverse?lat=…&lon=…&format=jsonv2``. A test sets what it answers (``answer`` for
searches, ``address`` for reverse lookups) and reads what it was asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Geocoder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _GeocoderHandler)
        self.status = 200
        self.body: bytes = b"[]"
        self.reverse_body: bytes = b'{"error": "Unable to geocode"}'
        self.queries: list[dict[str, list[str]]] = []
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, rows: Any, status: int = 200) -> None:
        self.status, self.body = status, json.dumps(rows).encode()

    def address(self, display_name: str) -> None:
        """Answer reverse lookups with this address."""
        self.reverse_body = json.dumps(
            {"display_name": display_name, "lat": "34.0", "lon": "-118.2"}
        ).encode()


class _GeocoderHandler(BaseHTTPRequestHandler):
    server: Geocoder

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.server.paths.append(parts.path)
        self.server.queries.append(parse_qs(parts.query))
        status, body = (self.server.status, self.server.body)
        if parts.path == "/reverse":
            body = self.server.reverse_body
        elif parts.path != "/search":
            status, body = 404, b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running() -> Iterator[Geocoder]:
    server = Geocoder()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
