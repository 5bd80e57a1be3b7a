"""Manage federation partners (operators only): list, add, enable, disable, remove; show
our public key, make a new private key, send what partners are owed now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tocsin import geo
from tocsin.federation import keys, outgoing
from tocsin.federation.models import Partner, Trust


def _cells(value: str) -> str:
    cells = [c.strip() for c in value.split(",") if c.strip()]
    for c in cells:
        try:
            geo.from_str(c)
        except ValueError as e:
            raise CommandError(f"not an H3 cell: {c}") from e
    return ",".join(cells)


_VALUED = ("--key", "--around")


class _Parser(CommandParser):
    """Reads `--key -abc` as `--key=-abc`: a base64url key begins with '-' one time in 64
    and a southern or western LAT,LNG always does, which argparse takes for an option."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if args is not None:
            args, rest = [], list(args)
            while rest:
                arg = rest.pop(0)
                args.append(f"{arg}={rest.pop(0)}" if arg in _VALUED and rest else arg)
        return super().parse_known_args(args, namespace)


class Command(BaseCommand):
    help = "Federation partners: list, add, enable, disable, remove, key, keygen, send."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=_Parser)
        sub.add_parser("list", help="list the partners")
        add = sub.add_parser("add", help="register a partner network")
        add.add_argument("name")
        add.add_argument("--url", required=True, help="its base URL (its TOCSIN_SITE_URL)")
        add.add_argument("--key", required=True, help="its public key (its /federation/key)")
        add.add_argument("--trust", choices=Trust.values, default=Trust.DESK)
        add.add_argument(
            "--cells", default="", help="its area: H3 cells, comma-separated (any resolution)"
        )
        add.add_argument("--around", help="its area: LAT,LNG with --km")
        add.add_argument("--km", type=float, default=5.0)
        for name in ("enable", "disable", "remove"):
            sub.add_parser(name, help=f"{name} a partner").add_argument("name")
        sub.add_parser("key", help="print our public key (partners register it)")
        sub.add_parser("keygen", help="print a new private key for TOCSIN_FEDERATION_KEY")
        sub.add_parser("send", help="send partners what they are owed now")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            for p in Partner.objects.order_by("name"):
                state = "enabled" if p.enabled else "disabled"
                cells = len(p.area)
                self.stdout.write(f"{p.name}\t{p.base_url}\t{p.trust}\t{state}\t{cells} cells")
        elif action == "add":
            self.add(options)
        elif action in ("enable", "disable"):
            done = Partner.objects.filter(name=options["name"]).update(enabled=action == "enable")
            if not done:
                raise CommandError(f"no partner named {options['name']}")
            self.stdout.write(f"{options['name']}: {action}d")
        elif action == "remove":
            done, _ = Partner.objects.filter(name=options["name"]).delete()
            if not done:
                raise CommandError(f"no partner named {options['name']}")
            self.stdout.write(f"{options['name']}: removed")
        elif action == "key":
            if not keys.enabled():
                raise CommandError("TOCSIN_FEDERATION_KEY is not set: federation is off.")
            self.stdout.write(keys.public_key())
        elif action == "keygen":
            private = keys.generate()
            self.stdout.write(f"TOCSIN_FEDERATION_KEY={private}")
            self.stderr.write(f"public key: {keys.public_of(private)}")
        elif action == "send":
            if not keys.enabled():
                raise CommandError("TOCSIN_FEDERATION_KEY is not set: federation is off.")
            for row in outgoing.send_due():
                state = "delivered" if row.delivered else f"failed ({row.error})"
                self.stdout.write(f"{row.partner.name}: {row.msg_type} {row.incident_id} {state}")

    def add(self, options: dict[str, Any]) -> None:
        try:
            keys.load_public(options["key"])
        except ValueError as e:
            raise CommandError(f"--key: {e}") from e
        url = options["url"].rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise CommandError("--url must start with http:// or https://")
        cells = _cells(options["cells"])
        if options["around"]:
            try:
                lat, lng = (float(v) for v in options["around"].split(","))
            except ValueError as e:
                raise CommandError("--around takes LAT,LNG") from e
            around = geo.cells_for_circle(lat, lng, options["km"] * 1000, geo.PUBLIC_RESOLUTION)
            cells = ",".join(filter(None, [cells, *sorted(geo.to_str(c) for c in around)]))
        partner, created = Partner.objects.update_or_create(
            name=options["name"],
            defaults={
                "base_url": url,
                "public_key": options["key"].strip(),
                "trust": options["trust"],
                "cells": cells,
                "enabled": True,
            },
        )
        self.stdout.write(f"{partner.name}: {'added' if created else 'updated'}")
