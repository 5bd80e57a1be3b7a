"""The alert page a member opens from a push or an email link, and "I'm on my way"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from tocsin.alerts.models import Delivery
from tocsin.committees.models import Membership, Role
from tocsin.incidents.models import Incident, State
from tocsin.lib import languages, live, sse
from tocsin.lib.links import read_alert_link_token
from tocsin.lib.screening import screen
from tocsin.members.models import Member
from tocsin.mobilize import services
from tocsin.mobilize.models import ResponderRole, Response, ResponseState
from tocsin.places.naming import Gazetteer


class ResponseForm(forms.Form):
    """A responder picks their role; a member comes as an observer (no role field)."""

    role = forms.ChoiceField(label=_("As"), choices=ResponderRole.choices)
    eta_minutes = forms.IntegerField(
        label=_("Minutes away (optional)"), min_value=0, max_value=600, required=False
    )
    state = forms.ChoiceField(
        choices=ResponseState.choices, initial=ResponseState.ON_MY_WAY, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, responder: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not responder:
            del self.fields["role"]


def _resolve(token: str) -> tuple[Member, Incident]:
    """Return the member and incident of a signed alert link: only members who were sent
    an alert about the incident can open it."""
    try:
        member_id, incident_id = read_alert_link_token(token)
    except (signing.BadSignature, ValueError, TypeError):
        raise Http404 from None
    if not Delivery.objects.filter(member_id=member_id, alert__incident_id=incident_id).exists():
        raise Http404
    member = Member.objects.filter(pk=member_id).first()
    incident = Incident.objects.filter(pk=incident_id).first()
    if member is None or incident is None:
        raise Http404
    return member, incident


def _context(member: Member, incident: Incident) -> dict:
    response = Response.objects.filter(incident=incident, member=member).first()
    responder = services.is_responder(member)
    # Responders of the incident's committees go to the exact place; members see the block.
    exact = (
        Membership.objects.filter(member=member, committee__in=incident.committees.all())
        .at_least(Role.RESPONDER)
        .exists()
    )
    gazetteer = Gazetteer.of(incident)
    return {
        "member": member,
        "incident": incident,
        # In words, with coordinates preformatted (a decimal comma would be ambiguous).
        "where": gazetteer.exact(incident.cell) if exact else gazetteer.block(incident.cell),
        # The dispatcher's note, unless it screens as naming officers or calling to
        # interfere (it cannot be saved so; this is the last line of defence).
        "summary": "" if screen(incident.summary).held else incident.summary,
        "headcount": services.headcount(incident),
        "response": response,
        # Everyone alerted (only they open the page) answers while it is confirmed.
        "can_respond": incident.state == State.CONFIRMED,
        "responder": responder,
        "form": ResponseForm(
            responder=responder,
            initial={
                "role": response.role if response else ResponderRole.OBSERVER,
                "eta_minutes": response.eta_minutes if response else None,
            },
        ),
    }


@require_http_methods(["GET", "POST"])
def alert_page(request: HttpRequest, token: str) -> HttpResponse:
    member, incident = _resolve(token)
    languages.activate_for_link(request, member.language)
    if request.method == "POST":
        ctx = _context(member, incident)
        form = ResponseForm(request.POST, responder=ctx["responder"])
        if ctx["can_respond"] and form.is_valid():
            services.respond(
                incident,
                member,
                role=form.cleaned_data.get("role", ResponderRole.OBSERVER),
                state=form.cleaned_data["state"],
                eta_minutes=form.cleaned_data["eta_minutes"],
            )
            return redirect("alert_page", token=token)
        ctx["form"] = form
        if not ctx["can_respond"]:
            # A page opened before the incident ended: say why nothing was recorded.
            ctx["refused"] = _("This incident is no longer open: your answer was not recorded.")
        return render(request, "mobilize/alert.html", {**ctx, "token": token}, status=400)
    return render(request, "mobilize/alert.html", {**_context(member, incident), "token": token})


def alert_live(request: HttpRequest, token: str) -> HttpResponseBase:
    member, incident = _resolve(token)
    # The stream follows the page: the choice made in this browser, else the member's.
    language = languages.chosen(request) or member.language

    def render_parts() -> str:
        # Shared by everyone alerted who reads it in this language: nothing of one member.
        fresh = Incident.objects.get(pk=incident.pk)
        with translation.override(language):
            return render_to_string(
                "mobilize/_alert_live.html",
                {"incident": fresh, "headcount": services.headcount(fresh)},
            )

    return sse.stream(
        request,
        [f"incident:{incident.pk}"],
        render_parts,
        audience=("alert", language),
        access=(live.access_channel("member", member.pk),),
    )
