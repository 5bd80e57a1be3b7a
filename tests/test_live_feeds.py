"""Live pages render once per change per audience, and a viewer holds a slot, not a renderer.

The streams here are the real ones (tocsin.lib.sse.stream, the broker of tocsin.lib.live:
in-process on SQLite, Redis on the PostgreSQL run), read as the ASGI server reads them:
their async iterators, many at once on one event loop.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from django.test import RequestFactory, override_settings

from tests import factories
from tests.conftest import need
from tocsin.committees.models import Membership, Role
from tocsin.committees.services import revoke
from tocsin.lib import live, sse

# Only against hangs: every wait here ends long before this.
WAIT = 30.0
VIEWERS = 1000


class Partial:
    """A partial whose content a test changes, counting its renders per audience."""

    def __init__(self) -> None:
        self.version = 0
        self.renders: Counter[str] = Counter()
        self.lock = threading.Lock()

    def render(self, audience: str) -> Callable[[], str]:
        def render() -> str:
            with self.lock:
                self.renders[audience] += 1
                return f"<p>{audience} v{self.version}</p>"

        return render


def request(network: str = "", last_event_id: str = "") -> Any:
    headers = {"HTTP_LAST_EVENT_ID": last_event_id} if last_event_id else {}
    r = RequestFactory().get("/live/", **headers)
    r.tocsin_source = network
    return r


def open_stream(
    channel: str,
    partial: Partial,
    audience: str,
    *,
    network: str = "",
    last_event_id: str = "",
    access: tuple[str, ...] = (),
) -> AsyncIterator[bytes]:
    response = sse.stream(
        request(network, last_event_id),
        [channel],
        partial.render(audience),
        audience=audience,
        access=access,
    )
    assert isinstance(response, StreamingHttpResponse)
    return aiter(response.streaming_content)  # type: ignore[arg-type]


async def read(stream: AsyncIterator[bytes]) -> bytes:
    return await asyncio.wait_for(anext(stream), WAIT)


def updates(chunk: bytes) -> list[str]:
    return [
        line.removeprefix("data: ")
        for line in chunk.decode().splitlines()
        if line.startswith("data: ")
    ]


def event_id(chunk: bytes) -> str:
    return next(line[4:] for line in chunk.decode().splitlines() if line.startswith("id: "))


async def settle() -> None:
    """Let the feeds subscribe and render (a few loop turns; Redis takes a moment)."""
    for _ in range(5):
        await asyncio.sleep(0.05)


async def close(streams: list[AsyncIterator[bytes]]) -> None:
    """Close streams as a browser going away does: Django's wrapper first, then ours (the
    event loop finalizes it, as when the server cancels a disconnected request)."""
    for s in streams:
        await s.aclose()  # type: ignore[attr-defined]
    streams.clear()
    gc.collect()
    await settle()


REDIS = ("127.0.0.1", 6379)


def redis_reachable() -> bool:
    try:
        socket.create_connection(REDIS, timeout=2).close()
    except OSError:
        return False
    return True


@pytest.fixture(autouse=True, params=["in-process", "redis"])
def broker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test with the embedded broker and with Redis between processes."""
    if request.param == "redis":
        need(redis_reachable(), "Redis is not running on 127.0.0.1:6379")
        chosen: live.InProcessBroker | live.RedisBroker = live.RedisBroker(
            f"redis://{REDIS[0]}:{REDIS[1]}/0"
        )
    else:
        chosen = live.InProcessBroker()
    monkeypatch.setattr(live, "broker", lambda: chosen)
    sse._hubs.clear()
    yield request.param
    sse._hubs.clear()


def channel_name() -> str:
    return f"test-feed:{uuid.uuid4().hex}"


def test_a_change_is_rendered_once_per_audience_for_a_thousand_viewers() -> None:
    partial = Partial()
    channel = channel_name()

    async def run() -> None:
        english = [open_stream(channel, partial, "en") for _ in range(VIEWERS)]
        spanish = [open_stream(channel, partial, "es") for _ in range(VIEWERS // 10)]
        first = await asyncio.gather(*(read(s) for s in english + spanish))
        assert {tuple(updates(c)) for c in first[:VIEWERS]} == {("<p>en v0</p>",)}
        assert {tuple(updates(c)) for c in first[VIEWERS:]} == {("<p>es v0</p>",)}
        assert partial.renders == {"en": 1, "es": 1}
        await settle()
        before = Counter(partial.renders)

        partial.version = 1
        live.publish(channel)
        changed = await asyncio.gather(*(read(s) for s in english + spanish))
        # Every viewer has the change, each audience only its own bytes...
        assert {tuple(updates(c)) for c in changed[:VIEWERS]} == {("<p>en v1</p>",)}
        assert {tuple(updates(c)) for c in changed[VIEWERS:]} == {("<p>es v1</p>",)}
        # ... rendered once per audience (a poll may have come in between: it renders once
        # per feed too, never once per viewer).
        assert partial.renders - before in ({"en": 1, "es": 1}, {"en": 2, "es": 2})
        await close(english + spanish)

    asyncio.run(run())


def test_nothing_is_rendered_per_viewer_while_nothing_changes() -> None:
    partial = Partial()
    channel = channel_name()

    async def run() -> None:
        with override_settings():
            streams = [open_stream(channel, partial, "en") for _ in range(200)]
            await asyncio.gather(*(read(s) for s in streams))
            polls = 5
            await asyncio.sleep(polls * sse.FALLBACK_SECONDS / 10)
            # No viewer got anything, and the feed rendered at most once per poll.
            pending = [asyncio.ensure_future(anext(s)) for s in streams]
            done, _ = await asyncio.wait(pending, timeout=0.1)
            assert done == set()
            assert partial.renders["en"] <= 1 + polls
            for p in pending:
                p.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await close(streams)

    original = sse.FALLBACK_SECONDS
    sse.FALLBACK_SECONDS = original / 10
    try:
        asyncio.run(run())
    finally:
        sse.FALLBACK_SECONDS = original


def test_keep_alive_is_a_comment_from_one_timer() -> None:
    partial = Partial()
    channel = channel_name()

    async def run() -> None:
        streams = [open_stream(channel, partial, "en") for _ in range(50)]
        await asyncio.gather(*(read(s) for s in streams))
        chunks = await asyncio.gather(*(read(s) for s in streams))
        assert set(chunks) == {sse.KEEPALIVE}
        await close(streams)

    original = sse.KEEPALIVE_SECONDS
    sse.KEEPALIVE_SECONDS = 0.1
    try:
        asyncio.run(run())
    finally:
        sse.KEEPALIVE_SECONDS = original


def test_a_slow_viewer_is_dropped_and_never_holds_the_others_back() -> None:
    partial = Partial()
    channel = channel_name()

    async def run() -> None:
        slow = open_stream(channel, partial, "en")
        quick = open_stream(channel, partial, "en")
        await read(slow)
        await read(quick)
        await settle()
        for version in range(1, sse.SLOW_MISSES + 2):
            partial.version = version
            live.publish(channel)
            # The quick one reads every change while the slow one reads nothing.
            assert updates(await read(quick)) == [f"<p>en v{version}</p>"]
        # The slow one's stream has ended: its browser reconnects.
        with pytest.raises(StopAsyncIteration):
            await read(slow)
        await close([quick])

    asyncio.run(run())


def test_a_reconnecting_viewer_gets_the_partial_only_if_it_changed() -> None:
    partial = Partial()
    channel = channel_name()

    async def run() -> None:
        first = await read(open_stream(channel, partial, "en"))
        seen = event_id(first)
        again = open_stream(channel, partial, "en", last_event_id=seen)
        assert updates(await read(again)) == []
        stale = open_stream(channel, partial, "en", last_event_id="an-older-one")
        assert updates(await read(stale)) == ["<p>en v0</p>"]
        await close([again, stale])

    asyncio.run(run())


def test_an_access_channel_ends_the_streams_it_tags() -> None:
    partial = Partial()
    channel = channel_name()
    mine = live.access_channel("member", uuid.uuid4().hex)

    async def run() -> None:
        tagged = open_stream(channel, partial, "en", access=(mine,))
        other = open_stream(channel, partial, "en")
        await read(tagged)
        await read(other)
        await settle()
        live.publish(mine)
        with pytest.raises(StopAsyncIteration):
            await read(tagged)
        partial.version = 1
        live.publish(channel)
        assert updates(await read(other)) == ["<p>en v1</p>"]
        await close([other])

    asyncio.run(run())


@pytest.mark.django_db(transaction=True)
def test_removing_a_dispatcher_ends_their_desk_stream() -> None:
    committee = factories.committee("East")
    dispatcher = factories.member("Diego", committee, Role.DISPATCHER)
    membership = Membership.objects.get(member=dispatcher)
    partial = Partial()
    channel = channel_name()

    async def run() -> None:
        stream = open_stream(
            channel, partial, "en", access=(live.access_channel("member", dispatcher.pk),)
        )
        await read(stream)
        await settle()
        await asyncio.to_thread(revoke, membership)
        with pytest.raises(StopAsyncIteration):
            await read(stream)

    asyncio.run(run())


@override_settings(LIVE_MAX_VIEWERS=3, LIVE_MAX_PER_NETWORK=2)
def test_past_the_limits_a_stream_is_refused_with_a_clear_answer() -> None:
    partial = Partial()
    channel = channel_name()

    async def run() -> None:
        held = [open_stream(channel, partial, "en", network="net-a") for _ in range(2)]
        await asyncio.gather(*(read(s) for s in held))
        # A third from the same network is refused; from another network it is welcome.
        refused = sse.stream(request("net-a"), [channel], partial.render("en"), audience="en")
        assert refused.status_code == 503
        assert refused["Retry-After"] == "60"
        assert b"Refresh the page in a minute" in refused.content  # type: ignore[attr-defined]
        welcome = open_stream(channel, partial, "en", network="net-b")
        await read(welcome)
        # The process is full now, whatever the network.
        full = sse.stream(request("net-c"), [channel], partial.render("en"), audience="en")
        assert full.status_code == 503
        await close([*held, welcome])
        del held, welcome
        # Leaving frees the slots.
        again = sse.stream(request("net-a"), [channel], partial.render("en"), audience="en")
        assert again.status_code == 200
        await close([aiter(again.streaming_content)])  # type: ignore[attr-defined]

    asyncio.run(run())


def test_shutdown_ends_every_stream_at_once() -> None:
    partial = Partial()
    channel = channel_name()

    async def run() -> None:
        streams = [open_stream(channel, partial, "en") for _ in range(20)]
        await asyncio.gather(*(read(s) for s in streams))
        sse.shutdown()
        for s in streams:
            with pytest.raises(StopAsyncIteration):
                await read(s)

    try:
        asyncio.run(run())
    finally:
        sse.SHUTDOWN.clear()


@pytest.mark.django_db(transaction=True)
def test_an_open_stream_holds_no_thread_of_its_own_and_leaves_when_its_browser_does(
    broker: str,
) -> None:
    """Django gives each request a thread for its synchronous parts until the response
    ends; a live stream lets it go once its view has run (tocsin.lib.sse)."""
    from django.urls import reverse

    from tests.browser_support import LiveServer
    from tests.factories import EAST, own_incident, world
    from tocsin.incidents.models import State
    from tocsin.incidents.reports import receive_report as submit_report
    from tocsin.incidents.services import change_state
    from tocsin.lib.links import alert_link_token

    if broker != "in-process":
        pytest.skip("the thread a request holds does not depend on the broker")
    w = world()
    report = submit_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    incident = change_state(own_incident(report, w.dispatcher), State.CONFIRMED, actor=w.dispatcher)
    token = alert_link_token(member_id=w.member.pk, incident_id=incident.pk)
    path = reverse("alert_live", args=[token])
    streams = 40
    server = LiveServer().start()
    sockets: list[socket.socket] = []
    try:
        before = threading.active_count()
        for _ in range(streams):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            received = b""
            while b"event: update" not in received:
                chunk = s.recv(65536)
                assert chunk, received
                received += chunk
            assert received.startswith(b"HTTP/1.1 200"), received[:200]
            sockets.append(s)
        # Renders run on the event loop's shared pool (a few threads), never one per stream.
        assert threading.active_count() - before < streams // 4
        # Served outside Django, each stream is one viewer of the process...
        assert sse.counts()[0] == streams
        # ... until its browser goes away.
        for s in sockets:
            s.close()
        for _ in range(int(WAIT / 0.05)):
            if sse.counts()[0] == 0:
                break
            time.sleep(0.05)
        assert sse.counts()[0] == 0
    finally:
        for s in sockets:
            s.close()
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_logging_out_ends_the_sessions_live_streams() -> None:
    from django.test import Client

    from tests.factories import session_for, world

    w = world()
    client: Client = session_for(w.dispatcher)
    session_key = client.session.session_key
    partial = Partial()
    channel = channel_name()

    async def run() -> None:
        stream = open_stream(
            channel, partial, "en", access=(live.access_channel("session", session_key),)
        )
        await read(stream)
        await settle()
        await asyncio.to_thread(client.post, "/logout/")
        with pytest.raises(StopAsyncIteration):
            await read(stream)

    asyncio.run(run())


def test_a_failed_render_is_tried_again_at_the_next_change() -> None:
    partial = Partial()
    channel = channel_name()
    failing = {"left": 1}
    render = partial.render("en")

    def flaky() -> str:
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("the database went away for a moment")
        return render()

    async def run() -> None:
        response = sse.stream(request(), [channel], flaky, audience="en")
        stream = aiter(response.streaming_content)  # type: ignore[attr-defined]
        # Nothing to show yet, but the stream stays open...
        assert updates(await read(stream)) == []
        await settle()
        # ... and the next change arrives.
        partial.version = 1
        live.publish(channel)
        assert updates(await read(stream)) == ["<p>en v1</p>"]
        await close([stream])

    asyncio.run(run())


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_stops_the_server_with_live_streams_open(broker: str) -> None:
    """The server `tocsin serve` runs (tocsin.cli) ends every open stream when told to
    stop, so Ctrl-C does not wait for the browsers to go away."""
    import signal as signals

    from django.urls import reverse

    from tests.browser_support import LiveServer
    from tests.factories import EAST, own_incident, world
    from tocsin.cli import _server_class
    from tocsin.incidents.models import State
    from tocsin.incidents.reports import receive_report
    from tocsin.incidents.services import change_state
    from tocsin.lib.links import alert_link_token

    if broker != "in-process":
        pytest.skip("stopping does not depend on the broker")
    w = world()
    report = receive_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    incident = change_state(own_incident(report, w.dispatcher), State.CONFIRMED, actor=w.dispatcher)
    path = reverse(
        "alert_live", args=[alert_link_token(member_id=w.member.pk, incident_id=incident.pk)]
    )
    server = LiveServer()
    config = server.server.config
    # No grace period to cut streams short: only the server's own stopping may end them.
    config.timeout_graceful_shutdown = None
    server.server = _server_class()(config)
    server.thread = threading.Thread(
        target=server.server.run, kwargs={"sockets": [server.sock]}, daemon=True
    )
    server.start()
    sockets: list[socket.socket] = []
    try:
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            received = b""
            while b"event: update" not in received:
                chunk = s.recv(65536)
                assert chunk, received
                received += chunk
            sockets.append(s)
        server.server.handle_exit(signals.SIGINT, None)
        server.thread.join(WAIT)
        assert not server.thread.is_alive()
        # Every stream was ended by the server, not left hanging.
        for s in sockets:
            rest = b""
            while chunk := s.recv(65536):
                rest += chunk
    finally:
        sse.SHUTDOWN.clear()
        for s in sockets:
            s.close()
        server.sock.close()
