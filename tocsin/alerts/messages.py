"""The words of every alert, rendered in the member's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from tocsin.alerts.models import Alert, Purpose
from tocsin.lib.incident_states import State
from tocsin.lib.links import LINK_SALT, VERIFY_SALT, PresignedAt, alert_link_token
from tocsin.lib.screening import screen
from tocsin.places.naming import Gazetteer
from tocsin.transports.base import Message

# Which page each purpose links to, and the salt of its signed token.
_LINKS = {Purpose.VERIFY: ("verify_answer", VERIFY_SALT)}
_DEFAULT_LINK = ("alert_page", LINK_SALT)


def alert_url(*, member_id: int, incident_id: int, at: datetime | None = None) -> str:
    token = alert_link_token(member_id=member_id, incident_id=incident_id, at=at)
    return settings.SITE_URL + reverse("alert_page", args=[token])


def exact_place_text(cell: int, gazetteer: Gazetteer | None = None) -> str:
    """The report's place at about 25 m, in words ("80 m north of Mariachi Plaza", or
    "at 34.03390, -118.21070"), for verifiers, responders and staff only."""
    return (gazetteer or Gazetteer(())).exact(cell).text


def place_text(cell: int, gazetteer: Gazetteer | None = None) -> str:
    """The place for members, in words: never finer than the block ("near Mariachi
    Plaza", "about 300 m east of Mariachi Plaza", or "near 34.0334, -118.2129")."""
    return (gazetteer or Gazetteer(())).block(cell).text


_URGENT = (
    Purpose.CONFIRMED,
    Purpose.POSSIBLE,
    Purpose.VERIFY,
    Purpose.APPROVAL,
    Purpose.STAND_DOWN,
    Purpose.REDIRECT,
)
# Messages to staff link to the incident on the desk, not to a signed member page.
_DESK_PURPOSES = (Purpose.APPROVAL,)

# Stands in for the member's own link while a message is rendered once per language.
_LINK = "@@tocsin-link@@"


# An alert's link: its signer (None for a desk link), the URL around a member's token,
# plain and escaped for HTML, and the alert's incident.
_Link = tuple[PresignedAt | None, str, str, str, str, int]


class Renderer:
    """Renders each (alert, language) once and fills in each member's link: a fan-out
    to many members costs one signature per member, not one template each."""

    def __init__(self) -> None:
        # Per (alert, language): the message rendered around the link placeholder, and
        # its text and HTML split at it, so each member's copy is two joins.
        self._done: dict[tuple[int, str], tuple[Message, list[str], list[str]]] = {}
        # Per alert: its signer and the URL around a token, plain and escaped for HTML,
        # and its incident (a key's attribute is a descriptor call on a model).
        self._links: dict[int, _Link] = {}
        # The alerts (with their incidents) read for the drain this renderer serves: read
        # once, not once per batch (tocsin.alerts.outbox.sending).
        self.alerts: dict[int, Alert] = {}
        # Per incident: its committees' places, read once for every language (two queries
        # before an alert's first messages leave).
        self._gazetteers: dict[int, Gazetteer] = {}

    def _link(self, alert: Alert) -> _Link:
        """The alert's signer, and the URL around a member's token, plain and escaped
        for HTML. Messages to staff link to the incident on the desk, behind their login
        and second factor: no signer, and the whole URL before the (empty) token."""
        if alert.purpose in _DESK_PURPOSES:
            url = settings.SITE_URL + reverse("incident", args=[alert.incident_id])
            link: _Link = (None, url, "", escape(url), "", alert.incident_id)
        else:
            route, salt = _LINKS.get(Purpose(alert.purpose), _DEFAULT_LINK)
            before, after = (settings.SITE_URL + reverse(route, args=[_LINK])).split(_LINK)
            # The same tokens alert_link_token(at=alert.sent_at) makes, with one signer
            # (and one derived key) per alert.
            signer = PresignedAt(alert.sent_at, salt=salt)
            link = (signer, before, after, escape(before), escape(after), alert.incident_id)
        self._links[alert.id] = link
        return link

    def _prepare(self, alert: Alert, language: str) -> tuple[Message, list[str], list[str]]:
        gazetteer = self._gazetteers.get(alert.incident_id)
        if gazetteer is None:
            gazetteer = self._gazetteers[alert.incident_id] = Gazetteer.of(alert.incident)
        message = _render(alert, url=_LINK, language=language, gazetteer=gazetteer)
        done = self._done[alert.id, language] = (
            message,
            message.text.split(_LINK),
            message.html.split(_LINK),
        )
        return done

    def render(
        self,
        alert: Alert,
        *,
        member_id: int,
        language: str,
        extra: dict[str, Any] | None = None,
    ) -> Message:
        """The message to ``member_id``, with ``extra`` added to the alert's own extra
        fields (a delivery's topic and id, say)."""
        # Once per delivery of a fan-out: two lookups, one signature, two joins. By
        # ``id``, the alert's key (``pk`` is a property that looks its name up).
        done = self._done.get((alert.id, language))
        if done is None:
            done = self._prepare(alert, language)
        link = self._links.get(alert.id)
        if link is None:
            link = self._link(alert)
        shared, text, html = done
        signer, before, after, html_before, html_after, incident_id = link
        if signer is None:
            url, html_url = before, html_before
        else:
            # A token is base64url, dots and colons: nothing HTML escapes, so the escaped
            # URL is the token between the escaped parts around it.
            token = signer.sign_pair(member_id, incident_id)
            url = f"{before}{token}{after}"
            html_url = f"{html_before}{token}{html_after}"
        return Message.of(
            shared.subject,
            url.join(text),
            url,
            html_url.join(html),
            shared.extra.copy() if extra is None else {**shared.extra, **extra},
        )


def render(alert: Alert, *, member_id: int, language: str) -> Message:
    """Return the message one member gets for ``alert``, in ``language``."""
    return Renderer().render(alert, member_id=member_id, language=language)


def _render(
    alert: Alert, *, url: str, language: str, gazetteer: Gazetteer | None = None
) -> Message:
    incident = alert.incident
    # The names come from the incident's own committees' gazetteers (``gazetteer``, or
    # read now).
    gazetteer = gazetteer or Gazetteer.of(incident)
    members_where = gazetteer.block(incident.cell)
    exact_where = gazetteer.exact(incident.cell)
    with translation.override(language):
        kind = incident.get_kind_display()
        place = members_where.text
        since = timezone.localtime(incident.first_seen_at).strftime("%H:%M")
        guidance = _("Observe, document, support. Do not interfere.")
        where = members_where
        if alert.purpose == Purpose.CONFIRMED:
            subject = _("Confirmed: %(kind)s %(where)s") % {"kind": kind, "where": place}
            text = _(
                "Tocsin alert. Confirmed %(kind)s %(where)s since %(since)s. %(guidance)s "
                "Details and “I'm on my way”: %(url)s"
            ) % {
                "kind": kind.lower(),
                "where": place,
                "since": since,
                "guidance": guidance,
                "url": url,
            }
            # The note was screened when saved; screened again here, last line of defence.
            if incident.summary and not screen(incident.summary).held:
                text = f"{text}\n\n{incident.summary}"
        elif alert.purpose == Purpose.ALL_CLEAR:
            subject = _("All clear: %(kind)s %(where)s") % {"kind": kind, "where": place}
            text = _(
                "Tocsin all clear. The %(kind)s %(where)s has ended. Thank you to everyone "
                "who showed up. %(url)s"
            ) % {"kind": kind.lower(), "where": place, "url": url}
        elif alert.purpose == Purpose.POSSIBLE:
            where = exact_where
            exact = exact_where.text
            subject = _("Unverified: %(kind)s reported %(where)s") % {
                "kind": kind,
                "where": exact,
            }
            text = _(
                "Tocsin, for responders: UNVERIFIED report of a %(kind)s %(where)s since "
                "%(since)s. A verifier is checking; do not share it yet. Be ready. "
                "%(guidance)s %(url)s"
            ) % {
                "kind": kind.lower(),
                "where": exact,
                "since": since,
                "guidance": guidance,
                "url": url,
            }
        elif alert.purpose == Purpose.VERIFY:
            where = exact_where
            exact = exact_where.text
            subject = _("Please verify: %(kind)s %(where)s") % {"kind": kind, "where": exact}
            text = _(
                "Tocsin: please check a report of a %(kind)s %(where)s (since %(since)s), "
                "only if you can do it safely. Look for: which agency (ICE, CBP, other "
                "federal, local police), vehicles, how many agents, what is happening; a "
                "photo if safe. %(guidance)s Reply CONFIRM, POLICE or NOTHING, or answer "
                "here: %(url)s"
            ) % {
                "kind": kind.lower(),
                "where": exact,
                "since": since,
                "guidance": guidance,
                "url": url,
            }
        elif alert.purpose == Purpose.APPROVAL:
            where = exact_where
            subject = _("Approve or decline: a %(kind)s %(where)s") % {
                "kind": kind.lower(),
                "where": exact_where.text,
            }
            text = _(
                "Tocsin, for staff: an alert or a public call about a %(kind)s %(where)s "
                "waits for a second person. Check what it says and whom it reaches on the "
                "desk: %(url)s"
            ) % {"kind": kind.lower(), "where": exact_where.text, "url": url}
        elif alert.purpose == Purpose.STAND_DOWN:
            subject = _("Enough people are there: %(kind)s %(where)s") % {
                "kind": kind,
                "where": place,
            }
            text = _(
                "Tocsin: enough people are at the %(kind)s %(where)s now. Thank you: you "
                "can stand down. Who is still needed: %(url)s"
            ) % {"kind": kind.lower(), "where": place, "url": url}
        elif alert.purpose == Purpose.REDIRECT:
            # The alert's cell is the other place, an assembly point the dispatcher chose.
            where = gazetteer.exact(alert.cell)
            subject = _("Go to %(there)s instead") % {"there": where.text}
            text = _(
                "Tocsin: enough people are at the %(kind)s %(where)s now. Thank you. "
                "Please go %(there)s instead. %(guidance)s %(url)s"
            ) % {
                "kind": kind.lower(),
                "where": place,
                "there": where.text,
                "guidance": guidance,
                "url": url,
            }
        elif incident.state == State.EXPIRED:
            subject = _("Not verified: %(kind)s %(where)s") % {"kind": kind, "where": place}
            text = _(
                "Tocsin update. The report of a %(kind)s %(where)s could not be "
                "verified and is closed. Nothing to do. %(url)s"
            ) % {"kind": kind.lower(), "where": place, "url": url}
        else:
            subject = _("Correction: false alarm %(where)s") % {"where": place}
            text = _(
                "Tocsin correction. The alert about a %(kind)s %(where)s was a false alarm. "
                "Nothing to do. %(url)s"
            ) % {"kind": kind.lower(), "where": place, "url": url}
        html = render_to_string(
            "alerts/email.html",
            {
                "subject": subject,
                "text": text,
                "url": url,
                "guidance": guidance,
                "alert": alert,
                "where": where,
            },
        )
    return Message(
        subject=subject,
        text=text,
        url=url,
        html=html,
        extra={
            "tag": f"incident-{incident.pk}",
            "purpose": alert.purpose,
            "urgency": "high" if alert.purpose in _URGENT else "normal",
            "ttl": 6 * 3600,
        },
    )
