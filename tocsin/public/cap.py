"""CAP 1.2 (OASIS Common Alerting Protocol): the alerts we publish, and a parser for the
ones partner networks send us.

``alert()`` builds one ``<alert>`` for one ``PublicIncident`` (what ``published()``
returned: the public cell, the rounded time, the named area, the verification label;
nothing else): msgType ``Alert`` while it is confirmed (``Update`` once its public view
changed: tocsin.public.cap_versions and tocsin.federation), ``Cancel`` once it is resolved
(a false alarm is never public: it simply disappears from the public feed; partners that
were sent the Alert get a Cancel from tocsin.federation, certainty ``Unlikely``). The
certainty comes from how it was verified (``certainty``): ``Observed`` when a verifier
on the ground confirmed it, ``Likely`` when trusted members' reports or a dispatcher did.
One ``<info>`` in English and one in Spanish; the area is the public H3 cell as a polygon
and as a circle (centre and radius in km).

``parse()`` reads an alert someone else wrote: with defusedxml (no DTD, no entities, no
external references), after a size limit, into ``Incoming``; anything it cannot use
raises ``MalformedCap`` with a short reason that names no person.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET  # noqa: S405 (writing only; parse() uses defusedxml)

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from tocsin import geo
from tocsin.incidents.models import ConfirmedBy
from tocsin.intake.models import ReportKind
from tocsin.lib.incident_states import State
from tocsin.public.incidents import PublicIncident

NS = "urn:oasis:names:tc:emergency:cap:1.2"
CONTENT_TYPE = "application/cap+xml"
LANGUAGES = (("en", "en-US"), ("es", "es-US"))
# An alert from a partner is a few kilobytes; anything much larger is not one.
MAX_BYTES = 64 * 1024
# Our event codes: the report kind, under this value name.
EVENT_CODE = "tocsin-kind"
EARTH_KM = 6371.0088

# CAP 1.2's certainty values (3.2.2), "Very Likely" being deprecated.
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")

ALERT = "Alert"
UPDATE = "Update"
CANCEL = "Cancel"


def sender() -> str:
    """Return who we are in CAP: ``tocsin@host`` of the site's public URL."""
    return f"tocsin@{urlsplit(settings.SITE_URL).netloc}"


def certainty(incident: PublicIncident) -> str:
    """Return the CAP certainty of how the incident was verified: seen on the ground by
    one of our verifiers (Observed), trusted members' reports or a dispatcher's word
    (Likely); a false alarm, which only a partner's Cancel ever carries, Unlikely."""
    if incident.state == State.UNFOUNDED:
        return "Unlikely"
    if incident.confirmed_by == ConfirmedBy.VERIFIER:
        return "Observed"
    return "Likely"


def cap_time(moment: dt.datetime) -> str:
    """Return a CAP dateTime: seconds, an explicit offset, UTC as -00:00 (CAP 1.2 3.3.2)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")


def msg_type(incident: PublicIncident) -> str:
    """Return the msgType the public feed carries for the incident's public state."""
    return CANCEL if incident.state in (State.RESOLVED, State.UNFOUNDED) else ALERT


def identifier(incident: PublicIncident, kind: str, version: str = "") -> str:
    """Return the message's identifier: unique per sender, incident, msgType and
    ``version`` (of an Update), with no spaces, commas or restricted characters (CAP 1.2
    3.2.1)."""
    host = urlsplit(settings.SITE_URL).netloc.replace(":", ".")
    return ".".join(filter(None, [host, "incident", incident.public_id, kind.lower(), version]))


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_KM * math.asin(math.sqrt(h))


def area(cell: int) -> tuple[str, str]:
    """Return the CAP polygon ("lat,lon" pairs, closed) and circle ("lat,lon radius") of
    one cell; the circle holds the whole cell."""
    corners = geo.boundary(cell)
    ring = [*corners, corners[0]]
    polygon = " ".join(f"{lat:.5f},{lng:.5f}" for lat, lng in ring)
    centre = geo.center(cell)
    radius = max(_km(centre, corner) for corner in corners)
    circle = f"{centre[0]:.5f},{centre[1]:.5f} {radius:.3f}"
    return polygon, circle


def _add(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NS}}}{name}")
    element.text = text
    return element


def _info(root: ET.Element, incident: PublicIncident, kind: str, language: str) -> None:
    info = ET.SubElement(root, f"{{{NS}}}info")
    _add(info, "language", language)
    _add(info, "category", "Security")
    _add(info, "event", incident.kind_label)
    _add(info, "responseType", "Monitor" if kind != CANCEL else "AllClear")
    _add(info, "urgency", "Past" if kind == CANCEL else "Immediate")
    _add(info, "severity", "Moderate")
    _add(info, "certainty", certainty(incident))
    code = ET.SubElement(info, f"{{{NS}}}eventCode")
    _add(code, "valueName", EVENT_CODE)
    _add(code, "value", incident.kind)
    _add(info, "senderName", "Tocsin")
    false_alarm = incident.state == State.UNFOUNDED
    if false_alarm:
        headline = _("False alarm: %(kind)s %(place)s") % {
            "kind": incident.kind_label,
            "place": incident.place_text,
        }
    elif kind == CANCEL:
        headline = _("Over: %(kind)s %(place)s") % {
            "kind": incident.kind_label,
            "place": incident.place_text,
        }
    else:
        headline = _("%(kind)s %(place)s") % {
            "kind": incident.kind_label,
            "place": incident.place_text,
        }
    _add(info, "headline", headline)
    if false_alarm:
        description = _("%(kind)s %(place)s: it turned out a false alarm.") % {
            "kind": incident.kind_label,
            "place": incident.place_text,
        }
    else:
        description = _("%(kind)s %(place)s, %(verification)s.") % {
            "kind": incident.kind_label,
            "place": incident.place_text,
            "verification": incident.verification,
        }
    _add(info, "description", description)
    _add(info, "instruction", _("Observe, document, support. Do not interfere."))
    # The public map, where the same incident is shown (as coarse and as late).
    _add(info, "web", settings.SITE_URL + reverse("public_map"))
    where = ET.SubElement(info, f"{{{NS}}}area")
    _add(where, "areaDesc", incident.place or _("The area shown by the polygon"))
    polygon, circle = area(incident.cell)
    _add(where, "polygon", polygon)
    _add(where, "circle", circle)


def alert(incident: PublicIncident, *, kind: str | None = None, version: str = "") -> bytes:
    """Return the CAP 1.2 ``<alert>`` for a public incident, as UTF-8 XML; ``kind``
    (Alert, Update or Cancel) defaults to what its public state says; ``version`` tells
    one Update from another."""
    kind = kind or msg_type(incident)
    ET.register_namespace("", NS)
    root = ET.Element(f"{{{NS}}}alert")
    _add(root, "identifier", identifier(incident, kind, version))
    _add(root, "sender", sender())
    _add(root, "sent", cap_time(incident.at))
    _add(root, "status", "Actual")
    _add(root, "msgType", kind)
    _add(root, "scope", "Public")
    if kind != ALERT:
        # The Alert this one updates or cancels: "sender,identifier,sent" (CAP 1.2 3.2.1).
        _add(
            root,
            "references",
            f"{sender()},{identifier(incident, ALERT)},{cap_time(incident.at)}",
        )
    for code, language in LANGUAGES:
        with translation.override(code):
            _info(root, incident, kind, language)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# --- incoming ---


class MalformedCap(ValueError):
    """An incoming alert we cannot use; the message is a short reason, never its text."""


@dataclass(frozen=True)
class Incoming:
    """What we use of an alert a partner sent."""

    identifier: str
    sender: str
    msg_type: str
    references: str
    kind: str  # a ReportKind value
    lat: float
    lng: float
    headline: str
    description: str
    language: str  # "en" or "es", or ""
    certainty: str  # a CAP certainty (Observed, Likely, ...), or "" for anything else


_POINT = re.compile(r"^\s*(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)")


def _text(parent: ET.Element, name: str) -> str:
    element = parent.find(f"{{{NS}}}{name}")
    return (element.text or "").strip() if element is not None else ""


def _point(info: ET.Element) -> tuple[float, float]:
    """Return the centre of the first circle, else the mean corner of the first polygon."""
    for where in info.findall(f"{{{NS}}}area"):
        for circle in where.findall(f"{{{NS}}}circle"):
            found = _POINT.match(circle.text or "")
            if found:
                return float(found.group(1)), float(found.group(2))
        for polygon in where.findall(f"{{{NS}}}polygon"):
            pairs = [_POINT.match(p) for p in (polygon.text or "").split()]
            points = [(float(p.group(1)), float(p.group(2))) for p in pairs if p]
            if len(points) >= 4:
                corners = points[:-1]
                return (
                    sum(lat for lat, _ in corners) / len(corners),
                    sum(lng for _, lng in corners) / len(corners),
                )
    raise MalformedCap("no area with a circle or polygon")


def parse(body: bytes) -> Incoming:
    """Return what we use of a CAP 1.2 alert; raise MalformedCap for anything else."""
    if len(body) > MAX_BYTES:
        raise MalformedCap("too large")
    try:
        root = DET.fromstring(body, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as e:
        raise MalformedCap("not well-formed XML") from e
    if root.tag != f"{{{NS}}}alert":
        raise MalformedCap("not a CAP 1.2 alert")
    fields = {name: _text(root, name) for name in ("identifier", "sender", "msgType", "sent")}
    for name, value in fields.items():
        if not value:
            raise MalformedCap(f"no {name}")
    if fields["msgType"] not in (ALERT, UPDATE, CANCEL):
        raise MalformedCap("msgType is not Alert, Update or Cancel")
    if len(fields["identifier"]) > 200 or re.search(r"[\s,<&]", fields["identifier"]):
        raise MalformedCap("bad identifier")
    infos = root.findall(f"{{{NS}}}info")
    if not infos:
        raise MalformedCap("no info")
    info = next(
        (i for i in infos if _text(i, "language").lower().startswith("en")),
        infos[0],
    )
    kind = ""
    for code in info.findall(f"{{{NS}}}eventCode"):
        if _text(code, "valueName") == EVENT_CODE:
            kind = _text(code, "value")
    lat, lng = _point(info)
    if not geo.valid_latlng(lat, lng):
        raise MalformedCap("area outside the globe")
    return Incoming(
        identifier=fields["identifier"],
        sender=fields["sender"][:200],
        msg_type=fields["msgType"],
        references=_text(root, "references")[:1000],
        kind=kind if kind in ReportKind.values else ReportKind.AGENTS_SEEN,
        lat=lat,
        lng=lng,
        headline=_text(info, "headline")[:300],
        description=_text(info, "description")[:1000],
        language=_text(info, "language")[:2].lower(),
        certainty=sure if (sure := _text(info, "certainty")) in CERTAINTIES else "",
    )
