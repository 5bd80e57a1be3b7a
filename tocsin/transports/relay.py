"""A phone relay: alerts as JSON to the operator's own bridge to phones.

Tocsin posts ``{"to": "+12135550142", "text": "...", "id": "<idempotency key>"}`` with
``Authorization: Bearer <TOCSIN_RELAY_TOKEN>`` to ``TOCSIN_RELAY_URL``; the bridge (a
gateway app on a phone, a bridge to a messaging service) delivers it. What people send
back comes in through tocsin.hooks.relay. Off until both settings are set.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from django.utils.translation import gettext_lazy

from tocsin.lib.http import retry_after_seconds
from tocsin.transports.base import Message, Transport, TransportError

TIMEOUT = 10
# What a bridge answers for a number it can never reach.
NO_SUCH_NUMBER = {404, 410}


class RelayTransport(Transport):
    kind = "relay"
    label = gettext_lazy("Phone relay")
    own_settings = ("RELAY_URL", "RELAY_TOKEN")
    address_type = "phone"
    confirm_by_code = True
    takes_reports = True
    callback_label = label
    # One bridge sends for every member: a 429 pauses them all.
    shared_limit = True

    @classmethod
    def problems(cls) -> list[str]:
        return [
            f"TOCSIN_{name} is not set" for name in cls.own_settings if not getattr(settings, name)
        ]

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        body = {"to": payload["address"], "text": message.text, "id": idempotency_key}
        try:
            response = requests.post(
                settings.RELAY_URL,
                json=body,
                headers={"Authorization": f"Bearer {settings.RELAY_TOKEN}"},
                timeout=TIMEOUT,
            )
        except requests.RequestException as e:
            raise TransportError(f"relay: unreachable ({type(e).__name__})") from None
        status = response.status_code
        if status in (200, 201, 202):
            return
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise TransportError("relay: rate limit (429)", retry_after=wait)
        if status in NO_SUCH_NUMBER:
            raise TransportError(f"relay: no such number ({status})", permanent=True)
        raise TransportError(f"relay: refused ({status})")
