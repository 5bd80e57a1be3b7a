"""Latency benchmark: from "confirm" to the first delivery recorded as sent.

    uv run python bench/latency.py                      # 1,000 members, 20 runs, SQLite
    uv run python bench/latency.py --backends sqlite,postgres --runs 20
    uv run python bench/latency.py --smoke              # 200 members, 5 runs

One process plays ``tocsin serve --with-worker``: the worker (tocsin.worker.Worker, its
threads and defaults as ``serve`` starts them) runs in this process, with the in-memory
targeting index built, and the null transport of bench/fanout.py for every channel. Each
run confirms a new incident over ``--members`` members (all in the alert area, each with one
verified email endpoint, sealed like a real one) with
``tocsin.incidents.services.change_state``, the call the confirm view makes, and stops the
clock when the worker has recorded the first delivery as sent in the database (the first
commit of sent rows). It then waits, untimed, until every delivery is sent exactly once.

It prints the median, p90 and slowest ("p99" at 20 runs is the slowest of them) next to
the confirm alone (the transaction that targets and writes the deliveries), measured in
the same runs: that is the part a worker cannot shorten. And the load average.

The PostgreSQL database (``--database-url``) is created and dropped by the benchmark.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fanout  # noqa: E402
import server  # noqa: E402

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/tocsin_bench_latency"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def run_backend(args: argparse.Namespace) -> None:
    fanout.setup_django()
    import logging

    logging.getLogger("django.tasks").setLevel(logging.WARNING)  # a line per task run
    from django.core.management import call_command
    from django.db import connection

    from tocsin.alerts.models import Delivery, DeliveryStatus
    from tocsin.alerts.outbox import recording
    from tocsin.worker import Worker

    postgres = connection.vendor == "postgresql"
    data_dir = Path(os.environ["TOCSIN_DATA_DIR"])
    print(f"== {'PostgreSQL' if postgres else 'SQLite'}", flush=True)
    call_command("migrate", verbosity=0)
    committee, dispatcher = fanout.bench_committee()
    cache = data_dir / f"latency-{args.members}.pickle"
    cols = fanout.dataset(args.members, args.members, 42, cache)
    fanout.load(cols, committee.pk)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE" if postgres else "ANALYZE")
    fanout.warm_up()
    fanout.start_index()

    # The first commit of sent rows after the clock started.
    first = threading.Event()
    stamp: list[float] = []
    record = recording._SentRows.record

    def timed_record(self: recording._SentRows) -> None:
        had = any(self.ids.values())
        record(self)
        if had and not first.is_set():
            stamp.append(time.monotonic())
            first.set()

    recording._SentRows.record = timed_record  # type: ignore[method-assign]

    worker = Worker()
    worker.start()
    latencies, confirms = [], []
    try:
        for r in range(args.runs + 1):  # the first run warms up and is not counted
            incident = fanout.new_incident(dispatcher)
            fanout.NullTransport.take()
            stamp.clear()
            first.clear()
            t0, t1, alert_id = fanout.confirm(incident, dispatcher)
            if not first.wait(args.timeout):
                sys.exit(f"no delivery recorded sent after {args.timeout:.0f} s")
            latency, took = stamp[0] - t0, t1 - t0
            deadline = time.monotonic() + args.timeout
            while (
                Delivery.objects.filter(alert_id=alert_id, status=DeliveryStatus.SENT).count()
                < args.members
            ):
                if time.monotonic() > deadline:
                    sys.exit("not every delivery was sent")
                time.sleep(0.05)
            fanout.check_sent(alert_id, args.members, fanout.NullTransport.take())
            if r:
                latencies.append(latency)
                confirms.append(took)
                print(
                    f"  run {r:2}: first sent {latency * 1000:6.1f} ms"
                    f" (confirm {took * 1000:5.1f} ms)",
                    flush=True,
                )
    finally:
        worker.stop()
    ms = [x * 1000 for x in latencies]
    floor = statistics.median(confirms) * 1000
    print(
        f"confirm -> first delivery recorded sent, {args.members:,} members, {len(ms)} runs:"
        f" p50 {statistics.median(ms):.1f} ms, p90 {pct(ms, 0.9):.1f} ms,"
        f" p99 {pct(ms, 0.99):.1f} ms, slowest {max(ms):.1f} ms"
    )
    print(
        f"floor: the confirm alone, median {floor:.1f} ms (p50 is"
        f" {statistics.median(ms) / floor:.1f}x it); goal p99 <= 100 ms;"
        f" load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--database-url", default=os.environ.get("TOCSIN_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--smoke", action="store_true", help="200 members, 5 runs")
    parser.add_argument("--backend-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.members, args.runs = 200, 5
    if args.backend_run:
        return run_backend(args)
    print(
        f"Latency: {args.members:,} members, {args.runs} runs, {os.cpu_count()} cores,"
        f" load average {os.getloadavg()[0]:.1f} at the start"
    )
    install = server.throwaway_install("bench-latency")
    data_dir = Path(install["TOCSIN_DATA_DIR"])
    env = {
        **os.environ,
        **install,
        "TOCSIN_LOG_LEVEL": os.environ.get("TOCSIN_LOG_LEVEL", "WARNING"),
    }
    env.pop("TOCSIN_DATABASE_URL", None)
    child = [
        sys.executable,
        __file__,
        "--backend-run",
        f"--members={args.members}",
        f"--runs={args.runs}",
        f"--timeout={args.timeout}",
    ]
    failed = False
    try:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            if backend == "sqlite":
                failed |= subprocess.run(child, env=env).returncode != 0
            elif fanout.create_database(args.database_url):
                try:
                    pg_env = {**env, "TOCSIN_DATABASE_URL": args.database_url}
                    failed |= subprocess.run(child, env=pg_env).returncode != 0
                finally:
                    fanout.drop_database(args.database_url)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(Path(install["TOCSIN_VAULT_PASSPHRASE_FILE"]).parent, ignore_errors=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
