"""The desk's working tools: sending verifiers, holding an incident, hotline calls,
answering reporters."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tocsin.committees import access
from tocsin.incidents import services, verify
from tocsin.incidents.forms import CALLBACK_KINDS, HotlineForm, ReplyForm
from tocsin.intake import replies
from tocsin.intake.models import Channel
from tocsin.intake.services import OutsideEveryArea, submit_report
from tocsin.lib import geocode
from tocsin.members.models import Member
from tocsin.transports import base as transports


def held_message(request: HttpRequest, error: services.HeldByOther) -> None:
    name = Member.objects.filter(pk=error.holder_id).values_list("display_name", flat=True).first()
    messages.error(
        request,
        _("%(name)s is handling this incident. Take it over first if you need to act.")
        % {"name": name or _("Another dispatcher")},
    )


@access.staff_view
@require_POST
def send_verifier(request: HttpRequest, pk: int) -> HttpResponse:
    incident, member = access.incident_for_dispatcher(request, pk)
    verifier = access.verifier_for_incident(incident, request.POST.get("verifier", ""))
    try:
        req = verify.request(incident, verifier, actor=member)
    except services.HeldByOther as e:
        held_message(request, e)
    except services.states.TransitionError:
        messages.error(request, _("Only an unverified incident can be sent to a verifier."))
    else:
        if req.alert is not None and req.alert.targeted:
            messages.success(
                request, _("%(name)s is asked to verify.") % {"name": verifier.display_name}
            )
        else:
            messages.error(
                request,
                _("%(name)s has no working channel: call them instead.")
                % {"name": verifier.display_name},
            )
    return redirect("incident", pk=incident.pk)


@access.staff_view
@require_POST
def take_over(request: HttpRequest, pk: int) -> HttpResponse:
    incident, member = access.incident_for_dispatcher(request, pk)
    services.take_over(incident, member)
    messages.success(request, _("You are handling this incident now."))
    return redirect("incident", pk=incident.pk)


@access.staff_view
@require_POST
def release(request: HttpRequest, pk: int) -> HttpResponse:
    incident, member = access.incident_for_dispatcher(request, pk)
    services.release(incident, member)
    return redirect("incident", pk=incident.pk)


@access.staff_view
@require_POST
def reply_to_reporter(request: HttpRequest) -> HttpResponse:
    try:
        pk = int(request.POST.get("report", ""))
    except ValueError:
        raise Http404 from None
    report, member = access.report_for_dispatcher(request, pk)
    form = ReplyForm(request.POST)
    back = ("incident", report.incident_id) if report.incident_id else ("desk", None)
    if not form.is_valid():
        messages.error(request, _("Write a message first (at most 1,000 characters)."))
    else:
        try:
            message = replies.reply(report, form.cleaned_data["body"], actor=member)
        except services.HeldByOther as e:
            held_message(request, e)
        else:
            if message.status == message.Status.SHOWN:
                messages.success(
                    request,
                    _("Reply saved: the reporter sees it with receipt code %(receipt)s.")
                    % {"receipt": report.receipt},
                )
            else:
                messages.success(request, _("Reply queued on the reporter's own channel."))
    if back[1] is None:
        return redirect("desk")
    return redirect("incident", pk=back[1])


def _hotline_form(data: dict | None = None) -> HotlineForm:
    form = HotlineForm(data, initial={"nonce": secrets.token_urlsafe(24), "language": "es"})
    ready = transports.registry()
    form.fields["callback_kind"].choices = [  # type: ignore[attr-defined]
        (kind, label) for kind, label in CALLBACK_KINDS if not kind or kind in ready
    ]
    return form


@access.staff_view
@require_http_methods(["GET", "POST"])
def hotline(request: HttpRequest) -> HttpResponse:
    """A call the dispatcher types in; it joins clustering like any other report."""
    member = access.member_of(request)
    if not access.dispatcher_committees(member):
        raise Http404
    if request.method == "GET":
        form = _hotline_form()
        return _hotline_page(request, form, status=200)
    form = _hotline_form(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            report = submit_report(
                channel=Channel.HOTLINE,
                kind=data["kind"],
                lat=data["lat"],
                lng=data["lng"],
                text=data["text"],
                nonce=data["nonce"],
                language=data["language"],
                reply_to=(data["callback_kind"], data["callback"])
                if data["callback_kind"]
                else None,
            )
        except OutsideEveryArea:
            form.add_error(None, _("No committee covers that place. Check it on the map."))
        else:
            if report.area_cell not in access.dispatch_cells(member):
                messages.success(
                    request,
                    _("Report %(receipt)s sent to the committee that covers that place.")
                    % {"receipt": report.receipt},
                )
                return redirect("hotline")
            messages.success(
                request, _("Call taken as report %(receipt)s.") % {"receipt": report.receipt}
            )
            if report.incident_id:
                return redirect("incident", pk=report.incident_id)
            return redirect("desk")
    return _hotline_page(request, form, status=400)


def _hotline_page(request: HttpRequest, form: HotlineForm, *, status: int) -> HttpResponse:
    from django.conf import settings

    return render(
        request,
        "incidents/hotline.html",
        {"form": form, "map_center": settings.MAP_CENTER, "geocoder": geocode.enabled()},
        status=status,
    )


@access.staff_view
@require_GET
def geocode_search(request: HttpRequest) -> JsonResponse:
    """Return places for an address typed on the hotline form (through the operator's
    geocoder; the browser talks only to Tocsin)."""
    member = access.member_of(request)
    if not access.dispatcher_committees(member):
        raise Http404
    if not geocode.enabled():
        return JsonResponse({"error": _("Address search is not set up.")}, status=503)
    try:
        places = geocode.search(request.GET.get("q", ""))
    except geocode.GeocoderError:
        return JsonResponse(
            {"error": _("Address search is not answering. Place the call on the map.")},
            status=502,
        )
    return JsonResponse(
        {"places": [{"label": p.label, "lat": p.lat, "lng": p.lng} for p in places]}
    )
