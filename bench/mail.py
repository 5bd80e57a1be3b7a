"""Email benchmark: emails per CPU second as the worker sends them to a local SMTP server,
next to a floor measured in the same run.

    uv run python bench/mail.py                  # 2,000 emails, 5 repeats
    uv run python bench/mail.py --count 5000     # more
    uv run python bench/mail.py --smoke          # 100 emails, one repeat (CI)

The SMTP server is aiosmtpd (the same server as tests/peers/smtp.py) in its own process,
pinned to the other core when there is one: it accepts every message and counts
connections and messages, nothing else, so its CPU is not the sender's. It advertises
PIPELINING (RFC 2920) as Postfix and Exim do; ``--no-pipelining`` makes it a server that
does not (aiosmtpd's default), so each command waits for its reply.

Tocsin's side runs on SQLite in a throwaway data folder: ``--count`` members (English and
Spanish, as bench/fanout.py makes them), each with one sealed email endpoint, in one
alert area. Each repeat confirms a new incident and drains the outbox with the real worker
path (tocsin.alerts.outbox.drain: claim, unseal, render, EmailTransport, record), and
times the process CPU (all threads) of the drain. It also times the transport alone (the
same messages, pre-rendered, through EmailTransport's batch, on one thread).

The floor, in the same repeat: the least any Python sender does for the same messages,
with no Tocsin: build each MIME message (text and HTML alternatives, the same headers) with
the standard library's email package, and write it with smtplib on one kept-alive
connection.

As a reference, it also times smtplib alone writing messages built before the clock
starts: the SMTP exchange itself, which no smtplib sender goes below.

It prints each figure's median of ``--repeat`` runs in emails per CPU second, the ratio to
the floor, the SMTP connections opened per run, and the load average. Goal (issue 20):
>= 1,000 emails/s per core through the worker, one SMTP connection per batch.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

GOAL = 1000.0  # emails per CPU second, through the worker


# --- the SMTP server: aiosmtpd in a child process, counting ---


def _server_main(conn: Connection, cpu: int | None, pipelining: bool) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    import logging
    import threading

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    stats = {"connections": 0, "messages": 0}
    lock = threading.Lock()

    class Counter:
        async def handle_EHLO(  # noqa: N802
            self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            session.host_name = hostname
            if pipelining:
                return [*responses[:-1], "250-PIPELINING", responses[-1]]
            return responses

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            with lock:
                stats["messages"] += len(envelope.rcpt_tos)
            return "250 OK"

    class Counting(Controller):
        def factory(self) -> SMTP:
            with lock:
                stats["connections"] += 1
            return super().factory()

        def _trigger_server(self) -> None:
            assert self.server is not None
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    controller = Counting(Counter(), hostname="127.0.0.1", port=0)
    controller.start()
    conn.send(controller.port)
    while True:
        command = conn.recv()
        if command == "stats":
            with lock:
                conn.send(dict(stats))
                stats.update(connections=0, messages=0)
        else:
            break
    controller.stop()


class Server:
    """The SMTP server in a child process; ``stats()`` returns and resets its counters."""

    def __init__(self, cpu: int | None, *, pipelining: bool = True) -> None:
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("fork").Process(
            target=_server_main, args=(child, cpu, pipelining), daemon=True
        )
        self._process.start()
        self.port = self._conn.recv()

    def stats(self) -> dict[str, int]:
        self._conn.send("stats")
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=5)


# --- timing ---


class Rate:
    def __init__(self, count: int, wall: float, cpu: float, connections: int) -> None:
        self.wall = count / wall
        self.cpu = count / cpu if cpu > 0 else float("inf")
        self.connections = connections


def _timed(count: int, run: Any, server: Server) -> Rate:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = server.stats()
    if stats["messages"] != count:
        sys.exit(f"the SMTP server got {stats['messages']} messages, not {count}")
    return Rate(count, wall, cpu, stats["connections"])


def time_worker(dispatcher: Any, count: int, server: Server) -> Rate:
    """Confirm a new incident (not timed) and drain its emails with the worker's path."""
    from fanout import confirm, new_incident

    from tocsin.alerts import outbox
    from tocsin.alerts.models import Delivery, DeliveryStatus

    incident = new_incident(dispatcher)
    _t0, _t1, alert_id = confirm(incident, dispatcher)
    server.stats()  # nothing sent yet; start the count here

    def run() -> None:
        done = 0
        while done < count:
            outcome = outbox.drain()
            done += outcome.sent + outcome.failed + outcome.dead
            if outcome.failed or outcome.dead:
                sys.exit(f"{outcome.failed + outcome.dead} emails failed")

    rate = _timed(count, run, server)
    sent = Delivery.objects.filter(alert_id=alert_id, status=DeliveryStatus.SENT).count()
    if sent != count:
        sys.exit(f"{sent} deliveries recorded sent, not {count}")
    return rate


def time_transport(jobs: list[tuple[dict, Any]], server: Server) -> Rate:
    """Send pre-rendered messages through EmailTransport on one thread, as one batch
    (or one send each, for a transport without batches)."""
    from contextlib import nullcontext

    from tocsin.transports.email import EmailTransport

    def run() -> None:
        transport = EmailTransport()
        batch = getattr(transport, "batch", None)
        with batch() if batch else nullcontext(transport) as sender:
            for i, (payload, message) in enumerate(jobs):
                sender.send(payload, message, idempotency_key=f"a1-e{i}")

    return _timed(len(jobs), run, server)


def time_floor(jobs: list[tuple[dict, Any]], server: Server) -> Rate:
    """Build each message with the email package and send it with smtplib, one connection."""
    import smtplib
    from email.message import EmailMessage
    from email.policy import SMTP

    def run() -> None:
        smtp = smtplib.SMTP("127.0.0.1", server.port, timeout=10)
        for i, (payload, message) in enumerate(jobs):
            msg = EmailMessage(policy=SMTP)  # CRLF line ends, as SMTP wants
            msg["Subject"] = message.subject
            msg["From"] = "Tocsin <tocsin@localhost>"
            msg["To"] = payload["address"]
            msg["Message-ID"] = f"<a1-e{i}@localhost>"
            msg["Auto-Submitted"] = "auto-generated"
            msg.set_content(message.text)
            if message.html:
                msg.add_alternative(message.html, subtype="html")
            smtp.sendmail("tocsin@localhost", [payload["address"]], msg.as_bytes())
        smtp.quit()

    return _timed(len(jobs), run, server)


def time_wire(jobs: list[tuple[dict, Any]], server: Server) -> Rate:
    """The SMTP exchange alone: smtplib.sendmail of bytes built before the clock starts,
    on one kept-alive connection (what no sender can go below with smtplib)."""
    import smtplib
    from email.message import EmailMessage
    from email.policy import SMTP

    built = []
    for i, (payload, message) in enumerate(jobs):
        msg = EmailMessage(policy=SMTP)
        msg["Subject"] = message.subject
        msg["To"] = payload["address"]
        msg["Message-ID"] = f"<a1-e{i}@localhost>"
        msg.set_content(message.text)
        if message.html:
            msg.add_alternative(message.html, subtype="html")
        built.append((payload["address"], msg.as_bytes()))

    def run() -> None:
        smtp = smtplib.SMTP("127.0.0.1", server.port, timeout=10)
        for address, data in built:
            smtp.sendmail("tocsin@localhost", [address], data)
        smtp.quit()

    return _timed(len(jobs), run, server)


def rendered_jobs(dispatcher: Any, count: int) -> list[tuple[dict, Any]]:
    """Return (payload, message) pairs as the worker hands them to the transport, for the
    last alert: addresses unsealed, messages rendered (not timed)."""
    from tocsin import vault
    from tocsin.alerts import messages
    from tocsin.alerts.models import Alert
    from tocsin.members.models import ContactEndpoint

    alert = Alert.objects.select_related("incident").latest("pk")
    renderer = messages.Renderer()
    jobs = []
    endpoints = ContactEndpoint.objects.filter(kind="email").select_related("member")
    for e in endpoints.exclude(member__display_name="Diego")[:count]:
        payload = {**vault.unseal(bytes(e.sealed)), "member_id": e.member_id}
        message = renderer.render(alert, member_id=e.member_id, language=e.member.language)
        jobs.append((payload, message))
    return jobs


def run(args: argparse.Namespace, server: Server) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
    os.environ.setdefault("TOCSIN_TWO_PERSON_THRESHOLD", "10000000")
    os.environ.setdefault("TOCSIN_ALERTS_PER_HOUR", "1000")
    os.environ["TOCSIN_SMTP_HOST"] = "127.0.0.1"
    os.environ["TOCSIN_SMTP_PORT"] = str(server.port)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from fanout import bench_committee, dataset, load, warm_up

    call_command("migrate", verbosity=0)
    committee, dispatcher = bench_committee()
    data_dir = Path(os.environ["TOCSIN_DATA_DIR"])
    cols = dataset(args.count, args.count, 42, data_dir / "email.pickle")
    load(cols, committee.pk)
    warm_up()
    threads = settings.DELIVERY_CONCURRENCY.get("email", 4)
    print(
        f"{args.count:,} emails per run, batches of {settings.DELIVERY_BATCH},"
        f" {threads} send threads (TOCSIN_EMAIL_CONCURRENCY)"
    )

    # Warm up every path once (imports, the first connections), not timed.
    time_worker(dispatcher, args.count, server)
    jobs = rendered_jobs(dispatcher, args.count)
    time_transport(jobs[:50], server)
    time_floor(jobs[:50], server)
    time_wire(jobs[:50], server)

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
        profiler.enable()
        time_worker(dispatcher, args.count, server)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        pstats.Stats(profiler).sort_stats("cumtime").print_stats(40)

    rates: dict[str, list[Rate]] = {"worker": [], "transport": [], "floor": [], "wire": []}
    for r in range(args.repeat):
        # The measurements take turns within each repeat: the machine's noise hits all alike.
        rates["worker"].append(time_worker(dispatcher, args.count, server))
        rates["transport"].append(time_transport(jobs, server))
        rates["floor"].append(time_floor(jobs, server))
        rates["wire"].append(time_wire(jobs, server))
        print(
            f"  repeat {r + 1}: "
            + "  ".join(f"{name} {series[-1].cpu:6,.0f}/CPU s" for name, series in rates.items())
            + f"  load {os.getloadavg()[0]:.1f}"
        )

    floors = rates["floor"]

    def vs_floor(series: list[Rate]) -> float:
        return statistics.median(x.cpu / f.cpu for x, f in zip(series, floors, strict=True))

    names = {
        "worker": "Tocsin worker (outbox.drain)",
        "transport": "EmailTransport alone",
        "floor": "email package + smtplib (floor)",
        "wire": "smtplib, messages prebuilt (ref.)",
    }
    print(
        f"\n{'median of ' + str(args.repeat) + ' repeat(s)':<34} {'per CPU s':>10}"
        f" {'CPU/email':>10} {'x floor':>8} {'per s':>8} {'SMTP connections':>17}"
    )
    for key, series in rates.items():
        cpu = statistics.median(x.cpu for x in series)
        wall = statistics.median(x.wall for x in series)
        conns = statistics.median(x.connections for x in series)
        print(
            f"{names[key]:<34} {cpu:10,.0f} {1e6 / cpu:8,.0f}us {vs_floor(series):8.2f}"
            f" {wall:8,.0f} {conns:17,.0f}"
        )
    worker = statistics.median(x.cpu for x in rates["worker"])
    verdict = "met" if worker >= GOAL else "not met"
    print(
        f"Tocsin worker: {worker:,.0f} emails per CPU second (goal >= {GOAL:,.0f}: {verdict});"
        f" load average {os.getloadavg()[0]:.1f} at the end"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000, help="emails per run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="100 emails, one repeat")
    parser.add_argument("--profile", action="store_true", help="cProfile one worker run")
    parser.add_argument(
        "--no-pipelining", action="store_true", help="the server does not advertise PIPELINING"
    )
    args = parser.parse_args()
    if args.smoke:
        args.count, args.repeat = 100, 1

    cpus = sorted(os.sched_getaffinity(0))
    sender_cpu, server_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    # The server forks before Django loads, and gets the other core when there is one.
    server = Server(server_cpu, pipelining=not args.no_pipelining)
    if sender_cpu is not None:
        os.sched_setaffinity(0, {sender_cpu})
    sender_at = f"cpu {sender_cpu}" if sender_cpu is not None else "any core"
    server_at = f"cpu {server_cpu}" if server_cpu is not None else "the same core"
    print(
        f"Email: sender on {sender_at}, SMTP server (aiosmtpd"
        f"{', no PIPELINING' if args.no_pipelining else ', PIPELINING'}) on {server_at},"
        f" {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start"
    )
    sys.path.insert(0, str(BENCH))  # for fanout and server

    import server as install_helpers

    install = install_helpers.throwaway_install("bench-email")
    os.environ.update(install)
    os.environ.pop("TOCSIN_DATABASE_URL", None)
    os.environ["TOCSIN_LOG_LEVEL"] = os.environ.get("TOCSIN_LOG_LEVEL", "WARNING")
    try:
        run(args, server)
    finally:
        server.stop()
        shutil.rmtree(install["TOCSIN_DATA_DIR"], ignore_errors=True)
        shutil.rmtree(Path(install["TOCSIN_VAULT_PASSPHRASE_FILE"]).parent, ignore_errors=True)


if __name__ == "__main__":
    main()
