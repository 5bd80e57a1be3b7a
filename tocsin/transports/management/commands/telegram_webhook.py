"""Point the Telegram bot's webhook at this site (or remove it)."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from tocsin.transports import telegram
from tocsin.transports.base import TransportError

# What Telegram accepts as a webhook's secret_token.
SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Command(BaseCommand):
    help = (
        "Register TOCSIN_SITE_URL/hooks/telegram/update/ as the bot's webhook, with "
        "TOCSIN_TELEGRAM_WEBHOOK_SECRET as its secret token (--delete removes it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--delete", action="store_true", help="remove the webhook")

    def handle(self, *args: Any, **options: Any) -> None:
        problems = telegram.TelegramTransport.problems()
        if problems:
            raise CommandError("; ".join(problems))
        if not SECRET.fullmatch(settings.TELEGRAM_WEBHOOK_SECRET):
            raise CommandError(
                "TOCSIN_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        try:
            if options["delete"]:
                telegram.call("deleteWebhook", {})
                self.stdout.write("Telegram webhook removed.")
                return
            url = settings.SITE_URL + reverse("telegram_update")
            if not url.startswith("https://"):
                self.stderr.write("Telegram only calls https:// webhooks; TOCSIN_SITE_URL is not.")
            telegram.call(
                "setWebhook",
                {
                    "url": url,
                    "secret_token": settings.TELEGRAM_WEBHOOK_SECRET,
                    # Only messages: edits, reactions and the rest are never used.
                    "allowed_updates": ["message"],
                },
            )
        except TransportError as e:
            raise CommandError(e.message) from None
        self.stdout.write(f"Telegram webhook set to {url}")
