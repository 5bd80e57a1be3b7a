"""Telegram's webhook: updates from the bot's chats.

Telegram sends each update with the secret given to setWebhook in the
``X-Telegram-Bot-Api-Secret-Token`` header; anything without it is refused. A private
chat's ``/start <code>`` links the chat to the member the code names; any other text goes
to the shared keyword handler (tocsin.hooks.inbound). The reply travels back in the
webhook's answer as a sendMessage call, so no second request to the Bot API is needed.

Updates are answered 200 unless they are forged (403) or not JSON (400): Telegram
resends an update until it gets a 2xx, and an update we cannot use would otherwise come
back for a day. Nothing about the chat or its text is logged.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tocsin import vault
from tocsin.hooks import inbound
from tocsin.lib import untrusted
from tocsin.members import channels
from tocsin.members.models import ContactEndpoint, Member
from tocsin.transports import registry as transports
from tocsin.transports import telegram

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's chat ids fit in 52 bits; anything far outside is not a chat.
MAX_CHAT_ID = 2**63


@dataclass(frozen=True)
class TextMessage:
    update_id: int
    chat_id: int
    text: str
    language: str  # the language the person's Telegram app is set to, "" if unknown


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < MAX_CHAT_ID:
        return value
    return None


def read_update(data: Any) -> TextMessage | None:
    """Return the text message (or shared location) a private chat sent in this update,
    or None for anything else (edits, group chats, stickers, callbacks, malformed parts)."""
    if not isinstance(data, dict):
        return None
    update_id = _int(data.get("update_id"))
    message = data.get("message")
    if update_id is None or not isinstance(message, dict):
        return None
    chat = message.get("chat")
    text = message.get("text")
    location = message.get("location")
    if not isinstance(text, str) and isinstance(location, dict):
        # A shared location is a report's place: it reads as "geo:lat,lng"
        # (tocsin.places.wording).
        lat, lng = location.get("latitude"), location.get("longitude")
        if isinstance(lat, int | float) and isinstance(lng, int | float):
            text = f"geo:{float(lat):.6f},{float(lng):.6f}"
    if not isinstance(chat, dict) or not isinstance(text, str) or not text.strip():
        return None
    chat_id = _int(chat.get("id"))
    # Alerts go to people, not to groups a bot was added to.
    if chat_id is None or chat.get("type") != "private":
        return None
    sender = message.get("from")
    code = sender.get("language_code") if isinstance(sender, dict) else None
    language = "es" if isinstance(code, str) and code.lower().startswith("es") else ""
    # JSON may carry NUL and lone surrogates ("\\ud800"): neither is text a database keeps.
    return TextMessage(update_id, chat_id, untrusted.text(text), language)


def _secret_ok(request: HttpRequest) -> bool:
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    given = request.headers.get(SECRET_HEADER, "")
    if not secret or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode("utf-8", "replace"))


@csrf_exempt
@require_POST
def update(request: HttpRequest) -> HttpResponse:
    """Take one update from Telegram and answer with the reply, if any."""
    if not _secret_ok(request):
        logger.warning("telegram update refused: missing or wrong secret token")
        return untrusted.refusal(403, "Forbidden: the secret token is missing or wrong.")
    try:
        data = untrusted.load_json(request.body)
    except untrusted.NotJSON as e:
        logger.info("telegram update refused: not JSON")
        return untrusted.refusal(400, f"Malformed request: not JSON ({e}).")
    msg = read_update(data)
    if msg is None:
        logger.info("telegram update ignored: not a text message from a private chat")
        return HttpResponse(status=200)
    try:
        reply = respond(msg)
    except BaseException:
        # Telegram sends the update again after an error: handle it then.
        inbound.forget("telegram", str(msg.update_id))
        raise
    if reply is None:
        return HttpResponse(status=200)
    return JsonResponse({"method": "sendMessage", "chat_id": msg.chat_id, "text": reply})


def respond(msg: TextMessage) -> str | None:
    """Act on one text message and return the reply, or None (a replayed update)."""
    command, _sep, argument = msg.text.strip().partition(" ")
    command = command.split("@", 1)[0].casefold()
    if command == "/start" and argument.strip():
        # inbound.handle checks replays for the other messages, under the same id.
        if inbound.is_replay("telegram", str(msg.update_id)):
            logger.info("telegram update ignored: replayed update id")
            return None
        return _link(msg, argument.strip())
    if command.startswith("/"):
        # Telegram's menu sends commands ("/stop", or "/stop@TocsinBot" in a chat with
        # several bots): the word after the slash is the keyword.
        text = f"{command[1:]} {argument}".strip()
        if command == "/start" and inbound.endpoint_for("telegram", str(msg.chat_id)) is None:
            if inbound.is_replay("telegram", str(msg.update_id)):
                return None
            with translation.override(msg.language or "en"):
                return _(
                    "Tocsin: to get alerts here, tap “Link Telegram” under “How I get alerts” "
                    "on your Tocsin page."
                )
    else:
        text = msg.text
    return inbound.handle(inbound.Inbound("telegram", str(msg.chat_id), text, str(msg.update_id)))


def _link(msg: TextMessage, code: str) -> str:
    member_id = telegram.read_link_code(code)
    member = Member.objects.filter(pk=member_id).first() if member_id is not None else None
    address = str(msg.chat_id)
    if member is not None and not _first_use(code, address):
        member = None
    if member is None:
        logger.info("telegram link refused: invalid, used or expired code")
        with translation.override(msg.language or "en"):
            return _(
                "Tocsin: this link is not valid or has expired. Open a new Telegram link "
                "on your Tocsin page."
            )
    if not channels.take_verification(member):
        logger.info("telegram link refused: too many confirmations this hour")
        with translation.override(member.language):
            return _("Tocsin: too many channels linked in the last hour. Try again later.")
    with transaction.atomic():
        # A chat is one person's: linked to someone else before (a shared phone handed
        # on, a second account), it now belongs to this member alone, so inbound
        # answers never act for the wrong person.
        moved, _kinds = (
            ContactEndpoint.objects.filter(
                kind="telegram", blind_index=transports.blind_index("telegram", address)
            )
            .exclude(member=member)
            .delete()
        )
        ContactEndpoint.create(member, "telegram", address, verified=True)
    logger.info("telegram chat linked to a member%s", " (moved from another)" if moved else "")
    with translation.override(member.language):
        return _(
            "Tocsin: done. Alerts for your areas will arrive in this chat. "
            "Reply 1 when you are on your way; send STOP to stop them. "
            "Observe, document, support. Do not interfere."
        )


def _first_use(code: str, address: str) -> bool:
    """True unless another chat already used this code: a link shown on a shared
    screen links one chat only."""
    key = "telegram-link:" + vault.blind_index("message-id", f"telegram-link:{code}", form="opaque")
    chat = transports.blind_index("telegram", address)
    if cache.add(key, chat, telegram.LINK_SECONDS + 60):
        return True
    return cache.get(key) == chat


urlpatterns = [path("update/", update, name="telegram_update")]
