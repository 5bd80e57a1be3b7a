"""A member's own data: everything Tocsin holds about them, to download or to delete."""

from __future__ import annotations

from typing import Any

import h3
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tocsin.alerts.models import Delivery
from tocsin.committees.models import Committee, Membership, Role
from tocsin.family import plans as family_plans
from tocsin.members.models import Member
from tocsin.vault.space import zero_freed_pages

EXPORT_FORMAT = "tocsin-member-data/1"


def export_data(member: Member) -> dict[str, Any]:
    """Return everything stored about ``member`` that this process can read, as JSON data.

    Contact addresses are sealed to the delivery workers' key: a web process cannot open
    them, so the export lists each channel without its address and says why.
    """
    memberships = member.memberships.select_related("committee").order_by("joined_at", "id")
    responses = member.responses.select_related("incident").order_by("created_at", "id")
    deliveries = (
        Delivery.objects.filter(member=member)
        .select_related("alert", "endpoint")
        .order_by("created_at", "id")
    )
    return {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "display_name": member.display_name,
        "language": member.language,
        # The languages they speak, for the interpreter roster (tocsin.legal).
        "languages_spoken": [
            {"language": row.language, "interprets": row.interprets}
            for row in member.spoken_languages.order_by("language")
        ],
        "member_since": member.created_at.isoformat(),
        "committees": [
            {
                "name": m.committee.name,
                "kind": m.committee.kind,
                "role": m.role,
                "joined_at": m.joined_at.isoformat(),
            }
            for m in memberships
        ],
        "areas": [
            {
                "label": a.label,
                "cell": h3.int_to_str(a.cell),
                "ring": a.ring,
                "created_at": a.created_at.isoformat(),
            }
            for a in member.areas.order_by("created_at", "id")
        ],
        "channels": [
            {
                "kind": e.kind,
                "label": e.label,
                "verified": e.verified_at is not None,
                "working": e.disabled_at is None,
                "priority": e.priority,
                "created_at": e.created_at.isoformat(),
            }
            for e in member.endpoints.all()
        ],
        "channels_note": _(
            "Your email addresses, phone numbers, chat ids and push subscriptions are stored "
            "sealed: only the delivery workers hold the key that opens them, and this web "
            "server cannot. "
            "That is why this file lists your channels without their addresses."
        ),
        "second_factors": [
            {
                "kind": f.kind,
                "name": f.name,
                "created_at": f.created_at.isoformat(),
                "last_used_at": f.last_used_at.isoformat() if f.last_used_at else None,
            }
            for f in member.factors.order_by("created_at", "id")
        ],
        "responses": [
            {
                "incident": r.incident_id,
                "incident_kind": r.incident.kind,
                "role": r.role,
                "state": r.state,
                "eta_minutes": r.eta_minutes,
                "created_at": r.created_at.isoformat(),
                "updated_at": r.updated_at.isoformat(),
            }
            for r in responses
        ],
        "mobilizations_signed_up": [
            {
                "mobilization": r.mobilization_id,
                "title": r.mobilization.title_in(member.language),
                "starts_at": r.mobilization.starts_at.isoformat(),
                "role": r.role.kind if r.role else None,
                "status": r.status,
                "confirmed_at": r.confirmed_at.isoformat() if r.confirmed_at else None,
                "checked_in_at": r.checked_in_at.isoformat() if r.checked_in_at else None,
                "created_at": r.created_at.isoformat(),
            }
            for r in member.rsvps.select_related("mobilization", "role").order_by("created_at")
        ],
        "family_plan": family_plans.export_of(member),
        "alerts_received": [
            {
                "alert": d.alert_id,
                "purpose": d.alert.purpose,
                "channel": d.endpoint.kind,
                "status": d.status,
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            }
            for d in deliveries
        ],
    }


def sole_organizer_of(member: Member) -> list[Committee]:
    """Return the committees that would have no organizer left without ``member``."""
    mine = Membership.objects.filter(member=member, role=Role.ORGANIZER).values("committee_id")
    others = (
        Membership.objects.filter(committee_id__in=mine, role=Role.ORGANIZER)
        .exclude(member=member)
        .values("committee_id")
    )
    return list(Committee.objects.filter(id__in=mine).exclude(id__in=others).order_by("name"))


def delete_account(member: Member) -> None:
    """Delete ``member``, their auth user and sessions, and every row about them.

    Cascades remove endpoints, areas, login codes, second factors, memberships,
    responses, deliveries and demo messages; rows that only mention them as an actor
    (timeline entries, invites they made, vouches) keep the row and lose the name.
    Counts that name nobody stay: an alert's ``targeted`` is a number.
    """
    user = member.user
    # Overwrite, not just unlink, the deleted rows; the worker's next purge then VACUUMs
    # the free pages away (tocsin.vault.space.reclaim_space).
    zero_freed_pages()
    with transaction.atomic():
        Session.objects.filter(session_key__in=_session_keys(user.pk)).delete()
        user.delete()


def _session_keys(user_pk: int) -> list[str]:
    """Return the keys of every stored session logged in as ``user_pk``.

    Session data is signed and encoded, so it is read row by row; deleting an account is
    rare and the purge keeps only unexpired sessions around.
    """
    wanted = str(user_pk)
    keys = []
    for session in Session.objects.iterator(chunk_size=1000):
        if str(session.get_decoded().get(SESSION_KEY)) == wanted:
            keys.append(session.session_key)
    return keys
