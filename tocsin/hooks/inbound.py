"""Messages members send back on SMS, Signal or Telegram: keywords in English and Spanish.

Every channel's webhook (or poller) checks its provider's signature, then calls
``handle(Inbound(...))`` and sends the returned reply, if any, on the same channel.

    STOP / ALTO / BAJA        stop messages on this channel
    START / INICIO / ALTA     start them again
    HELP / AYUDA              what you can send
    1 / SI / YES              on my way to the latest alert you got
    2 / NO                    cannot come to the latest alert; with no alert to answer,
                              cancel the soonest sign-up for a planned mobilization (by
                              this number, or the member's own)
    REPORT / REPORTE <text>   a report for the dispatcher (from a member: placed at their area)
    CONFIRM / CONFIRMADO      a verifier's answer to their latest request: confirmed
    POLICE / POLICIA          ... it is local police
    NOTHING / NADA            ... nothing there
    HELP / AYUDA <PIN>        a member with a family plan calls for help: their emergency
                              contacts are alerted (tocsin.family)
    CANCEL / CANCELAR <PIN>   ... it was a mistake

A provider's message id is remembered (as a keyed hash, in the cache, one day) so a
replayed message does nothing. The sender's address is looked up by its blind index
and never stored. Anything else gets the help text; nothing raises.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin import geo, vault
from tocsin.alerts.models import Delivery, DeliveryStatus, Purpose
from tocsin.family import panic
from tocsin.family.models import FamilyPlan, Trigger
from tocsin.incidents import texting, verify
from tocsin.incidents.models import Incident, State
from tocsin.lib import phones, untrusted
from tocsin.members.models import ContactEndpoint, Member
from tocsin.mobilize import rsvps, services
from tocsin.mobilize.models import ResponseState
from tocsin.transports import registry as transports

logger = logging.getLogger(__name__)

# Longest text kept from an inbound message; the rest is dropped.
MAX_TEXT = 1000
REPLAY_SECONDS = 86400
# "1" answers the latest alert the member got within this long.
ANSWER_HOURS = 12

STOP, START, HELP, YES, NO, REPORT = "stop", "start", "help", "yes", "no", "report"
CONFIRM, POLICE, NOTHING = "confirm", "police", "nothing"
KEYWORDS = {
    STOP: {"stop", "alto", "baja", "stopall", "unsubscribe", "cancel", "end", "quit", "parar"},
    START: {"start", "inicio", "alta", "unstop", "subscribe"},
    HELP: {"help", "ayuda", "info"},
    YES: {"1", "si", "yes", "voy"},
    NO: {"2", "no"},
    REPORT: {"report", "reporte", "reportar"},
    CONFIRM: {"confirm", "confirmed", "confirmo", "confirmado", "confirmada", "confirmar"},
    POLICE: {"police", "policia", "local"},
    NOTHING: {"nothing", "nada"},
}
# A verifier's reply -> tocsin.incidents.models.Answer
VERIFIER_ANSWERS = {CONFIRM: "confirmed", POLICE: "police", NOTHING: "nothing"}
_WORDS = {word: keyword for keyword, words in KEYWORDS.items() for word in words}
# A keyword and a PIN: the panic button by text. Checked before STOP, which "cancel" is too.
PANIC = re.compile(r"^(help|ayuda|auxilio|cancel|cancelar)\s+(\d{4,8})$")


@dataclass(frozen=True)
class Inbound:
    """One message a person sent: the channel kind, their address on it (a phone
    number, a chat id), the text, and the provider's message id.

    Whatever the channel's parser let through, the fields hold no NUL and no lone
    surrogate (tocsin.lib.untrusted.text): they are hashed, stored and sent back."""

    kind: str
    address: str
    text: str
    message_id: str = ""

    def __post_init__(self) -> None:
        for name in ("address", "text", "message_id"):
            object.__setattr__(self, name, untrusted.text(getattr(self, name)))
        if transports.is_phone(self.kind):
            # A gateway may write the sender's number as the phone shows it; the reply
            # and the report's sealed contact need E.164 ("+12135550142").
            object.__setattr__(self, "address", phones.e164(self.address) or self.address)


def _fold(word: str) -> str:
    """Lower case without accents: "SÍ" -> "si"."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parse(text: str) -> tuple[str | None, str]:
    """Return (keyword, rest of the text) for an inbound message; keyword None if the
    first word is not one."""
    cleaned = untrusted.text(text).strip()[:MAX_TEXT]
    if not cleaned:
        return None, ""
    first, _sep, rest = cleaned.partition(" ")
    first = first.strip(".,!¡?¿:;\"'")
    return _WORDS.get(_fold(first)), rest.strip()


def is_replay(kind: str, message_id: str) -> bool:
    """True if this provider message id was handled already (then it is ignored)."""
    if not message_id:
        return False
    return not cache.add(_replay_key(kind, message_id), 1, REPLAY_SECONDS)


def _replay_key(kind: str, message_id: str) -> str:
    return "inbound:" + vault.blind_index("message-id", f"{kind}:{message_id}", form="opaque")


def forget(kind: str, message_id: str) -> None:
    """Let a message that was not handled (an error midway) be handled when the
    provider sends it again."""
    if message_id:
        cache.delete(_replay_key(kind, message_id))


def endpoint_for(kind: str, address: str) -> ContactEndpoint | None:
    try:
        index = transports.blind_index(kind, address)
    except Exception:  # an address the vault cannot normalise belongs to nobody
        return None
    return (
        ContactEndpoint.objects.select_related("member")
        .filter(kind=kind, blind_index=index, verified_at__isnull=False)
        .order_by("id")
        .first()
    )


def handle(msg: Inbound) -> str | None:
    """Act on one inbound message and return the reply to send, or None for none."""
    if is_replay(msg.kind, msg.message_id):
        logger.info("inbound %s message ignored: replayed message id", msg.kind)
        return None
    try:
        keyword, rest = parse(msg.text)
        endpoint = endpoint_for(msg.kind, msg.address)
        member = endpoint.member if endpoint is not None else None
        language = member.language if member is not None else _guess_language(msg.text)
        with translation.override(language):
            if member is not None:
                reply = _panic(msg.text, member, msg.kind)
                if reply is not None:
                    return reply
            return _act(keyword, rest, msg, endpoint, member)
    except BaseException:
        # The provider resends what it could not hand over (a 5xx): that must not be
        # ignored as a replay.
        forget(msg.kind, msg.message_id)
        raise


_SPANISH = {
    "alto",
    "baja",
    "inicio",
    "alta",
    "ayuda",
    "si",
    "reporte",
    "reportar",
    "voy",
    "confirmado",
    "confirmo",
    "policia",
    "nada",
    "el",
    "la",
    "los",
    "las",
    "en",
    "de",
    "del",
    "y",
    "esta",
    "estan",
    "hay",
    "aqui",
    "alli",
    "agentes",
    "migra",
    "reten",
    "redada",
    "calle",
    "esquina",
    "camionetas",
    "camioneta",
    "frente",
    "cerca",
    "ahora",
    "por",
    "favor",
    "se",
    "llevaron",
    "llevando",
    "detenido",
    "detenida",
    "casa",
    "trabajo",
}
_ENGLISH = {
    "the",
    "at",
    "on",
    "in",
    "and",
    "is",
    "are",
    "they",
    "agents",
    "vans",
    "near",
    "now",
    "help",
    "report",
    "stop",
    "start",
    "yes",
    "no",
    "there",
    "here",
    "of",
    "taking",
}


def _guess_language(text: str) -> str:
    """Spanish when the text reads more Spanish than English (its first 20 words)."""
    words = [_fold(w.strip(".,!¡?¿")) for w in text.split()[:20]]
    spanish = sum(w in _SPANISH for w in words) + 2 * any(c in text for c in "ñ¿¡")
    english = sum(w in _ENGLISH for w in words)
    return "es" if spanish > english else "en"


def _act(
    keyword: str | None,
    rest: str,
    msg: Inbound,
    endpoint: ContactEndpoint | None,
    member: Member | None,
) -> str | None:
    from tocsin.incidents import texting

    if keyword == STOP:
        # A reporter by text hears nothing more about their reports either.
        texting.stop(msg.kind, msg.address)
        # No more messages means no more reminders either: their sign-ups are cancelled.
        rsvps.cancel_by_address(msg.kind, msg.address, every=True)
        if endpoint is not None:
            ContactEndpoint.objects.filter(kind=msg.kind, blind_index=endpoint.blind_index).update(
                disabled_at=timezone.now(), last_error="stopped by the member"
            )
        return _("Tocsin: you will get no more messages here. Send START to get alerts again.")
    conversation = texting.current(msg.kind, msg.address)
    if conversation is not None and keyword in (None, YES, NO, REPORT):
        # The answer to the question the reporter was asked ("1" is a kind there, not
        # "on my way"); a text that answers nothing starts a new report.
        return _report(rest if keyword == REPORT else msg.text, msg, member)
    if keyword == START:
        if endpoint is None:
            return _("Tocsin: this number is not linked to a member. Join with an invite link.")
        ContactEndpoint.objects.filter(kind=msg.kind, blind_index=endpoint.blind_index).update(
            disabled_at=None, last_error=""
        )
        return _("Tocsin: alerts are on again here. Send STOP to stop them.")
    if keyword == NO and (member is None or latest_alerted_incident(member) is None):
        # "2" answers an open alert first; with none, it cancels the soonest sign-up for
        # a planned mobilization (the reminders say so), a member's own ones included.
        cancelled = rsvps.cancel_by_address(msg.kind, msg.address, member=member)
        if cancelled:
            rsvp = cancelled[0]
            with translation.override(rsvp.language):
                return _("Tocsin: your sign-up for %(title)s is cancelled. Thank you.") % {
                    "title": rsvp.mobilization.title_in()
                }
    if keyword in (YES, NO):
        if member is None:
            return _help()
        return _answer(member, coming=keyword == YES)
    if keyword == REPORT:
        return _report(rest, msg, member)
    if keyword is None and (member is None or texting.looks_like_a_report(msg.text)):
        # Anyone may report by text, with or without the REPORT keyword.
        return _report(msg.text, msg, member)
    if keyword in VERIFIER_ANSWERS:
        if member is None:
            return _help()
        return _verifier_answer(member, VERIFIER_ANSWERS[keyword], rest, msg.kind)
    return _help()


def _panic(text: str, member: Member, channel: str) -> str | None:
    """Trigger or cancel ``member``'s panic button ("HELP 1234", "CANCELAR 1234"); None
    when the text is not that or the member has no family plan."""
    match = PANIC.match(_fold(untrusted.text(text).strip()))
    if match is None or not FamilyPlan.objects.filter(member=member).exists():
        return None
    word, pin = match.groups()
    if word in ("cancel", "cancelar"):
        cancelled = panic.cancel_with_pin(member, pin)
        if cancelled is None:
            return _("Tocsin: that PIN is not right, or there is nothing to cancel.")
        return _("Tocsin: cancelled. Your contacts hear it was a mistake.")
    # Signal and Telegram texts count as "sms": a message typed with a PIN.
    if panic.trigger_with_pin(member, pin, Trigger.Kind.SMS) is None:
        return _("Tocsin: that PIN is not right.")
    return _(
        "Tocsin: your emergency contacts are being alerted. To cancel a mistake, send "
        "CANCEL and your PIN."
    )


def _verifier_answer(member: Member, answer: str, details: str, channel: str) -> str:
    request = verify.latest_request(member)
    if request is None:
        return _("Tocsin: you have no verification request to answer.")
    verify.record_answer(request, answer, channel=channel, details=details)
    return _(
        "Tocsin: thank you, the dispatcher has your answer. Stay safe. "
        "Observe, document, support. Do not interfere."
    )


def _help() -> str:
    return _(
        "Tocsin raid alerts. Reply 1 (on my way) or 2 (cannot come) to an alert; "
        "REPORT and what you see to tell the dispatcher; STOP to stop; START to restart. "
        "Observe, document, support. Do not interfere."
    )


def latest_alerted_incident(member: Member) -> Incident | None:
    since = timezone.now() - timedelta(hours=ANSWER_HOURS)
    delivery = (
        Delivery.objects.filter(
            member=member,
            alert__purpose=Purpose.CONFIRMED,
            alert__sent_at__gte=since,
            alert__incident__state=State.CONFIRMED,
            status__in=[DeliveryStatus.SENT, DeliveryStatus.SENDING],
        )
        .select_related("alert__incident")
        .order_by("-alert__sent_at")
        .first()
    )
    return delivery.alert.incident if delivery is not None else None


def _answer(member: Member, *, coming: bool) -> str:
    incident = latest_alerted_incident(member)
    if incident is None:
        return _("Tocsin: there is no open alert to answer.")
    # A responder keeps the role they picked on the alert page; anyone else observes.
    services.respond(
        incident,
        member,
        role=None,
        state=ResponseState.ON_MY_WAY if coming else ResponseState.CANCELLED,
        eta_minutes=None,
    )
    if coming:
        return _(
            "Tocsin: thank you, the dispatcher knows you are on your way. "
            "Observe, document, support. Do not interfere."
        )
    return _("Tocsin: thank you, the dispatcher knows you cannot come.")


def _report(text: str, msg: Inbound, member: Member | None) -> str:
    """A report by text: placed where the text says, asking what is missing
    (tocsin.incidents.texting). A member's saved area only orders the choices."""
    if not text.strip():
        return _("Tocsin: send REPORT followed by what you see and where.")
    area = member.areas.order_by("id").first() if member is not None else None
    near = geo.center(area.cell) if area is not None else None
    return texting.converse(
        msg.kind,
        msg.address,
        text,
        language=translation.get_language() or "en",
        near=near,
        member_id=member.pk if member is not None else None,
    )
