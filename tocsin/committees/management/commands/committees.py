"""The operator's view of committees: list them, approve new ones, withdraw approval, and
answer requests to start a committee made on the public site (/committees/start/)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count
from django.utils import timezone

from tocsin.committees import joining
from tocsin.committees.models import Committee, CommitteeRequest


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
        sub.add_parser("requests", help="list requests to start a committee")
        begin = sub.add_parser(
            "start", help="start the committee a request asks for (unapproved, area capped)"
        )
        begin.add_argument("id", type=int)
        refuse = sub.add_parser("refuse", help="refuse a request to start a committee")
        refuse.add_argument("id", type=int)

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
        if o["action"] == "requests":
            waiting = CommitteeRequest.objects.filter(
                committee__isnull=True, expires_at__gt=timezone.now()
            )
            for r in waiting:
                self.stdout.write(
                    f"{r.pk}\t{r.kind}\t{r.area_name}\tasked {r.created_at:%Y-%m-%d}\t"
                    f"{r.name}\tby {r.display_name} ({r.channel})"
                )
            return
        if o["action"] in ("start", "refuse"):
            request = CommitteeRequest.objects.filter(pk=o["id"], committee__isnull=True).first()
            if request is None:
                raise CommandError(f"no request to start a committee with id {o['id']}")
            if o["action"] == "refuse":
                joining.turn_down(request)
                self.stdout.write("Refused; the request and its contact are deleted.")
                return
            started = joining.start(request)
            self.stdout.write(
                f"Started {started.name} (/c/{started.slug}/), not approved yet: a worker "
                "sends the organizer invite to the person who asked. Approve the committee "
                "once you trust it."
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
