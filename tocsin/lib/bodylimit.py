"""An ASGI wrapper that refuses a request body too big to keep in memory.

Django's ASGI handler reads each body into a SpooledTemporaryFile that moves to disk past
FILE_UPLOAD_MAX_MEMORY_SIZE. A report photo's original must never reach the disk
(DESIGN.md section 2), so a body over that size is refused here, before Django reads it:
at once when Content-Length says so, or as soon as the bytes received pass the limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.utils import translation

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]


class BodyLimit:
    """Pass requests to ``app``; answer 413 to any whose body is over ``limit`` bytes, with
    ``message()`` in the language the person's browser or language cookie asks for."""

    def __init__(self, app: ASGIApp, *, limit: int, message: Callable[[], str]) -> None:
        self.app = app
        self.limit = limit
        self.message = message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _content_length(scope) > self.limit:
            await self._refuse(scope, send)
            return
        received = 0
        over = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Django treats a disconnect as the end of the request: it answers
                    # nothing, and the chunk that crossed the limit is never written.
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, watched_send)
        if over and not started:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        with translation.override(_language(scope)):
            body = str(self.message()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == wanted:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int:
    try:
        return int(_header(scope, b"content-length") or 0)
    except ValueError:
        return 0


def _language(scope: Scope) -> str:
    """Return the language Django would pick for this request (cookie, then browser)."""
    cookies = SimpleCookie()
    try:
        cookies.load((_header(scope, b"cookie") or b"").decode("latin-1"))
    except Exception:
        cookies = SimpleCookie()
    accept = (_header(scope, b"accept-language") or b"").decode("latin-1")
    request = SimpleNamespace(
        COOKIES={k: v.value for k, v in cookies.items()},
        META={"HTTP_ACCEPT_LANGUAGE": accept},
    )
    return translation.get_language_from_request(request) or settings.LANGUAGE_CODE  # type: ignore[arg-type]
