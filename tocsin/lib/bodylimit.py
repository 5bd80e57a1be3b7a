"""An ASGI wrapper that refuses a request body over its route's limit before Django reads it.

Django's ASGI handler reads a whole body before the view runs, into a SpooledTemporaryFile
that moves to disk past FILE_UPLOAD_MAX_MEMORY_SIZE. No form, webhook or page script of
Tocsin sends more than a few kilobytes, so every route refuses a body over REQUEST_MAX_BYTES
(64 kB): a flood of large bodies costs the server nothing but the refusal. Views marked
with ``takes_uploads`` (the report form and a verifier's answer, which carry photos) get
FILE_UPLOAD_MAX_MEMORY_SIZE instead, which still keeps a photo's original off the disk
(DESIGN.md section 2). A body over the limit is refused at once when Content-Length says
so, or as soon as the bytes received pass it; nothing after that chunk is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.urls import resolve
from django.utils import translation
from django.utils.translation import gettext

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]


def takes_uploads[V: Callable[..., Any]](view: V) -> V:
    """Mark ``view`` as taking file uploads: its requests may carry up to BodyLimit's
    ``upload_limit`` bytes."""
    view.takes_uploads = True  # type: ignore[attr-defined]
    return view


def too_large() -> str:
    return gettext("This request is too large.")


class BodyLimit:
    """Pass requests to ``app``; answer 413 to any whose body is over ``limit`` bytes (or
    ``upload_limit`` for a view marked ``takes_uploads``), with the message for that
    limit in the language the person's browser or language cookie asks for."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        message: Callable[[], str] = too_large,
        upload_limit: int | None = None,
        upload_message: Callable[[], str] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.message = message
        self.upload_limit = limit if upload_limit is None else upload_limit
        self.upload_message = upload_message or message

    def _limit_for(self, scope: Scope) -> tuple[int, Callable[[], str]]:
        if self.upload_limit != self.limit and _takes_uploads(scope):
            return self.upload_limit, self.upload_message
        return self.limit, self.message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, refusal = self._limit_for(scope)
        if _content_length(scope) > limit:
            await self._refuse(scope, send, refusal)
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
                if received > limit:
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
            await self._refuse(scope, send, refusal)

    async def _refuse(self, scope: Scope, send: Send, refusal: Callable[[], str]) -> None:
        with translation.override(_language(scope)):
            body = str(refusal()).encode()
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


def _takes_uploads(scope: Scope) -> bool:
    """Return whether the view the request's path leads to is marked ``takes_uploads``."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    try:
        match = resolve(path)
    except Exception:  # no route (Resolver404), or a path no route can take: the small limit
        return False
    return getattr(match.func, "takes_uploads", False) is True


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
