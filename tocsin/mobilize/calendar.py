"""Planned mobilizations in formats other tools read: iCalendar and OSDI-style JSON.

Only what the public page shows: title, description, time, place in words, the point of a
public place, the link. Never who signed up, nor how to reach them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import Any
from urllib.parse import urlencode, urlparse

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from icalendar import Calendar, Event

from tocsin.mobilize.planned import Mobilization, Visibility

GOOGLE = "https://calendar.google.com/calendar/render"
OUTLOOK = "https://outlook.live.com/calendar/0/deeplink/compose"
# A link carries the description in its query: long ones are cut (the page has it all).
LINK_DESCRIPTION = 800


def page_url(m: Mobilization) -> str:
    return settings.SITE_URL + reverse("mobilization", args=[m.pk])


def subscribe_url(path: str) -> str:
    """Return the ``webcal://`` address of the calendar at ``path`` on this site: a
    calendar app that opens it subscribes, and keeps the events up to date."""
    return "webcal://" + (settings.SITE_URL + path).split("://", 1)[-1]


def _details(m: Mobilization, language: str) -> str:
    description = m.description_in(language)
    if len(description) > LINK_DESCRIPTION:
        description = description[:LINK_DESCRIPTION].rstrip() + "..."
    return f"{description}\n\n{page_url(m)}".strip()


def add_links(m: Mobilization, *, language: str) -> dict[str, str]:
    """Return "add to calendar" links for Google Calendar and Outlook: plain links to
    those services' own forms, filled from the public page. None (an empty dict) for a
    mobilization that is not public: its details stay on this server."""
    if m.visibility != Visibility.PUBLIC:
        return {}
    with translation.override(language):
        title, where, details = m.title_in(language), m.where(), _details(m, language)
    utc = "%Y%m%dT%H%M%SZ"
    start, end = m.starts_at.astimezone(UTC), m.ends_at.astimezone(UTC)
    google = {
        "action": "TEMPLATE",
        "text": title,
        "dates": f"{start.strftime(utc)}/{end.strftime(utc)}",
        "details": details,
        "location": where,
    }
    outlook = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": title,
        "startdt": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "enddt": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "body": details,
        "location": where,
    }
    return {"google": f"{GOOGLE}?{urlencode(google)}", "outlook": f"{OUTLOOK}?{urlencode(outlook)}"}


def _uid(m: Mobilization) -> str:
    return f"mobilization-{m.pk}@{urlparse(settings.SITE_URL).hostname or 'tocsin'}"


def ical(mobilizations: Iterable[Mobilization], *, name: str, language: str) -> bytes:
    """Return an iCalendar file (RFC 5545) of ``mobilizations``, written in ``language``."""
    cal = Calendar()
    cal.add("prodid", "-//Tocsin//Planned mobilizations//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    with translation.override(language):
        for m in mobilizations:
            event = Event()
            event.add("uid", _uid(m))
            event.add("dtstamp", m.updated_at)
            event.add("sequence", m.version)
            event.add("summary", m.title_in(language))
            event.add("dtstart", m.starts_at)
            event.add("dtend", m.ends_at)
            description = m.description_in(language)
            event.add("description", f"{description}\n\n{page_url(m)}".strip())
            event.add("location", m.where())
            point = m.point()
            if point is not None:
                event.add("geo", point)
            event.add("url", page_url(m))
            event.add("status", "CANCELLED" if m.is_cancelled else "CONFIRMED")
            event.add("categories", [str(m.get_kind_display())])
            cal.add_component(event)
    return cal.to_ical()


def osdi(mobilizations: Iterable[Mobilization], *, language: str) -> dict[str, Any]:
    """Return the public mobilizations as an OSDI events collection (the shape Action
    Network reads: ``_embedded["osdi:events"]``)."""
    events = []
    with translation.override(language):
        for m in mobilizations:
            point = m.point()
            location: dict[str, Any] = {"venue": m.where()}
            if point is not None:
                location["location"] = {"latitude": point[0], "longitude": point[1]}
            events.append(
                {
                    "identifiers": [f"tocsin:{m.pk}"],
                    "origin_system": "Tocsin",
                    "title": m.title_in(language),
                    "name": m.title_in(language),
                    "description": m.description_in(language),
                    "browser_url": page_url(m),
                    "type": "open",
                    "status": "cancelled" if m.is_cancelled else "confirmed",
                    "start_date": timezone.localtime(m.starts_at).isoformat(),
                    "end_date": timezone.localtime(m.ends_at).isoformat(),
                    "created_date": m.created_at.isoformat(),
                    "modified_date": m.updated_at.isoformat(),
                    "location": location,
                    "tocsin:kind": m.kind,
                    "tocsin:languages": m.languages(),
                    "tocsin:committee": m.committee.name,
                }
            )
    return {
        "total_records": len(events),
        "_embedded": {"osdi:events": events},
    }
