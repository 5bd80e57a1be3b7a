"""Reports by text from anyone: a short conversation on SMS, Signal or Telegram.

A text ("REPORT checkpoint at Soto y 4th", or just "migra en el car wash de Cesar Chavez")
is read for its place (tocsin.places.wording, resolved by tocsin.places.locate) and its
kind. What is missing is asked, one short question at a time, each one SMS segment:

1. no place: "Where is it? Reply with the cross streets or a place name";
2. two places fit: "Did you mean 1) … 2) …";
3. no kind: "What do you see? 1 checkpoint 2 workplace raid …".

A report with a place reaches the desk at once, even while its kind is being asked (it
waits as "agents or vehicles seen" until the answer comes). A reporter may say it all in
one text and skip every question. A member's saved area only orders the choices; the place
is where the text says.

The sender is found again only by the blind index of their address, to continue the
conversation for TEXT_CONVERSATION_MINUTES after their last message, to hear STOP, and
to be told what happened (tocsin.incidents.outcomes). Their address is sealed. A
conversation that never became a report is deleted once it runs out; one that did goes
with its report.

Texts are counted like web reports (tocsin.lib.ratelimit), per sender under a keyed
hash that changes every UTC day: past the sender's share a report goes to the desk's burst
lane, and many new senders at one place are a burst (tocsin.intake.burst), grouped per
channel so a dispatcher releases or dismisses them in one tap. Nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin import vault
from tocsin.committees.models import Committee
from tocsin.incidents.reports import OutsideEveryArea, receive_report
from tocsin.intake import burst
from tocsin.intake.models import Report, ReportContact, ReportKind, ReportMessage, TextConversation
from tocsin.lib import ratelimit
from tocsin.places.locate import Located, Spot, choose, locate
from tocsin.places.models import fold
from tocsin.places.wording import read
from tocsin.transports import registry as transports

logger = logging.getLogger(__name__)

Step = TextConversation.Step

# Kinds by their number in the question, and by words people use.
NUMBERED = {
    "1": ReportKind.CHECKPOINT,
    "2": ReportKind.WORKPLACE_RAID,
    "3": ReportKind.HOME_ARREST,
    "4": ReportKind.AGENTS_SEEN,
    "5": ReportKind.DETENTION,
}
_KIND_WORDS = {
    ReportKind.CHECKPOINT: {"checkpoint", "reten", "retenes", "roadblock", "reten."},
    ReportKind.WORKPLACE_RAID: {"raid", "redada", "workplace", "trabajo", "factory", "fabrica"},
    ReportKind.HOME_ARREST: {"home", "house", "casa", "hogar", "door", "puerta"},
    ReportKind.DETENTION: {
        "detained",
        "detenido",
        "detenida",
        "arrested",
        "arrestaron",
        "took",
        "taking",
        "llevaron",
        "llevando",
        "detuvieron",
    },
    ReportKind.AGENTS_SEEN: {
        "agents",
        "agentes",
        "vans",
        "van",
        "vehicles",
        "patrulla",
        "ice",
        "migra",
        "camionetas",
        "camioneta",
        "trucks",
        "suv",
        "suvs",
        "officers",
        "oficiales",
    },
}
# Until the reporter says, a placed report waits as the least specific kind.
PROVISIONAL_KIND = ReportKind.AGENTS_SEEN


def kind_of(text: str, *, numbers: bool = False) -> str:
    """Return the kind a text says ("" if none): its words, or, in answer to the question,
    its number."""
    words = fold(text[:400]).split()
    if numbers and words and words[0] in NUMBERED:
        return NUMBERED[words[0]]
    said = set(words)
    for kind, vocabulary in _KIND_WORDS.items():
        if said & vocabulary:
            return kind
    return ""


def looks_like_a_report(text: str) -> bool:
    """Whether a member's text without a keyword reads as a report (a kind, a corner or
    an address); anything else gets the help text."""
    wording = read(text)
    return bool(kind_of(text) or wording.corners or wording.addresses)


def sender_index(channel: str, address: str) -> str:
    return transports.blind_index(channel, address)


def _daily_source(sender: str) -> str:
    """The sender's key for the limits: like a network's, it changes every UTC day."""
    secret = ratelimit.daily_secret(dt.datetime.now(dt.UTC).date())
    return "text-" + hmac.new(secret, sender.encode(), hashlib.sha256).hexdigest()[:32]


def _expired_before() -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=settings.TEXT_CONVERSATION_MINUTES)


def current(channel: str, address: str) -> TextConversation | None:
    """Return the sender's conversation still waiting for an answer, if any."""
    return (
        TextConversation.objects.filter(
            channel=channel,
            sender=sender_index(channel, address),
            updated_at__gt=_expired_before(),
        )
        .exclude(step=Step.DONE)
        .first()
    )


def forget_expired() -> int:
    """Delete the conversations that ran out before they became a report."""
    deleted, _rows = TextConversation.objects.filter(
        report__isnull=True, updated_at__lte=_expired_before()
    ).delete()
    return deleted


# --- the replies (each one SMS segment) ------------------------------------------------


def ask_where() -> str:
    return _("Tocsin: where is it? Reply with the cross streets or a place name.")


def ask_which(choices: list[Spot]) -> str:
    """ "Did you mean 1) … 2) …", the names cut so it stays one text message."""
    from tocsin.lib.gsm7 import LIMITS, encoding, to_gsm

    template = _("Tocsin: did you mean %(choices)s? Reply with the number.")
    frame = to_gsm(template % {"choices": ""})
    room = LIMITS[encoding(frame)][0] - len(frame) - 4 * len(choices)
    each = max(8, room // max(1, len(choices)))
    names = []
    for c in choices:
        name = to_gsm(c.name)
        names.append(name if len(name) <= each else name[:each].rstrip(" ,&"))
    listed = " ".join(f"{i}) {n}" for i, n in enumerate(names, 1))
    return template % {"choices": listed}


def ask_what() -> str:
    return _(
        "Tocsin: what do you see? 1 checkpoint 2 workplace raid 3 arrest at a home "
        "4 agents 5 someone detained"
    )


def received(report: Report) -> str:
    return _(
        "Tocsin: report %(receipt)s received. A dispatcher will check it. "
        "Observe, document, support. Do not interfere."
    ) % {"receipt": report.receipt}


def _hotlines_reply() -> str:
    from tocsin.committees import hotlines

    numbers = ", ".join(n.shown for h in hotlines.everywhere() for n in h.numbers[:1])[:60]
    if numbers:
        return _("Tocsin: too many texts from this number. Call your hotline: %(numbers)s") % {
            "numbers": numbers
        }
    return _("Tocsin: too many texts from this number. Call your local hotline.")


# --- the conversation ------------------------------------------------------------------


def converse(
    channel: str,
    address: str,
    text: str,
    *,
    language: str,
    near: tuple[float, float] | None = None,
    member_id: int | None = None,
) -> str:
    """Take one text of a report conversation and return the reply."""
    forget_expired()
    conversation = current(channel, address)
    if conversation is not None:
        # The conversation goes on in the language it started in ("Soto y 4th" is not
        # Spanish).
        with translation.override(conversation.language):
            reply = _continue(conversation, text, near=near, member_id=member_id, address=address)
        if reply is not None:
            return reply
    return _start(channel, address, text, language=language, near=near, member_id=member_id)


def _committees() -> set[int]:
    return set(Committee.objects.active().ids())


def _start(
    channel: str,
    address: str,
    text: str,
    *,
    language: str,
    near: tuple[float, float] | None,
    member_id: int | None,
) -> str:
    sender = sender_index(channel, address)
    conversation = TextConversation(
        channel=channel,
        sender=sender,
        sealed=vault.seal({"address": address}),
        language=language,
        text=text[: Report.TEXT_MAX],
        kind=kind_of(text),
        step=Step.WHERE,
    )
    located = locate(read(text), _committees(), near=near)
    return _placed_or_ask(conversation, located, address=address, member_id=member_id)


def _continue(
    conversation: TextConversation,
    text: str,
    *,
    near: tuple[float, float] | None,
    member_id: int | None,
    address: str,
) -> str | None:
    """Take an answer; None when the text is not one (a new report starts instead)."""
    if conversation.step == Step.CHOOSE:
        offered = Located(choices=tuple(Spot(*c) for c in conversation.choices))
        spot = choose(offered, text)
        if spot is not None:
            conversation.choices = []
            return _placed_or_ask(
                conversation, Located(spot=spot), address=address, member_id=member_id
            )
    if conversation.step in (Step.WHERE, Step.CHOOSE):
        located = locate(read(text), _committees(), near=near)
        if located.spot is None and not located.choices:
            conversation.updated_at = timezone.now()
            conversation.save(update_fields=["updated_at"])
            return ask_where() if conversation.step == Step.WHERE else None
        conversation.text = f"{conversation.text}\n{text}"[: Report.TEXT_MAX]
        conversation.kind = conversation.kind or kind_of(text)
        return _placed_or_ask(conversation, located, address=address, member_id=member_id)
    if conversation.step == Step.WHAT:
        located = locate(read(text), _committees(), near=near)
        if located.spot is not None or located.choices:
            return None  # a place: a second report, not an answer
        kind = kind_of(text, numbers=True)
        if not kind:
            return None
        _set_kind(conversation, kind)
        return received(conversation.report) if conversation.report else ask_where()
    return None


def _set_kind(conversation: TextConversation, kind: str) -> None:
    conversation.kind = kind
    conversation.step = Step.DONE
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["kind", "step", "updated_at"])
    if conversation.report_id:
        Report.objects.filter(pk=conversation.report_id).update(kind=kind)
        from tocsin.lib import live

        transaction.on_commit(lambda: live.publish(f"receipt:{conversation.report_id}"))


def _placed_or_ask(
    conversation: TextConversation,
    located: Located,
    *,
    address: str,
    member_id: int | None,
) -> str:
    conversation.updated_at = timezone.now()
    if located.spot is None and located.choices:
        conversation.step = Step.CHOOSE
        conversation.choices = [[c.name, c.lat, c.lng] for c in located.choices]
        conversation.save()
        return ask_which(list(located.choices))
    if located.spot is None:
        conversation.step = Step.WHERE
        conversation.save()
        return ask_where()
    report = _report(conversation, located.spot, address=address, member_id=member_id)
    if report is None:
        conversation.step = Step.DONE
        conversation.save()
        return _hotlines_reply()
    conversation.report = report
    conversation.step = Step.DONE if conversation.kind else Step.WHAT
    conversation.save()
    if conversation.step == Step.WHAT:
        return ask_what()
    return received(report)


def _report(
    conversation: TextConversation, spot: Spot, *, address: str, member_id: int | None
) -> Report | None:
    """Make the report at ``spot`` (None: refused, far past the sender's share)."""
    from tocsin.members.models import Member

    source = _daily_source(conversation.sender)
    share = ratelimit.take(source)
    if share == ratelimit.Share.REFUSED:
        return None
    # A member is no new sender: their report goes to the queue even in a burst (a flood
    # of web reports at the same place is what the lane is for).
    suspicious = member_id is None and (
        share == ratelimit.Share.OVER or burst.suspicious(source, spot.lat, spot.lng)
    )
    # The lane groups texts per channel near a place: a sprayed gateway number is one
    # group a dispatcher releases or dismisses at once.
    group = burst.group(f"text-{conversation.channel}", spot.lat, spot.lng) if suspicious else ""
    member = Member.objects.filter(pk=member_id).first() if member_id else None
    text = conversation.text
    try:
        with transaction.atomic():
            return receive_report(
                channel=conversation.channel,
                kind=conversation.kind or PROVISIONAL_KIND,
                lat=spot.lat,
                lng=spot.lng,
                text=text[: Report.TEXT_MAX],
                member=member,
                language=conversation.language,
                reply_to=(conversation.channel, address),
                suspicious=suspicious,
                burst_group=group,
            )
    except OutsideEveryArea:
        ratelimit.give_back(source)
        return None


def stop(channel: str, address: str) -> bool:
    """STOP from a reporter: no more messages about their reports. Return whether they
    had any."""
    conversations = TextConversation.objects.filter(
        channel=channel, sender=sender_index(channel, address)
    )
    report_ids = [r for r in conversations.values_list("report_id", flat=True) if r]
    had = conversations.exists()
    ReportContact.objects.filter(report_id__in=report_ids).delete()
    ReportMessage.objects.filter(
        report_id__in=report_ids,
        direction=ReportMessage.Direction.TO_REPORTER,
        status__in=[ReportMessage.Status.QUEUED, ReportMessage.Status.FAILED],
    ).update(status=ReportMessage.Status.DEAD, error="stopped by the reporter")
    # Nothing more to find them by.
    conversations.update(step=Step.DONE, sender="")
    return had
