"""Answering a request on the event loop, when the answer needs no database.

Django's ASGI handler gives every request a thread of its own: the request-started signal,
the middleware and the view, the request-finished signal each cross from the event loop to
that thread and back. For most requests that is the price of a sync view. For a report
refused by its network's rate limit it is most of the price, and in a flood refusals are
most requests: ``Inline`` lets the view answer those on the event loop, through the same
middleware (the same CSRF check, security headers, language, session and messages) loaded
in Django's sync mode, with no thread at all.

It only tries when the request cannot need the database or a blocking call: a small
urlencoded POST to one path, without a session cookie (a logged-in member's session is
read from the database), when ``likely`` says so. A view asked inline (``asked``) that
finds it needs more after all returns ``elsewhere()``, and the request is served again
from the same body. A database query on the event loop would raise (Django's
SynchronousOnlyOperation) rather than block it.

Those served again, and those ``likely`` passed on (a report within its network's share),
run on this wrapper's threads, kept from one request to the next, through the same
middleware in sync mode: what Django's ASGI handler does on a new thread (the request
signals, the middleware and view, the response closed on that thread, so its database
connection is let go there), without starting one. Over uvicorn, starting and crossing to
that thread cost a stored report more CPU than its view (docs/benchmarks.md). Everything
else (other paths, photos, members' sessions) still goes to Django's ASGI handler.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix

from tocsin.lib.bodylimit import Message, Receive, Scope, Send

_FORM = b"application/x-www-form-urlencoded"


class Elsewhere(HttpResponse):
    """What a view asked inline returns when it cannot answer there."""


def asked(request: HttpRequest) -> bool:
    """Return whether ``request`` is being answered on the event loop (Inline)."""
    return getattr(request, "tocsin_inline", False) is True


def elsewhere() -> HttpResponse:
    """Return the answer that sends the request back the ordinary way (in a thread)."""
    response = Elsewhere(status=503)
    # Never sent: not an error for Django's request log.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class Inline:
    """Pass requests to Django's ASGI ``app``; answer a POST to ``path`` on the event loop
    when ``likely(request)`` says its view will answer without the database, and serve the
    other small urlencoded POSTs to ``path`` on kept threads (see the module's docstring).
    ``limit``: the largest body tried (bigger ones go to ``app``). ``on_loop`` False: never
    on the event loop (counting in Redis would block it), the threads only."""

    def __init__(
        self,
        app: ASGIHandler,
        *,
        path: str,
        likely: Callable[[HttpRequest], bool],
        limit: int,
        threads: int | None = None,
        on_loop: bool = True,
    ) -> None:
        # Typed loosely: django-stubs type the scope and send narrower than the ASGI spec.
        self.app: Any = app
        self.path = path
        self.likely = likely
        self.limit = limit
        self.on_loop = on_loop
        # The same middleware as the app's, in Django's sync mode (as under WSGI).
        self.handler = BaseHandler()
        self.handler.load_middleware(is_async=False)
        # Those tried here that need the database after all are served by the same
        # handler on these threads, kept from one request to the next (by default, as
        # many as the cores and four more).
        self.threads = ThreadPoolExecutor(threads, thread_name_prefix="tocsin-inline")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._may_try(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client left: Django sees the same
            size += len(message.get("body", b""))
            if size > self.limit or not message.get("more_body", False):
                break
        replay = _replay(messages, receive)
        if messages[-1]["type"] != "http.request" or size > self.limit:
            await self.app(scope, replay, send)
            return
        body = b"".join(m.get("body", b"") for m in messages)
        if not (self.on_loop and await self._answer(scope, body, send)):
            await self._in_thread(scope, body, send)

    def _may_try(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return False
        if scope.get("path") != f"{scope.get('root_path', '')}{self.path}":
            return False
        content_type = length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
            elif name == b"cookie" and settings.SESSION_COOKIE_NAME.encode() in value:
                return False  # a member's session: read from the database
        if content_type is None or content_type.split(b";")[0].strip().lower() != _FORM:
            return False
        return length is not None and length.isdigit() and int(length) <= self.limit

    async def _answer(self, scope: Scope, body: bytes, send: Send) -> bool:
        """Answer on the event loop and return True, or False: serve it the ordinary way."""
        set_script_prefix(get_script_prefix(scope))
        request, _error = self.app.create_request(scope, io.BytesIO(body))
        if request is None or not self.likely(request):
            return False
        request.tocsin_inline = True  # type: ignore[attr-defined]
        signals.request_started.send(sender=self.__class__, scope=scope)
        response = self.handler.get_response(request)
        if isinstance(response, Elsewhere):
            response.close()
            return False
        await self.app.send_response(response, send)
        response.close()
        return True

    async def _in_thread(self, scope: Scope, body: bytes, send: Send) -> None:
        """Serve the request on one of this wrapper's threads, as Django's ASGI handler
        would on a thread of its own."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        response = await loop.run_in_executor(self.threads, context.run, self._respond, scope, body)
        try:
            await self.app.send_response(response, send)
        finally:
            if response.streaming:
                await loop.run_in_executor(self.threads, context.run, response.close)

    def _respond(self, scope: Scope, body: bytes) -> HttpResponseBase:
        """What Django's ASGI handler does for the request, in its sync mode."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error = self.app.create_request(scope, io.BytesIO(body))
        response = error if request is None else self.handler.get_response(request)
        # The sender of request_finished, as under Django's ASGI handler.
        response._handler_class = type(self.app)  # type: ignore[union-attr]
        if not response.streaming:
            # Closed here, on the thread that holds the request's database connection
            # (request_finished): the body is sent from memory after.
            response.close()
        return response


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """Return a receive() that gives ``messages`` again, then the client's next ones."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
