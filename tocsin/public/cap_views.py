"""The public CAP 1.2 alerts: one per public incident (its Alert, an Update once its public
view changed, a Cancel once resolved: tocsin.public.cap_versions), and an Atom index of
them (as alert hubs and aggregators read CAP feeds: each entry links to one alert)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from tocsin.public import cap, cap_versions
from tocsin.public.incidents import published, published_one

MAX_AGE = 60


class CapIndex(Atom1Feed):
    """Atom whose entries' links say they are CAP alerts (type="application/cap+xml")."""

    def add_item_elements(self, handler: Any, item: dict[str, Any]) -> None:
        write = handler.addQuickElement

        def typed(name: str, contents: str | None = None, attrs: Any = None) -> None:
            if name == "link" and attrs and attrs.get("rel") == "alternate":
                attrs = {**attrs, "type": cap.CONTENT_TYPE}
            write(name, contents, attrs)

        handler.addQuickElement = typed
        try:
            super().add_item_elements(handler, item)
        finally:
            del handler.addQuickElement


@require_safe
# The alert holds English and Spanish alike: the same for every reader.
@cache_control(max_age=MAX_AGE, public=True)
def public_cap(request: HttpRequest, public_id: str) -> HttpResponse:
    """One incident's CAP alert; 404 for any incident the public may not see (yet)."""
    # Not only the newest LIMIT: any incident the public may still see has its alert.
    incident = published_one(public_id)
    if incident is None:
        raise Http404
    kind, version = cap_versions.current([incident])[incident.id]
    return HttpResponse(
        cap.alert(incident, kind=kind, version=version),
        content_type=f"{cap.CONTENT_TYPE}; charset=utf-8",
    )


@require_safe
# Its titles follow the reader's language (the alerts hold both): cached privately.
@cache_control(max_age=MAX_AGE, private=True)
def cap_feed(request: HttpRequest) -> HttpResponse:
    """An Atom feed whose entries link to each public incident's CAP alert."""
    incidents = published()
    feed = CapIndex(
        title=_("Tocsin: confirmed incidents (CAP 1.2)"),
        link=settings.SITE_URL + "/",
        description=_("Confirmed incidents, coarse and late, as CAP 1.2 alerts."),
        feed_url=settings.SITE_URL + reverse("public_cap_feed"),
        language=request.LANGUAGE_CODE,
    )
    versions = cap_versions.current(incidents)
    for incident in incidents:
        kind, version = versions[incident.id]
        url = settings.SITE_URL + reverse("public_cap", args=[incident.public_id])
        feed.add_item(
            title=f"{incident.kind_label} {incident.place_text}",
            link=url,
            description=incident.verification,
            unique_id=f"urn:cap:{cap.identifier(incident, kind, version)}",
            updateddate=incident.at,
            pubdate=incident.at,
        )
    return HttpResponse(
        feed.writeString("utf-8"), content_type="application/atom+xml; charset=utf-8"
    )
