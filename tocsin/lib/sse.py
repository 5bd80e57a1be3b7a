"""Server-Sent Events that carry re-rendered HTML partials."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse

from tocsin.lib import live

# Re-render at least this often even without an event, so an update published by a
# process we cannot hear (no Redis between processes) still arrives.
FALLBACK_SECONDS = 3.0
HEARTBEAT_SECONDS = 15.0

# Set when the server is stopping: open streams end at their next wake-up, so a Ctrl-C
# does not wait for every browser to go away.
SHUTDOWN = threading.Event()


def _event(html: str) -> str:
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    return f"event: update\n{data}\n\n"


def stream(channels: list[str], render: Callable[[], str]) -> StreamingHttpResponse:
    """Return an SSE response sending ``render()`` now and whenever it changes."""

    async def events() -> AsyncIterator[str]:
        arender = sync_to_async(render, thread_sensitive=False)
        last = await arender()
        yield "retry: 2000\n\n" + _event(last)
        idle = 0.0
        async with live.broker().subscribe(channels) as queue:
            while not SHUTDOWN.is_set():
                try:
                    await asyncio.wait_for(queue.get(), timeout=FALLBACK_SECONDS)
                    # Coalesce a burst of events into one render.
                    await asyncio.sleep(0.05)
                    while not queue.empty():
                        queue.get_nowait()
                except TimeoutError:
                    pass
                if SHUTDOWN.is_set():
                    return
                html = await arender()
                if html != last:
                    last = html
                    idle = 0.0
                    yield _event(html)
                else:
                    idle += FALLBACK_SECONDS
                    if idle >= HEARTBEAT_SECONDS:
                        idle = 0.0
                        yield ": keep-alive\n\n"

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response
