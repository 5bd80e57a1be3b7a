"""Web push benchmark: pushes per second from Tocsin's transport, next to the encryption floor.

    uv run python bench/webpush.py                    # 2,000 pushes, 3 repeats
    uv run python bench/webpush.py --tls              # the endpoint speaks HTTPS
    uv run python bench/webpush.py --smoke            # 100 pushes, one repeat (CI)
    git show 7e64b0d:tocsin/transports/webpush.py > /tmp/before.py
    uv run python bench/webpush.py --compare /tmp/before.py   # an older transport too

It makes ``--count`` subscriptions the way a browser does (a fresh P-256 key pair and a
16-byte auth secret each) and times ``WebPushTransport().send(...)`` for one alert to each
of them, in one thread on one core: payload, VAPID header, RFC 8291 aes128gcm encryption
with a fresh sender key per message, and the HTTP POST.

The endpoint is a loopback sink in its own process, pinned to the other core: it reads
each request's headers and body and answers 201 Created, nothing else (with ``--tls``
over HTTPS with a throwaway certificate, as every real push service). The local push
service peer (tests/peers/push_service.py) also checks the VAPID signature and decrypts
each body, which costs as much CPU as the sending does; on a 2-core machine that would
time the peer, not Tocsin. So the peer is used only to check, before the clock starts,
that what this transport sends verifies and decrypts (``--check`` pushes, 50 by default).

In the same run, on the same core, it times the floor any web push sender pays: raw
``http_ece.encrypt(..., version="aes128gcm")`` of a payload of the same size, with a fresh
sender key per message as pywebpush makes, to the same subscriptions; and, as a reference,
that floor plus the least HTTP a Python sender can do (http.client, one kept-alive
connection). The measurements take turns within each repeat; it prints medians of
``--repeat`` runs per second of wall-clock time and per second of the sender's CPU (what
a worker whose threads overlap the round trips gets from its one core), the ratios to the
floor and how many new TCP connections each transport opened. The goal (issue 20): as
the worker sends, >= 0.80 of the pushes per CPU second of issue 20's floor: the
encryption floor plus a request prebuilt before the clock starts, written with the sealed
body on one kept-alive socket, its 201 read back (the least any web push sender does).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import re
import resource
import secrets
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL = 0.80
RESPONSE = b"HTTP/1.1 201 Created\r\nLocation: /message/1\r\nContent-Length: 0\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)


# --- the sink: a loopback push endpoint that only reads and answers 201 ---


class _SinkProtocol(asyncio.Protocol):
    def __init__(self, stats: dict[str, int]) -> None:
        self.stats = stats
        self.buffer = b""
        self.need: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats["connections"] += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                match = CONTENT_LENGTH.search(self.buffer, 0, end + 2)
                self.need = end + 4 + (int(match.group(1)) if match else 0)
            if len(self.buffer) < self.need:
                return
            self.stats["bytes"] += self.need
            self.buffer = self.buffer[self.need :]
            self.need = None
            self.stats["requests"] += 1
            self.transport.write(RESPONSE)


def _sink_main(conn: Connection, cpu: int | None, tls: tuple[str, str] | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    stats = {"connections": 0, "requests": 0, "bytes": 0}
    context = None
    if tls is not None:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _SinkProtocol(stats), "127.0.0.1", 0, ssl=context)
        conn.send(server.sockets[0].getsockname()[1])
        done = loop.create_future()

        def on_command() -> None:
            command = conn.recv()
            if command == "stats":
                conn.send(dict(stats))
                for key in stats:
                    stats[key] = 0
            else:
                done.set_result(None)

        loop.add_reader(conn.fileno(), on_command)
        await done
        server.close()

    asyncio.run(serve())


class Sink:
    """The sink in a child process; ``stats()`` returns and resets its counters."""

    def __init__(self, cpu: int | None, tls: tuple[str, str] | None = None) -> None:
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("fork").Process(
            target=_sink_main, args=(child, cpu, tls), daemon=True
        )
        self._process.start()
        self.port = self._conn.recv()
        self.tls = tls is not None
        self.origin = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, int]:
        self._conn.send("stats")
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=5)


# --- the sender side ---


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def browser_keys(n: int) -> list[tuple[bytes, bytes]]:
    """Return ``n`` (p256dh, auth) pairs as browsers make them: a new P-256 key each."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    keys = []
    for _ in range(n):
        public = ec.generate_private_key(ec.SECP256R1()).public_key()
        raw = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        keys.append((raw, secrets.token_bytes(16)))
    return keys


def alert_message(site: str, i: int) -> Any:
    """Return what one member gets for a confirmed alert (the shape messages.render makes)."""
    from tocsin.transports.base import Message

    token = b64url(secrets.token_bytes(60))
    url = f"{site}/a/{token}/"
    return Message(
        subject="Confirmed: Workplace raid near 34.0339, -118.2107",
        text=(
            "Tocsin alert. Confirmed workplace raid near 34.0339, -118.2107 since 06:40. "
            "Observe, document, support. Do not interfere. Details and “I'm on my way”: "
            f"{url}"
        ),
        url=url,
        html="",
        extra={
            "tag": "incident-7",
            "urgency": "high",
            "ttl": 6 * 3600,
            "topic": f"i7-e{i}",
            "receipt": f"{site}/r/{b64url(secrets.token_bytes(40))}/",
        },
    )


class Rate:
    """Operations per second of wall-clock time and per second of this process's CPU."""

    def __init__(self, count: int, wall: float, cpu: float) -> None:
        self.wall = count / wall
        self.cpu = count / cpu if cpu > 0 else float("inf")


def _timed(count: int, run: Any) -> Rate:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return Rate(count, time.perf_counter() - wall, time.process_time() - cpu)


def time_transport(
    transport: type, origin: str, keys: list[tuple[bytes, bytes]], messages: list[Any]
) -> Rate:
    """Time ``transport().send(...)`` once per subscription, one thread."""
    payloads = [
        {"address": f"{origin}/push/{i}", "keys": {"p256dh": b64url(p), "auth": b64url(a)}}
        for i, (p, a) in enumerate(keys)
    ]

    def run() -> None:
        for i, payload in enumerate(payloads):
            transport().send(payload, messages[i], idempotency_key=f"a1-e{i}")

    return _timed(len(payloads), run)


def time_transport_threads(
    transport: type,
    origin: str,
    keys: list[tuple[bytes, bytes]],
    messages: list[Any],
    threads: int,
) -> Rate:
    """Time the same sends as the worker makes them: ``threads`` threads (its web push
    concurrency) taking the next subscription, all on the one core this process is
    pinned to, so one thread's round trip overlaps another's encryption."""
    import threading

    payloads = [
        {"address": f"{origin}/push/{i}", "keys": {"p256dh": b64url(p), "auth": b64url(a)}}
        for i, (p, a) in enumerate(keys)
    ]
    work = iter(range(len(payloads)))
    lock = threading.Lock()

    def worker() -> None:
        sender = transport()
        while True:
            with lock:
                i = next(work, None)
            if i is None:
                return
            sender.send(payloads[i], messages[i], idempotency_key=f"a1-e{i}")

    def run() -> None:
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    return _timed(len(payloads), run)


def time_floor(keys: list[tuple[bytes, bytes]], data: list[bytes]) -> Rate:
    """Time raw RFC 8291 aes128gcm encryptions, a fresh sender key each (as pywebpush)."""
    import http_ece
    from cryptography.hazmat.primitives.asymmetric import ec

    def run() -> None:
        for (p256dh, auth), body in zip(keys, data, strict=True):
            http_ece.encrypt(
                body,
                private_key=ec.generate_private_key(ec.SECP256R1()),
                dh=p256dh,
                auth_secret=auth,
                version="aes128gcm",
            )

    return _timed(len(keys), run)


def self_signed(folder: Path) -> tuple[str, str]:
    """Write a certificate for 127.0.0.1 and its key; return their paths. Senders trust
    it through SSL_CERT_FILE (urllib3, http.client) and REQUESTS_CA_BUNDLE (requests)."""
    from tests.peers.tls import self_signed as write

    cert, key = write(folder)
    return str(cert), str(key)


def time_bare_post(sink: Sink, keys: list[tuple[bytes, bytes]], data: list[bytes]) -> Rate:
    """Time the floor plus the least HTTP a Python sender can do: one POST per message
    with the standard library's http.client on one kept-alive connection, fixed headers,
    no pooling, TLS, proxies or error handling. A reference, not a goal."""
    import http.client

    import http_ece
    from cryptography.hazmat.primitives.asymmetric import ec

    connection: http.client.HTTPConnection
    if sink.tls:
        import ssl

        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection("127.0.0.1", sink.port, context=context)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=10)
    headers = {"TTL": "21600", "Content-Encoding": "aes128gcm", "Authorization": "vapid t=x,k=y"}

    def run() -> None:
        for i, ((p256dh, auth), body) in enumerate(zip(keys, data, strict=True)):
            sealed = http_ece.encrypt(
                body,
                private_key=ec.generate_private_key(ec.SECP256R1()),
                dh=p256dh,
                auth_secret=auth,
                version="aes128gcm",
            )
            connection.request("POST", f"/push/{i}", body=sealed, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 201

    rate = _timed(len(keys), run)
    connection.close()
    return rate


def time_prebuilt_post(
    sink: Sink, keys: list[tuple[bytes, bytes]], data: list[bytes], threads: int = 1
) -> Rate:
    """Time issue 20's floor: the encryption floor plus a request prebuilt before the
    clock starts (the head of each subscription's POST, with VAPID, TTL and the body's
    length, as bytes), written with the sealed body on one kept-alive socket, and the
    201 read back. The least any web push sender does per message. With ``threads``,
    as many threads as the worker sends on, each on a socket of its own, taking the
    next subscription: round trips overlap, which can cost less CPU per push."""
    import socket
    import threading

    import http_ece
    from cryptography.hazmat.primitives.asymmetric import ec

    def seal(p256dh: bytes, auth: bytes, body: bytes) -> bytes:
        sealed: bytes = http_ece.encrypt(
            body,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=p256dh,
            auth_secret=auth,
            version="aes128gcm",
        )
        return sealed

    vapid = "vapid t=" + "x" * 250 + ",k=" + "y" * 87  # the length of a real header
    heads = [
        (
            f"POST /push/{i} HTTP/1.1\r\nHost: 127.0.0.1:{sink.port}\r\nTTL: 21600\r\n"
            f"Urgency: high\r\nContent-Encoding: aes128gcm\r\nAuthorization: {vapid}\r\n"
            f"Content-Length: {len(seal(p256dh, auth, body))}\r\n\r\n"
        ).encode()
        for i, ((p256dh, auth), body) in enumerate(zip(keys, data, strict=True))
    ]

    def connect() -> Any:
        raw = socket.create_connection(("127.0.0.1", sink.port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not sink.tls:
            return raw
        import ssl

        return ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")

    sockets = [connect() for _ in range(threads)]
    work = iter(range(len(keys)))
    lock = threading.Lock()

    def sender(sock: Any) -> None:
        while True:
            with lock:
                i = next(work, None)
            if i is None:
                return
            (p256dh, auth), body = keys[i], data[i]
            sock.sendall(heads[i] + seal(p256dh, auth, body))
            answer = sock.recv(4096)
            while not answer.endswith(b"\r\n\r\n"):
                answer += sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 201"), answer

    def run() -> None:
        if threads == 1:
            sender(sockets[0])
            return
        pool = [threading.Thread(target=sender, args=(sock,)) for sock in sockets]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    rate = _timed(len(keys), run)
    for sock in sockets:
        sock.close()
    return rate


def load_transport(path: str) -> type:
    """Return WebPushTransport from another copy of webpush.py (``--compare``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("webpush_compared", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WebPushTransport


def django_settings_threads() -> int:
    from django.conf import settings

    return int(settings.DELIVERY_CONCURRENCY.get("webpush", 4))


def check_with_peer(count: int, site: str) -> None:
    """Send ``count`` pushes to the verifying peer; exit if any is refused or garbled."""
    import json

    from tests.peers.push_service import PushService
    from tocsin.transports import vapid
    from tocsin.transports.webpush import WebPushTransport

    with PushService() as peer:
        subs = [
            peer.subscription(application_server_key=vapid.application_server_key())
            for _ in range(count)
        ]
        for i, sub in enumerate(subs):
            payload = {"address": sub["endpoint"], "keys": sub["keys"]}
            WebPushTransport().send(payload, alert_message(site, i), idempotency_key=f"a0-e{i}")
        ok = all(len(peer.json_for(sub)) == 1 for sub in subs)
        if peer.rejections or not ok:
            sys.exit(f"the push service peer refused pushes: {peer.rejections[:3]}")
        sample = json.loads(peer.messages_for(subs[0])[0]["payload"])
        assert sample["title"].startswith("Confirmed")
    print(f"check: {count} pushes verified (VAPID) and decrypted by tests/peers/push_service.py")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000, help="pushes per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", type=int, default=50, help="pushes checked by the peer")
    parser.add_argument(
        "--compare",
        metavar="FILE",
        help="also time the WebPushTransport of another webpush.py, for example"
        " `git show 7e64b0d:tocsin/transports/webpush.py > /tmp/before.py`",
    )
    parser.add_argument(
        "--tls", action="store_true", help="the sink speaks HTTPS, as every real push service"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one transport run")
    parser.add_argument("--smoke", action="store_true", help="100 pushes, one repeat")
    args = parser.parse_args()
    if args.smoke:
        args.count, args.repeat, args.check = 100, 1, 10

    # The sink forks before Django loads, and gets the other core when there is one.
    cpus = sorted(os.sched_getaffinity(0))
    sender_cpu, sink_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    tls = None
    if args.tls:
        tls = self_signed(Path(tempfile.mkdtemp(prefix="tocsin-bench-tls-")))
        os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = tls[0]
    sink = Sink(sink_cpu, tls)
    if sender_cpu is not None:
        os.sched_setaffinity(0, {sender_cpu})

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
    os.environ.setdefault("TOCSIN_DATA_DIR", tempfile.mkdtemp(prefix="tocsin-bench-"))
    # The sink and the checking peer listen on 127.0.0.1: the operator's way to allow it.
    os.environ["TOCSIN_PUSH_HOSTS"] = "127.0.0.1"
    import django

    django.setup()
    from django.conf import settings

    from tocsin.transports.webpush import WebPushTransport, payload_for

    print(
        f"Web push: {args.count:,} subscriptions, {args.repeat} repeat(s), sender on one core"
        f" ({'cpu ' + str(sender_cpu) if sender_cpu is not None else 'unpinned'}), sink on"
        f" {'cpu ' + str(sink_cpu) if sink_cpu is not None else 'the same core'},"
        f" load average {os.getloadavg()[0]:.1f} at the start"
    )
    check_with_peer(args.check, settings.SITE_URL)

    keys = browser_keys(args.count)
    messages = [alert_message(settings.SITE_URL, i) for i in range(args.count)]
    data = [payload_for(m) for m in messages]
    print(f"payload: {statistics.median(len(d) for d in data):.0f} bytes before encryption")

    transports: dict[str, type] = {"Tocsin WebPushTransport.send": WebPushTransport}
    threads = max(1, django_settings_threads())
    threaded = f"Tocsin, {threads} threads (worker)"
    if args.compare:
        transports[f"compare: {Path(args.compare).name}"[:30]] = load_transport(args.compare)

    # Warm up every path (imports, the VAPID key, the first connection).
    for transport in transports.values():
        time_transport(transport, sink.origin, keys[:20], messages[:20])
    time_floor(keys[:20], data[:20])
    time_bare_post(sink, keys[:20], data[:20])
    time_prebuilt_post(sink, keys[:20], data[:20])
    time_prebuilt_post(sink, keys[:20], data[:20], threads)
    sink.stats()

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
        profiler.enable()
        time_transport(WebPushTransport, sink.origin, keys, messages)
        profiler.disable()
        sink.stats()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)

    rates: dict[str, list[Rate]] = {name: [] for name in [*transports, threaded]}
    connections: dict[str, list[int]] = {name: [] for name in [*transports, threaded]}
    floors: list[Rate] = []
    # Thread switches per push as the worker sends (voluntary, involuntary): the cost
    # of many threads on one core that a CPU profile of one thread does not show.
    switches: list[tuple[float, float]] = []
    posts: list[Rate] = []
    # Issue 20's floor: encryption and a prebuilt request on a kept-alive socket.
    prebuilt: list[Rate] = []
    prebuilt_threads: list[Rate] = []
    # The measurements take turns within each repeat, so the machine's noise hits all alike.
    for r in range(args.repeat):
        line = [f"  repeat {r + 1}:"]
        for name, transport in transports.items():
            rate = time_transport(transport, sink.origin, keys, messages)
            stats = sink.stats()
            if stats["requests"] != args.count:
                sys.exit(f"{name}: the sink got {stats['requests']} requests, not {args.count}")
            rates[name].append(rate)
            connections[name].append(stats["connections"])
            label = "tocsin" if name.startswith("Tocsin") else "compare"
            line.append(f"{label} {rate.wall:6,.0f}/s")
        before = resource.getrusage(resource.RUSAGE_SELF)
        rate = time_transport_threads(WebPushTransport, sink.origin, keys, messages, threads)
        after = resource.getrusage(resource.RUSAGE_SELF)
        switches.append(
            (
                (after.ru_nvcsw - before.ru_nvcsw) / args.count,
                (after.ru_nivcsw - before.ru_nivcsw) / args.count,
            )
        )
        stats = sink.stats()
        if stats["requests"] != args.count:
            sys.exit(f"{threaded}: the sink got {stats['requests']} requests, not {args.count}")
        rates[threaded].append(rate)
        connections[threaded].append(stats["connections"])
        line.append(f"threads {rate.wall:6,.0f}/s")
        floors.append(time_floor(keys, data))
        posts.append(time_bare_post(sink, keys, data))
        prebuilt.append(time_prebuilt_post(sink, keys, data))
        prebuilt_threads.append(time_prebuilt_post(sink, keys, data, threads))
        sink.stats()
        line.append(
            f"encrypt {floors[-1].wall:6,.0f}/s  encrypt+prebuilt {prebuilt[-1].wall:6,.0f}/s"
            f" ({prebuilt_threads[-1].wall:6,.0f}/s on {threads})"
            f"  encrypt+POST {posts[-1].wall:6,.0f}/s"
        )
        print("  ".join(line))
    sink.stop()

    # Ratios are taken within each repeat (same minute, same noise), then the median.
    def vs_floor(series: list[Rate], cpu: bool = False) -> float:
        if cpu:
            return statistics.median(x.cpu / f.cpu for x, f in zip(series, floors, strict=True))
        return statistics.median(x.wall / f.wall for x, f in zip(series, floors, strict=True))

    print(
        f"\n{'median of ' + str(args.repeat) + ' repeat(s)':<30} {'per s':>8} {'x floor':>8}"
        f" {'per CPU s':>10} {'x floor':>8}"
    )
    rows = [*((name, rates[name]) for name in [*transports, threaded])]
    rows += [
        ("http_ece.encrypt (floor)", floors),
        ("encrypt + prebuilt request", prebuilt),
        (f"  the same, {threads} threads", prebuilt_threads),
        ("encrypt + http.client POST", posts),
    ]
    for name, series in rows:
        wall = statistics.median(x.wall for x in series)
        cpu = statistics.median(x.cpu for x in series)
        made = (
            f"   {statistics.median(connections[name]):,.0f} new TCP connections"
            if name in connections
            else ""
        )
        print(
            f"{name:<30} {wall:8,.0f} {vs_floor(series):8.2f} {cpu:10,.0f}"
            f" {vs_floor(series, cpu=True):8.2f}{made}"
        )
    tocsin = rates["Tocsin WebPushTransport.send"]
    print(
        f"Tocsin: {vs_floor(tocsin):.2f} of the encryption floor, one thread"
        f" ({vs_floor(tocsin, cpu=True):.2f} per CPU second; the worker sends on many)"
    )
    print(
        f"Tocsin: {vs_floor(rates[threaded], cpu=True):.2f} of the encryption floor per CPU"
        f" second as the worker sends, {threads} threads on one core"
        f" ({vs_floor(rates[threaded]):.2f} per second of wall-clock time)"
    )
    # Issue 20's figure: pushes per CPU second as the worker sends, over the floor's
    # (encryption and a prebuilt request on a kept-alive socket), in the same repeat;
    # the floor is the cheaper per push of its one-thread and many-thread runs.
    worker_ratio = statistics.median(
        x.cpu / max(f.cpu, g.cpu)
        for x, f, g in zip(rates[threaded], prebuilt, prebuilt_threads, strict=True)
    )
    verdict = "met" if worker_ratio >= GOAL else "not met"
    print(
        f"Tocsin: {worker_ratio:.2f} of encrypt + prebuilt request per CPU second as the"
        f" worker sends (issue 20's floor, the better of one and {threads} threads;"
        f" goal >= {GOAL:.2f}: {verdict})"
    )
    print(
        f"Tocsin: {statistics.median(v for v, _ in switches):.2f} voluntary and"
        f" {statistics.median(i for _, i in switches):.2f} involuntary thread switches per"
        " push as the worker sends"
    )
    bare = statistics.median(x.wall / p.wall for x, p in zip(tocsin, posts, strict=True))
    bare_cpu = statistics.median(x.cpu / p.cpu for x, p in zip(tocsin, posts, strict=True))
    print(f"Tocsin: {bare:.2f} of encrypt + http.client POST ({bare_cpu:.2f} per CPU second)")


if __name__ == "__main__":
    main()
