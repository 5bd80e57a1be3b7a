"""The legal part of the desk's incident page: open a case for someone detained there,
and the interpreters sent for it (who came)."""

from __future__ import annotations

from typing import Any

from django import template

from tocsin.committees import access
from tocsin.committees.models import Committee
from tocsin.incidents.models import Incident
from tocsin.legal import keys
from tocsin.legal.forms import NO_KEY, CaseForm, FindInterpreterForm
from tocsin.legal.models import InterpreterCall

register = template.Library()


@register.inclusion_tag("legal/_incident.html", takes_context=True)
def incident_legal(context: dict[str, Any], incident: Incident) -> dict[str, Any]:
    request = context["request"]
    member = getattr(request.user, "member", None)
    owners = set(incident.committees.values_list("pk", flat=True))
    mine = sorted(owners & access.staff_committee_ids(member)) if member is not None else []
    committee = Committee.objects.filter(pk=mine[0]).first() if mine else None
    return {
        "incident": incident,
        "committee": committee,
        "sealable": keys.can_seal(),
        "no_key": NO_KEY,
        "csrf_token": context.get("csrf_token"),
        "case_form": CaseForm(auto_id="case_%s"),
        "interpreter_form": FindInterpreterForm(auto_id="interpreter_%s"),
        "calls": InterpreterCall.objects.filter(incident=incident).select_related(
            "interpreter", "committee"
        ),
    }
