"""The incidents the public sees: confirmed or resolved, coarse and late.

Every public output (the map and list, the Atom, GeoJSON and CAP feeds, the JSON API,
federation) reads incidents through ``published`` and shows only the fields of
``PublicIncident``: each is what ``tocsin.lib.exposure.expose`` returned for the public,
so none is finer or earlier than the operator's rules. No summary (a dispatcher's words may
name a store or a street), no report, no committee, no person.
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
from tocsin.intake.models import ReportKind
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
    kind: str
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
        return str(ReportKind(self.kind).label) if self.kind in ReportKind.values else self.kind

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
                "confirmed by %(n)s trusted member's report",
                "confirmed by %(n)s trusted members' reports",
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


def published(
    now: dt.datetime | None = None,
    *,
    limit: int = LIMIT,
    since: dt.datetime | None = None,
    rules: exposure.Rules | None = None,
) -> list[PublicIncident]:
    """Return the incidents the public may see ``now``, newest confirmation first
    (``since``: only those whose public time ``at`` is after it: comparing with the exact
    confirmation would let ever closer ``since`` values tell its minute)."""
    now = now or timezone.now()
    rules = rules or exposure.rules()
    rows = Incident.objects.published(exposure.public_cutoff(now, rules)).prefetch_related(
        "committees"
    )
    if since is not None:
        rows = rows.filter(confirmed_at__gt=since)
    incidents = list(rows[:limit])
    gazetteer = Gazetteer({c.pk for i in incidents for c in i.committees.all()})
    found = []
    for incident in incidents:
        seen = exposure.expose(
            exposure.Audience.PUBLIC,
            cell=incident.cell,
            state=incident.state,
            opened_at=incident.opened_at,
            confirmed_at=incident.confirmed_at,
            now=now,
            rules=rules,
        )
        if seen is None or (since is not None and seen.at <= since):
            continue
        where = gazetteer.area(seen.cell)
        found.append(
            PublicIncident(
                id=incident.pk,
                kind=incident.kind,
                state=seen.state,
                cell=seen.cell,
                resolution=seen.resolution,
                at=seen.at,
                place=where.name,
                confirmed_by=incident.confirmed_by,
                confirmed_sources=incident.confirmed_sources,
            )
        )
    return found
