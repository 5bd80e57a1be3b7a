"""Show every channel's state and recent errors, or send a test message through one.

    tocsin manage channels
    tocsin manage channels --test sms +12135550100

No address is ever printed: counts, states and the transports' own short error texts only.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.members.models import ContactEndpoint
from tocsin.transports import checks
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, TransportError

ERRORS_SHOWN = 10


def status_line(kind: str) -> str:
    """Return "on", "off: …", "partly configured: …" for ``kind``."""
    optional = {s.kind: s for s in checks.statuses()}
    status = optional.get(kind)
    if status is None:
        return "on" if kind in transports.registry() else "off"
    if status.state == "on":
        return "on"
    return f"{status.state}: {'; '.join(status.problems)}"


def recent_errors(kind: str, *, hours: int = 24) -> list[tuple[str, int]]:
    """Return up to ten distinct errors of ``kind``, newest first, with how often each came."""
    since = timezone.now() - timedelta(hours=hours)
    counts: dict[str, tuple[int, Any]] = {}
    deliveries = (
        Delivery.objects.filter(
            kind=kind,
            status__in=[DeliveryStatus.DEAD, DeliveryStatus.FAILED],
            created_at__gte=since,
        )
        .exclude(error="")
        .values("error")
        .annotate(n=Count("id"), last=Max("created_at"))
    )
    for row in deliveries:
        counts[row["error"]] = (row["n"], row["last"])
    endpoints = (
        ContactEndpoint.objects.filter(kind=kind)
        .exclude(last_error="")
        .values("last_error")
        .annotate(n=Count("id"), last=Max("disabled_at"))
    )
    for found in endpoints:
        n, last = counts.get(found["last_error"], (0, None))
        newest = max((t for t in (last, found["last"]) if t is not None), default=None)
        counts[found["last_error"]] = (n + found["n"], newest)
    ordered = sorted(
        counts.items(), key=lambda item: item[1][1] or timezone.now() - timedelta(days=3650)
    )
    return [(error, n) for error, (n, _last) in reversed(ordered)][:ERRORS_SHOWN]


class Command(BaseCommand):
    # This command reports the channels itself; the check's notes would repeat them.
    requires_system_checks: list[str] = []
    help = (
        "List every channel: on, off or partly configured, its verified and turned-off "
        "endpoints and recent errors. --test KIND ADDRESS sends a test message now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--test",
            nargs=2,
            metavar=("KIND", "ADDRESS"),
            help="send a test message to ADDRESS (your own number or chat) through KIND",
        )

    def handle(self, *args: Any, test: list[str] | None, **options: Any) -> None:
        if test:
            self.send_test(*test)
            return
        for kind in transports.CHANNELS:
            endpoints = ContactEndpoint.objects.filter(kind=kind)
            verified = endpoints.usable().count()
            disabled = endpoints.filter(disabled_at__isnull=False).count()
            self.stdout.write(f"{kind}: {status_line(kind)}")
            self.stdout.write(f"  {verified} verified, {disabled} turned off")
            for error, n in recent_errors(kind):
                self.stdout.write(f"  {n}x {error}")

    def send_test(self, kind: str, address: str) -> None:
        if kind not in transports.CHANNELS:
            raise CommandError(f"unknown channel {kind!r}; one of {', '.join(transports.CHANNELS)}")
        with translation.override(settings.LANGUAGE_CODE):
            message = Message(
                subject=_("Tocsin test message"),
                text=_("Tocsin test: the operator is checking this channel."),
                url=settings.SITE_URL,
            )
        try:
            transports.get(kind).send(
                {"address": address, "channel": kind},
                message,
                idempotency_key=f"operator-test-{secrets.token_hex(8)}",
            )
        except TransportError as e:
            kind_of = "permanent" if e.permanent else "temporary"
            raise CommandError(f"{kind}: not sent ({kind_of}): {e.message}") from e
        self.stdout.write(f"{kind}: sent")
