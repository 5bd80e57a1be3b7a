"""Create a committee and its first organizer, for a fresh install."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from tocsin import geo
from tocsin.committees.models import Committee, Membership, Role
from tocsin.members import security
from tocsin.members.models import ContactEndpoint, Member


class Command(BaseCommand):
    help = "Create a committee, its area (a circle), and an organizer who logs in by email code."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--kind", choices=Committee.Kind.values, default=Committee.Kind.NEIGHBORHOOD
        )
        parser.add_argument("--lat", type=float, required=True)
        parser.add_argument("--lng", type=float, required=True)
        parser.add_argument("--radius-km", type=float, default=2.0)
        parser.add_argument("--organizer-email", required=True)
        parser.add_argument("--organizer-name", default="Organizer")
        parser.add_argument(
            "--language", choices=[code for code, _ in settings.LANGUAGES], default="en"
        )

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            validate_email(o["organizer_email"])
        except Exception:
            raise CommandError("--organizer-email is not an email address") from None
        if not geo.valid_latlng(o["lat"], o["lng"]) or not 0.1 <= o["radius_km"] <= 50:
            raise CommandError("--lat/--lng must be a place and --radius-km between 0.1 and 50")
        slug = slugify(o["name"])[:60]
        if not slug or Committee.objects.filter(slug=slug).exists():
            raise CommandError(
                f"a committee with the address /c/{slug}/ exists; pick another --name"
            )
        with transaction.atomic():
            committee = Committee.objects.create(
                name=o["name"], slug=slug, kind=o["kind"], approved_at=timezone.now()
            )
            committee.set_area(
                geo.cells_for_circle(
                    o["lat"], o["lng"], o["radius_km"] * 1000, settings.AREA_RESOLUTION
                )
            )
            member = Member.create(display_name=o["organizer_name"], language=o["language"])
            Membership.objects.create(committee=committee, member=member, role=Role.ORGANIZER)
            ContactEndpoint.create(member, "email", o["organizer_email"], verified=True)
            # The operator is the grant here: the organizer adds their first passkey or
            # authenticator app from their emailed-code session, within the window.
            until = security.open_enrollment(member, granted_by=None)
        self.stdout.write(
            f"Created {committee.name} (/c/{slug}/). "
            "The organizer logs in at /login/ with that email and, before "
            f"{until:%Y-%m-%d %H:%M} UTC, adds a passkey or an authenticator app."
        )
