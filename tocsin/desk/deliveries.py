"""Dead deliveries on the desk: dispatchers see why alerts did not arrive and queue them
again."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from tocsin.alerts import dead
from tocsin.alerts.models import Delivery
from tocsin.committees import access
from tocsin.committees.models import Membership
from tocsin.incidents import access as desk_access
from tocsin.incidents.models import Incident
from tocsin.members.models import Member

PER_PAGE = 50


def _delivery_for_dispatcher(request: HttpRequest, pk: int) -> tuple[Delivery, Member]:
    """Return a delivery about an incident of the user's committees, or raise Http404."""
    member = access.member_of(request)
    staff_of = access.staff_committee_ids(member)
    delivery = (
        Delivery.objects.filter(
            pk=pk,
            member_id__in=Membership.objects.filter(committee_id__in=staff_of).values("member_id"),
        )
        .select_related("alert")
        .first()
    )
    if delivery is None:
        raise Http404
    return delivery, member


def _incident_filter(request: HttpRequest, data: QueryDict) -> Incident | None:
    """Return the incident named by the ``incident`` field, or None when there is none.

    Another committee's incident gets the same 404 as a missing one.
    """
    raw = data.get("incident", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404
    return desk_access.incident_for_dispatcher(request, int(raw))[0]


def _back(incident_id: int | None) -> HttpResponse:
    url = reverse("dead_deliveries")
    if incident_id is not None:
        url += "?" + urlencode({"incident": incident_id})
    return redirect(url)


def _tell(request: HttpRequest, result: dead.Retried) -> None:
    if result.queued:
        messages.success(
            request,
            ngettext(
                "%(count)d delivery queued again.",
                "%(count)d deliveries queued again.",
                result.queued,
            )
            % {"count": result.queued},
        )
    if result.skipped:
        messages.warning(
            request,
            ngettext(
                "%(count)d delivery cannot be retried: its channel was removed or disabled, "
                "or its incident is closed.",
                "%(count)d deliveries cannot be retried: their channel was removed or "
                "disabled, or their incident is closed.",
                result.skipped,
            )
            % {"count": result.skipped},
        )
    if not result.queued and not result.skipped:
        messages.info(request, _("Nothing to retry: no failed delivery is left there."))


@access.staff_view
def dead_deliveries(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    if not access.is_dispatcher(member):
        return render(request, "incidents/not_dispatcher.html", status=403)
    incident = _incident_filter(request, request.GET)
    rows = dead.dead(
        committees=access.staff_committee_ids(member),
        incident_id=incident.pk if incident else None,
    )
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "alerts/dead_deliveries.html", {"page": page, "incident": incident})


@access.staff_view
@require_POST
def retry_delivery(request: HttpRequest, pk: int) -> HttpResponse:
    delivery, _member = _delivery_for_dispatcher(request, pk)
    _tell(request, dead.retry(Delivery.objects.filter(pk=delivery.pk)))
    # Back to the list the button was on: filtered by this delivery's incident or not.
    filtered = request.POST.get("incident") == str(delivery.alert.incident_id)
    return _back(delivery.alert.incident_id if filtered else None)


@access.staff_view
@require_POST
def retry_dead_deliveries(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    if not access.is_dispatcher(member):
        return render(request, "incidents/not_dispatcher.html", status=403)
    incident = _incident_filter(request, request.POST)
    incident_id = incident.pk if incident else None
    rows = dead.dead(committees=access.staff_committee_ids(member), incident_id=incident_id)
    _tell(request, dead.retry(rows))
    return _back(incident_id)
