"""A worker settles before it starts: what the first alert would otherwise wait for is
loaded, and what start-up loaded is taken out of the garbage collector's sight.

A fan-out makes many short-lived objects (a message, its payload and its links per
member); the collections they trigger walked every object Django and its modules hold
for the life of the process, 5-7 % of a delivery's instructions (docs/benchmarks.md).
Run in a child process: freezing the test process's own objects would keep them alive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SETTLE = textwrap.dedent(
    """
    import gc, json, sys
    import django
    django.setup()
    from tocsin.worker import settle
    before = gc.get_freeze_count()
    settle()
    modules = set(sys.modules)
    from tocsin.alerts import messages  # noqa: F401 - already loaded by the worker
    print(json.dumps({
        "before": before,
        "frozen": gc.get_freeze_count(),
        "tracked": len(gc.get_objects()),
        "urls": "tocsin.urls" in modules,
        "views": "tocsin.incidents.answer_views" in modules,
    }))
    """
)


def test_a_settled_worker_has_loaded_its_views_and_frozen_what_start_up_loaded() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tocsin.settings"}
    done = subprocess.run(
        [sys.executable, "-c", SETTLE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.strip().splitlines()[-1])
    # Django's and Tocsin's modules, classes and functions: far more than stay in sight.
    assert state["frozen"] > state["before"] + 50_000
    assert state["tracked"] < state["frozen"] / 10
    # The links in every message are reversed through the URLconf, which imports the views.
    assert state["urls"] is True
    assert state["views"] is True
