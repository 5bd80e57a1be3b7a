"""Flood benchmark: anonymous web reports through the real HTTP stack on loopback.

    uv run python bench/flood.py                      # 20,000 reports, 500 sources, 10 minutes
    uv run python bench/flood.py --reports 3000 --sources 200 --minutes 3     # medium size
    uv run python bench/flood.py --smoke              # 200 reports, as fast as they go

Starts ``uvicorn tocsin.asgi:application`` as a subprocess on a fresh TOCSIN_DATA_DIR
(SQLite), trusting 127.0.0.1 as its proxy, so X-Forwarded-For gives each fake source its
own address: ``--sources`` addresses over 3/5 as many /24 networks (the guards count per
network). One committee covers ``--cells`` area cells, with a member alert area in each.

Each report posts the form as a browser does (CSRF cookie and token, a solved ALTCHA
challenge), paced evenly over ``--minutes`` from a pool of keep-alive clients. The
challenges are fetched and solved before the flood, while the server is quiet, as an
attacker would stockpile them: they stay valid 30 minutes. Halfway, a trusted member
texts REPORT through the signed Twilio webhook, and the clock runs until the report is in
the dispatcher's desk queue (the query the desk view renders).

No network is refused for sending many reports (only past TOCSIN_REPORT_REFUSE_PER_10MIN,
200 in 10 minutes, which this flood's 20,000 over 300 networks stays under): past its
share (10) a network's reports need the harder TOCSIN_POW_BURST challenge and wait in the
desk's burst lane, grouped by network and place. A stockpiled quiet-time challenge is too
easy for a network past its share, so those reports come back "pow_refused".

With ``--fresh`` there is no stockpile: each report's client fetches a challenge from its
own network (the harder one past its share) and solves it just before posting (in Python
threads, so about one core of hashing), as an attacker must now that a challenge stops
counting once the load makes new ones 4x harder.

Printed next to the goals: deliveries (0), incidents opened per cell per 15 minutes
(at most 1), the member's report's time to the queue (< 60 s), intake latency p50/p95/p99
(p95 < 500 ms), the burst lane (reports and groups), and a floor measured in the same run:
GET /report/ (the empty form) on the same server, quiet before the flood and sampled
during it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import set_up, throwaway_install, wait_ready  # noqa: E402

TWILIO_TOKEN = "flood-bench-twilio-token"
CENTER = (34.0339, -118.2107)


def environment() -> dict[str, str]:
    return {
        **throwaway_install("flood"),
        "TOCSIN_TRUSTED_PROXIES": "127.0.0.1",
        "TOCSIN_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TOCSIN_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TOCSIN_TWILIO_FROM": "+12135550100",
        # Nothing is sent (no worker runs); should anything try, it finds a closed port.
        "TOCSIN_TWILIO_API_URL": "http://127.0.0.1:9",
    }


def solve_one(challenge: dict[str, Any]) -> str:
    from tests.flood_support import solve

    return solve(challenge)


def send_trusted_sms(url: str) -> str:
    """POST a member's REPORT to the Twilio inbound webhook, signed; return the receipt."""
    from twilio.request_validator import RequestValidator

    from tests.flood_support import TRUSTED_PHONE, TRUSTED_TEXT

    params = {
        "From": TRUSTED_PHONE,
        "To": "+12135550100",
        "Body": f"REPORT {TRUSTED_TEXT}",
        "MessageSid": "SM" + "f" * 32,
    }
    hook = f"{url}/hooks/sms/inbound/"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(hook, params)
    data = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(hook, data=data, headers={"X-Twilio-Signature": signature})
    with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310
        body = r.read().decode()
    match = re.search(r"report ([A-Z0-9-]+) received", body)
    if match is None:
        raise SystemExit(f"the SMS webhook did not take the report: {body[:300]}")
    return match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=20000)
    parser.add_argument("--sources", type=int, default=500)
    parser.add_argument("--cells", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=10, help="0: as fast as possible")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--smoke", action="store_true", help="200 reports, 40 sources, 0 min")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="solve a new challenge for each report during the flood (no stockpile)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.reports, args.sources, args.cells, args.minutes = 200, 40, 5, 0
    networks = max(1, args.sources * 3 // 5)

    env = environment()
    url = env["TOCSIN_SITE_URL"]
    port = set_up(env)
    from django.db import connections
    from django.utils import timezone

    from tests import flood_support as flood
    from tocsin.alerts.models import Delivery
    from tocsin.incidents.models import Incident
    from tocsin.intake.models import Channel, Report

    seeded = flood.seed(args.cells, CENTER)
    connections.close_all()
    since = timezone.now()

    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tocsin.asgi:application", "--host", "127.0.0.1"]
        + ["--port", str(port), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    try:
        wait_ready(url, server)
        print(
            f"flood: {args.reports} reports, {args.sources} sources over {networks} /24 "
            f"networks, {args.cells} cells, {args.minutes} min, {args.threads} clients"
        )
        probe = flood.Client(url)
        quiet = [probe.form_page() for _ in range(50)]

        work = flood.jobs(args.reports, args.sources, networks, seeded.points)
        by_index: dict[int, str] = {}
        quiet_max = int(probe.challenge()["maxnumber"])
        if not args.fresh:
            # Stockpile: challenges fetched while the server is quiet, solved on every core.
            started = time.monotonic()
            challenges = [probe.challenge() for _ in range(args.reports)]
            quiet_max = max(int(c["maxnumber"]) for c in challenges)
            with multiprocessing.Pool() as pool:
                solutions = pool.map(solve_one, challenges, chunksize=64)
            print(
                f"stockpiled {len(solutions)} challenges (maxnumber {quiet_max}) "
                f"in {time.monotonic() - started:.1f} s"
            )
            by_index = dict(zip((j.index for j in work), solutions, strict=True))

        seconds = args.minutes * 60
        result: dict[str, Any] = {}
        done = threading.Event()

        def send() -> None:
            result["flood"] = flood.run(
                url,
                work,
                threads=args.threads,
                seconds=seconds,
                # Fresh: each client fetches and solves a challenge before each report.
                solutions=None if args.fresh else (lambda _client, job: by_index[job.index]),
            )
            done.set()

        during: list[float] = []
        flood_max: list[int] = []

        def sample() -> None:
            client = flood.Client(url)
            while not done.wait(0.5):
                during.append(client.form_page())
                flood_max.append(int(client.challenge()["maxnumber"]))
            client.close()

        sender = threading.Thread(target=send)
        sampler = threading.Thread(target=sample)
        flood_started = time.monotonic()
        sender.start()
        sampler.start()

        # Halfway through (by count of reports stored), a trusted member texts REPORT.
        while Report.objects.filter(channel=Channel.WEB).count() < args.reports // 20 and (
            not done.is_set()
        ):
            time.sleep(0.2)
        if seconds:
            time.sleep(max(0.0, flood_started + seconds / 2 - time.monotonic()))
        sent_at = time.monotonic()
        receipt = send_trusted_sms(url)
        trusted = Report.objects.get(receipt=receipt)
        to_queue = None
        while time.monotonic() - sent_at < 300:
            queue, lane = flood.queue_report_ids(seeded.dispatcher_id)
            if trusted.pk in queue:
                to_queue = time.monotonic() - sent_at
                break
            time.sleep(0.05)
        sender.join()
        sampler.join()
        elapsed = time.monotonic() - flood_started
        connections.close_all()

        res = result["flood"]
        lat = res.latencies
        queue, lane = flood.queue_report_ids(seeded.dispatcher_id)
        web = Report.objects.filter(channel=Channel.WEB)
        suspicious = web.filter(suspicious=True).count()
        deliveries = Delivery.objects.count()
        opened = Incident.objects.filter(opened_at__gte=since).count()
        per_cell = flood.incidents_per_cell_per_window(since)
        p = flood.percentile
        print(f"sent in {elapsed:.1f} s ({args.reports / elapsed:.1f} reports/s)")
        print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(res.outcomes.items())))
        groups = web.filter(suspicious=True).values("burst_group").order_by().distinct().count()
        print(
            f"stored web reports {web.count()}: burst lane {suspicious} in {groups} groups "
            f"(one network near one place each), main queue {web.count() - suspicious}"
        )
        print(
            f"challenge maxnumber: {'quiet' if args.fresh else 'stockpiled'} {quiet_max}, "
            "fetched during the flood "
            f"{min(flood_max, default=0)}..{max(flood_max, default=0)}"
        )
        print(f"{'figure':<44}{'measured':>12}{'goal':>12}")
        rows = [
            ("deliveries to members", f"{deliveries}", "0"),
            ("reports refused (429)", f"{res.outcomes.get('rate_limited', 0)}", "-"),
            ("incidents opened (all cells)", f"{opened}", "-"),
            ("incidents opened, max per cell per 15 min", f"{per_cell}", "<= 1"),
            (
                "member's SMS report to desk queue",
                "never" if to_queue is None else f"{to_queue * 1000:.0f} ms",
                "< 60 s",
            ),
            (
                "member's report still in queue at the end",
                "yes" if trusted.pk in queue else "no (pushed out)",
                "-",
            ),
            ("intake POST p50", f"{p(lat, 50) * 1000:.0f} ms", "-"),
            ("intake POST p95", f"{p(lat, 95) * 1000:.0f} ms", "< 500 ms"),
            ("intake POST p99", f"{p(lat, 99) * 1000:.0f} ms", "-"),
            ("floor: GET /report/ p95, quiet", f"{p(quiet, 95) * 1000:.0f} ms", "-"),
            ("floor: GET /report/ p95, during flood", f"{p(during, 95) * 1000:.0f} ms", "-"),
        ]
        for name, measured, goal in rows:
            print(f"{name:<44}{measured:>12}{goal:>12}")
        if during:
            print(f"intake p95 / floor p95 during flood: {p(lat, 95) / p(during, 95):.2f}x")
        if res.errors:
            print(f"client errors: {len(res.errors)}, first: {res.errors[0]}")
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(env["TOCSIN_DATA_DIR"], ignore_errors=True)
        shutil.rmtree(os.path.dirname(env["TOCSIN_VAULT_PASSPHRASE_FILE"]), ignore_errors=True)


if __name__ == "__main__":
    main()
