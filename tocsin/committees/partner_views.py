"""Organizer pages for cooperation and the two-person rule: partner committees, the
committee's single-person alert reach, and the member list export."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from tocsin.committees import access, approvals, partners, services
from tocsin.committees.models import Committee, Partnership, Role


@access.staff_view
@require_POST
def propose(request: HttpRequest, slug: str) -> HttpResponse:
    """Propose a partnership to another committee, named by its address (slug)."""
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    other_slug = request.POST.get("other", "").strip().strip("/").rsplit("/", 1)[-1]
    # A committee that does not exist and one that cannot partner get the same answer.
    other = Committee.objects.filter(slug=other_slug).first()
    try:
        if other is None:
            raise partners.PartnershipError
        partners.propose(committee, other, request.POST.getlist("shares"), by=mine.member)
    except partners.PartnershipError:
        messages.error(
            request,
            _(
                "No proposal was made. Check the other committee's address and choose what to "
                "share; both committees must be approved, with no partnership between them yet."
            ),
        )
    else:
        messages.success(
            request,
            _("Proposal sent. It starts when an organizer of %(name)s accepts it on their page.")
            % {"name": other.name},
        )
    return redirect("committee", slug=slug)


def _partnership(committee: Committee, pk: int) -> Partnership:
    return get_object_or_404(
        Partnership.objects.involving([committee.pk]).filter(ended_at__isnull=True), pk=pk
    )


@access.staff_view
@require_POST
def accept(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    partnership = _partnership(committee, pk)
    if partnership.partner_id != committee.pk:
        raise Http404
    try:
        partners.accept(partnership, by=mine.member)
    except partners.PartnershipError:
        messages.error(request, _("That proposal is no longer open."))
    else:
        messages.success(request, _("Partnership started."))
    return redirect("committee", slug=slug)


@access.staff_view
@require_POST
def end(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    partners.end(_partnership(committee, pk), by=mine.member)
    messages.success(request, _("Partnership ended: nothing is shared any more."))
    return redirect("committee", slug=slug)


@access.staff_view
@require_POST
def set_threshold(request: HttpRequest, slug: str) -> HttpResponse:
    """Lower the number of members one staff member's alert may reach (never above the
    operator's limit: raising it would weaken the rule by one person's choice)."""
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    raw = request.POST.get("threshold", "").strip()
    if not raw.isdigit() or int(raw) < 1:
        messages.error(request, _("Give a whole number of members, 1 or more."))
        return redirect("committee", slug=slug)
    value = min(int(raw), services.operator_threshold())
    Committee.objects.filter(pk=committee.pk).update(alert_threshold=value)
    messages.success(
        request,
        _("Alerts reaching more than %(n)s members now need a second person.") % {"n": value},
    )
    return redirect("committee", slug=slug)


@access.staff_view
@require_POST
def ask_export(request: HttpRequest, slug: str) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    services.ask_export(committee, by=mine.member)
    messages.warning(
        request,
        _(
            "The member list can be downloaded once a second staff member approves it on the "
            "desk, within an hour of their approval."
        ),
    )
    return redirect("committee", slug=slug)


@access.staff_view
@require_GET
def export(request: HttpRequest, slug: str) -> HttpResponse:
    """The member list, once, for the organizer who asked and a second person approved."""
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    ready = services.export_ready(committee, mine.member)
    if ready is None:
        raise Http404
    try:
        rows = services.take_export(ready)
    except approvals.ApprovalError:
        raise Http404 from None
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{committee.slug}-members.csv"'
    response["Cache-Control"] = "no-store"
    writer = csv.writer(response)
    for row in rows:
        # A name that starts like a formula stays text in a spreadsheet.
        writer.writerow(["'" + v if v[:1] in "=+-@\t\r" else v for v in row])
    return response


@access.staff_view
@require_POST
def ask_lock(request: HttpRequest, slug: str) -> HttpResponse:
    """Ask to lock the vault now; a second staff member approves it on the desk."""
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    services.ask_lock(committee, by=mine.member)
    messages.warning(
        request,
        _(
            "The vault locks as soon as a second staff member approves it on the desk. Tell "
            "them now."
        ),
    )
    return redirect("committee", slug=slug)
