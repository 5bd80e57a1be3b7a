"""Who gets an alert: members whose areas intersect the alert area."""

from __future__ import annotations

from django.conf import settings

from tocsin import geo
from tocsin.members.models import AlertArea


def alert_disk(incident_cell: int) -> geo.Disk:
    """Return the alert area for an incident at ``incident_cell``: a cell and a ring."""
    res = settings.AREA_RESOLUTION
    cell = geo.parent(incident_cell, res) if geo.resolution(incident_cell) > res else incident_cell
    return geo.Disk(cell, geo.ring_for_radius(settings.ALERT_RADIUS_M, res))


def matching_members(alert: geo.Disk) -> set[int]:
    """Return the ids of members with an area intersecting ``alert``.

    Candidate areas are those whose cell lies within alert.ring + MAX_AREA_RING of the
    alert cell (an indexed IN query); each is then checked exactly by grid distance.
    """
    candidates = geo.disk(alert.cell, alert.ring + geo.MAX_AREA_RING)
    matched: set[int] = set()
    rows = AlertArea.objects.filter(cell__in=candidates).values_list("member_id", "cell", "ring")
    for member_id, cell, ring in rows:
        if member_id in matched:
            continue
        if geo.disks_intersect(alert, geo.Disk(cell, ring)):
            matched.add(member_id)
    return matched
