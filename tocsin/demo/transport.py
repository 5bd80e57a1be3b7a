"""The demo inbox: in demo mode without SMTP, messages land on a page per demo member, and
messages to anyone else (an emergency contact, a stranger who signed up) on one page for
all of them.

The demo app hands it to the channel registry when it loads (tocsin.demo.apps).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from tocsin.demo.models import DemoMessage
from tocsin.transports.base import Message, Transport, TransportError


class DemoInboxTransport(Transport):
    kind = "demo"
    concurrent = False  # it writes the inbox to the database

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        if not settings.DEMO:
            raise TransportError("the demo inbox exists only in demo mode", permanent=True)
        member_id = payload.get("member_id")
        if member_id is None and not payload.get("address"):
            raise TransportError("no demo member or address", permanent=True)
        DemoMessage.objects.create(
            member_id=member_id,
            channel=payload.get("channel", "email"),
            subject=message.subject,
            body=message.text,
            url=message.url,
        )
