"""Fan-out benchmark: from "confirmed" to every delivery handed to a transport.

    uv run python bench/fanout.py                          # 1,000,000 members, 100,000 recipients
    uv run python bench/fanout.py --members 200000 --recipients 20000     # medium size
    uv run python bench/fanout.py --smoke                  # 2,000 and 500, one repeat (CI)
    uv run python bench/fanout.py --backends sqlite --members 20000 --recipients 5000 --profile
                                                           # cProfile the last SQLite drain

Synthetic members over the Los Angeles basin (fixed seed), each with one area (an H3 cell
at resolution 8 and a ring 0-3) and one verified email endpoint, sealed like a real one.
Exactly ``--recipients`` of them have an area inside the alert disk around downtown LA;
the rest are spread over the metro where no area of theirs reaches it.

Each run confirms a new incident there (tocsin.incidents.services.change_state, whose
transaction writes the Delivery rows) and stops the clock when the last delivery has been
handed to a null transport and recorded as sent:

- SQLite: one process confirms, then drains the outbox itself (tocsin.alerts.outbox.drain).
- PostgreSQL, with 1, 2 and 4 worker processes, connected and idle before the clock
  starts. When the confirm has committed, the benchmark wakes them through a pipe: what
  Tocsin's task queue does, without its polling delay. With ``--poll 0.02`` they poll
  drain() every 20 ms instead, as in tests/test_workers_exactly_once.py (on two cores,
  four idle pollers cost a noticeable share of the CPU). Each worker reports through a
  pipe when its drain finished, so the clock never depends on polling the database.

It prints each configuration's median of ``--repeat`` runs, split into confirm (the
transaction that targets and writes the deliveries) and drain (from its commit to the last
delivery recorded as sent), next to a floor measured in the same run: one bare
INSERT ... SELECT of the same rows into the delivery table, committed, with no Python per
row. Any fan-out writes each row at least once, so "x floor" says how many such writes the
whole path costs. Also the ratio to the goal (100,000 deliveries in 2 s; the same rate at
other sizes), the speed-up of 2 and 4 workers over 1, and a worker's peak memory (VmHWM)
idle and with the in-memory targeting index of every member built.

The PostgreSQL database (``--database-url``) is created and dropped by the benchmark; it
refuses the shared ``test`` and ``postgres`` databases.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import queue
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tocsin.transports.base import Message, Transport  # noqa: E402

RES = 8  # settings.AREA_RESOLUTION's default; the dataset is checked against the real setting
BOX = (33.70, 34.30, -118.67, -117.90)  # lat min/max, lng min/max, as in bench/targeting.py
DOWNTOWN = (34.0522, -118.2437)
GOAL_S, GOAL_RECIPIENTS = 2.0, 100_000
CHUNK = 10_000  # members created per transaction
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/tocsin_bench_fanout"
SHARED_DATABASES = {"test", "postgres", "root", "template0", "template1"}


class NullTransport(Transport):
    """Accepts every message and does nothing: the benchmark measures Tocsin, not SMTP.

    It counts its sends (workers may send from several threads), so the benchmark can
    check that every delivery was handed over exactly once.
    """

    kind = "email"
    # As the email transport it stands for: a send thread per 100 messages of a batch.
    messages_per_thread = 100
    _sends: ClassVar[int] = 0
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        with NullTransport._lock:
            NullTransport._sends += 1

    @classmethod
    def take(cls) -> int:
        """Return the sends since the last call."""
        with cls._lock:
            n, cls._sends = cls._sends, 0
        return n


def setup_django() -> None:
    """Set up Django on the environment's database, with the null transport for every kind."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
    # One confirmation reaches every recipient here: the two-person rule and the breaker
    # (which would hold a wide alert for a second person) are measured elsewhere.
    os.environ.setdefault("TOCSIN_TWO_PERSON_THRESHOLD", "10000000")
    os.environ.setdefault("TOCSIN_ALERTS_PER_HOUR", "1000")
    import django

    django.setup()
    from tocsin.transports import registry

    # Patched before tocsin.alerts.outbox is imported, so any way it reaches the registry
    # finds the null transport.
    registry.registry = lambda: {"email": NullTransport, "webpush": NullTransport}


def warm_up() -> None:
    """Do what a worker process does before it starts (tocsin.worker.settle, called by
    `tocsin worker` and `serve --with-worker`): load the URLconf and each language's
    translations, then freeze what start-up made out of the garbage collector's sight.
    Without it, each fresh worker would spend a fraction of a second of the timed run
    importing, and every collection would walk all of Django's objects."""
    from tocsin.worker import settle

    settle()


def start_index(timeout: float = 900) -> float | None:
    """Start this process's in-memory targeting index, as Tocsin's web server and worker
    do, and wait until it is built. Return the seconds it took, or None if this version
    of Tocsin has no such index (targeting then asks the database)."""
    try:
        from tocsin.alerts import cellindex
    except ImportError:
        return None
    start, index = getattr(cellindex, "start", None), getattr(cellindex, "INDEX", None)
    if start is None or index is None:
        return None
    t0 = time.monotonic()
    start()
    while not getattr(index, "ready", True):
        if time.monotonic() - t0 > timeout:
            sys.exit(f"the targeting index was not ready after {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - t0


def peak_kb(field: str = "VmHWM") -> int:
    """Return this process's peak resident memory (or, with "VmRSS", its current) in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def mb(kb: int) -> str:
    return f"{kb / 1024:,.0f} MB"


# --- The dataset -------------------------------------------------------------------------


def dataset(members: int, recipients: int, seed: int, cache: Path) -> dict[str, list]:
    """Return the members as columns: area cell and ring, language, recipient or not, and
    the sealed endpoint with its blind index. Cached in the data folder, which both backends
    share (with its vault key), so the second backend does not seal again."""
    if cache.exists():
        with cache.open("rb") as f:
            return pickle.load(f)
    from django.conf import settings

    from tocsin import geo, vault
    from tocsin.alerts import targeting

    assert settings.AREA_RESOLUTION == RES, "the dataset assumes areas at resolution 8"
    alert = targeting.alert_disk(geo.cell_at(*DOWNTOWN, geo.REPORT_RESOLUTION))
    inside = sorted(geo.disk(alert.cell, alert.ring))
    rng = random.Random(seed)
    chosen = [True] * recipients + [False] * (members - recipients)
    rng.shuffle(chosen)  # recipients' ids spread through the tables, as in real sign-ups
    cols: dict[str, list] = {k: [] for k in ("cell", "ring", "language", "recipient")}
    for is_recipient in chosen:
        ring = rng.randint(0, 3)
        if is_recipient:
            cell = rng.choice(inside)
        else:
            while True:  # anywhere in the metro where this area cannot reach the alert
                cell = geo.cell_at(rng.uniform(BOX[0], BOX[1]), rng.uniform(BOX[2], BOX[3]), RES)
                d = geo.distance(alert.cell, cell)
                if d is None or d > alert.ring + ring:
                    break
        cols["cell"].append(cell)
        cols["ring"].append(ring)
        cols["language"].append("es" if rng.random() < 0.3 else "en")
        cols["recipient"].append(is_recipient)
    addresses = [f"member{i}@example.org" for i in range(members)]
    cols["sealed"] = [vault.seal({"address": a}) for a in addresses]
    cols["blind"] = [vault.blind_index("email", a, form="email") for a in addresses]
    with cache.open("wb") as f:
        pickle.dump(cols, f, protocol=pickle.HIGHEST_PROTOCOL)
    return cols


def load(cols: dict[str, list], committee_id: int) -> set[int]:
    """Create the members (of the committee: alerts reach a committee's own members),
    areas and endpoints; return the recipients' member ids."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from tocsin.committees.models import Membership
    from tocsin.members.models import AlertArea, ContactEndpoint, Member

    now = timezone.now()
    password = make_password(None)
    recipients = set()
    n = len(cols["cell"])
    for start in range(0, n, CHUNK):
        idx = range(start, min(n, start + CHUNK))
        with transaction.atomic():
            users = User.objects.bulk_create(
                [User(username=f"bench-{i}", password=password) for i in idx], batch_size=2000
            )
            people = Member.objects.bulk_create(
                [
                    Member(user_id=u.pk, display_name=f"Member {i}", language=cols["language"][i])
                    for i, u in zip(idx, users, strict=True)
                ],
                batch_size=2000,
            )
            Membership.objects.bulk_create(
                [Membership(committee_id=committee_id, member_id=m.pk) for m in people],
                batch_size=2000,
            )
            AlertArea.objects.bulk_create(
                [
                    AlertArea(member_id=m.pk, cell=cols["cell"][i], ring=cols["ring"][i])
                    for i, m in zip(idx, people, strict=True)
                ],
                batch_size=2000,
            )
            ContactEndpoint.objects.bulk_create(
                [
                    ContactEndpoint(
                        member_id=m.pk,
                        kind="email",
                        sealed=cols["sealed"][i],
                        blind_index=cols["blind"][i],
                        verified_at=now,
                    )
                    for i, m in zip(idx, people, strict=True)
                ],
                batch_size=2000,
            )
        recipients.update(m.pk for i, m in zip(idx, people, strict=True) if cols["recipient"][i])
        if (start // CHUNK + 1) % 20 == 0:
            print(f"  ... {idx.stop:,} members", flush=True)
    return recipients


def empty_outbox() -> None:
    """Delete every delivery and bring the table back to a steady state (never timed)."""
    from django.db import connection

    from tocsin.alerts.models import Delivery

    Delivery.objects.all().delete()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f"VACUUM ANALYZE {Delivery._meta.db_table}")
        else:
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# --- One run -------------------------------------------------------------------------------


def new_incident(dispatcher):  # type: ignore[no-untyped-def]
    """Return a fresh incident at downtown LA, reported but not confirmed (never timed)."""
    from django.utils import timezone

    from tocsin.incidents.models import Incident, State
    from tocsin.incidents.reports import receive_report
    from tocsin.incidents.services import open_incident

    empty_outbox()
    # The previous run's incident is still open at the same place: a new report would join
    # it (clustering). Close it as history without notices, like a resolved one.
    Incident.objects.open().update(state=State.RESOLVED, closed_at=timezone.now())
    report = receive_report(channel="web", kind="checkpoint", lat=DOWNTOWN[0], lng=DOWNTOWN[1])
    return open_incident(report, actor=dispatcher)


def confirm(incident, dispatcher) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """Confirm ``incident``; return the clock before and after, and the alert's id."""
    from tocsin.alerts.models import Alert
    from tocsin.incidents.models import State
    from tocsin.incidents.services import change_state

    t0 = time.monotonic()
    change_state(incident, State.CONFIRMED, actor=dispatcher)
    t1 = time.monotonic()
    return t0, t1, Alert.objects.filter(incident=incident).values_list("id", flat=True).get()


def check_sent(alert_id: int, target: int, sends: int) -> None:
    from tocsin.alerts.models import Delivery, DeliveryStatus

    sent = Delivery.objects.filter(alert_id=alert_id, status=DeliveryStatus.SENT).count()
    if sent != target or sends != target:
        sys.exit(f"expected {target:,} deliveries sent once each: {sent:,} sent, {sends:,} sends")


class Stages:
    """CPU time (of the drain's thread) in each stage of a drain, by wrapping the
    functions the drain calls for it: what "outbox CPU per delivery" is made of. The
    send pool's threads are the process's CPU less the drain thread's."""

    # (module, class or "", function, stage): patched where the drain's code looks
    # them up, so the stage's time is the drain thread's CPU inside that call.
    WRAPPED = (
        ("tocsin.alerts.outbox.draining", "", "claim", "claim (lease + read)"),
        ("tocsin.alerts.outbox.sending", "", "_load", "load (rows, alerts)"),
        ("tocsin.alerts.outbox.sending", "", "open_fast", "unseal (worker seal)"),
        ("tocsin.alerts.outbox.sending", "", "store", "store new worker seals"),
        ("tocsin.alerts.messages", "Renderer", "render", "render (link signed)"),
        ("tocsin.alerts.outbox.recording", "_SentRows", "record", "record sent"),
        ("tocsin.alerts.outbox.draining", "", "fall_back_unreceived", "look back for receipts"),
    )

    def __init__(self) -> None:
        import importlib

        self.cpu: dict[str, float] = {}
        self._undo: list[tuple[object, str, object]] = []
        for module, cls, name, stage in self.WRAPPED:
            owner: Any = importlib.import_module(module)
            if cls:
                owner = getattr(owner, cls)
            original = getattr(owner, name)
            self._undo.append((owner, name, original))
            setattr(owner, name, self._timed(original, stage))
            self.cpu[stage] = 0.0

    def _timed(self, fn, stage):  # type: ignore[no-untyped-def]
        cpu = self.cpu
        drain = threading.get_ident()

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            if threading.get_ident() != drain:
                return fn(*args, **kwargs)
            t = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                cpu[stage] += time.thread_time() - t

        return timed

    def stop(self) -> None:
        for owner, name, original in self._undo:
            setattr(owner, name, original)

    def report(self, target: int, cpu: float, drain: float) -> None:
        rows = [*self.cpu.items()]
        rows.append(
            ("drain thread, the rest (jobs, hand over, wait)", drain - sum(self.cpu.values()))
        )
        rows.append(("send pool threads (send, pace, window)", cpu - drain))
        print(f"    stages, CPU us per delivery (total {cpu / target * 1e6:.1f}):")
        for stage, seconds in rows:
            print(f"      {stage:<50} {seconds / target * 1e6:6.1f}")


def run_sqlite(  # type: ignore[no-untyped-def]
    dispatcher, target: int, timeout: float, *, profile: bool = False, stages: bool = False
) -> dict[str, float]:
    """One process: confirm, then drain until every delivery is sent (under cProfile,
    whose overhead the CPU figure then includes, if ``profile``)."""
    import cProfile
    import pstats

    from tocsin.alerts import outbox

    incident = new_incident(dispatcher)
    NullTransport.take()
    t0, t1, alert_id = confirm(incident, dispatcher)
    profiler = cProfile.Profile() if profile else None
    timers = Stages() if stages else None
    # CPU of this process (all its threads: the drain and the send pool) while draining.
    c0 = time.process_time()
    m0 = time.thread_time()
    done = 0
    while done < target:
        outcome = outbox.drain() if profiler is None else profiler.runcall(outbox.drain)
        done += outcome.sent + outcome.failed + outcome.dead
        if time.monotonic() - t0 > timeout:
            sys.exit(f"timed out after {timeout:.0f} s with {done:,} of {target:,} handled")
    end = time.monotonic()
    cpu = time.process_time() - c0
    drain_thread = time.thread_time() - m0
    if timers is not None:
        timers.stop()
        timers.report(target, cpu, drain_thread)
    check_sent(alert_id, target, NullTransport.take())
    if profiler is not None:
        # The drain's own thread only (cProfile does not follow the send pool's threads).
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(35)
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(45)
    return {"total": end - t0, "confirm": t1 - t0, "drain": end - t1, "cpu": cpu / target}


def peer(dispatcher, target: int, around=None) -> float:  # type: ignore[no-untyped-def]
    """Return the CPU per delivery of the least Python any outbox runs, measured on the same
    kind of alert: confirm one, then, in one thread and batches of 500, read each row's
    member, sealed details, language and worker seal in one joined SELECT, open the seal
    (AES-GCM), sign the member's link, make the message's text and HTML, hand it to the
    null transport, and mark the batch sent in one UPDATE, committed.

    What it leaves out, and the outbox does not: the lease (a crashed worker's rows come
    back), send threads (a slow channel never holds up the others), the record window (a
    kill repeats at most 128 messages), failures, pacing, every channel's extra fields.
    Tocsin's primitives are used as they are (the renderer's parts, the link signer, the
    worker seal's cipher), so the ratio to it is the outbox's own overhead. ``around``: a
    context manager around the measured part (bench/callgrind_outbox.py)."""
    incident = new_incident(dispatcher)
    _, _, alert_id = confirm(incident, dispatcher)
    NullTransport.take()
    with around or contextlib.nullcontext():
        c0 = time.process_time()
        done = _peer(alert_id)
        cpu = time.process_time() - c0
    if done != target or NullTransport.take() != target:
        sys.exit(f"the peer sent {done:,} deliveries, not {target:,}")
    return cpu / target


def _peer(alert_id: int) -> int:
    import json

    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from tocsin.alerts import messages
    from tocsin.alerts.models import Alert, Delivery, WorkerSeal
    from tocsin.alerts.outbox import resealing
    from tocsin.members.models import ContactEndpoint, Member
    from tocsin.transports.base import Message

    transport = NullTransport()
    alert = Alert.objects.select_related("incident").get(pk=alert_id)
    renderer = messages.Renderer()
    # Each language's message around the link, as the renderer splits it.
    parts = {}
    for language, _ in settings.LANGUAGES:
        renderer.render(alert, member_id=0, language=language)
        parts[language] = renderer._done[alert.id, language]
    signer, before, after, html_before, html_after, incident_id = renderer._links[alert.id]
    assert signer is not None
    aead = resealing._aead(resealing.worker_key())
    nonce, decode, sign, of = resealing._NONCE, resealing._decode, signer.sign_pair, Message.of
    delivery = Delivery._meta.db_table
    # The claim's own read (the due rows of the channel, in order, from the partial index
    # that holds them), without its lease: rows leave the index once marked sent.
    read = f"""
        SELECT d.id, d.member_id, e.sealed, m.language, s.blob FROM {delivery} d
        JOIN {ContactEndpoint._meta.db_table} e ON e.id = d.endpoint_id
        JOIN {Member._meta.db_table} m ON m.id = d.member_id
        JOIN {WorkerSeal._meta.db_table} s ON s.endpoint_id = d.endpoint_id
        WHERE d.status IN ('queued', 'failed') AND d.next_attempt_at <= ? AND d.kind = ?
        ORDER BY d.priority, d.next_attempt_at, d.id LIMIT 500
    """  # noqa: S608 - table names from the models
    mark = f"""
        UPDATE {delivery} SET status = 'sent', sent_at = ?
        WHERE id IN (SELECT value FROM json_each(?))
    """  # noqa: S608
    connection.ensure_connection()
    db = connection.connection
    done = 0
    while True:
        with transaction.atomic():
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            rows = db.execute(read, [now, NullTransport.kind]).fetchall()
            if not rows:
                break
            ids = []
            for pk, member_id, sealed, language, blob in rows:
                payload = decode(aead.decrypt(blob[1 : 1 + nonce], blob[1 + nonce :], sealed))
                token = sign(member_id, incident_id)
                url = f"{before}{token}{after}"
                shared, text, html = parts[language]
                message = of(
                    shared.subject,
                    url.join(text),
                    url,
                    f"{html_before}{token}{html_after}".join(html),
                    shared.extra,
                )
                transport.send(payload, message, idempotency_key="")
                ids.append(pk)
            db.execute(mark, [now, json.dumps(ids)])
            done += len(ids)
    return done


def run_postgres(  # type: ignore[no-untyped-def]
    dispatcher, target: int, workers: int, *, poll: float, timeout: float, logs: Path
) -> dict[str, float]:
    """Start ``workers`` processes, wait until each is connected and idle, confirm, wake
    them (unless they poll), and stop the clock when their reports add up to every
    delivery."""
    incident = new_incident(dispatcher)
    reports: queue.Queue[tuple[int, dict | None]] = queue.Queue()
    procs = []
    for i in range(workers):
        with (logs / f"worker-{i}.log").open("ab") as log:
            p = subprocess.Popen(
                [sys.executable, __file__, "--worker", f"--poll={poll}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        procs.append(p)
        threading.Thread(target=_read_reports, args=(i, p, reports), daemon=True).start()
    try:
        idle_kb = []
        while len(idle_kb) < workers:
            idle_kb.append(_next_report(reports, 300, logs)["kb"])
        t0, t1, alert_id = confirm(incident, dispatcher)
        if not poll:
            for p in procs:  # what the task queue does on commit, without its polling delay
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
        done = sends = 0
        end = t1
        peak = [0] * workers
        while done < target:
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                sys.exit(f"timed out after {timeout:.0f} s with {done:,} of {target:,} handled")
            msg = _next_report(reports, left, logs)
            done += msg["handled"]
            end = max(end, msg["t"])
            peak[msg["worker"]] = max(peak[msg["worker"]], msg["kb"])
            sends += msg["sends"]
    finally:
        for p in procs:
            p.terminate()  # a worker waiting for a wake or in its poll sleep; nothing lost
        for p in procs:
            p.wait()
    check_sent(alert_id, target, sends)
    return {
        "total": end - t0,
        "confirm": t1 - t0,
        "drain": end - t1,
        "idle_kb": max(idle_kb),
        "peak_kb": max(peak),
    }


def _read_reports(i: int, proc: subprocess.Popen, out: queue.Queue) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        out.put((i, json.loads(line)))
    out.put((i, None))


def _next_report(reports: queue.Queue, timeout: float, logs: Path) -> dict:
    try:
        i, msg = reports.get(timeout=timeout)
    except queue.Empty:
        sys.exit(f"no word from the workers in {timeout:.0f} s")
    if msg is None:
        tail = (logs / f"worker-{i}.log").read_text(errors="replace")[-3000:]
        sys.exit(f"worker {i} exited:\n{tail}")
    msg["worker"] = i
    return msg


def work(poll: float) -> None:
    """A worker process: connect, say so, then drain whenever woken (a line on stdin) or,
    with ``poll``, every ``poll`` seconds, as in tests/test_workers_exactly_once.py.

    After each drain that handled deliveries it writes one JSON line to stdout: when the
    drain returned (time.monotonic, one clock for every process on Linux), how many it
    handled, the null transport's sends since the last line and its peak memory. A drain
    returns once its claims find nothing more, so the time includes those empty claims.
    """
    setup_django()
    from tocsin.alerts import outbox
    from tocsin.alerts.models import Delivery

    Delivery.objects.exists()  # connect before saying ready
    outbox.drain()
    warm_up()
    print(json.dumps({"kb": peak_kb()}), flush=True)
    while poll or sys.stdin.readline():
        while True:
            outcome = outbox.drain()
            handled = outcome.sent + outcome.failed + outcome.dead
            if not handled:
                break
            report = {"t": time.monotonic(), "handled": handled, "sends": NullTransport.take()}
            print(json.dumps({**report, "kb": peak_kb()}), flush=True)
        time.sleep(poll)


def probe() -> None:
    """Print, as one JSON line, a worker's peak memory idle and then with the targeting
    index built over every member and one alert targeted."""
    setup_django()
    from tocsin import geo
    from tocsin.alerts import outbox, targeting

    outbox.drain()
    warm_up()
    idle = peak_kb()
    built = start_index()
    alert = targeting.alert_disk(geo.cell_at(*DOWNTOWN, geo.REPORT_RESOLUTION))
    t0 = time.monotonic()
    matched = len(targeting.matching_members(alert))
    took = time.monotonic() - t0
    out = {
        "idle_kb": idle,
        "kb": peak_kb(),
        "rss_kb": peak_kb("VmRSS"),
        "matched": matched,
        "built": built,
        "took": took,
    }
    print(json.dumps(out), flush=True)


def floor(incident, cells: list[int], target: int, around=None) -> float:  # type: ignore[no-untyped-def]
    """Return the time to write one delivery row per recipient into the delivery table in
    one bare INSERT ... SELECT (no Python per row, no targeting) and commit it.

    Every recipient's area is in one of ``cells`` and no one else's is, so the SELECT
    finds exactly the recipients' endpoints. The columns come from the model, so the
    floor keeps up with changes to it."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from tocsin.alerts.models import Alert, Delivery, DeliveryStatus
    from tocsin.members.models import AlertArea, ContactEndpoint

    empty_outbox()
    now = timezone.now()
    alert = Alert.objects.create(
        incident=incident,
        msg_type="Alert",
        purpose="confirmed",
        certainty="Observed",
        cell=incident.area_cell,
        ring=0,
        expires_at=now + timedelta(hours=1),
    )
    given = {"alert": alert.pk, "status": DeliveryStatus.QUEUED, "next_attempt_at": now}
    from_endpoint = {"member": "e.member_id", "endpoint": "e.id", "kind": "e.kind"}
    columns, values, params = [], [], []
    for field in Delivery._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.name in from_endpoint:
            values.append(from_endpoint[field.name])
        else:
            values.append("%s")
            value = given.get(field.name, field.get_default())
            params.append(field.get_db_prep_save(value, connection))
    sql = (
        f"INSERT INTO {Delivery._meta.db_table} ({', '.join(columns)})"
        f" SELECT {', '.join(values)} FROM {ContactEndpoint._meta.db_table} e"
        f" JOIN {AlertArea._meta.db_table} a ON a.member_id = e.member_id"
        f" WHERE a.cell IN ({', '.join(['%s'] * len(cells))})"
    )
    # ``around``: a context manager around the write alone (bench/callgrind_outbox.py
    # counts its instructions).
    t0 = time.monotonic()
    with around or contextlib.nullcontext(), transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, [*params, *cells])
        written = cur.rowcount
    elapsed = time.monotonic() - t0
    alert.delete()
    if written != target:
        sys.exit(f"the floor's INSERT wrote {written:,} rows, not {target:,}")
    return elapsed


# --- One backend, in its own process ---------------------------------------------------------


def bench_committee():  # type: ignore[no-untyped-def]
    """Make the benchmarks' committee (3 km around downtown) and its dispatcher, Diego;
    return both."""
    from django.utils import timezone

    from tocsin import geo
    from tocsin.committees.models import Committee, Membership, Role
    from tocsin.members.models import Member

    committee = Committee.objects.create(
        name="Bench", slug="bench", kind="neighborhood", approved_at=timezone.now()
    )
    committee.set_area(geo.cells_for_circle(*DOWNTOWN, 3000, RES))
    dispatcher = Member.create(display_name="Diego", language="en")
    Membership.objects.create(committee=committee, member=dispatcher, role=Role.DISPATCHER)
    return committee, dispatcher


def run_backend(args: argparse.Namespace) -> None:
    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from tocsin import geo
    from tocsin.alerts import targeting

    postgres = connection.vendor == "postgresql"
    data_dir = Path(os.environ["TOCSIN_DATA_DIR"])
    print(f"== {'PostgreSQL' if postgres else 'SQLite'}", flush=True)
    call_command("migrate", verbosity=0)

    committee, dispatcher = bench_committee()

    start = time.monotonic()
    cache = data_dir / f"fanout-{args.members}-{args.recipients}-{args.seed}.pickle"
    cached = cache.exists()
    cols = dataset(args.members, args.recipients, args.seed, cache)
    made = time.monotonic() - start
    recipients = load(cols, committee.pk)
    del cols
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE" if postgres else "ANALYZE")
    how = "read from the cache" if cached else "generated and sealed"
    print(
        f"dataset: {args.members:,} members {how} in {made:.0f} s,"
        f" written in {time.monotonic() - start - made:.0f} s"
    )

    # This process confirms, like the web server: its index is built before any run, and
    # targeting is checked against the members the dataset placed in the alert area.
    warm_up()
    built = start_index()
    alert = targeting.alert_disk(geo.cell_at(*DOWNTOWN, geo.REPORT_RESOLUTION))
    t0 = time.monotonic()
    matched = targeting.matching_members(alert)
    took = time.monotonic() - t0
    target = len(recipients)
    index = "no in-memory index" if built is None else f"index built in {built:.1f} s"
    print(
        f"targeting: {len(matched):,} members match (the dataset placed {target:,} in the"
        f" alert area) in {took * 1000:.0f} ms ({index})"
    )
    if matched != recipients:
        sys.exit("targeting does not match the recipients the dataset placed")
    if not args.cold:
        # What an idle worker's housekeeping does before any alert (docs/operations.md):
        # every endpoint sealed ahead, so no run opens an address by an X25519.
        from tocsin.alerts import outbox

        t0 = time.monotonic()
        while outbox.prepare_seals(limit=5000):
            pass
        print(f"endpoints sealed ahead for the workers in {time.monotonic() - t0:.1f} s")
    probed = subprocess.run([sys.executable, __file__, "--probe"], capture_output=True, text=True)
    if probed.returncode:
        sys.exit(f"the memory probe failed:\n{probed.stderr[-3000:]}")
    mem = json.loads(probed.stdout)

    goal = GOAL_S * target / GOAL_RECIPIENTS
    if postgres:
        configs = [(f"{n} worker{'s' * (n > 1)}", n) for n in args.workers]
    else:
        configs = [("1 process", 0)]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in configs}
    floors, peers = [], []
    floor_incident = new_incident(dispatcher)
    inside = sorted(geo.disk(alert.cell, alert.ring))
    for r in range(args.repeat):
        floors.append(floor(floor_incident, inside, target))
        # Configurations take turns within each repeat, so the machine's noise hits all alike.
        for name, n in configs:
            if postgres:
                run = run_postgres(
                    dispatcher, target, n, poll=args.poll, timeout=args.timeout, logs=data_dir
                )
            else:
                last = r == args.repeat - 1
                run = run_sqlite(
                    dispatcher,
                    target,
                    args.timeout,
                    profile=args.profile and last,
                    stages=args.stages and r > 0,
                )
            runs[name].append(run)
            print(
                f"  repeat {r + 1}: {name:<10} {run['total']:7.2f} s"
                f" (confirm {run['confirm']:.2f} s, drain {run['drain']:.2f} s)"
                + (f", CPU {run['cpu'] * 1e6:.1f} us per delivery" if "cpu" in run else ""),
                flush=True,
            )
        if not postgres:
            peers.append(peer(dispatcher, target))
            print(f"  repeat {r + 1}: peer       CPU {peers[-1] * 1e6:.1f} us per delivery")

    fl = statistics.median(floors)
    print(
        f"floor: one bare INSERT ... SELECT of the {target:,} delivery rows, committed:"
        f" median {fl:.3f} s (the write any fan-out must make; 'x floor' counts such writes)"
    )
    print(
        f"goal: {GOAL_RECIPIENTS:,} deliveries in {GOAL_S:.0f} s"
        f" ({GOAL_RECIPIENTS / GOAL_S:,.0f}/s), so {goal:.2f} s for {target:,}"
    )
    medians = {}
    for name, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("total", "confirm", "drain")}
        medians[name] = med
        each = " ".join(f"{r['total']:.2f}" for r in rs)
        print(
            f"{name:<10} median {med['total']:7.2f} s = confirm {med['confirm']:6.2f}"
            f" + drain {med['drain']:7.2f}   {target / med['total']:8,.0f}/s"
            f"   {med['total'] / goal:6.2f}x goal   {med['total'] / fl:6.1f}x floor"
            f"   runs: {each}"
        )
    if not postgres:
        cpu = statistics.median(r["cpu"] for rs in runs.values() for r in rs) * 1e6
        print(
            f"outbox CPU per delivery beyond the channel (null transport): median {cpu:.1f} us"
            f" (claim, load, unseal, render, hand over, record); floor: one row write"
            f" {fl / target * 1e6:.1f} us (the INSERT above per row), so"
            f" {cpu * target / 1e6 / fl:.1f}x it; goal <= 25 us (issue 20: 3.6x its row write"
            f" of 6.9 us); load average {os.getloadavg()[0]:.1f}"
        )
        least = statistics.median(peers) * 1e6
        print(
            f"peer: the least Python any outbox runs (one thread, no lease, no window; see"
            f" peer()), median {least:.1f} us per delivery = {least * target / 1e6 / fl:.1f}x"
            f" the row write; the outbox is {cpu / least:.2f}x it"
        )
    claims = -(-target // settings.DELIVERY_BATCH)
    if postgres and claims < max(args.workers):
        print(
            f"note: {target:,} deliveries make {claims} claim(s) of up to"
            f" {settings.DELIVERY_BATCH} (TOCSIN_DELIVERY_BATCH): more workers cannot share them"
        )
    if postgres and len(configs) > 1:
        first_name = configs[0][0]
        one = medians[first_name]
        ups = ", ".join(
            f"{name} {one['total'] / medians[name]['total']:.2f}x"
            f" (drain {one['drain'] / medians[name]['drain']:.2f}x)"
            for name, _ in configs[1:]
        )
        print(f"speed-up over {first_name}: {ups}; {os.cpu_count()} cores")
    if postgres:
        idle = max(r["idle_kb"] for rs in runs.values() for r in rs)
        peak = max(r["peak_kb"] for rs in runs.values() for r in rs)
        print(f"worker peak memory (VmHWM): idle {mb(idle)}, after draining {mb(peak)}")
    if mem["built"] is None:
        how = f"after targeting {args.members:,} members (no in-memory index)"
    else:
        how = (
            f"with the targeting index of {args.members:,} members (built in {mem['built']:.1f} s)"
        )
    print(
        f"worker memory {how}: peak (VmHWM) {mb(mem['kb'])}, resident after (VmRSS)"
        f" {mb(mem['rss_kb'])}; idle peak {mb(mem['idle_kb'])},"
        f" so +{mb(mem['kb'] - mem['idle_kb'])} at peak"
    )


# --- The driver ------------------------------------------------------------------------------


def create_database(url: str) -> bool:
    """Create the benchmark's own database afresh; return False if PostgreSQL is unreachable."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in SHARED_DATABASES:
        sys.exit(f"--database-url must name a database of the benchmark's own, not {name!r}")
    try:
        conn = psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)
    except Exception as e:  # noqa: BLE001
        print(f"PostgreSQL unreachable at {url}: {type(e).__name__}; PostgreSQL skipped")
        return False
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--workers", default="1,2,4", help="PostgreSQL worker counts")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--database-url", default=os.environ.get("TOCSIN_BENCH_PG", DEFAULT_PG))
    parser.add_argument(
        "--poll",
        type=float,
        default=0,
        help="PostgreSQL workers poll drain() every POLL seconds instead of being woken"
        " through a pipe when the confirm commits (default)",
    )
    parser.add_argument("--smoke", action="store_true", help="2,000 members, 500, one repeat")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the last SQLite drain"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="no endpoint sealed ahead: the first run opens each address by an X25519",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="print the CPU of each stage of the SQLite drains after the first",
    )
    for internal in ("--backend-run", "--worker", "--probe"):
        parser.add_argument(internal, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return work(args.poll)
    if args.probe:
        return probe()
    args.workers = [int(w) for w in str(args.workers).split(",")]
    if args.backend_run:
        return run_backend(args)

    if args.smoke:
        args.members, args.recipients, args.repeat = 2_000, 500, 1
    if not 0 < args.recipients <= args.members:
        sys.exit("--recipients must be between 1 and --members")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgres"}:
        sys.exit("--backends takes sqlite and/or postgres")
    print(
        f"Fan-out: {args.members:,} members, {args.recipients:,} in the alert area"
        f" (downtown LA), seed {args.seed}, {args.repeat} repeat(s), {os.cpu_count()} cores,"
        f" load average {os.getloadavg()[0]:.1f} at the start"
    )
    # One data folder for both backends: they share the vault key, so the sealed dataset
    # made for the first is reused by the second.
    # The vault opens without a prompt (a throwaway passphrase file, as bench/server.py's).
    import server

    install = server.throwaway_install("bench-fanout")
    data_dir = Path(install["TOCSIN_DATA_DIR"])
    env = {
        **os.environ,
        **{k: install[k] for k in ("TOCSIN_VAULT_PASSPHRASE_FILE", "TOCSIN_VAULT_KDF")},
        "DJANGO_SETTINGS_MODULE": "tocsin.settings",
        "TOCSIN_DATA_DIR": str(data_dir),
        "TOCSIN_LOG_LEVEL": os.environ.get("TOCSIN_LOG_LEVEL", "WARNING"),
    }
    env.pop("TOCSIN_DATABASE_URL", None)
    child = [
        sys.executable,
        __file__,
        "--backend-run",
        f"--members={args.members}",
        f"--recipients={args.recipients}",
        f"--workers={','.join(map(str, args.workers))}",
        f"--repeat={args.repeat}",
        f"--seed={args.seed}",
        f"--timeout={args.timeout}",
        f"--poll={args.poll}",
        *(["--profile"] if args.profile else []),
        *(["--stages"] if args.stages else []),
        *(["--cold"] if args.cold else []),
    ]
    failed = False
    try:
        for backend in backends:
            if backend == "sqlite":
                failed |= subprocess.run(child, env=env).returncode != 0
            elif create_database(args.database_url):
                try:
                    pg_env = {**env, "TOCSIN_DATABASE_URL": args.database_url}
                    failed |= subprocess.run(child, env=pg_env).returncode != 0
                finally:
                    drop_database(args.database_url)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(Path(install["TOCSIN_VAULT_PASSPHRASE_FILE"]).parent, ignore_errors=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
