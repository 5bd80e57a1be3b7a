"""A committee's named places from the command line: import a CSV or GeoJSON file of any
size (all of it, or nothing with every bad line listed), or list them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tocsin.committees.models import Committee
from tocsin.places import importing


class Command(BaseCommand):
    help = (
        "Import a committee's named public places from a CSV (name, lat, lng, kind, "
        "name_es) or GeoJSON file, or list them. Never a member's home."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("import", help="import a CSV or GeoJSON file")
        load.add_argument("slug")
        load.add_argument("file", type=Path)
        listing = sub.add_parser("list", help="list a committee's places")
        listing.add_argument("slug")

    def handle(self, *args: Any, **o: Any) -> None:
        committee = Committee.objects.filter(slug=o["slug"]).first()
        if committee is None:
            raise CommandError(f"no committee at /c/{o['slug']}/")
        if o["action"] == "list":
            for p in committee.places.all():
                self.stdout.write(f"{p.lat:.6f},{p.lng:.6f}\t{p.kind}\t{p.name}\t{p.name_es}")
            return
        path: Path = o["file"]
        try:
            data = path.read_bytes()
        except OSError as e:
            raise CommandError(f"cannot read {path}: {e.strerror}") from None
        try:
            result = importing.import_file(committee, data, path.name)
        except importing.Rejected as e:
            for problem in e.problems:
                self.stderr.write(f"{path.name}, {problem}")
            raise CommandError(
                f"nothing imported: {len(e.problems)} problem(s) in {path.name}"
            ) from None
        self.stdout.write(
            f"Imported {result.added + result.updated} places into {committee.name} "
            f"({result.added} new, {result.updated} updated)."
        )
