"""What tests hand an ASGI application directly: the scope of one HTTP request."""

from __future__ import annotations

from typing import Any


def post_scope(
    path: str, headers: list[tuple[bytes, bytes]], *, client: str = "127.0.0.1"
) -> dict[str, Any]:
    """Return the ASGI scope of a POST to ``path`` on testserver from ``client``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (client, 1),
        "server": ("testserver", 80),
    }
