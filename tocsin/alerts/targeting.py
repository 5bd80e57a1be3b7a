"""Who gets an alert: members whose areas intersect the alert area."""

from __future__ import annotations

from array import array

from django.conf import settings
from django.db.models import Q

from tocsin import geo
from tocsin.alerts import cellindex
from tocsin.alerts.cellindex import Match
from tocsin.committees.models import Membership, Role
from tocsin.members.models import AlertArea


def alert_disk(incident_cell: int) -> geo.Disk:
    """Return the alert area for an incident at ``incident_cell``: a cell and a ring."""
    res = settings.AREA_RESOLUTION
    cell = geo.parent(incident_cell, res) if geo.resolution(incident_cell) > res else incident_cell
    return geo.Disk(cell, geo.ring_for_radius(settings.ALERT_RADIUS_M, res))


def cells_by_reach(alert: geo.Disk) -> dict[int, set[int]]:
    """Return, for each minimum member ring k (0..MAX_AREA_RING), the cells where a member
    area with ring >= k intersects ``alert``.

    An area (c, r) intersects the alert (a, R) exactly when grid_distance(a, c) <= R + r,
    so a cell at distance d needs r >= d - R: every ring for d <= R, ring >= 1 at R + 1,
    and so on. Distances are computed per candidate cell, never per member.
    """
    by_reach: dict[int, set[int]] = {k: set() for k in range(geo.MAX_AREA_RING + 1)}
    for cell in geo.disk(alert.cell, alert.ring + geo.MAX_AREA_RING):
        d = geo.distance(alert.cell, cell)
        if d is None:
            continue
        by_reach[max(0, d - alert.ring)].add(cell)
    return by_reach


def area_filter(alert: geo.Disk) -> Q:
    """Return the exact database condition for areas intersecting ``alert``."""
    condition = Q(pk__in=[])
    for min_ring, cells in cells_by_reach(alert).items():
        if cells:
            part = Q(cell__in=cells)
            if min_ring:
                part &= Q(ring__gte=min_ring)
            condition |= part
    return condition


def matching_members(alert: geo.Disk) -> set[int]:
    """Return the ids of members with an area intersecting ``alert`` (exact)."""
    return recipients(alert).members()


def recipients(alert: geo.Disk) -> Match:
    """Return the members ``alert`` reaches: from the process's in-memory index when it
    is ready, else from one indexed query. Both are exact."""
    found = cellindex.INDEX.members(cells_by_reach(alert))
    if found is not None:
        return found
    return Match(array("q"), add=query_members(alert))


def query_members(alert: geo.Disk) -> set[int]:
    """Return the ids of matching members from the database (one indexed query)."""
    rows = AlertArea.objects.filter(area_filter(alert)).values_list("member_id", flat=True)
    return set(rows)


def responders(alert: geo.Disk, committee_ids: set[int]) -> set[int]:
    """Return the responders (and verifiers, dispatchers, organizers) of the given
    committees (those an incident belongs to) whose areas intersect ``alert``: who hears
    of an unverified incident (DESIGN.md section 3). One indexed query; they are few."""
    staff = (
        Membership.objects.filter(committee_id__in=committee_ids)
        .at_least(Role.RESPONDER)
        .values("member_id")
    )
    rows = AlertArea.objects.filter(area_filter(alert), member_id__in=staff)
    return set(rows.values_list("member_id", flat=True))
