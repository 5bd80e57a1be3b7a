"""Web push (RFC 8030, 8291 aes128gcm, 8292 VAPID) to a browser's push service."""

from __future__ import annotations

import json
from typing import Any

import requests
from pywebpush import WebPushException, webpush

from tocsin.lib.http import retry_after_seconds
from tocsin.transports.base import Message, Transport, TransportError
from tocsin.transports.vapid import signer, vapid_subject

# Push services cap payloads near 4 KB; stay well under it after encryption overhead.
MAX_PAYLOAD = 3000


def payload_for(message: Message) -> bytes:
    data = {
        "title": message.subject,
        "body": message.text[:600],
        "url": message.url,
        "tag": message.extra.get("tag", ""),
    }
    if message.extra.get("receipt"):
        # The service worker posts it when the push arrives: "confirmed delivered".
        data["receipt"] = message.extra["receipt"]
    raw = json.dumps(data, ensure_ascii=False).encode()
    if len(raw) > MAX_PAYLOAD:
        data["body"] = data["body"][:200]
        raw = json.dumps(data, ensure_ascii=False).encode()
    return raw


class WebPushTransport(Transport):
    kind = "webpush"
    # Each subscription lives on its own push service (FCM, Mozilla, Apple): a 429 from
    # one delays only that delivery.
    shared_limit = False

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        subscription = {"endpoint": payload["address"], "keys": payload["keys"]}
        headers = {
            "Urgency": message.extra.get("urgency", "high"),
            # Topic replaces an undelivered push with the same topic: retries never stack
            # up on a device, and an all-clear replaces a stale alert still waiting for an
            # offline phone. Max 32 url-safe characters.
            "Topic": (message.extra.get("topic") or idempotency_key).replace(":", "-")[:32],
        }
        try:
            webpush(
                subscription_info=subscription,
                data=payload_for(message),
                vapid_private_key=signer(),
                vapid_claims={"sub": vapid_subject()},
                content_encoding="aes128gcm",
                ttl=int(message.extra.get("ttl", 3600)),
                headers=headers,
                timeout=10,
            )
        except WebPushException as e:
            status = e.response.status_code if e.response is not None else None
            if status in (404, 410):
                raise TransportError(f"subscription gone ({status})", permanent=True) from e
            if status == 429:
                retry = e.response.headers.get("Retry-After") if e.response is not None else None
                raise TransportError(
                    "push service rate limit", retry_after=retry_after_seconds(retry)
                ) from e
            if status is not None and 400 <= status < 500:
                raise TransportError(f"push service refused ({status})", permanent=True) from e
            raise TransportError(f"push service error ({status})") from e
        except requests.RequestException as e:
            raise TransportError(f"push service unreachable: {type(e).__name__}") from e
