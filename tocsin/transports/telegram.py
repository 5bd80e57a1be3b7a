"""Telegram through a bot: alerts with the Bot API's sendMessage, replies on the webhook.

A member links a chat by opening ``link_url(member)``: Telegram starts the bot with
``/start <code>``, where the code is a short signed token naming the member and expiring
after an hour (see tocsin.hooks.telegram).

The bot token is part of every API URL, so neither a URL nor an exception that quotes it
(requests puts the URL in its messages) is ever logged or kept as an error.
"""

from __future__ import annotations

import base64
import hmac
import logging
import struct
import time
from typing import Any, Protocol

from django.conf import settings
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy

from tocsin.lib import http, untrusted
from tocsin.lib.http import retry_after_seconds
from tocsin.transports.base import Message, Transport, TransportError

logger = logging.getLogger(__name__)


class Member(Protocol):
    """Whom a link code names: a member, known here only by id (transports only send)."""

    @property
    def pk(self) -> Any: ...


# (connect, read) seconds. A hung Bot API call must not hold a delivery thread for long.
TIMEOUT: float | tuple[float, float] = (5.0, 15.0)
# sendMessage takes at most 4096 characters (counted in UTF-16 code units).
MAX_TEXT = 4096
# Link codes are good for this long after the member's page shows them.
LINK_SECONDS = 3600
LINK_SALT = "tocsin.telegram-link"
# Bot API descriptions that say this chat can never receive from the bot again.
_GONE = (
    "chat not found",
    "user not found",
    "bot was blocked",
    "user is deactivated",
    "bot was kicked",
    "peer_id_invalid",
)


class TelegramTransport(Transport):
    kind = "telegram"
    label = gettext_lazy("Telegram")
    own_settings = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
    # A chat id; a member links it from the bot, no code to type back.
    takes_reports = True
    callback_label = gettext_lazy("Telegram chat id")
    address_pattern = r"-?\d{1,20}"
    address_error = gettext_lazy("A Telegram chat id is a number.")
    # One bot sends to every chat: a 429 pauses the whole channel.
    shared_limit = True

    @classmethod
    def problems(cls) -> list[str]:
        missing = []
        if not settings.TELEGRAM_BOT_TOKEN:
            missing.append("TOCSIN_TELEGRAM_BOT_TOKEN is not set")
        if not settings.TELEGRAM_WEBHOOK_SECRET:
            missing.append("TOCSIN_TELEGRAM_WEBHOOK_SECRET is not set")
        return missing

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        call(
            "sendMessage",
            {
                "chat_id": payload["address"],
                "text": fit(message.text),
                # The alert link is signed for one member: Telegram need not fetch it.
                "disable_web_page_preview": True,
            },
        )


def fit(text: str, limit: int = MAX_TEXT) -> str:
    """Return ``text`` cut to ``limit`` UTF-16 code units, as Telegram counts them."""
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    out, used = [], 0
    for ch in text:
        units = len(ch.encode("utf-16-le")) // 2
        if used + units > limit - 1:
            break
        out.append(ch)
        used += units
    return "".join(out) + "…"


def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Call a Bot API method and return its ``result``; raise TransportError otherwise.

    Errors name the method and the status, never the URL (it holds the token) nor the
    chat or the text.
    """
    url = f"{settings.TELEGRAM_API_URL.rstrip('/')}/bot{settings.TELEGRAM_BOT_TOKEN}/{method}"
    try:
        response = http.post(url, json=params, timeout=TIMEOUT)
    except http.Timeout:
        raise TransportError(f"Telegram {method}: timed out") from None
    except http.ConnectionError:
        raise TransportError(f"Telegram {method}: unreachable") from None
    except http.RequestException as e:
        raise TransportError(f"Telegram {method}: request failed ({type(e).__name__})") from None
    try:
        body = untrusted.load_json(response.content)
    except untrusted.NotJSON:
        body = None
    if not isinstance(body, dict):
        body = {}
    status = response.status_code
    if status == 200 and body.get("ok") is True:
        result = body.get("result")
        return result if isinstance(result, dict) else {"value": result}
    raise error_for(method, status, body, response.headers.get("Retry-After"))


def error_for(
    method: str, status: int, body: dict[str, Any], retry_after: str | None = None
) -> TransportError:
    """Map a Bot API error answer to a TransportError that says whether to retry."""
    description = str(body.get("description") or "")[:200]
    folded = description.casefold()
    if status == 429:
        parameters = body.get("parameters")
        wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
        seconds = (
            float(wait)
            if isinstance(wait, int | float) and not isinstance(wait, bool) and wait >= 0
            else retry_after_seconds(retry_after)
        )
        return TransportError(f"Telegram {method}: rate limit (429)", retry_after=seconds or 30.0)
    if status in (400, 403) and any(gone in folded for gone in _GONE):
        # The member blocked the bot or the chat is gone: stop using this endpoint.
        return TransportError(f"Telegram {method}: {_short(description)}", permanent=True)
    if status in (401, 404):
        # A wrong or revoked bot token: the operator's problem, not the member's; never
        # disable every member's endpoint over it.
        return TransportError(f"Telegram {method}: bot token refused ({status})")
    if status == 403:
        return TransportError(f"Telegram {method}: forbidden (403)", permanent=True)
    if 400 <= status < 500:
        # Any other refusal of this request: retried a few times, then given up, without
        # disabling the member's endpoint.
        return TransportError(f"Telegram {method}: refused ({status}) {_short(description)}")
    return TransportError(f"Telegram {method}: server error ({status})")


def _short(description: str) -> str:
    """The Bot API's own words, kept only when they are plain (they never hold a chat id)."""
    text = "".join(ch for ch in description if ch.isalnum() or ch in " :'_-.,")
    return text[:120]


# --- linking a chat to a member ---


def _mac(data: bytes) -> bytes:
    return salted_hmac(LINK_SALT, data, algorithm="sha256").digest()[:12]


def link_code(member: Member, *, now: float | None = None) -> str:
    """Return a code that links a Telegram chat to ``member`` for the next hour.

    Telegram start parameters allow 1-64 characters of [A-Za-z0-9_-]: the code is the
    base64url of the member id, the expiry time and a 96-bit HMAC (32 characters).
    """
    expires = int(now if now is not None else time.time()) + LINK_SECONDS
    data = struct.pack(">QI", member.pk, expires)
    return base64.urlsafe_b64encode(data + _mac(data)).decode().rstrip("=")


def read_link_code(code: str, *, now: float | None = None) -> int | None:
    """Return the member id a valid, unexpired code names, or None."""
    if len(code) != 32 or not code.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
    except ValueError:
        return None
    if len(raw) != 24:
        return None
    data, mac = raw[:12], raw[12:]
    if not hmac.compare_digest(mac, _mac(data)):
        return None
    member_id, expires = struct.unpack(">QI", data)
    if expires < (now if now is not None else time.time()):
        return None
    return member_id


def link_url(member: Member) -> str | None:
    """Return the t.me link that starts the bot with the member's code, or None when
    Telegram is not configured (or the bot's username is not set)."""
    username = getattr(settings, "TELEGRAM_BOT_USERNAME", "").lstrip("@")
    if not username or TelegramTransport.problems():
        return None
    return f"https://t.me/{username}?start={link_code(member)}"
