from __future__ import annotations

import secrets

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods

from tocsin import geo
from tocsin.committees import access
from tocsin.committees.models import CommitteeCell
from tocsin.intake import services
from tocsin.intake.forms import ReportForm
from tocsin.intake.models import Channel, Report


@require_http_methods(["GET", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ReportForm(request.POST, request.FILES, body_bytes=_content_length(request))
        if form.is_valid():
            data = form.cleaned_data
            try:
                r = services.submit_report(
                    channel=Channel.WEB,
                    kind=data["kind"],
                    lat=data["lat"],
                    lng=data["lng"],
                    text=data["text"],
                    nonce=data["nonce"],
                    photos=data["photos"],
                )
            except services.OutsideEveryArea:
                form.add_error(
                    None,
                    _(
                        "No committee covers that place yet, so nobody could respond. "
                        "Check the place on the map; shaded areas are covered."
                    ),
                )
            else:
                return redirect("report_done", receipt=r.receipt)
        status = 400
    else:
        form = ReportForm(initial={"nonce": secrets.token_urlsafe(24)})
        status = 200
    return render(
        request,
        "intake/report.html",
        {"form": form, "map_center": settings.MAP_CENTER},
        status=status,
    )


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def report_done(request: HttpRequest, receipt: str) -> HttpResponse:
    r = get_object_or_404(Report, receipt=receipt.upper())
    return render(request, "intake/done.html", {"report": r})


@cache_control(max_age=300, public=True)
def coverage(request: HttpRequest) -> JsonResponse:
    """Return the covered cells as GeoJSON, so reporters see where someone can respond."""
    cells = set(CommitteeCell.objects.values_list("cell", flat=True).distinct())
    return JsonResponse(geo.geojson_cells(cells), json_dumps_params={"separators": (",", ":")})


@access.staff_view
def report_photo(request: HttpRequest, pk: int) -> HttpResponse:
    """Return a report's photo to a dispatcher of a committee whose area holds the report."""
    photo = access.photo_for_dispatcher(request, pk)
    try:
        with photo.file.open("rb") as f:
            response = HttpResponse(f.read(), content_type="image/jpeg")
    except FileNotFoundError:
        # The purge deletes the row, then the file: a request that found the row just
        # before finds no file, which is the same as no photo.
        raise Http404 from None
    # Never kept by a browser or a proxy, never offered under a name, never embedded elsewhere.
    response["Cache-Control"] = "no-store"
    response["Content-Disposition"] = "inline"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
