"""A committee's channels on other services (a Matrix room, an ntfy topic), through Apprise.

    tocsin manage committee_channels list [SLUG]
    tocsin manage committee_channels add SLUG LABEL [--language es] < url.txt
    tocsin manage committee_channels test SLUG LABEL
    tocsin manage committee_channels remove SLUG LABEL

``add`` reads the Apprise URL from stdin (or from a third argument, which shell history
and the process list would keep: prefer stdin), checks that Apprise can use it and
stores it sealed. The URL holds the service's token and names the room, so no command
ever prints it: ``list`` shows the service and its scheme only. ``test`` posts a test
message now; it opens the sealed URL, so it runs where the vault's private key is (a
worker's machine).
"""

from __future__ import annotations

import secrets
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin.committees.models import Committee
from tocsin.transports import apprise
from tocsin.transports.base import Message, TransportError
from tocsin.transports.models import CommitteeChannel
from tocsin.vault import VaultError, VaultLocked


def state_of(channel: CommitteeChannel) -> str:
    if channel.disabled_at is not None:
        return f"off since {timezone.localtime(channel.disabled_at):%Y-%m-%d %H:%M}"
    if channel.failing:
        return "failing"
    return "on"


def _when(at: Any) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}" if at else "never"


class Command(BaseCommand):
    help = (
        "List, add, test or remove a committee's channels on other services (Apprise URLs). "
        "The URL is read from stdin and never printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="every channel (or one committee's), no URLs")
        listing.add_argument("slug", nargs="?")
        add = sub.add_parser("add", help="add a channel; the Apprise URL comes on stdin")
        add.add_argument("slug")
        add.add_argument("label")
        add.add_argument("url", nargs="?", help="the Apprise URL (better: on stdin)")
        add.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=settings.LANGUAGE_CODE,
            help="the language of the committee's posts",
        )
        for name, text in (
            ("test", "post a test message now (needs the vault's private key)"),
            ("remove", "remove a channel and its posts"),
        ):
            one = sub.add_parser(name, help=text)
            one.add_argument("slug")
            one.add_argument("label")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self.list(options["slug"])
        elif action == "add":
            self.add(options["slug"], options["label"], options["url"], options["language"])
        elif action == "test":
            self.test(self.channel(options["slug"], options["label"]))
        else:
            channel = self.channel(options["slug"], options["label"])
            channel.delete()
            self.stdout.write(f"Removed {channel.label} of {options['slug']}.")

    def committee(self, slug: str) -> Committee:
        try:
            return Committee.objects.get(slug=slug)
        except Committee.DoesNotExist:
            raise CommandError(f"no committee {slug!r}") from None

    def channel(self, slug: str, label: str) -> CommitteeChannel:
        try:
            return CommitteeChannel.objects.get(committee=self.committee(slug), label=label)
        except CommitteeChannel.DoesNotExist:
            raise CommandError(f"{slug} has no channel {label!r}") from None

    def list(self, slug: str | None) -> None:
        problems = apprise.AppriseTransport.problems()
        if problems:
            self.stdout.write(f"Committee channels are off: {'; '.join(problems)}.")
        channels = CommitteeChannel.objects.select_related("committee").order_by(
            "committee__slug", "label"
        )
        if slug:
            channels = channels.filter(committee=self.committee(slug))
        for c in channels:
            self.stdout.write(
                f"{c.committee.slug}  {c.label}: {c.service} ({c.scheme}://), "
                f"{c.get_language_display()}, {state_of(c)}; last post {_when(c.last_sent_at)}"
            )
            if c.last_error:
                self.stdout.write(f"  last error ({_when(c.last_error_at)}): {c.last_error}")
        if not channels:
            self.stdout.write("No committee channels.")

    def add(self, slug: str, label: str, url: str | None, language: str) -> None:
        committee = self.committee(slug)
        if url is None or url == "-":
            url = sys.stdin.readline()
        url = url.strip()
        if not url:
            raise CommandError("no URL: pass the Apprise URL on stdin")
        try:
            service = apprise.describe(url)
        except TransportError as e:
            raise CommandError(e.message) from None
        try:
            CommitteeChannel.objects.create(
                committee=committee,
                label=label[:60],
                service=service.name[:40],
                scheme=service.scheme,
                sealed=CommitteeChannel.seal_url(url),
                language=language,
            )
        except IntegrityError:
            raise CommandError(f"{slug} already has a channel {label!r}") from None
        self.stdout.write(f"Added {label} ({service.name}) to {slug}.")
        problems = apprise.AppriseTransport.problems()
        if problems:
            self.stdout.write(
                self.style.WARNING(
                    f"Nothing is posted yet: {'; '.join(problems)}. Set it on the workers."
                )
            )

    def test(self, channel: CommitteeChannel) -> None:
        try:
            payload = channel.open()
        except VaultLocked as e:
            raise CommandError(str(e)) from None
        except VaultError:
            raise CommandError(
                "this process holds only the vault's public key: run the test on a worker's "
                "machine (with TOCSIN_VAULT_PRIVATE_KEY)"
            ) from None
        with translation.override(channel.language):
            message = Message(
                subject=_("Tocsin test message"),
                text=_("Tocsin test: the operator is checking this channel."),
                url=settings.SITE_URL,
            )
        try:
            apprise.AppriseTransport().send(
                payload, message, idempotency_key=f"operator-test-{secrets.token_hex(8)}"
            )
        except TransportError as e:
            kind_of = "permanent" if e.permanent else "temporary"
            raise CommandError(f"{channel.label}: not sent ({kind_of}): {e.message}") from None
        self.stdout.write(f"{channel.label}: sent")
