"""Show or rotate the VAPID key pair that web push is signed with (RFC 8292)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tocsin.members.models import ContactEndpoint, EndpointKind
from tocsin.transports import vapid


class Command(BaseCommand):
    help = (
        "show: print the public key browsers subscribe with and where the private key is. "
        "rotate: make a new key pair; every existing push subscription stops working."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["show", "rotate"])
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="rotate without asking for confirmation",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "show":
            self.show()
        else:
            self.rotate(interactive=options["interactive"])

    def show(self) -> None:
        self.stdout.write(f"public key (applicationServerKey): {vapid.application_server_key()}")
        if vapid.from_environment():
            self.stdout.write("private key: from TOCSIN_VAPID_PRIVATE_KEY")
        else:
            path = vapid.key_path()
            mode = path.stat().st_mode & 0o777
            self.stdout.write(f"private key: {path} (mode {mode:04o})")
        self.stdout.write(f"subject: {vapid.vapid_subject()}")

    def rotate(self, *, interactive: bool) -> None:
        if vapid.from_environment():
            raise CommandError(
                "The VAPID key comes from TOCSIN_VAPID_PRIVATE_KEY: put a new P-256 private "
                "key there (PEM, or the raw scalar in base64url) and restart every process."
            )
        subscriptions = ContactEndpoint.objects.filter(kind=EndpointKind.WEBPUSH)
        active = subscriptions.filter(disabled_at__isnull=True)
        count = active.count()
        members = active.values("member").distinct().count()
        if interactive:
            answer = input(
                f"{count} push subscription(s) of {members} member(s) were made for the "
                "current key and will stop working. Type 'yes' to make a new key: "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Rotation cancelled; the key is unchanged.")
        public = vapid.rotate()
        self.stdout.write(f"new public key (applicationServerKey): {public}")
        self.stdout.write(f"private key: {vapid.key_path()} (mode 0600)")
        self.stdout.write(
            self.style.WARNING(
                f"Every existing push subscription ({count} device(s) of {members} member(s)) "
                "was made for the old key, and push services refuse pushes signed with "
                "another one. Members must turn push on again on each device, on their "
                "alerts page. Until they do, the next alert to each old subscription fails, "
                "that subscription is turned off and the alert goes to the member's next "
                "channel. No subscription was deleted.\n"
                "Restart the web and worker processes so they use the new key."
            )
        )
