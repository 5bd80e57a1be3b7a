"""The metro rehearsal: the real parts of a metro on one machine, driven through the proxy.

    uv run python bench/metro.py                       # 100,000 members
    uv run python bench/metro.py --members 20000       # what a 2-core machine does in minutes
    uv run python bench/metro.py --smoke               # 200 members, paced (tests/test_metro.py)

It starts, on this machine: a PostgreSQL database of its own (on the local server,
``--database-url``, created and dropped), a Redis database (``--redis-url``, flushed),
two ``tocsin serve`` processes, ``--workers`` ``tocsin worker`` processes, Caddy (Debian's
``caddy``) in front of the apps with deploy/Caddyfile itself (served over plain http on a
loopback port, its admin endpoint off, and the test clients' X-Forwarded-For believed so
the flood looks like many networks), and the local SMTP peer (tests/peers/smtp.py) in a
process of its own, counting what each address receives.

``--members`` members of one committee live around downtown Los Angeles, each with an
email address sealed to the vault like a real one (bench/fanout.py's dataset); ``--push``
of them (a tenth by default) also have a push subscription on the local push service
peer (tests/peers/push_service.py, which checks VAPID and decrypts every push), tried
first. Then,
with real HTTP through Caddy only:

1. a flood of ``--reports`` anonymous web reports (tests/flood_support.py: CSRF, proof of
   work stockpiled beforehand, many sources over fewer networks), elsewhere in the area;
2. one report downtown, which the dispatcher opens as an incident on the desk;
3. ``--viewers`` live pages (Server-Sent Events) of that incident held open;
4. the dispatcher confirms it: every member is alerted by email;
5. when ``--kill-at`` of the messages have reached the SMTP peer, one app process and one
   worker are killed (SIGKILL) and started again.

It prints: deliveries lost (goal 0), duplicates at the peers (goal 0), confirm to the first
and the last delivery, reports per second through the proxy, live pages that saw the
confirmation (and how fast), and the backlog's drain after the restart. A killed worker's
claimed batch waits for its lease (``--lease`` seconds, TOCSIN_DELIVERY_LEASE_SECONDS) to
expire before another worker takes it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import free_port, throwaway_install  # noqa: E402

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/tocsin_bench_metro"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
DOWNTOWN = (34.0522, -118.2437)  # bench/fanout.py's alert centre: its dataset lives around it
TOCSIN = str(Path(sys.executable).parent / "tocsin")


# --- The SMTP peer, in a process of its own ----------------------------------------------


def smtp_peer(stats_path: str) -> None:
    """Run the SMTP peer; print its port; every 0.1 s write what it received to
    ``stats_path`` (messages, distinct addresses, duplicates, first and last arrival on
    time.monotonic, one clock for every process on Linux)."""
    from tests.peers.smtp import SMTPPeer

    counts: Counter[str] = Counter()
    times: list[float] = []
    lock = threading.Lock()

    with SMTPPeer() as peer:
        collector = peer.handler

        async def handle_data(server: Any, session: Any, envelope: Any) -> str:
            now = time.monotonic()
            with lock:
                for address in envelope.rcpt_tos:
                    counts[address.lower()] += 1
                if not times:
                    times.append(now)
                times[1:] = [now]
            return "250 Message accepted for delivery"

        collector.handle_DATA = handle_data  # type: ignore[method-assign]
        print(peer.port, flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while not stop.wait(0.1):
            with lock:
                stats = {
                    "messages": sum(counts.values()),
                    "unique": len(counts),
                    "duplicates": sum(c - 1 for c in counts.values() if c > 1),
                    "first": times[0] if times else None,
                    "last": times[-1] if times else None,
                }
            tmp = f"{stats_path}.tmp"
            with open(tmp, "w") as f:
                json.dump(stats, f)
            os.replace(tmp, stats_path)


def push_peer(stats_path: str, server_key: str, count: int, subs_path: str) -> None:
    """Run the push service peer (tests/peers/push_service.py: it checks each push's VAPID
    signature and decrypts it, as a real one would); write ``count`` subscriptions for
    ``server_key`` to ``subs_path``, print its port, then write its counts as smtp_peer does
    (by subscription), and the pushes it refused."""
    from tests.peers.push_service import PushService

    with PushService() as service:
        subs = [service.subscription(application_server_key=server_key) for _ in range(count)]
        Path(subs_path).write_text(json.dumps(subs))
        print(service.port, flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        seen = 0
        counts: Counter[str] = Counter()
        times: list[float] = []
        while not stop.wait(0.1):
            received = service.received[seen:]  # appended under its lock; a slice is safe
            now = time.monotonic()
            for r in received:
                counts[r["id"]] += 1
            if received:
                seen += len(received)
                if not times:
                    times.append(now)
                times[1:] = [now]
            stats = {
                "messages": sum(counts.values()),
                "unique": len(counts),
                "duplicates": sum(c - 1 for c in counts.values() if c > 1),
                "first": times[0] if times else None,
                "last": times[-1] if times else None,
                "refused": len(service.rejections),
            }
            tmp = f"{stats_path}.tmp"
            with open(tmp, "w") as f:
                json.dump(stats, f)
            os.replace(tmp, stats_path)


def both(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Return the two peers' counts together (first and last over both)."""
    firsts = [t for t in (a["first"], b["first"]) if t is not None]
    lasts = [t for t in (a["last"], b["last"]) if t is not None]
    return {
        "messages": a["messages"] + b["messages"],
        "unique": a["unique"] + b["unique"],
        "duplicates": a["duplicates"] + b["duplicates"],
        "first": min(firsts) if firsts else None,
        "last": max(lasts) if lasts else None,
    }


def at_peers(smtp: Path, push: Path) -> dict[str, Any]:
    """Return what the SMTP and push peers received, together."""
    return both(read_stats(smtp), read_stats(push))


def read_stats(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"messages": 0, "unique": 0, "duplicates": 0, "first": None, "last": None}


# --- Processes ----------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    logs: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        with (self.logs / f"{self.name}.log").open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603
                self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def tail(self) -> str:
        return (self.logs / f"{self.name}.log").read_text(errors="replace")[-3000:]


def wait_http(url: str, proc: Proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen is not None and proc.popen.poll() is not None:
            raise SystemExit(f"{proc.name} stopped before it answered:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{proc.name} did not answer at {url}:\n{proc.tail()}")


def caddyfile(proxy_port: int, onion_port: int) -> str:
    """Return deploy/Caddyfile for this machine: the same caps, log filter, /metrics rule
    and proxying, with its admin endpoint off, the onion site on a free port, and the
    flood's X-Forwarded-For believed from loopback (so its fake sources reach Tocsin)."""
    text = (ROOT / "deploy" / "Caddyfile").read_text()
    text = text.replace("{\n", "{\n\tadmin off\n", 1)
    # Caddy 2.6 (Debian's) has no trusted_proxies: pass the client's header on as it came.
    text = text.replace(
        "\t\tflush_interval -1\n",
        "\t\tflush_interval -1\n"
        '\t\theader_up X-Forwarded-For "{http.request.header.X-Forwarded-For}"\n',
    )
    text = text.replace("127.0.0.1:8081", f"127.0.0.1:{onion_port}")
    return text


# --- HTTP clients ---------------------------------------------------------------------------


class Desk:
    """The dispatcher's browser: a session cookie, a CSRF token, POSTs through the proxy."""

    def __init__(self, url: str, session: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        self.host = parts.netloc
        self.cookies = {"sessionid": session}
        self.token = ""

    def request(
        self, method: str, path: str, data: dict[str, str] | None = None
    ) -> tuple[int, str, bytes]:
        headers = {
            "Host": self.host,
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "X-Forwarded-For": "100.100.0.1",
        }
        body = None
        if data is not None:
            body = urlencode({"csrfmiddlewaretoken": self.token, **data}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        page = r.read()
        for value in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if token:
            self.token = token.group(1).decode()
        return r.status, r.getheader("Location") or "", page


@dataclass
class Viewer:
    """One live page (SSE) of the incident, held open through the proxy; reconnects (as
    EventSource does) when its app process goes away."""

    url: str
    path: str
    cookie: str
    address: str
    events: list[float] = field(default_factory=list)
    reconnects: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    connected: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        parts = urlsplit(self.url)
        while not self.stop.is_set():
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
            try:
                conn.request(
                    "GET",
                    self.path,
                    headers={
                        "Host": parts.netloc,
                        "Cookie": self.cookie,
                        "Accept": "text/event-stream",
                        "X-Forwarded-For": self.address,
                    },
                )
                r = conn.getresponse()
                if r.status != 200:
                    raise ConnectionError(f"live page answered {r.status}")
                self.connected.set()
                while not self.stop.is_set():
                    line = r.fp.readline()
                    if not line:
                        break
                    if line.startswith(b"data:"):
                        self.events.append(time.monotonic())
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            if not self.stop.is_set():
                self.reconnects += 1
                time.sleep(0.5)


# --- The rehearsal -------------------------------------------------------------------------


def solve_one(challenge: dict[str, Any]) -> str:
    from tests.flood_support import solve

    return solve(challenge)


def session_for(member: Any) -> str:
    from django.contrib.sessions.backends.db import SessionStore

    from tocsin.members import security

    store = SessionStore()
    store["_auth_user_id"] = str(member.user.pk)
    store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    store["_auth_user_hash"] = member.user.get_session_auth_hash()
    store[security.EPOCH_KEY] = member.session_epoch
    store[security.LOGIN_AT_KEY] = int(time.time())
    store.create()
    assert store.session_key is not None
    return store.session_key


def rehearse(
    *,
    members: int,
    reports: int,
    viewers: int,
    workers: int = 2,
    kill_at: float = 0.3,
    lease: int = 15,
    email_rate: int = 0,
    push: int = 0,
    threads: int = 8,
    database_url: str = DEFAULT_PG,
    redis_url: str = DEFAULT_REDIS,
    timeout: float = 1800,
    say: Any = print,
) -> dict[str, Any]:
    """Run the rehearsal; return its figures. Leaves nothing behind."""
    import redis
    from fanout import create_database, drop_database

    if shutil.which("caddy") is None:
        raise SystemExit("Caddy is not installed (apt-get install caddy)")
    if not create_database(database_url):
        raise SystemExit(f"PostgreSQL unreachable at {database_url}")
    redis.Redis.from_url(redis_url).flushdb()
    work_dir = Path(tempfile.mkdtemp(prefix="tocsin-metro-"))
    procs: list[Proc] = []
    peer: subprocess.Popen[str] | None = None
    pusher: subprocess.Popen[str] | None = None
    env: dict[str, str] = {}
    try:
        stats_path = work_dir / "smtp.json"
        peer = subprocess.Popen(  # noqa: S603
            [sys.executable, __file__, "--smtp-peer", str(stats_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert peer.stdout is not None
        smtp_port = int(peer.stdout.readline())
        proxy_port = free_port()
        url = f"http://127.0.0.1:{proxy_port}"
        env = {
            **os.environ,
            **throwaway_install("metro"),
            "TOCSIN_SITE_URL": url,
            "TOCSIN_DATABASE_URL": database_url,
            "TOCSIN_REDIS_URL": redis_url,
            "TOCSIN_SMTP_HOST": "127.0.0.1",
            "TOCSIN_SMTP_PORT": str(smtp_port),
            "TOCSIN_SMTP_STARTTLS": "0",
            "TOCSIN_TRUSTED_PROXIES": "127.0.0.1",
            "TOCSIN_DELIVERY_LEASE_SECONDS": str(lease),
            # Messages a second per worker (0: as fast as they go); the smoke run paces them
            # so that the kill always lands mid fan-out, however fast the machine.
            "TOCSIN_EMAIL_RATE": str(email_rate),
            # Push subscriptions on the local push peer; no device confirms receipt here, so
            # the email fallback waits longer than the run.
            "TOCSIN_PUSH_HOSTS": "127.0.0.1",
            "TOCSIN_DELIVERY_RECEIPT_SECONDS": "86400",
            # One confirmation reaches every member here: the two-person rule and the
            # breaker are measured elsewhere (bench/fanout.py does the same).
            "TOCSIN_TWO_PERSON_THRESHOLD": "10000000",
            "TOCSIN_ALERTS_PER_HOUR": "1000",
            "TOCSIN_LOG_LEVEL": "WARNING",
            # The proof of work stays at its floor whatever the load, so challenges solved
            # before the flood count during it: bench/flood.py measures the rising one.
            "TOCSIN_POW_MIN": "20000",
            "TOCSIN_POW_MAX": "20000",
        }
        env.pop("TOCSIN_DEMO", None)
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections
        from django.utils import timezone
        from fanout import dataset, load

        from tests import flood_support as flood
        from tocsin import geo
        from tocsin.alerts.models import Alert, Delivery
        from tocsin.committees.models import Committee, Membership, Role
        from tocsin.intake.models import Report
        from tocsin.members.models import Member
        from tocsin.vault import keys

        t0 = time.monotonic()
        call_command("migrate", verbosity=0)
        # The vault's keyring, made from the passphrase file every process reads.
        keys.start(worker=True, ask=None, say=lambda _m: None)
        committee = Committee.objects.create(
            name="Metro", slug="metro", kind="neighborhood", approved_at=timezone.now()
        )
        committee.set_area(geo.cells_for_circle(*DOWNTOWN, 3000, 8))
        dispatcher = Member.create(display_name="Diego", language="en")
        Membership.objects.create(committee=committee, member=dispatcher, role=Role.DISPATCHER)
        cols = dataset(members, members, 42, work_dir / "members.pickle")
        load(cols, committee.pk)
        del cols
        session = session_for(dispatcher)
        push_path = work_dir / "push.json"
        if push:
            # The first ``push`` members also have a push subscription, tried first.
            from tocsin.members.models import ContactEndpoint
            from tocsin.transports import vapid

            subs_path = work_dir / "subscriptions.json"
            pusher = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    __file__,
                    "--push-peer",
                    str(push_path),
                    f"--push-key={vapid.application_server_key()}",
                    f"--push={push}",
                    f"--push-subscriptions={subs_path}",
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert pusher.stdout is not None
            pusher.stdout.readline()
            subs = json.loads(subs_path.read_text())
            chosen = list(Member.objects.exclude(pk=dispatcher.pk).order_by("pk")[:push])
            for m, sub in zip(chosen, subs, strict=True):
                ContactEndpoint.create(
                    m, "webpush", sub["endpoint"], data={"keys": sub["keys"]}, verified=True
                )
            ContactEndpoint.objects.filter(kind="webpush").update(priority=0)
            ContactEndpoint.objects.filter(kind="email", member__in=chosen).update(priority=1)
        connections.close_all()
        say(
            f"{members:,} members with sealed email addresses,"
            f" seeded in {time.monotonic() - t0:.0f} s"
        )

        apps = [
            Proc(
                f"app{i}",
                [TOCSIN, "serve"],
                {**env, "TOCSIN_HOST": "127.0.0.1", "TOCSIN_PORT": str(p)},
                work_dir,
                p,
            )
            for i, p in ((1, free_port()), (2, free_port()))
        ]
        crew = [
            Proc(f"worker{i}", [TOCSIN, "worker"], env, work_dir) for i in range(1, workers + 1)
        ]
        (work_dir / "Caddyfile").write_text(caddyfile(proxy_port, free_port()))
        caddy = Proc(
            "caddy",
            ["caddy", "run", "--adapter", "caddyfile", "--config", str(work_dir / "Caddyfile")],
            {
                **env,
                "PUBLIC_DOMAIN": url,
                "APP_UPSTREAMS": " ".join(f"127.0.0.1:{a.port}" for a in apps),
                "XDG_DATA_HOME": str(work_dir / "caddy"),
                "XDG_CONFIG_HOME": str(work_dir / "caddy"),
            },
            work_dir,
        )
        procs = [*apps, *crew, caddy]
        for p in [*apps, *crew]:
            p.start()
        for a in apps:
            wait_http(f"http://127.0.0.1:{a.port}", a)
        # Caddy starts once both apps answer: its first active health check, made as it
        # starts, finds them up (started beside them, it found them down and waited for the
        # next check, health_interval later, before sending them anything).
        caddy.start()
        wait_http(url, caddy)
        say(f"2 app processes, {workers} workers and Caddy up at {url}")

        # 1. The flood, elsewhere in the committee's area, through the proxy.
        cells = flood.area_cells(31, DOWNTOWN)[1:]
        points = [geo.center(c) for c in cells]
        # Five reports a network, under each network's share (10): the flood is accepted
        # and the proxy and apps carry all of it (bench/flood.py floods past the shares).
        networks = max(1, reports // 5)
        work = flood.jobs(reports, max(1, networks * 5 // 3), networks, points)
        probe = flood.Client(url)
        probe.form_page()
        # Each report's challenge from its own network, fetched and solved beforehand.
        challenges = [probe.challenge(j.address) for j in work]
        with multiprocessing.Pool() as pool:
            solutions = pool.map(solve_one, challenges, chunksize=64)
        by_index = dict(zip((j.index for j in work), solutions, strict=True))
        started = time.monotonic()
        res = flood.run(url, work, threads=threads, solutions=lambda _c, job: by_index[job.index])
        flood_s = time.monotonic() - started
        # Each client fetched the form once (CSRF), then posted its share.
        requests = len(work) + threads
        say(
            f"flood: {reports:,} reports in {flood_s:.1f} s through Caddy,"
            f" {requests / flood_s:,.0f} requests/s; outcomes "
            + ", ".join(f"{k} {v}" for k, v in sorted(res.outcomes.items()))
        )

        # 2. One report downtown, opened as an incident by the dispatcher on the desk.
        reporter = flood.Client(url)
        reporter.form_page("100.99.0.10")
        job = flood.Job(
            index=reports,
            address="100.99.0.10",
            point=DOWNTOWN,
            kind="checkpoint",
            text="Checkpoint downtown, agents stopping cars.",
            nonce="metro-downtown",
        )
        status, _s, outcome = reporter.post_report(
            job, flood.solve(reporter.challenge(job.address))
        )
        if outcome != "accepted":
            raise SystemExit(f"the downtown report was refused: {status} {outcome}")
        report = Report.objects.order_by("-pk").first()
        assert report is not None
        desk = Desk(url, session)
        desk.request("GET", "/desk/")
        status, location, _page = desk.request("POST", f"/desk/reports/{report.pk}/open/", {})
        match = re.search(r"/desk/incidents/(\d+)/", location)
        if status != 302 or match is None:
            raise SystemExit(f"opening the report answered {status} {location}")
        incident = int(match.group(1))
        desk.request("GET", f"/desk/incidents/{incident}/")

        # 3. Live pages of the incident, held open through the proxy.
        cookie = "; ".join(f"{k}={v}" for k, v in desk.cookies.items())
        watchers = [
            Viewer(
                url, f"/desk/incidents/{incident}/live/", cookie, f"100.98.{i // 250}.{i % 250 + 1}"
            )
            for i in range(viewers)
        ]
        for v in watchers:
            threading.Thread(target=v.run, daemon=True).start()
        for v in watchers:
            if not v.connected.wait(60):
                raise SystemExit("a live page did not open")
        time.sleep(1)
        before = {id(v): len(v.events) for v in watchers}

        # 4. Confirm: every member is alerted.
        confirmed_at = time.monotonic()
        status, location, _page = desk.request(
            "POST", f"/desk/incidents/{incident}/state/", {"state": "confirmed"}
        )
        confirm_s = time.monotonic() - confirmed_at
        alert = Alert.objects.filter(incident_id=incident).order_by("pk").last()
        if alert is None:
            raise SystemExit(f"the confirm made no alert ({status} {location})")
        target = Delivery.objects.filter(alert=alert).count()
        connections.close_all()
        say(f"confirmed through Caddy in {confirm_s:.2f} s: {target:,} deliveries queued")

        # 5. One app process and one worker killed mid fan-out, started again.
        killed_at = restarted_at = None
        deadline = confirmed_at + timeout
        while time.monotonic() < deadline:
            stats = at_peers(stats_path, push_path)
            if stats["unique"] >= kill_at * target:
                break
            time.sleep(0.05)
        killed_at = time.monotonic()
        at_kill = at_peers(stats_path, push_path)["unique"]
        apps[1].kill()
        crew[0].kill()
        say(f"killed app2 and worker1 (SIGKILL) with {at_kill:,} of {target:,} delivered")
        time.sleep(1)
        apps[1].start()
        crew[0].start()
        restarted_at = time.monotonic()
        at_restart = at_peers(stats_path, push_path)["unique"]
        wait_http(f"http://127.0.0.1:{apps[1].port}", apps[1])

        # Until every member has a message and the outbox is empty, then a moment more for
        # any late duplicate.
        from tocsin.alerts.models import DeliveryStatus

        while time.monotonic() < deadline:
            stats = at_peers(stats_path, push_path)
            if stats["unique"] >= target:
                waiting = Delivery.objects.filter(alert=alert).exclude(
                    status__in=[DeliveryStatus.SENT, DeliveryStatus.DEAD, DeliveryStatus.FAILED]
                )
                if not waiting.exists():
                    break
            time.sleep(0.2)
        time.sleep(3)
        stats = at_peers(stats_path, push_path)
        by_status = dict(
            Counter(Delivery.objects.filter(alert=alert).values_list("status", flat=True))
        )
        connections.close_all()
        for v in watchers:
            v.stop.set()
        seen = [min((t for t in v.events if t >= confirmed_at), default=None) for v in watchers]
        got = sorted(t - confirmed_at for t in seen if t is not None)
        figures = {
            "members": members,
            "deliveries": target,
            "lost": target - stats["unique"],
            "duplicates": stats["duplicates"],
            "confirm_s": confirm_s,
            "first_s": (stats["first"] or confirmed_at) - confirmed_at,
            "last_s": (stats["last"] or confirmed_at) - confirmed_at,
            "killed_at_s": killed_at - confirmed_at,
            "delivered_at_kill": at_kill,
            "backlog_at_restart": target - at_restart,
            "drain_after_restart_s": max(0.0, (stats["last"] or restarted_at) - restarted_at),
            "flood_reports": reports,
            "flood_s": flood_s,
            "requests_per_s": requests / flood_s,
            "flood_outcomes": dict(res.outcomes),
            "viewers": viewers,
            "viewers_updated": len(got),
            "viewer_update_p50_s": got[len(got) // 2] if got else None,
            "viewer_reconnects": sum(v.reconnects for v in watchers),
            "by_status": by_status,
            "events_before": sum(before.values()),
            "push_members": push,
            "push_received": read_stats(push_path)["unique"],
            "push_refused": read_stats(push_path).get("refused", 0),
        }
        return figures
    finally:
        for p in procs:
            p.stop()
        for p_ in (peer, pusher):
            if p_ is not None:
                p_.terminate()
                p_.wait()
        try:
            from django.db import connections as conns

            conns.close_all()
        except Exception:  # noqa: BLE001, S110 - Django may not have started
            pass
        drop_database(database_url)
        shutil.rmtree(work_dir, ignore_errors=True)
        if env.get("TOCSIN_VAULT_PASSPHRASE_FILE"):
            shutil.rmtree(os.path.dirname(env["TOCSIN_VAULT_PASSPHRASE_FILE"]), ignore_errors=True)
        if env.get("TOCSIN_DATA_DIR"):
            shutil.rmtree(env["TOCSIN_DATA_DIR"], ignore_errors=True)


def report(f: dict[str, Any], say: Any = print) -> None:
    rows = [
        ("deliveries lost", f"{f['lost']:,}", "0"),
        ("duplicates at the peers", f"{f['duplicates']:,}", "0"),
        ("confirm (the POST through Caddy)", f"{f['confirm_s']:.2f} s", "-"),
        ("confirm -> first delivery", f"{f['first_s']:.2f} s", "-"),
        ("confirm -> last delivery", f"{f['last_s']:.1f} s", "-"),
        (
            "app2 + worker1 killed at",
            f"{f['killed_at_s']:.1f} s ({f['delivered_at_kill']:,} in)",
            "-",
        ),
        (
            "backlog drained after the restart",
            f"{f['drain_after_restart_s']:.1f} s ({f['backlog_at_restart']:,} left)",
            "-",
        ),
        ("flood through Caddy", f"{f['requests_per_s']:,.0f} req/s", "-"),
        (
            "live pages that saw the confirm",
            f"{f['viewers_updated']}/{f['viewers']}",
            "all",
        ),
        (
            "  live update p50",
            "-"
            if f["viewer_update_p50_s"] is None
            else f"{f['viewer_update_p50_s'] * 1000:.0f} ms",
            "-",
        ),
        ("  live pages reconnected (app2 killed)", f"{f['viewer_reconnects']}", "-"),
    ]
    say(f"{'figure':<42}{'measured':>24}{'goal':>8}")
    for name, measured, goal in rows:
        say(f"{name:<42}{measured:>24}{goal:>8}")
    say(
        f"push: {f['push_received']:,} of {f['push_members']:,} members with a subscription"
        f" got theirs at the push peer, {f['push_refused']} pushes refused by it"
    )
    say(f"deliveries by state: {f['by_status']}")


def caddy_version() -> str:
    found = subprocess.run(["caddy", "version"], capture_output=True, text=True)  # noqa: S607
    return found.stdout.split()[0] if found.stdout else "?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--reports", type=int, default=2_000)
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-at", type=float, default=0.3)
    parser.add_argument("--lease", type=int, default=15)
    parser.add_argument("--email-rate", type=int, default=0, help="per worker; 0: no limit")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--database-url", default=os.environ.get("TOCSIN_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--smoke", action="store_true", help="200 members, 100 reports, 20 pages")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--push", type=int, default=None, help="members with push (default 10%%)")
    parser.add_argument("--smtp-peer", help=argparse.SUPPRESS)
    parser.add_argument("--push-peer", help=argparse.SUPPRESS)
    parser.add_argument("--push-key", help=argparse.SUPPRESS)
    parser.add_argument("--push-subscriptions", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smtp_peer:
        return smtp_peer(args.smtp_peer)
    if args.push_peer:
        return push_peer(args.push_peer, args.push_key, args.push, args.push_subscriptions)
    if args.smoke:
        args.members, args.reports, args.viewers, args.email_rate = 200, 100, 20, 25
    print(
        f"Metro rehearsal: {args.members:,} members, {args.reports:,} flood reports,"
        f" {args.viewers} live pages, 2 apps, {args.workers} workers, Caddy"
        f" {caddy_version()}, {os.cpu_count()} cores",
        flush=True,
    )
    figures = rehearse(
        members=args.members,
        reports=args.reports,
        viewers=args.viewers,
        workers=args.workers,
        kill_at=args.kill_at,
        lease=args.lease,
        email_rate=args.email_rate,
        push=args.members // 10 if args.push is None else args.push,
        threads=args.threads,
        timeout=args.timeout,
        database_url=args.database_url,
        redis_url=args.redis_url,
        say=lambda m: print(m, flush=True),
    )
    if args.json:
        print(json.dumps(figures), flush=True)
        return
    report(figures)
    if figures["lost"] or figures["duplicates"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
