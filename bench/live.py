"""Live-page benchmark: thousands of members watching one alert page's headcount.

    uv run python bench/live.py                        # 1,000, 5,000 and 10,000 viewers
    uv run python bench/live.py --viewers 1000         # one size
    uv run python bench/live.py --smoke                # 50 viewers

Starts ``uvicorn tocsin.asgi:application`` as a subprocess on a fresh TOCSIN_DATA_DIR
(SQLite, the embedded in-process broker), with one confirmed incident and the members it
alerted. Each viewer is a raw HTTP/1.1 connection on loopback holding the alert page's
live stream (/a/<token>/live/), as a member's browser does. For each size:

- idle: the server's CPU share (of one core) over ``--idle`` seconds with every viewer
  connected and nothing happening, and its memory (RSS) per viewer (the RSS growth from
  one viewer to N, divided by N - 1);
- update: a member answers "on my way" (a POST to their alert page, as the form does) and
  the clock runs until each viewer has read the new headcount: p50, p99 and the last,
  over ``--changes`` answers;
- the peer, in the same run: the same answer with one viewer (its p50).

The viewers share one client process (asyncio), which is itself on the same cores: on a
two-core machine the client's reading is part of the update times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import set_up, throwaway_install, wait_ready  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def environment() -> dict[str, str]:
    return {
        **throwaway_install("live"),
        # Every viewer comes from loopback: one network, so its limit is lifted here.
        "TOCSIN_LIVE_MAX_PER_NETWORK": "100000",
        "TOCSIN_LIVE_MAX_VIEWERS": "100000",
    }


def seed(answers: int) -> tuple[str, list[str]]:
    """Create a confirmed incident alerting ``answers`` members plus the watcher; return
    the watcher's alert path and the answering members' alert paths."""
    from django.urls import reverse

    from tests.factories import EAST, member, own_incident, world
    from tocsin.incidents.models import State
    from tocsin.incidents.reports import receive_report as submit_report
    from tocsin.incidents.services import change_state
    from tocsin.lib.links import alert_link_token

    w = world()
    answering = [
        member(f"Answer {i}", w.east, area=EAST, email=f"answer{i}@example.org")
        for i in range(answers)
    ]
    report = submit_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    incident = change_state(own_incident(report, w.dispatcher), State.CONFIRMED, actor=w.dispatcher)

    def path(m_id: int) -> str:
        return reverse(
            "alert_page", args=[alert_link_token(member_id=m_id, incident_id=incident.pk)]
        )

    return path(w.member.pk), [path(m.pk) for m in answering]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


def answer(url: str, path: str) -> None:
    """Answer "on my way" on an alert page as the browser form does (CSRF and all)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(url + path, timeout=60) as r:
        html = r.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if token is None:
        raise SystemExit("the alert page has no form")
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token.group(1), "state": "on_my_way", "eta_minutes": "5"}
    ).encode()
    with opener.open(url + path, data=data, timeout=60) as r:
        r.read()


class Viewer:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def next_update(self) -> float:
        """Read until the next update event; return when it arrived."""
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("the server closed a stream")
            if line.startswith(b"event: update"):
                # The rest of the event: its data lines and the blank line.
                while (await self.reader.readline()).strip():
                    pass
                return time.monotonic()


async def connect(host: str, port: int, path: str) -> Viewer:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise ConnectionError(f"live stream refused: {status!r}")
    while (await reader.readline()).strip():
        pass
    viewer = Viewer(reader, writer)
    await viewer.next_update()  # the partial as it is now
    return viewer


async def open_viewers(host: str, port: int, path: str, n: int) -> list[Viewer]:
    viewers: list[Viewer] = []
    gate = asyncio.Semaphore(200)

    async def one() -> None:
        async with gate:
            viewers.append(await connect(host, port, path))

    await asyncio.gather(*(one() for _ in range(n)))
    return viewers


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(
    url: str, pid: int, live_path: str, answers: list[str], n: int, changes: int, idle: float
) -> dict[str, float]:
    host, port = urllib.parse.urlsplit(url).hostname or "", urllib.parse.urlsplit(url).port or 0
    first = await open_viewers(host, port, live_path, 1)
    await asyncio.sleep(1)
    rss_one = rss_bytes(pid)
    rest = await open_viewers(host, port, live_path, n - 1)
    viewers = first + rest
    await asyncio.sleep(2)
    rss_all = rss_bytes(pid)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(idle)
    idle_share = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    waits: list[float] = []
    lasts: list[float] = []
    p99s: list[float] = []
    for _ in range(changes):
        path = answers.pop()
        started = time.monotonic()
        reads = asyncio.gather(*(v.next_update() for v in viewers))
        await asyncio.to_thread(answer, url, path)
        arrived = [t - started for t in await reads]
        waits.extend(arrived)
        lasts.append(max(arrived))
        p99s.append(percentile(arrived, 99))
        await asyncio.sleep(0.5)
    for v in viewers:
        v.writer.close()
    await asyncio.sleep(2)
    return {
        "viewers": n,
        "idle_cpu": idle_share,
        "kib_per_viewer": (rss_all - rss_one) / max(1, n - 1) / 1024,
        "p50": statistics.median(waits),
        "p99": statistics.median(p99s),
        "last": statistics.median(lasts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, nargs="*", default=[1000, 5000, 10000])
    parser.add_argument("--changes", type=int, default=5, help="answers per size")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU sampling")
    parser.add_argument("--smoke", action="store_true", help="50 viewers, 2 changes, 2 s idle")
    args = parser.parse_args()
    if args.smoke:
        args.viewers, args.changes, args.idle = [50], 2, 2.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if max(args.viewers) + 100 > hard:
        raise SystemExit(f"{max(args.viewers)} viewers need more open files than {hard}")

    env = environment()
    url = env["TOCSIN_SITE_URL"]
    port = set_up(env)
    from django.db import connections

    answers_needed = args.changes * (len(args.viewers) + 1)
    watcher, answers = seed(answers_needed)
    connections.close_all()
    live_path = watcher.rstrip("/") + "/live/"

    def start() -> subprocess.Popen[bytes]:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tocsin.asgi:application", "--host", "127.0.0.1"]
            + ["--port", str(port), "--no-access-log", "--log-level", "warning"]
            + ["--backlog", "4096"],
            cwd=ROOT,
            env={**os.environ, **env},
        )
        wait_ready(url, server)
        return server

    def stop(server: subprocess.Popen[bytes]) -> None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    print(f"live: one app process, viewers {args.viewers}, {args.changes} answers each")
    # Each size on a fresh server process: memory a process freed is not given back, so a
    # process reused across sizes would under-count the next one.
    server = start()
    try:
        peer = asyncio.run(measure(url, server.pid, live_path, answers, 1, args.changes, args.idle))
    finally:
        stop(server)
    print(
        f"peer, one viewer: update p50 {peer['p50'] * 1000:.0f} ms; "
        f"idle CPU {peer['idle_cpu']:.1%} of a core"
    )
    print("viewers | idle CPU (of a core) | KiB per viewer | update p50 | p99 | last")
    for n in args.viewers:
        server = start()
        try:
            r = asyncio.run(
                measure(url, server.pid, live_path, answers, n, args.changes, args.idle)
            )
        finally:
            stop(server)
        print(
            f"{n:>7} | {r['idle_cpu']:>19.1%} | {r['kib_per_viewer']:>14.1f} | "
            f"{r['p50'] * 1000:>7.0f} ms | {r['p99'] * 1000:>5.0f} ms | "
            f"{r['last'] * 1000:>5.0f} ms  (p50 {r['p50'] / peer['p50']:.1f}x one viewer's)",
            flush=True,
        )


if __name__ == "__main__":
    main()
