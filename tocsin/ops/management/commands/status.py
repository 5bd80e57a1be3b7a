"""Print what /readyz checks, for a person at the server's terminal."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tocsin.ops import readiness


class Command(BaseCommand):
    help = (
        "Check the database, Redis, the vault, the workers' heartbeats and the delivery "
        "queue, as /readyz does. Exits 1 when any check fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print /readyz's JSON body")

    def handle(self, *args: Any, **options: Any) -> None:
        checks = readiness.run()
        if options["json"]:
            self.stdout.write(json.dumps(readiness.as_json(checks), indent=2))
        else:
            width = max(len(c.name) for c in checks)
            for c in checks:
                mark = "ok  " if c.ok else "FAIL"
                value = "" if c.value is None else f" ({_value(c)})"
                self.stdout.write(f"{mark} {c.name:<{width}}  {c.detail}{value}")
        if not all(c.ok for c in checks):
            raise CommandError("not ready", returncode=1)
        self.stdout.write("ready")


def _value(check: readiness.Check) -> str:
    if check.name == "worker":
        return f"last heartbeat {check.value:.0f} s ago"
    if check.name == "queue":
        return f"oldest waiting {check.value:.0f} s"
    if check.name == "vault":
        return f"{check.value:g} workers hold the key"
    return f"{check.value:g}"
