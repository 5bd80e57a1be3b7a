"""The metro rehearsal, small (bench/metro.py --smoke): Caddy from deploy/Caddyfile in
front of two `tocsin serve` processes, two `tocsin worker` processes, PostgreSQL and Redis,
everything driven with real HTTP through the proxy; one app process and one worker killed
mid fan-out and started again. It runs in the suite's PostgreSQL run, in processes of its
own, on a database of its own (created and dropped)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from tests.conftest import need
from tocsin.alerts import outbox

ROOT = Path(__file__).resolve().parent.parent


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def test_a_metro_behind_caddy_loses_no_alert_when_an_app_and_a_worker_die_mid_fan_out() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL run (TOCSIN_DATABASE_URL): a metro is PostgreSQL")
    url = urlsplit(os.environ["TOCSIN_DATABASE_URL"])
    need(reachable(url.hostname or "127.0.0.1", url.port or 5432), "PostgreSQL is unreachable")
    need(reachable("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    need(shutil.which("caddy") is not None, "Caddy is not installed (apt-get install caddy)")
    database = urlunsplit(url._replace(path="/tocsin_test_metro"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "bench/metro.py", "--smoke", "--json", f"--database-url={database}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])

    # Every member got the alert: 200 deliveries, all recorded as sent, each at the peer.
    assert figures["deliveries"] == 200
    assert figures["by_status"] == {"sent": 200}
    assert figures["lost"] == 0
    # The killed worker recorded each send as the sends paused: what went out again when
    # its lease expired is at most its window of unrecorded sends (in practice the
    # messages in its transports' hands at the kill; SMTP has no idempotency key to drop
    # them), never the rest of its batch (tests/test_outbox_kill.py).
    assert figures["duplicates"] <= outbox.RECORD_WINDOW
    # A tenth of the members have a push subscription too, tried first: the push peer
    # verified and decrypted each of theirs, and refused none.
    assert figures["push_members"] == figures["push_received"] == 20
    assert figures["push_refused"] == 0
    # The flood went through Caddy, and was taken.
    assert figures["flood_outcomes"] == {"accepted": 100}
    # Every live page open through the proxy saw the confirmation.
    assert figures["viewers_updated"] == figures["viewers"] == 20
    assert figures["delivered_at_kill"] < figures["deliveries"]
