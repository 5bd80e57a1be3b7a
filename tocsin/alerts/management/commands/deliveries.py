"""List dead deliveries across all committees and queue them again: for operators."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from tocsin.alerts import dead


class Command(BaseCommand):
    help = (
        "List deliveries the workers gave up on (no addresses), and with --retry or "
        "--retry-id queue them again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--incident", type=int, help="only deliveries about this incident")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--retry", action="store_true", help="queue every listed one again")
        which.add_argument(
            "--retry-id",
            type=int,
            action="append",
            metavar="ID",
            help="queue this delivery again (repeatable)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rows = dead.dead(incident_id=options["incident"])
        if options["retry_id"]:
            rows = rows.filter(pk__in=options["retry_id"])
        self.stdout.write(
            f"{'id':>8}  {'incident':>8}  {'kind':<8}  {'tries':>5}  {'last attempt':<22}  reason"
        )
        listed = []
        for d in rows.iterator():
            when = f"{timezone.localtime(d.next_attempt_at):%Y-%m-%d %H:%M %Z}"
            note = "" if d.channel_usable and d.still_current else "  [cannot retry]"
            self.stdout.write(
                f"{d.pk:>8}  {d.alert.incident_id:>8}  {d.endpoint.kind:<8}  {d.attempts:>5}  "
                f"{when:<22}  {d.error}{note}"
            )
            listed.append(d.pk)
        self.stdout.write(f"{len(listed)} dead")
        not_dead = sorted(set(options["retry_id"] or ()) - set(listed))
        if not_dead:
            self.stdout.write(f"not dead or not found: {', '.join(map(str, not_dead))}")
        if options["retry"] or options["retry_id"]:
            result = dead.retry(rows)
            self.stdout.write(
                f"queued again: {result.queued}; cannot retry (channel removed or disabled, "
                f"or incident closed): {result.skipped}"
            )
