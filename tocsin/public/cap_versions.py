"""Which CAP message the public feed carries for each public incident: the Alert, then,
once its public view changed (a new verification label, a new area name), an Update of
it, and a Cancel once it is resolved. What each incident was last published as is kept
on a CapVersion row, written when a change is first seen (reading the feed writes only
then, and the same view always gives the same row, whoever reads first); an Update's
version is the view's fingerprint, as partners are sent it (tocsin.federation.outgoing),
so one change is one identifier everywhere."""

from __future__ import annotations

from django.utils import timezone

from tocsin.lib.incident_states import State
from tocsin.public import cap
from tocsin.public.incidents import PublicIncident
from tocsin.public.models import CapVersion

VERSION_LENGTH = 12


def current(incidents: list[PublicIncident]) -> dict[int, tuple[str, str]]:
    """Return, for each incident's id, the msgType the public feed carries now and the
    version (of an Update, else "")."""
    rows = {
        v.incident_id: v
        for v in CapVersion.objects.filter(incident_id__in=[i.id for i in incidents])
    }
    found: dict[int, tuple[str, str]] = {}
    new: list[CapVersion] = []
    for incident in incidents:
        row = rows.get(incident.id)
        if incident.state == State.RESOLVED:
            found[incident.id] = (cap.CANCEL, "")
            continue
        fingerprint = incident.fingerprint
        if row is None:
            new.append(
                CapVersion(incident_id=incident.id, msg_type=cap.ALERT, fingerprint=fingerprint)
            )
            found[incident.id] = (cap.ALERT, "")
            continue
        if row.fingerprint != fingerprint:
            CapVersion.objects.filter(pk=row.pk).update(
                msg_type=cap.UPDATE, fingerprint=fingerprint, changed_at=timezone.now()
            )
            row.msg_type, row.fingerprint = cap.UPDATE, fingerprint
        found[incident.id] = (
            (cap.UPDATE, row.fingerprint[:VERSION_LENGTH])
            if row.msg_type == cap.UPDATE
            else (cap.ALERT, "")
        )
    if new:
        # Two readers at once write the same row: the second is ignored.
        CapVersion.objects.bulk_create(new, ignore_conflicts=True)
    return found
