"""The page a verifier opens from their request: where to look, what to look for, and
three big buttons. The signed link is the credential; no login on a phone in the street.

Opening the page changes nothing (link previews and mail scanners open links too); only
the tap on an answer (a POST) records it.
"""

from __future__ import annotations

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from tocsin import geo
from tocsin.committees import partners
from tocsin.committees.models import Membership, Role, Share
from tocsin.incidents import verify
from tocsin.incidents.forms import VerifierAnswerForm
from tocsin.incidents.models import UNVERIFIED_STATES, VerificationRequest
from tocsin.lib import languages
from tocsin.lib.bodylimit import takes_uploads
from tocsin.lib.links import read_verify_link_token
from tocsin.places.naming import Gazetteer


def _resolve(token: str) -> VerificationRequest:
    """Return the request behind a verifier's link: still a verifier of a committee the
    incident belongs to (or a partner sharing verifiers with one), or 404."""
    try:
        member_id, incident_id = read_verify_link_token(token)
    except (signing.BadSignature, ValueError, TypeError):
        raise Http404 from None
    req = (
        VerificationRequest.objects.select_related("incident", "verifier")
        .filter(incident_id=incident_id, verifier_id=member_id)
        .first()
    )
    if req is None:
        raise Http404
    # The incident's committees, and partners that share verifiers with them.
    committees = partners.with_partners(
        req.incident.committees.values_list("pk", flat=True), Share.VERIFIERS
    )
    if (
        not Membership.objects.filter(member_id=member_id, committee_id__in=committees)
        .at_least(Role.VERIFIER)
        .exists()
    ):
        raise Http404
    return req


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@takes_uploads
@require_http_methods(["GET", "POST"])
def verify_answer(request: HttpRequest, token: str) -> HttpResponse:
    req = _resolve(token)
    languages.activate_for_link(request, req.verifier.language)
    incident = req.incident
    open_ = incident.state in UNVERIFIED_STATES
    status = 200
    # An answer after the incident closed (she was on her way) is still kept, once, for the
    # desk to see; it changes nothing and alerts nobody.
    if request.method == "POST" and (open_ or not req.answer):
        form = VerifierAnswerForm(request.POST, request.FILES, body_bytes=_content_length(request))
        if form.is_valid():
            data = form.cleaned_data
            verify.record_answer(
                req,
                data["answer"],
                channel="web",
                agency=data["agency"],
                vehicles=data["vehicles"],
                agents=data["agents"],
                details=data["details"],
                photos=data["photos"],
            )
            return redirect("verify_answer", token=token)
        status = 400
    else:
        form = VerifierAnswerForm(
            initial={
                "answer": request.GET.get("a") or req.answer,
                "agency": req.agency,
                "vehicles": req.vehicles,
                "agents": req.agents,
            }
        )
    lat, lng = geo.center(incident.cell)
    return render(
        request,
        "incidents/verify_answer.html",
        {
            "req": req,
            "incident": incident,
            "form": form,
            "open": open_,
            "late": bool(
                req.answered_at and incident.closed_at and req.answered_at > incident.closed_at
            ),
            "where": Gazetteer.of(incident).exact(incident.cell),
            "lat": lat,
            "lng": lng,
        },
        status=status,
    )
