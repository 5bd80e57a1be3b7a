"""The operator's view of committees: list them, approve new ones, withdraw approval."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count
from django.utils import timezone

from tocsin.committees.models import Committee


class Command(BaseCommand):
    help = (
        "List committees (--pending: those waiting for approval), approve one so it takes "
        "reports and sends alerts (and may draw a larger area), or withdraw an approval."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="list committees")
        listing.add_argument("--pending", action="store_true", help="only those not approved")
        approve = sub.add_parser("approve", help="approve a committee")
        approve.add_argument("slug")
        withdraw = sub.add_parser("unapprove", help="withdraw a committee's approval")
        withdraw.add_argument("slug")

    def handle(self, *args: Any, **o: Any) -> None:
        if o["action"] == "list":
            rows = Committee.objects.annotate(
                members=Count("memberships", distinct=True),
                cell_count=Count("area_cells", distinct=True),
            ).order_by("created_at")
            if o["pending"]:
                rows = rows.filter(approved_at__isnull=True)
            for c in rows:
                state = "approved" if c.approved_at else "PENDING"
                self.stdout.write(
                    f"{c.slug}\t{state}\t{c.members} members\t{c.cell_count} cells\t"
                    f"created {c.created_at:%Y-%m-%d}\t{c.name}"
                )
            return
        committee = Committee.objects.filter(slug=o["slug"]).first()
        if committee is None:
            raise CommandError(f"no committee at /c/{o['slug']}/")
        if o["action"] == "approve":
            Committee.objects.filter(pk=committee.pk).update(approved_at=timezone.now())
            self.stdout.write(f"Approved {committee.name}: it takes reports and sends alerts.")
        else:
            Committee.objects.filter(pk=committee.pk).update(approved_at=None)
            self.stdout.write(
                f"Withdrew the approval of {committee.name}: its area is capped again"
                " and, with TOCSIN_COMMITTEES_NEED_APPROVAL, it takes no reports."
            )
