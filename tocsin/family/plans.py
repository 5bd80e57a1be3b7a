"""What a member's family plan asks others to do: read by the legal module when it opens
a case (only what the member agreed the legal team may see, sealed to its key)."""

from __future__ import annotations

import base64
from typing import Any

from tocsin import vault
from tocsin.family.models import TEXTS, FamilyPlan
from tocsin.members.models import Member


def plan_of(member: Member) -> FamilyPlan | None:
    return FamilyPlan.objects.filter(member=member).first()


def tasks_for(member: Member) -> list[tuple[str, bytes]]:
    """Return the family tasks of ``member``'s plan as (kind, sealed): "childcare",
    "medication", "documents", "message", each ``{"text": ...}`` in the plan's language
    sealed to the legal team's key (only the legal team opens them, and the process that
    opens the case need not hold any private key). Empty without a plan, or when the
    member did not let the legal team see it."""
    plan = plan_of(member)
    if plan is None or not plan.legal_may_see_plan:
        return []
    tasks = []
    for entry in plan.legal_tasks or []:
        try:
            kind, sealed = str(entry[0]), base64.b64decode(entry[1], validate=True)
        except (IndexError, TypeError, ValueError):
            continue
        tasks.append((kind, sealed))
    return tasks


def texts_or_none(plan: FamilyPlan) -> dict[str, str | None]:
    """Return the plan's words, or None for each in a process that cannot open them."""
    try:
        return dict(plan.texts())
    except vault.VaultError:
        return dict.fromkeys(TEXTS)


def export_of(member: Member) -> dict[str, Any] | None:
    """Return ``member``'s family plan for their data export (contacts without their
    sealed addresses, the PIN never), or None without a plan."""
    plan = plan_of(member)
    if plan is None:
        return None
    return {
        "language": plan.language,
        "committee": plan.committee.name if plan.committee else None,
        **texts_or_none(plan),
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
