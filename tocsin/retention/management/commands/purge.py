"""Purge what the retention rules say is old enough (workers also do this every hour)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tocsin.retention.purge import purge
from tocsin.vault import retention


class Command(BaseCommand):
    help = "Delete data past its retention period (docs/data-inventory.md) and reclaim space."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would go, change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        counts = purge(dry_run=dry_run)
        verb = "would purge" if dry_run else "purged"
        width = max(len(name) for name in retention.CLASSES)
        for name, count in counts.items():
            self.stdout.write(f"{name:<{width}}  {count}")
        self.stdout.write(f"{verb} {sum(counts.values())} in all")
