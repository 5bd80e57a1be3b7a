"""A flood of anonymous web reports through the real HTTP stack, for tests/test_flood.py
and bench/flood.py.

Each fake source is an IPv4 address sent in X-Forwarded-For (the server trusts 127.0.0.1
as its proxy, and uvicorn does too), spread over fewer /24 networks than sources, so the
per-network share (tocsin.lib.ratelimit) and the burst detection of new sources
(tocsin.intake.burst) see what they would see in a real flood. Each report fetches a
challenge from its own network (so past the network's share it gets the harder one),
solves the proof of work, and posts the form as the browser does (CSRF cookie and token
from GET /report/, one per client connection).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings

from tocsin import geo

# A few texts a flooder would recycle (the screening must not be what stops them).
TEXTS = [
    "ICE checkpoint at the corner, six agents, two vans.",
    "Agents going door to door on this block right now.",
    "Three unmarked vans by the laundromat.",
    "Retén de ICE en la esquina, muchos agentes.",
    "Raid at the car wash, they are taking people.",
]
KINDS = ["checkpoint", "agents_seen", "workplace_raid", "home_arrest", "detention"]
TRUSTED_PHONE = "+12135550142"
TRUSTED_TEXT = "Two ICE vans parked outside the elementary school on 4th, agents getting out."


def address(source: int, networks: int) -> str:
    """Return the address of fake ``source``: ``networks`` /24 networks in 100.64.0.0/10,
    several sources sharing a network when there are fewer networks than sources."""
    n, host = source % networks, 10 + source // networks
    return f"100.{64 + n // 256}.{n % 256}.{host}"


def area_cells(cells: int, center: tuple[float, float]) -> list[int]:
    """Return ``cells`` neighbouring area cells around ``center``."""
    middle = geo.cell_at(*center, settings.AREA_RESOLUTION)
    ring = 0
    while len(geo.disk(middle, ring)) < cells:
        ring += 1
    near = sorted(geo.disk(middle, ring), key=lambda c: (geo.distance(middle, c) or 0, c))
    return near[:cells]


@dataclass
class Seeded:
    points: list[tuple[float, float]]
    dispatcher_id: int
    trusted_id: int
    member_ids: list[int]


def seed(cells: int, center: tuple[float, float]) -> Seeded:
    """Create one committee over ``cells`` area cells, its dispatcher, a member alert area
    in each cell (so any alert would find someone) and a trusted member with a verified
    SMS number."""
    from django.utils import timezone

    from tests.factories import member
    from tocsin.committees.models import Committee, Role
    from tocsin.members.models import AlertArea, ContactEndpoint

    chosen = area_cells(cells, center)
    committee = Committee.objects.create(
        name="Flood",
        slug="flood",
        kind=Committee.Kind.NEIGHBORHOOD,
        approved_at=timezone.now(),
    )
    committee.set_area(set(chosen))
    dispatcher = member("Diego", committee, Role.DISPATCHER, email="diego@example.org")
    members = []
    for i, cell in enumerate(chosen):
        m = member(f"Member {i}", committee, Role.MEMBER, email=f"m{i}@example.org")
        AlertArea.objects.create(member=m, cell=cell, ring=1)
        members.append(m.pk)
    # The place the member's text names ("... the elementary school on 4th ...").
    from tocsin.places.models import Place, PlaceKind

    school = geo.center(chosen[0])
    Place.objects.create(
        committee=committee,
        name="Elementary school on 4th",
        kind=PlaceKind.SCHOOL,
        lat=school[0],
        lng=school[1],
    )
    trusted = member("Teresa", committee, Role.RESPONDER)
    AlertArea.objects.create(member=trusted, cell=chosen[0], ring=1)
    ContactEndpoint.create(trusted, "sms", TRUSTED_PHONE, verified=True)
    return Seeded(
        points=[geo.center(c) for c in chosen],
        dispatcher_id=dispatcher.pk,
        trusted_id=trusted.pk,
        member_ids=members,
    )


def solve(challenge: dict[str, Any]) -> str:
    """Return the base64 ALTCHA payload that solves ``challenge`` (tests/pow_support.py,
    without its Django test client, so worker processes can use it)."""
    salt, target = challenge["salt"], challenge["challenge"]
    prefix = hashlib.sha256(salt.encode())
    for number in range(int(challenge["maxnumber"]) + 1):
        h = prefix.copy()
        h.update(str(number).encode())
        if h.hexdigest() == target:
            payload = {
                "algorithm": challenge["algorithm"],
                "challenge": target,
                "number": number,
                "salt": salt,
                "signature": challenge["signature"],
            }
            return base64.b64encode(json.dumps(payload).encode()).decode()
    raise AssertionError("the challenge has no solution")


class Client:
    """One keep-alive HTTP connection with its own CSRF cookie, like one browser tab."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.cookie = ""
        self.token = ""

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, http.client.HTTPResponse]:
        headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if self.cookie:
            headers["Cookie"] = self.cookie
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read(), response
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle keep-alive connection: open a new one, once.
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def form_page(self, forwarded_for: str = "") -> float:
        """GET /report/ (keeping its CSRF cookie and token) and return its latency."""
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        start = time.perf_counter()
        status, body, response = self.request("GET", "/report/", headers=headers)
        elapsed = time.perf_counter() - start
        assert status == 200, status
        cookie = response.getheader("Set-Cookie") or ""
        match = re.search(r"csrftoken=([^;]+)", cookie)
        if match:
            self.cookie = f"csrftoken={match.group(1)}"
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        assert token is not None
        self.token = token.group(1).decode()
        return elapsed

    def challenge(self, forwarded_for: str = "") -> dict[str, Any]:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        status, body, _response = self.request("GET", "/report/challenge.json", headers=headers)
        assert status == 200, status
        return json.loads(body)

    def post_report(self, job: Job, altcha: str) -> tuple[int, float, str]:
        """POST the form; return (status, seconds, outcome)."""
        if not self.token:
            self.form_page(job.address)
        lat, lng = job.point
        body = urlencode(
            {
                "csrfmiddlewaretoken": self.token,
                "kind": job.kind,
                "text": job.text,
                "lat": f"{lat:.6f}",
                "lng": f"{lng:.6f}",
                "nonce": job.nonce,
                "altcha": altcha,
            }
        ).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Forwarded-For": job.address,
        }
        start = time.perf_counter()
        status, page, _response = self.request("POST", "/report/", body=body, headers=headers)
        elapsed = time.perf_counter() - start
        return status, elapsed, outcome(status, page)

    def close(self) -> None:
        self.conn.close()


def outcome(status: int, page: bytes) -> str:
    if status == 302:
        return "accepted"
    if status == 429:
        return "rate_limited"
    if status == 400 and b"anti-flood check" in page:
        return "pow_refused"
    if status == 403:
        return "csrf_refused"
    return f"other_{status}"


@dataclass(frozen=True)
class Job:
    index: int
    address: str
    point: tuple[float, float]
    kind: str
    text: str
    nonce: str


def jobs(
    reports: int, sources: int, networks: int, points: Sequence[tuple[float, float]]
) -> list[Job]:
    """Return the flood's reports: sources, cells, kinds and texts taken in turn."""
    return [
        Job(
            index=i,
            address=address(i % sources, networks),
            point=points[(i * 7) % len(points)],
            kind=KINDS[i % len(KINDS)],
            text=TEXTS[i % len(TEXTS)],
            nonce=f"flood-{i}",
        )
        for i in range(reports)
    ]


@dataclass
class Result:
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, seconds: float, what: str) -> None:
        with self.lock:
            self.outcomes[what] += 1
            self.latencies.append(seconds)


def run(
    url: str,
    work: Sequence[Job],
    *,
    threads: int,
    seconds: float = 0.0,
    solutions: Callable[[Client, Job], str] | None = None,
) -> Result:
    """Send every job over ``threads`` keep-alive clients, paced evenly over ``seconds``
    (0: as fast as they go). ``solutions`` returns a job's proof of work (default: fetch a
    challenge and solve it, outside the timed POST)."""
    result = Result()
    start = time.monotonic()
    gap = seconds / len(work) if work and seconds > 0 else 0.0
    cursor = iter(work)
    cursor_lock = threading.Lock()

    def solution(client: Client, job: Job) -> str:
        return solve(client.challenge(job.address))

    solve_for = solutions or solution

    def worker() -> None:
        client = Client(url)
        try:
            while True:
                with cursor_lock:
                    job = next(cursor, None)
                if job is None:
                    return
                altcha = solve_for(client, job)
                due = start + job.index * gap
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                try:
                    result.add(*client.post_report(job, altcha))
                except Exception as e:  # noqa: BLE001  # counted, never hidden
                    with result.lock:
                        result.errors.append(repr(e))
                        result.outcomes["error"] += 1
        finally:
            client.close()

    pool = [threading.Thread(target=worker, name=f"flood-{n}") for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return result


def percentile(values: Sequence[float], p: float) -> float:
    """Return the ``p`` percentile (0-100) of ``values``, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def queue_report_ids(dispatcher_id: int) -> tuple[set[int], set[int]]:
    """Return the ids in the dispatcher's desk queue, by the query the desk view renders
    (tocsin.desk.views._queue_context), and every id waiting in its burst lane."""
    from tocsin.committees import access
    from tocsin.desk.views import _queue_context
    from tocsin.intake.models import Report
    from tocsin.members.models import Member

    dispatcher = Member.objects.get(pk=dispatcher_id)
    ctx = _queue_context(dispatcher)
    lane = (
        Report.objects.unassigned()
        .for_committees(access.desk_committee_ids(dispatcher))
        .suspicious()
        .values_list("pk", flat=True)
    )
    return {r.pk for r in ctx["reports"]}, set(lane)


def incidents_per_cell_per_window(since: Any, minutes: int = 15) -> int:
    """Return the most incidents opened in one area cell within one ``minutes`` window
    since ``since``."""
    from tocsin.incidents.models import Incident

    opened = Incident.objects.filter(opened_at__gte=since).values_list("area_cell", "opened_at")
    buckets: Counter[tuple[int, int]] = Counter(
        (cell, int(at.timestamp() // (minutes * 60))) for cell, at in opened
    )
    return max(buckets.values(), default=0)
