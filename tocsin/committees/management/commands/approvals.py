"""The operator as the second person: list what waits, and approve or decline a role
grant or an export for a committee that has only one staff member."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tocsin.committees import approvals, services
from tocsin.committees.models import Approval


class Command(BaseCommand):
    help = (
        "List approvals waiting for a second person; approve or decline a role grant, a "
        "member list export or a vault lock as the operator (alerts are approved on the "
        "desk by staff)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="list what waits")
        for name in ("approve", "decline"):
            p = sub.add_parser(name)
            p.add_argument("id", type=int)

    def handle(self, *args: Any, **o: Any) -> None:
        if o["action"] == "list":
            for a in Approval.objects.waiting().select_related("committee").order_by("pk"):
                self.stdout.write(
                    f"{a.pk}\t{a.committee.slug}\t{a.kind}\t{a.reason}\t"
                    f"asked {a.requested_at:%Y-%m-%d %H:%M}"
                )
            return
        approval = Approval.objects.waiting().filter(pk=o["id"]).first()
        if approval is None:
            raise CommandError(f"nothing waits with id {o['id']}")
        if approval.kind == Approval.Kind.ALERT:
            raise CommandError("alerts are approved by a second staff member on the desk")
        if o["action"] == "decline":
            approvals.decline_as_operator(approval)
            self.stdout.write("Declined.")
            return
        if approval.kind == Approval.Kind.ROLE:
            services.approve_role(approval, by=None)
        elif approval.kind == Approval.Kind.EXPORT:
            services.approve_export(approval, by=None)
        else:
            services.approve_lock(approval, by=None)
        self.stdout.write("Approved and done.")
