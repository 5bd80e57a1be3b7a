"""The Atom feed of verified incidents (/feed/): what the public map shows, no more.

Entries come from ``tocsin.public.incidents.published`` only, so none is finer (the public
cell, named by an area) or earlier (after the delay, the time rounded) than the map. The
language is the request's: ``?lang=es`` or ``?lang=en`` first, else the one Django picked
from the language switch or Accept-Language.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.syndication.views import Feed
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.cache import patch_cache_control
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from tocsin.lib import languages
from tocsin.public.incidents import PublicIncident, published

# Feed readers poll; a minute-old feed is as good as a fresh one, and cheaper in a raid.
MAX_AGE = 60


def entry_title(incident: PublicIncident) -> str:
    """Return what happened and where, in the active language."""
    return _("%(kind)s %(place)s") % {"kind": incident.kind_label, "place": incident.place_text}


def entry_summary(incident: PublicIncident) -> str:
    """Return the state, how it was verified and when, in the active language."""
    # The time as the public map says it: the committees' own time, with its zone.
    local = timezone.localtime(incident.at)
    when = f"{formats.date_format(local, 'DATETIME_FORMAT')} {local.strftime('%Z')}".strip()
    return _("%(state)s, %(verification)s, around %(time)s.") % {
        "state": incident.state_label,
        "verification": incident.verification,
        "time": when,
    }


class IncidentsFeed(Feed):
    """Confirmed and resolved incidents, newest first."""

    feed_type = Atom1Feed

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        language = languages.requested(request)
        with translation.override(language):
            response = super().__call__(request, *args, **kwargs)
        patch_cache_control(response, public=True, max_age=MAX_AGE)
        return response

    def title(self) -> str:
        return _("Tocsin: verified incidents")

    def subtitle(self) -> str:
        return _(
            "Confirmed operations in public space, shown coarse and late. "
            "Observe, document, support; do not interfere."
        )

    def link(self) -> str:
        return reverse("home")

    def feed_url(self) -> str:
        return reverse("public_feed")

    def items(self) -> list[PublicIncident]:
        return published()

    def item_title(self, item: PublicIncident) -> str:
        return entry_title(item)

    def item_description(self, item: PublicIncident) -> str:
        return entry_summary(item)

    def item_link(self, item: PublicIncident) -> str:
        # The incident as the public API gives it: the one public page of one incident.
        return reverse("api:api_incident", args=[item.public_id])

    def item_pubdate(self, item: PublicIncident) -> dt.datetime:
        return item.at

    def item_updateddate(self, item: PublicIncident) -> dt.datetime:
        return item.at

    def item_categories(self, item: PublicIncident) -> list[str]:
        return [item.kind_label, item.state_label]


incidents_feed = IncidentsFeed()
