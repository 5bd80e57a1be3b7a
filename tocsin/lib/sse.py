"""Live pages over Server-Sent Events: one render per change per audience, not per viewer.

A live page's stream shows an HTML partial. Every stream of the same channels and the same
*audience* (everything the partial depends on: a dispatcher, a language, a receipt) shares
one :class:`Feed`: the feed listens for its channels (tocsin.lib.live), renders the
partial once when one of them changes, and hands the same bytes to each of its viewers. A
viewer holds a slot (the newest frame it has not sent yet), not a renderer:

- nothing runs per viewer while nothing changes, except a keep-alive comment every
  KEEPALIVE_SECONDS, sent by one timer for every viewer of the process;
- a viewer whose connection cannot keep up (a frame still unsent when the next comes, twice)
  is dropped; its browser reconnects with ``Last-Event-ID``, which is a digest of the frame
  it has, and gets the current one only if that differs. It never holds the others back;
- where events cannot cross processes (no Redis), a feed re-renders every
  FALLBACK_SECONDS: one poll per feed, not one per viewer;
- a partial that changes with time alone (the public map: an incident becomes public when
  its delay passes, and nothing is published then) asks, with ``every``, to be rendered at
  least that often; still one render per feed, shared by its viewers;
- access is checked by the view when a viewer connects; a viewer is also tagged with the
  ``access:`` channels that end it (a member removed from a committee, a session logged
  out: tocsin.lib.live.publish_access), which close its stream, and its browser
  reconnects and is asked again;
- the process holds at most TOCSIN_LIVE_MAX_VIEWERS viewers and TOCSIN_LIVE_MAX_PER_NETWORK
  from one network; past either, the stream is refused with 503 and the page says to
  refresh in a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _

from tocsin.lib import live

logger = logging.getLogger(__name__)

# Where events cannot cross processes, a feed re-renders this often, so an update
# published by a process it cannot hear still arrives.
FALLBACK_SECONDS = 3.0
# With Redis carrying events between processes, a feed still re-renders this often, in
# case an event was lost while Redis was away.
SAFETY_POLL_SECONDS = 30.0
# Proxies close a stream that is silent for a minute or so.
KEEPALIVE_SECONDS = 20.0
# A burst of events (a fan-out's batches) is one render.
COALESCE_SECONDS = 0.05
# A viewer with this many frames overwritten before it sent them is dropped.
SLOW_MISSES = 2
KEEPALIVE = b": keep-alive\n\n"

# Live partials are shared between viewers, so they never carry one viewer's CSRF token:
# they carry this, and static/js/live.js puts the page's own token in its place.
CSRF_PLACEHOLDER = "live-csrf-token"

# Set when the server is stopping: open streams end at once (see shutdown()), so a
# Ctrl-C does not wait for every browser to go away.
SHUTDOWN = threading.Event()


def _frame(html: str) -> tuple[str, bytes]:
    """Return the event id (a digest of the partial) and the bytes of its event."""
    digest = hashlib.blake2b(html.encode(), digest_size=12).hexdigest()
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    return digest, f"id: {digest}\nevent: update\n{data}\n\n".encode()


class Viewer:
    """One open stream: the frame it has yet to send, and what wakes it."""

    __slots__ = ("access", "closed", "feed", "misses", "network", "pending", "wake")

    def __init__(self, feed: Feed, network: str, access: tuple[str, ...]) -> None:
        self.feed = feed
        self.network = network
        self.access = access
        self.pending: bytes | None = None
        self.misses = 0
        self.closed = False
        self.wake = asyncio.Event()

    def offer(self, frame: bytes) -> None:
        if self.pending is not None and self.pending is not KEEPALIVE:
            self.misses += 1
            if self.misses >= SLOW_MISSES:
                self.close()
                return
        self.pending = frame
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


@dataclass(eq=False)
class Feed:
    """The viewers of one partial for one audience, and its one renderer."""

    hub: Hub
    key: tuple[Hashable, ...]
    channels: tuple[str, ...]
    render: Callable[[], str]
    every: float | None = None  # the longest the partial may go without a render
    viewers: set[Viewer] = field(default_factory=set)
    id: str = ""
    frame: bytes = b""
    renders: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def _render(self) -> str:
        # A shared pool thread renders: give its database connection back when done (to
        # PostgreSQL's pool), rather than hold one per idle thread between renders.
        close_old_connections()
        try:
            return self.render()
        finally:
            connections.close_all()

    async def refresh(self) -> None:
        html = await sync_to_async(self._render, thread_sensitive=False)()
        self.renders += 1
        self.hub.renders += 1
        digest, frame = _frame(html)
        first = not self.ready.is_set()
        self.ready.set()
        if digest == self.id:
            return
        self.id, self.frame = digest, frame
        if not first:
            for viewer in list(self.viewers):
                viewer.offer(frame)

    async def run(self) -> None:
        # With Redis, events reach every process and the poll is only a safety net.
        cross = isinstance(live.broker(), live.RedisBroker)
        poll = SAFETY_POLL_SECONDS if cross else FALLBACK_SECONDS
        if self.every is not None:
            poll = min(poll, self.every)
        try:
            async with live.broker().subscribe(list(self.channels)) as queue:
                first = not self.ready.is_set()
                while True:
                    if not first:
                        try:
                            await asyncio.wait_for(queue.get(), timeout=poll)
                            await asyncio.sleep(COALESCE_SECONDS)
                            while not queue.empty():
                                queue.get_nowait()
                        except TimeoutError:
                            pass
                    first = False
                    try:
                        await self.refresh()
                    except Exception:
                        # A failed render (the database away a moment) is retried at the
                        # next change or poll; the viewers keep what they have.
                        logger.exception("live render failed for %s", self.channels)
                        self.ready.set()
        except Exception:
            # The feed cannot listen any more: its viewers reconnect and start a new one.
            logger.exception("live feed stopped for %s", self.channels)
            for viewer in list(self.viewers):
                viewer.close()
        finally:
            self.ready.set()


class Hub:
    """The feeds and viewers of one event loop (one app process serves from one loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.feeds: dict[tuple[Hashable, ...], Feed] = {}
        self.viewers = 0
        self.per_network: dict[str, int] = {}
        self.by_access: dict[str, set[Viewer]] = {}
        self.renders = 0
        self._keepalive: asyncio.Task[None] | None = None
        self._guard: asyncio.Task[None] | None = None

    def feed(
        self,
        channels: tuple[str, ...],
        audience: Hashable,
        render: Callable[[], str],
        every: float | None = None,
    ) -> Feed:
        key = (channels, audience, every)
        feed = self.feeds.get(key)
        if feed is None or feed.task is None or feed.task.done():
            feed = Feed(self, key, channels, render, every)
            self.feeds[key] = feed
            feed.task = self.loop.create_task(feed.run())
        return feed

    def join(self, feed: Feed, network: str, access: tuple[str, ...]) -> Viewer:
        viewer = Viewer(feed, network, access)
        feed.viewers.add(viewer)
        self.viewers += 1
        if network:
            self.per_network[network] = self.per_network.get(network, 0) + 1
        for a in access:
            self.by_access.setdefault(a, set()).add(viewer)
        self._start_timers()
        return viewer

    def leave(self, viewer: Viewer) -> None:
        feed = viewer.feed
        if viewer not in feed.viewers:
            return
        feed.viewers.discard(viewer)
        self.viewers -= 1
        if viewer.network:
            left = self.per_network.get(viewer.network, 1) - 1
            if left:
                self.per_network[viewer.network] = left
            else:
                self.per_network.pop(viewer.network, None)
        for a in viewer.access:
            tagged = self.by_access.get(a)
            if tagged is not None:
                tagged.discard(viewer)
                if not tagged:
                    del self.by_access[a]
        if not feed.viewers and self.feeds.get(feed.key) is feed:
            # Nobody watches: stop listening (a viewer arriving later starts it again).
            del self.feeds[feed.key]
            if feed.task is not None:
                feed.task.cancel()

    def revoke(self, access: str) -> None:
        for viewer in list(self.by_access.get(access, ())):
            viewer.close()

    def close_all(self) -> None:
        for feed in list(self.feeds.values()):
            for viewer in list(feed.viewers):
                viewer.close()

    def _start_timers(self) -> None:
        if self._keepalive is None or self._keepalive.done():
            self._keepalive = self.loop.create_task(self._keep_alive())
        if self._guard is None or self._guard.done():
            self._guard = self.loop.create_task(self._watch_access())

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            for feed in list(self.feeds.values()):
                for viewer in feed.viewers:
                    if viewer.pending is None:
                        viewer.pending = KEEPALIVE
                        viewer.wake.set()

    async def _watch_access(self) -> None:
        async with live.broker().subscribe([live.ACCESS_PATTERN]) as queue:
            while True:
                self.revoke(await queue.get())


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def _release_request_thread() -> None:
    """Let go of the thread (and its database connection) Django holds for this request.

    Django's ASGI handler gives each request a thread of its own for its synchronous
    parts, and keeps it until the response ends: for a stream that stays open for hours,
    an idle thread and a database connection per viewer, most of a viewer's memory. The
    view has run by now; anything synchronous later in this request (closing the
    response) gets a fresh thread for its moment.
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is None:
        return
    executor = SyncToAsync.context_to_thread_executor.pop(context, None)
    if executor is None:
        return
    executor.submit(connections.close_all)
    executor.shutdown(wait=False)


def hub() -> Hub:
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        for old in [old for old in _hubs if old.is_closed()]:
            del _hubs[old]
        found = _hubs[loop] = Hub(loop)
    return found


def shutdown() -> None:
    """End every open stream of every loop now (the server is stopping)."""
    SHUTDOWN.set()
    for loop, h in list(_hubs.items()):
        with contextlib.suppress(RuntimeError):  # the loop closed
            loop.call_soon_threadsafe(h.close_all)


def counts(network: str = "") -> tuple[int, int]:
    """Return the viewers this process holds, in all and from ``network``."""
    hubs = list(_hubs.values())
    return (
        sum(h.viewers for h in hubs),
        sum(h.per_network.get(network, 0) for h in hubs) if network else 0,
    )


def refusal(network: str) -> str | None:
    """Return why one more viewer from ``network`` is refused, or None."""
    viewers, from_network = counts(network)
    if viewers >= settings.LIVE_MAX_VIEWERS:
        return "process"
    if network and from_network >= settings.LIVE_MAX_PER_NETWORK:
        return "network"
    return None


def busy() -> HttpResponse:
    """The answer past a live-viewer limit: a page for a person, a 503 for EventSource."""
    response = HttpResponse(
        _("Too many people are watching live right now. Refresh the page in a minute."),
        status=503,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = "60"
    response["Cache-Control"] = "no-store"
    return response


# --- serving a stream outside Django ----------------------------------------------------
#
# Under ASGI (tocsin.asgi wraps the app in serve_streams_outside_django()), a live view's
# response hands its viewer to the wrapper and ends, so Django lets go of the request,
# the response and their handler at once; the wrapper sends the stream with ASGI's own
# send. What a viewer then holds is its connection, its slot and one small task. Without
# the wrapper (Django's test client, WSGI) the response streams as usual.

Send = Callable[[Any], Awaitable[None]]
Receive = Callable[[], Awaitable[Any]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


class _Handoff:
    __slots__ = ("first", "hub", "viewer")

    def __init__(self) -> None:
        self.viewer: Viewer | None = None
        self.hub: Hub | None = None
        self.first = b""


_handoff: contextvars.ContextVar[_Handoff | None] = contextvars.ContextVar(
    "tocsin_sse_handoff", default=None
)


def serve_streams_outside_django(app: App) -> App:
    """Wrap the ASGI app so live streams are served outside Django (see above)."""

    async def wrapped(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").endswith("/live/"):
            await app(scope, receive, send)
            return
        slot = _Handoff()
        token = _handoff.set(slot)

        async def django_send(message: dict[str, Any]) -> None:
            # Once the viewer is handed over, Django's end of the response is not the end.
            if slot.viewer is None or message["type"] != "http.response.body":
                await send(message)

        try:
            await app(scope, receive, django_send)
        finally:
            _handoff.reset(token)
        if slot.viewer is not None and slot.hub is not None:
            await _serve(slot.hub, slot.viewer, slot.first, receive, send)

    return wrapped


async def _watch(receive: Receive, viewer: Viewer) -> None:
    """Close the viewer when its browser goes away."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            viewer.close()
            return


async def _serve(h: Hub, viewer: Viewer, first: bytes, receive: Receive, send: Send) -> None:
    watch = asyncio.get_running_loop().create_task(_watch(receive, viewer))
    try:
        await send({"type": "http.response.body", "body": first, "more_body": True})
        while True:
            await viewer.wake.wait()
            viewer.wake.clear()
            if viewer.closed or SHUTDOWN.is_set():
                break
            frame, viewer.pending = viewer.pending, None
            viewer.misses = 0
            if frame is not None:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
    except OSError:
        pass  # the connection went away
    finally:
        watch.cancel()
        h.leave(viewer)
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def stream(
    request: HttpRequest,
    channels: list[str],
    render: Callable[[], str],
    *,
    audience: Hashable,
    access: tuple[str, ...] = (),
    every: float | None = None,
) -> HttpResponseBase:
    """Return an SSE response sending ``render()`` now and whenever ``channels`` change.

    ``audience`` names everything ``render`` depends on besides the channels' state:
    streams with the same channels and audience share each render and its bytes, so it
    must never be broader than what the caller checked. ``access`` lists the
    tocsin.lib.live access channels whose publication ends this stream. ``every``: render
    at least this often (seconds), for a partial that changes with time alone.
    """
    network = getattr(request, "tocsin_source", None) or ""
    last_seen = request.headers.get("Last-Event-ID", "")

    async def events() -> AsyncIterator[bytes]:
        _release_request_thread()
        h = hub()
        feed = h.feed(tuple(channels), audience, render, every)
        viewer = h.join(feed, network, access)
        slot = _handoff.get()
        try:
            await feed.ready.wait()
            first = b"retry: 2000\n\n"
            if feed.id and feed.id != last_seen:
                first += feed.frame
            if slot is not None:
                # Served outside Django from here (serve_streams_outside_django).
                slot.viewer, slot.hub, slot.first = viewer, h, first
                return
            yield first
            while True:
                await viewer.wake.wait()
                viewer.wake.clear()
                if viewer.closed or SHUTDOWN.is_set():
                    return
                frame, viewer.pending = viewer.pending, None
                viewer.misses = 0
                if frame is not None:
                    yield frame
        finally:
            if slot is None or slot.viewer is not viewer:
                h.leave(viewer)

    if SHUTDOWN.is_set():
        return busy()
    refused = refusal(network)
    if refused:
        logger.warning(
            "live stream refused: the %s limit (%d viewers in this process)",
            refused,
            counts()[0],
        )
        return busy()
    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response
