"""The incidents the public sees: confirmed or resolved, coarse and late.

Every public output (the map and list, the Atom, GeoJSON and CAP feeds, the JSON API,
federation) reads incidents through ``published`` and shows only the fields of
``PublicIncident``: each is what ``tocsin.lib.exposure.expose`` returned for the public,
so none is finer or earlier than the operator's rules. No summary (a dispatcher's words may
name a store or a street), no report, no committee, no person, no exact kind (``kind`` is
the public kind: an arrest at a home is "enforcement activity").

``published`` lists the newest (up to LIMIT); ``published_one`` finds one incident by its
public id however old, as long as the public may still see it (a CAP alert or the API's
detail of an incident past the list's limit).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tocsin import geo
from tocsin.incidents.models import ConfirmedBy, Incident
from tocsin.lib import exposure
from tocsin.lib.incident_states import State
from tocsin.places.naming import Gazetteer

LIMIT = 200


def fingerprint(view: dict[str, Any]) -> str:
    """Return the digest of a public view (``PublicIncident.view``)."""
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class PublicIncident:
    """One incident as the public may see it."""

    id: int
    kind: str  # a public kind (tocsin.lib.exposure.PublicKind), never the report's
    state: str
    cell: int  # at ``resolution`` (exposure rules): never finer
    resolution: int
    at: dt.datetime  # the confirmation, rounded down to the public time step
    place: str  # the named area nearest the cell's centre, or ""
    confirmed_by: str
    confirmed_sources: int

    def view(self) -> dict[str, Any]:
        """Return the public view as JSON-ready data (federation stores it as sent)."""
        view = dataclasses.asdict(self)
        view["at"] = self.at.isoformat()
        return view

    @property
    def fingerprint(self) -> str:
        """Return a digest of the public view: a change (a new label, a new area name)
        is a CAP Update, the same for the public feed and for partners."""
        return fingerprint(self.view())

    @property
    def public_id(self) -> str:
        """Return the incident's public name: stable, opaque (a keyed digest of its number,
        so counting public ids tells nothing of the incidents the public never sees)."""
        return public_id(self.id)

    @property
    def kind_label(self) -> str:
        return exposure.public_kind_label(self.kind)

    @property
    def state_label(self) -> str:
        return str(State(self.state).label)

    @property
    def cell_id(self) -> str:
        return geo.to_str(self.cell)

    @property
    def center(self) -> tuple[float, float]:
        return geo.center(self.cell)

    @property
    def verification(self) -> str:
        """How it was confirmed, in the active language."""
        if self.confirmed_by == ConfirmedBy.QUORUM and self.confirmed_sources:
            return ngettext(
                "confirmed by %(n)s trusted member",
                "confirmed by %(n)s trusted members",
                self.confirmed_sources,
            ) % {"n": self.confirmed_sources}
        if self.confirmed_by in ConfirmedBy.values:
            return str(ConfirmedBy(self.confirmed_by).label)
        return str(ConfirmedBy.DISPATCHER.label)

    @property
    def place_text(self) -> str:
        """Where, in words: the named area, or the cell's size when no area is named."""
        if self.place:
            return _("in %(area)s") % {"area": self.place}
        return _("somewhere in the area shown on the map")


def public_id(pk: int) -> str:
    """Return the public name of incident ``pk`` (see PublicIncident.public_id)."""
    digest = salted_hmac("tocsin.public.incident", str(pk), algorithm="sha256").digest()
    return base64.b32encode(digest[:10]).decode().lower()


def _public(
    incident: Incident, gazetteer: Gazetteer, *, now: dt.datetime, rules: exposure.Rules
) -> PublicIncident | None:
    """Return ``incident`` as the public may see it ``now``, or None."""
    seen = exposure.expose(
        exposure.Audience.PUBLIC,
        cell=incident.cell,
        state=incident.state,
        opened_at=incident.opened_at,
        confirmed_at=incident.confirmed_at,
        now=now,
        rules=rules,
        kind=incident.kind,
        closed_at=incident.closed_at,
    )
    if seen is None:
        return None
    return PublicIncident(
        id=incident.pk,
        kind=seen.kind,
        state=seen.state,
        cell=seen.cell,
        resolution=seen.resolution,
        at=seen.at,
        place=gazetteer.area(seen.cell).name,
        confirmed_by=incident.confirmed_by,
        confirmed_sources=incident.confirmed_sources,
    )


def published(
    now: dt.datetime | None = None,
    *,
    limit: int = LIMIT,
    offset: int = 0,
    since: dt.datetime | None = None,
    rules: exposure.Rules | None = None,
) -> list[PublicIncident]:
    """Return the incidents the public may see ``now``, newest confirmation first: at most
    ``limit``, after skipping ``offset`` (``since``: only those whose public time ``at`` is
    after it: comparing with the exact confirmation would let ever closer ``since`` values
    tell its minute)."""
    now = now or timezone.now()
    rules = rules or exposure.rules()
    rows = Incident.objects.published(exposure.public_cutoff(now, rules)).prefetch_related(
        "committees"
    )
    if since is not None:
        rows = rows.filter(confirmed_at__gt=since)
    incidents = list(rows[offset : offset + limit])
    gazetteer = Gazetteer({c.pk for i in incidents for c in i.committees.all()})
    found = []
    for incident in incidents:
        seen = _public(incident, gazetteer, now=now, rules=rules)
        if seen is None or (since is not None and seen.at <= since):
            continue
        found.append(seen)
    return found


# Public ids are keyed digests: finding one means computing them. Rows are read this
# many at a time, their numbers only.
_CHUNK = 2000


def published_one(
    incident_id: str, now: dt.datetime | None = None, *, rules: exposure.Rules | None = None
) -> PublicIncident | None:
    """Return the incident whose public id is ``incident_id`` as the public may see it
    ``now``, or None (unknown, or not public: the same answer). Not bound by the list's
    LIMIT: an older incident the public may still see is found too."""
    now = now or timezone.now()
    rules = rules or exposure.rules()
    rows = Incident.objects.published(exposure.public_cutoff(now, rules))
    pk = next(
        (
            p
            for p in rows.values_list("pk", flat=True).iterator(_CHUNK)
            if public_id(p) == incident_id
        ),
        None,
    )
    if pk is None:
        return None
    incident = rows.prefetch_related("committees").get(pk=pk)
    gazetteer = Gazetteer({c.pk for c in incident.committees.all()})
    return _public(incident, gazetteer, now=now, rules=rules)
