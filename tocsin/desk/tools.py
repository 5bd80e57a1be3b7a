"""The desk's working tools: sending verifiers, holding an incident, hotline calls,
answering reporters."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tocsin.alerts.models import Alert
from tocsin.committees import access, approvals, partners
from tocsin.committees import services as committee_services
from tocsin.committees.models import Approval, Share
from tocsin.family import panic
from tocsin.family.forms import HotlinePanicForm
from tocsin.family.models import Trigger
from tocsin.incidents import access as desk_access
from tocsin.incidents import replies, services, verify
from tocsin.incidents.forms import CALLBACK_KINDS, HotlineForm, ReplyForm
from tocsin.incidents.reports import OutsideEveryArea, receive_report
from tocsin.intake import place_views
from tocsin.intake.models import Channel
from tocsin.lib import geocode
from tocsin.members.models import Member
from tocsin.mobilize import ladder
from tocsin.transports import registry as transports


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
    incident, member = desk_access.incident_for_dispatcher(request, pk)
    verifier = desk_access.verifier_for_incident(
        incident, request.POST.get("verifier", ""), dispatcher=member
    )
    try:
        req = verify.request(
            incident,
            verifier,
            actor=member,
            committee_ids=desk_access.verifier_committee_ids(member, incident),
        )
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
    incident, member = desk_access.incident_for_dispatcher(request, pk)
    services.take_over(incident, member)
    messages.success(request, _("You are handling this incident now."))
    return redirect("incident", pk=incident.pk)


@access.staff_view
@require_POST
def release(request: HttpRequest, pk: int) -> HttpResponse:
    incident, member = desk_access.incident_for_dispatcher(request, pk)
    services.release(incident, member)
    return redirect("incident", pk=incident.pk)


@access.staff_view
@require_POST
def reply_to_reporter(request: HttpRequest) -> HttpResponse:
    try:
        pk = int(request.POST.get("report", ""))
    except ValueError:
        raise Http404 from None
    report, member = desk_access.report_for_dispatcher(request, pk)
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
    choices = [(kind, label) for kind, label in CALLBACK_KINDS if not kind or kind in ready]
    if len(choices) == 1:
        # No channel here can text a caller back: no number is asked for, none is kept.
        del form.fields["callback_kind"], form.fields["callback"]
    else:
        form.fields["callback_kind"].choices = choices  # type: ignore[attr-defined]
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
            report = receive_report(
                within=access.desk_committee_ids(member),
                channel=Channel.HOTLINE,
                kind=data["kind"],
                lat=data["lat"],
                lng=data["lng"],
                text=data["text"],
                nonce=data["nonce"],
                language=data["language"],
                reply_to=(data["callback_kind"], data["callback"])
                if data.get("callback_kind")
                else None,
            )
        except OutsideEveryArea:
            form.add_error(
                None,
                _(
                    "None of your committees (or their partners) covers that place. Check it "
                    "on the map, or give the caller the hotline of the committee there."
                ),
            )
        else:
            messages.success(
                request, _("Call taken as report %(receipt)s.") % {"receipt": report.receipt}
            )
            if report.incident_id:
                return redirect("incident", pk=report.incident_id)
            return redirect("desk")
    return _hotline_page(request, form, status=400)


def _hotline_page(
    request: HttpRequest,
    form: HotlineForm,
    *,
    status: int,
    panic_form: HotlinePanicForm | None = None,
) -> HttpResponse:
    return render(
        request,
        "incidents/hotline.html",
        {
            "form": form,
            "panic_form": panic_form or HotlinePanicForm(),
            "map_center": settings.MAP_CENTER,
            "address_search": geocode.enabled(),
        },
        status=status,
    )


@access.staff_view
@require_POST
def hotline_panic(request: HttpRequest) -> HttpResponse:
    """A member calls for help: the dispatcher types their phone number and PIN, and the
    member's emergency contacts are alerted (tocsin.family.panic)."""
    member = access.member_of(request)
    committee_ids = set(access.staff_committee_ids(member))
    if not committee_ids:
        raise Http404
    form = HotlinePanicForm(request.POST)
    if form.is_valid():
        caller = panic.by_phone_and_pin(
            form.cleaned_data["phone"], form.cleaned_data["pin"].strip(), committee_ids
        )
        if caller is not None:
            panic.trigger(caller, Trigger.Kind.HOTLINE)
            messages.success(
                request,
                _("%(name)s's emergency contacts are being alerted.") % {"name": caller},
            )
            return redirect("hotline")
        form.add_error(None, _("No member of your committees has that phone number and PIN."))
    return _hotline_page(request, _hotline_form(), status=400, panic_form=form)


@access.staff_view
@require_GET
def geocode_search(request: HttpRequest) -> JsonResponse:
    """Return the desk committees' named places matching what the caller says (``q``),
    then addresses from the operator's geocoder when there is one; or what is near a
    point (``lat``, ``lng``). The browser talks only to Tocsin."""
    member = access.member_of(request)
    if not access.dispatcher_committees(member):
        raise Http404
    committee_ids = access.desk_committee_ids(member)
    query = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    near = place_views.point_of(request)
    if query:
        return JsonResponse(place_views.find(query, near, committee_ids=committee_ids))
    if near is None:
        return JsonResponse({"error": _("Type a place, or pick one on the map.")}, status=400)
    return JsonResponse(place_views.near_point(*near, committee_ids=committee_ids))


@access.staff_view
@require_POST
def alert_more(request: HttpRequest, pk: int) -> HttpResponse:
    """Alert more members about a confirmed incident: this desk's committees that have
    not alerted theirs yet, or partner committees' members (a second person approves)."""
    incident, member = desk_access.incident_for_dispatcher(request, pk)
    acting = desk_access.acting_committee_ids(member, incident)
    chosen = {int(v) for v in request.POST.getlist("committees") if v.isdigit()} & acting
    partner_ids = {int(v) for v in request.POST.getlist("partners") if v.isdigit()}
    partner_ids &= partners.partners(acting, Share.ALERTS)
    if not chosen and not partner_ids:
        messages.error(request, _("Choose whose members to alert."))
        return redirect("incident", pk=incident.pk)
    try:
        result = services.alert_more(
            incident,
            chosen or acting,
            actor=member,
            partner_ids=partner_ids,
            all_channels=request.POST.get("all_channels") == "1",
        )
    except services.HeldByOther as e:
        held_message(request, e)
    except services.states.TransitionError:
        messages.error(request, _("Only a confirmed incident alerts members."))
    else:
        _said(request, result)
    return redirect("incident", pk=incident.pk)


def _said(request: HttpRequest, result: list[Alert] | Approval) -> None:
    if isinstance(result, Approval):
        messages.warning(
            request,
            _("The alert waits for a second staff member: %(reason)s.")
            % {"reason": result.get_reason_display()},
        )
    else:
        n = sum(a.targeted for a in result)
        messages.success(
            request,
            ngettext("Alert queued for %(n)d member.", "Alert queued for %(n)d members.", n)
            % {"n": n},
        )


@access.staff_view
@require_POST
def follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    """Tell this desk's committees' alerted members how a closed incident ended."""
    incident, member = desk_access.incident_for_dispatcher(request, pk)
    try:
        alert = services.follow_up(
            incident, desk_access.acting_committee_ids(member, incident), actor=member
        )
    except services.states.TransitionError:
        messages.error(request, _("Only a closed incident is followed up."))
    else:
        if alert is None:
            messages.info(request, _("Nobody your committees alerted is waiting to hear."))
        else:
            messages.success(
                request,
                ngettext("Sent to %(n)d member.", "Sent to %(n)d members.", alert.targeted)
                % {"n": alert.targeted},
            )
    return redirect("incident", pk=incident.pk)


@access.staff_view
@require_POST
def decide_approval(request: HttpRequest, pk: int) -> HttpResponse:
    """The second person's one tap: approve (and carry out) or decline what waits."""
    member = access.member_of(request)
    approval = access.approval_for(request, pk)
    back = request.POST.get("next", "")
    if request.POST.get("decision") == "decline":
        try:
            approvals.decline(approval, by=member)
        except approvals.ApprovalError:
            raise Http404 from None
        messages.success(request, _("Declined. Nothing was done."))
    else:
        try:
            _carry_out(request, approval, member)
        except approvals.ApprovalError:
            messages.error(
                request,
                _(
                    "It cannot be approved: a second staff member of the committee approves, "
                    "while it still waits."
                ),
            )
        else:
            messages.success(request, _("Approved and done."))
    if back == "incident" and approval.kind == Approval.Kind.ALERT and approval.object_id:
        return redirect("incident", pk=approval.object_id)
    return redirect("desk")


def _carry_out(request: HttpRequest, approval: Approval, member: Member) -> None:
    if ladder.is_rung(approval):
        ladder.approve(approval, by=member)
    elif approval.kind == Approval.Kind.ALERT:
        services.approve_alert(approval, by=member)
    elif approval.kind == Approval.Kind.ROLE:
        membership = committee_services.approve_role(approval, by=member)
        if membership.member.factor_enrollment_until:
            messages.info(
                request,
                _(
                    "%(name)s can add a passkey or an authenticator app in the next "
                    "%(hours)d hours. Tell them."
                )
                % {
                    "name": membership.member.display_name,
                    "hours": settings.FACTOR_ENROLLMENT_HOURS,
                },
            )
    elif approval.kind == Approval.Kind.EXPORT:
        committee_services.approve_export(approval, by=member)
    elif approval.kind == Approval.Kind.LOCK:
        committee_services.approve_lock(approval, by=member)
        messages.warning(
            request,
            _(
                "The vault is locked: every worker dropped the key and alerts wait. The "
                "operator unlocks it with the passphrase (tocsin manage vault unlock)."
            ),
        )
    else:
        raise approvals.ApprovalError(approval.kind)
