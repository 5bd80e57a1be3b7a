"""Intake benchmark: what one anonymous web report costs next to a near-empty view.

    uv run python bench/intake.py                   # 400 requests a figure, 5 repeats
    uv run python bench/intake.py --smoke           # 40 requests a figure, 2 repeats

Starts ``uvicorn tocsin.asgi:application`` as a subprocess on a fresh TOCSIN_DATA_DIR
(SQLite), trusting 127.0.0.1 as its proxy, so X-Forwarded-For gives each report its own
network. One committee covers the reports' place. Against that one server, in turns within
each repeat, ``--clients`` keep-alive clients send:

- floor: GET /healthz (the process answers, through every middleware, no template), and
  GET /offline/ (a small page in the site's layout, for scale);
- report: a valid anonymous report, posted as the browser does (CSRF cookie and token, a
  solved ALTCHA challenge), each from a network of its own, so every guard runs (rate
  limit, proof of work, burst detection) and the report is stored: 302 to its receipt;
- refused: the same POST from a network past TOCSIN_REPORT_REFUSE_PER_10MIN: 429.

Each figure is requests per second and the server's CPU per request (user + system time
of the uvicorn process, from /proc), the median of ``--repeats``, and its ratio to the
healthz floor. The challenges are solved before the clock runs (at a low TOCSIN_POW_MIN:
the server's check costs the same at any difficulty). The machine may be shared: read the
ratios, not the times, and the load average printed with them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import set_up, throwaway_install, wait_ready  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CENTER = (34.0339, -118.2107)
# The network whose reports are refused: its share is spent before the clock runs.
REFUSED_NETWORK = "100.127.255.10"


def environment() -> dict[str, str]:
    return {
        **throwaway_install("intake"),
        "TOCSIN_TRUSTED_PROXIES": "127.0.0.1",
        # One report per network within its share and no more: the next is refused (429).
        "TOCSIN_REPORT_RATE_PER_10MIN": "1",
        "TOCSIN_REPORT_REFUSE_PER_10MIN": "1",
        "TOCSIN_POW_MIN": "1000",
        "TOCSIN_POW_MAX": "1000",
    }


def solve_one(challenge: dict[str, Any]) -> str:
    from tests.flood_support import solve

    return solve(challenge)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def run(
    url: str, pid: int, clients: int, count: int, send: Callable[[Any, int], str]
) -> tuple[float, float, Counter[str]]:
    """Send ``count`` requests over ``clients`` keep-alive clients; return requests per
    second, server CPU seconds per request, and the outcomes."""
    from tests.flood_support import Client

    pool = [Client(url) for _ in range(clients)]
    for c in pool:
        c.form_page()  # its CSRF cookie and token, outside the clock
    cursor = iter(range(count))
    lock = threading.Lock()
    outcomes: Counter[str] = Counter()

    def worker(client: Any) -> None:
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            what = send(client, i)
            with lock:
                outcomes[what] += 1

    threads = [threading.Thread(target=worker, args=(c,)) for c in pool]
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - wall, cpu_seconds(pid) - cpu
    for c in pool:
        c.close()
    return count / wall, cpu / count, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="per figure and repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="40 requests, 2 repeats")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.repeats = 40, 2

    env = environment()
    url = env["TOCSIN_SITE_URL"]
    port = set_up(env)
    from django.db import connections

    from tests import flood_support as flood

    flood.seed(1, CENTER)
    connections.close_all()

    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tocsin.asgi:application", "--host", "127.0.0.1"]
        + ["--port", str(port), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    try:
        wait_ready(url, server)
        probe = flood.Client(url)
        probe.form_page()
        reports = args.requests * args.repeats
        challenges = [probe.challenge() for _ in range(reports + 1)]
        with multiprocessing.Pool() as pool:
            solutions = pool.map(solve_one, challenges, chunksize=32)
        # Spend the refused network's share: its one report within it is stored.
        first = flood.Job(0, REFUSED_NETWORK, CENTER, "checkpoint", flood.TEXTS[0], "spent")
        assert probe.post_report(first, solutions.pop())[2] == "accepted"
        probe.close()

        def get(path: str) -> Callable[[Any, int], str]:
            def send(client: Any, _i: int) -> str:
                status, _body, _response = client.request("GET", path)
                return str(status)

            return send

        taken = iter(range(reports))
        taken_lock = threading.Lock()

        def report(client: Any, _i: int) -> str:
            with taken_lock:
                n = next(taken)
            # A network of its own for each report (address() spreads 65,536 of them).
            job = flood.Job(
                n + 1,
                flood.address(n, 60000),
                CENTER,
                flood.KINDS[n % len(flood.KINDS)],
                flood.TEXTS[n % len(flood.TEXTS)],
                f"bench-{n}",
            )
            return client.post_report(job, solutions[n])[2]

        def refused(client: Any, i: int) -> str:
            job = flood.Job(i, REFUSED_NETWORK, CENTER, "checkpoint", flood.TEXTS[1], f"r-{i}")
            return client.post_report(job, solutions[0])[2]

        figures: dict[str, tuple[Callable[[Any, int], str], str]] = {
            "healthz": (get("/healthz"), "GET /healthz (floor)"),
            "offline": (get("/offline/"), "GET /offline/ (small page)"),
            "report": (report, "POST /report/ valid, stored"),
            "refused": (refused, "POST /report/ refused 429"),
        }
        rates: dict[str, list[float]] = {k: [] for k in figures}
        cpus: dict[str, list[float]] = {k: [] for k in figures}
        seen: dict[str, Counter[str]] = {k: Counter() for k in figures}
        loads = []
        print(
            f"intake: {args.requests} requests a figure, {args.repeats} repeats, "
            f"{args.clients} clients, {os.cpu_count()} cores"
        )
        for _ in range(args.repeats):
            loads.append(os.getloadavg()[0])
            for name, (send, _label) in figures.items():
                rate, cpu, outcomes = run(url, server.pid, args.clients, args.requests, send)
                rates[name].append(rate)
                cpus[name].append(cpu)
                seen[name].update(outcomes)
        med = {k: statistics.median(v) for k, v in rates.items()}
        cpu_med = {k: statistics.median(v) for k, v in cpus.items()}
        print(f"{'figure':<32}{'req/s':>9}{'ratio':>8}{'CPU/req':>10}{'CPU ratio':>11}  outcomes")
        for name, (_send, label) in figures.items():
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(seen[name].items()))
            print(
                f"{label:<32}{med[name]:>9.0f}{med[name] / med['healthz']:>8.2f}"
                f"{cpu_med[name] * 1000:>8.2f}ms{cpu_med[name] / cpu_med['healthz']:>11.2f}"
                f"  {outcomes}"
            )
        print(
            "report per second / healthz per second: "
            f"{med['report'] / med['healthz']:.2f} (goal >= 0.50); "
            f"429 CPU / healthz CPU: {cpu_med['refused'] / cpu_med['healthz']:.2f} (goal <= 1)"
        )
        print(
            "load average (1 min) at each repeat: " + ", ".join(f"{x:.2f}" for x in loads),
            f"; now {os.getloadavg()[0]:.2f}",
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(env["TOCSIN_DATA_DIR"], ignore_errors=True)
        shutil.rmtree(os.path.dirname(env["TOCSIN_VAULT_PASSPHRASE_FILE"]), ignore_errors=True)


if __name__ == "__main__":
    main()
