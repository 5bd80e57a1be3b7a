"""Live updates: publish a channel name, and Server-Sent Event streams re-render.

In the embedded setup the broker is in-process (the web server and worker share a
process). With TOCSIN_REDIS_URL, events cross processes through Redis pub/sub. Live pages
(tocsin.lib.sse) also re-render on a timer, once per feed, so a missed event only delays
an update.

A channel name ending in ``*`` subscribes to every channel with that prefix. The
``access:`` channels end live streams when access is taken away (publish_access).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from functools import cache

from django.conf import settings

logger = logging.getLogger(__name__)


# Every access channel, for the one subscriber per process that ends streams.
ACCESS_PATTERN = "access:*"
# An incident changed state: what the public sees may have changed (the public map).
PUBLIC_INCIDENTS = "public:incidents"


def _patterns(channels: list[str]) -> tuple[list[str], list[str]]:
    """Split ``channels`` into exact names and prefixes (from names ending in ``*``)."""
    exact = [c for c in channels if not c.endswith("*")]
    return exact, [c[:-1] for c in channels if c.endswith("*")]


class InProcessBroker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]]] = {}
        self._prefixes: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]]] = {}

    def publish(self, channel: str) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(channel, ()))
            for prefix, entries in self._prefixes.items():
                if channel.startswith(prefix):
                    subscribers.extend(entries)
        for loop, queue in subscribers:
            with contextlib.suppress(RuntimeError):  # the loop closed
                loop.call_soon_threadsafe(queue.put_nowait, channel)

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: list[str]) -> AsyncIterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        entry = (asyncio.get_running_loop(), queue)
        exact, prefixes = _patterns(channels)
        with self._lock:
            for c in exact:
                self._subscribers.setdefault(c, set()).add(entry)
            for p in prefixes:
                self._prefixes.setdefault(p, set()).add(entry)
        try:
            yield queue
        finally:
            with self._lock:
                for table, names in ((self._subscribers, exact), (self._prefixes, prefixes)):
                    for name in names:
                        entries = table.get(name)
                        if entries is not None:
                            entries.discard(entry)
                            if not entries:
                                del table[name]


class RedisBroker:
    # After a failed publish, publishing pauses: a worker publishes after every batch and a
    # web request after every change, and neither should wait on an unreachable Redis each
    # time. The pause doubles while Redis stays away; streams re-render every few seconds
    # anyway, so a skipped event only delays an update.
    PAUSE_MIN = 2.0
    PAUSE_MAX = 30.0

    def __init__(self, url: str) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        # One retry, for a pooled connection that Redis closed since (a restart), and short
        # timeouts: redis-py's defaults wait up to half a minute for a silent server.
        self._client = redis.Redis.from_url(
            url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 1)
        )
        self.paused_until = 0.0
        self._pause = 0.0

    def publish(self, channel: str) -> None:
        if time.monotonic() < self.paused_until:
            return
        try:
            self._client.publish(f"tocsin:{channel}", "1")
        except Exception as e:  # noqa: BLE001 - live updates must never break a write path
            self._pause = min(self.PAUSE_MAX, max(self.PAUSE_MIN, self._pause * 2))
            self.paused_until = time.monotonic() + self._pause
            logger.warning(
                "live update not published: %s; live updates paused for %.0f s",
                type(e).__name__,
                self._pause,
            )
        else:
            if self._pause:
                self._pause = 0.0
                logger.info("live updates published again")

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: list[str]) -> AsyncIterator[asyncio.Queue[str]]:
        import redis.asyncio as aioredis

        queue: asyncio.Queue[str] = asyncio.Queue()
        client = aioredis.Redis.from_url(self.url)
        pubsub = client.pubsub()

        async def reader() -> None:
            while True:
                try:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                except Exception:  # noqa: BLE001 - Redis down: streams fall back to polling
                    await asyncio.sleep(2)
                    continue
                if msg:
                    queue.put_nowait(msg["channel"].decode().removeprefix("tocsin:"))

        exact, prefixes = _patterns(channels)
        try:
            if exact:
                await pubsub.subscribe(*[f"tocsin:{c}" for c in exact])
            if prefixes:
                await pubsub.psubscribe(*[f"tocsin:{p}*" for p in prefixes])
        except Exception:  # noqa: BLE001
            logger.warning("live updates unavailable: Redis unreachable")
        task = asyncio.create_task(reader())
        try:
            yield queue
        finally:
            task.cancel()
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()


@cache
def broker() -> InProcessBroker | RedisBroker:
    if settings.REDIS_URL:
        return RedisBroker(settings.REDIS_URL)
    return InProcessBroker()


def publish(*channels: str) -> None:
    b = broker()
    for c in channels:
        b.publish(c)


def publish_access(kind: str, key: object) -> None:
    """End the live streams tagged ``access:<kind>:<key>``: their viewers reconnect and
    are checked again (a member removed, a session ended)."""
    publish(access_channel(kind, key))


def access_channel(kind: str, key: object) -> str:
    return f"access:{kind}:{key}"
