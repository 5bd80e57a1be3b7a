"""What a member's family plan asks others to do: read by the legal module when it opens
a case (only what the member agreed the legal team may see)."""

from __future__ import annotations

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
