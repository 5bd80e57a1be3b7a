"""What a member's family plan asks others to do: read by the legal module when it opens
a case (only what the member agreed the legal team may see)."""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from tocsin.family.models import FamilyPlan
from tocsin.members.models import Member


def plan_of(member: Member) -> FamilyPlan | None:
    return FamilyPlan.objects.filter(member=member).first()


def tasks_for(member: Member) -> list[tuple[str, str]]:
    """Return the family tasks of ``member``'s plan as (kind, text): "childcare",
    "medication", "documents", "message", in the plan's language. Empty without a plan,
    or when the member did not let the legal team see it."""
    plan = plan_of(member)
    if plan is None or not plan.legal_may_see_plan:
        return []
    tasks = []
    with translation.override(plan.language):
        for kind, label, text in (
            ("childcare", _("Pick up the children"), plan.children),
            ("medication", _("Medication"), plan.medication),
            ("documents", _("Documents to find"), plan.documents),
            ("message", _("Message to the family"), plan.message),
        ):
            if text.strip():
                tasks.append((kind, f"{label}: {text.strip()}"))
    return tasks


def export_of(member: Member) -> dict[str, Any] | None:
    """Return ``member``'s family plan for their data export (contacts without their
    sealed addresses, the PIN never), or None without a plan."""
    plan = plan_of(member)
    if plan is None:
        return None
    return {
        "language": plan.language,
        "committee": plan.committee.name if plan.committee else None,
        "children": plan.children,
        "medication": plan.medication,
        "documents": plan.documents,
        "message": plan.message,
        "legal_may_see_plan": plan.legal_may_see_plan,
        "legal_may_call_contacts": plan.legal_may_call_contacts,
        "has_pin": bool(plan.pin_hash),
        "check_in_by": plan.check_in_by.isoformat() if plan.check_in_by else None,
        "contacts": [
            {
                "name": c.label,
                "kind": c.kind,
                "language": c.language,
                "agreed_at": c.confirmed_at.isoformat() if c.confirmed_at else None,
            }
            for c in plan.contacts.all()
        ],
        "panic_triggers": [
            {
                "kind": t.kind,
                "at": t.at.isoformat(),
                "cancelled_at": t.cancelled_at.isoformat() if t.cancelled_at else None,
            }
            for t in member.panic_triggers.all()
        ],
    }
