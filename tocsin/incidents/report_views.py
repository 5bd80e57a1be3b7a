from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods

from tocsin import geo
from tocsin.committees import access, hotlines
from tocsin.committees.models import Committee, CommitteeCell
from tocsin.incidents import access as desk_access
from tocsin.incidents import progress, replies, reports
from tocsin.intake import burst, place_views, pow, receipts
from tocsin.intake.forms import ReportForm, pow_refused, too_many_reports
from tocsin.intake.models import Channel, Report
from tocsin.lib import inline, ratelimit, sse
from tocsin.lib.bodylimit import takes_uploads
from tocsin.members.models import Member
from tocsin.places.naming import Gazetteer


@takes_uploads
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        form = ReportForm(initial={"nonce": secrets.token_urlsafe(24)})
        return _form_page(request, form, status=200)
    if "restore" in request.POST:
        # Back from a refusal (intake/refused.html) with what was written: nothing is sent.
        form = ReportForm(initial=_restored(request.POST))
        return _form_page(request, form, status=200)
    source = ratelimit.source_of(request)
    share = ratelimit.take(source)
    if share is ratelimit.Share.REFUSED:
        return _refused(request)
    if inline.asked(request):
        # Only a refusal is answered on the event loop: this one is served in a thread.
        ratelimit.give_back(source)
        return inline.elsewhere()
    form = ReportForm(request.POST, request.FILES, body_bytes=_content_length(request))
    stored = False
    try:
        response = _submit(request, form, source, over=share is ratelimit.Share.OVER)
        stored = response.status_code == 302
        return response
    finally:
        if not stored:
            # Only stored reports count toward the network's share.
            ratelimit.give_back(source)


def _submit(
    request: HttpRequest, form: ReportForm, source: str | None, *, over: bool
) -> HttpResponse:
    """Store the report of a valid form; ``over``: its network is past its share, so it
    needs a harder proof of work and goes to the desk's burst lane, grouped."""
    if form.is_valid():
        data = form.cleaned_data
        try:
            if over:
                pow.hard_enough(data["altcha"])
            pow.redeem(data["altcha"])
        except pow.Refused as e:
            # A double submit carries the same solution: it gets the first receipt.
            first = Report.objects.filter(nonce=data["nonce"]).first()
            if first is not None:
                return redirect("report_done", receipt=first.receipt)
            form.add_error(None, pow_refused(e.code))
            return _form_page(request, form, status=400)
        lat, lng = data["lat"], data["lng"]
        # Counted for every report, so a burst is seen whoever is past their share.
        suspicious = burst.suspicious(source, lat, lng) or over
        try:
            r = reports.receive_report(
                channel=Channel.WEB,
                kind=data["kind"],
                lat=lat,
                lng=lng,
                text=data["text"],
                nonce=data["nonce"],
                photos=data["photos"],
                suspicious=suspicious,
                burst_group=burst.group(source, lat, lng) if suspicious else "",
                # A logged-in member's report counts as a member's (never who sent it).
                member=_reporting_member(request),
                language=request.LANGUAGE_CODE,
            )
        except reports.OutsideEveryArea:
            form.add_error(
                None,
                _(
                    "No committee covers that place yet, so nobody could respond. "
                    "Check the place on the map; shaded areas are covered."
                ),
            )
        else:
            pow.record_load()
            return redirect("report_done", receipt=r.receipt)
    return _form_page(request, form, status=400)


def _reporting_member(request: HttpRequest) -> Member | None:
    if not request.user.is_authenticated:
        return None
    return Member.objects.filter(user=request.user).first()


def _typed_place(data: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """Return the place a posted form carries, if it reads as one (valid or not)."""
    try:
        return float(data.get("lat", "")), float(data.get("lng", ""))
    except (TypeError, ValueError):
        return None, None


# What a refusal keeps of a report, to post back to the form (the text goes in its own box).
_KEPT = ("kind", "lat", "lng", "place", "nonce")


def _restored(data: QueryDict) -> dict[str, str]:
    """Return the form's initial values from a report posted back after a refusal."""
    kept = {name: data.get(name, "") for name in (*_KEPT, "text")}
    kept["nonce"] = kept["nonce"] or secrets.token_urlsafe(24)
    return kept


def _refused(request: HttpRequest) -> HttpResponse:
    """Return the 429 for a network far past its share: a small page, not the form.

    In a flood this is most answers, so it costs about what a near-empty page does (no
    layout, form, map or place search; the hotlines from the cache: no database). It still says
    what happened and when to try again, offers the hotlines, and keeps what was written:
    readable and copyable, and one button (no JavaScript) takes it back to the form.
    """
    data = request.POST
    place = _typed_place(data)
    found = hotlines.in_cache(*place)
    if found is None:
        if inline.asked(request):
            return inline.elsewhere()  # the hotlines need a query: in a thread
        found = hotlines.for_place_cached(*place)
    response = render(
        request,
        "intake/refused.html",
        {
            "message": too_many_reports(),
            "retry_at": timezone.now() + dt.timedelta(seconds=ratelimit.WINDOW_SECONDS),
            "hotlines": found,
            "kept": {name: data.get(name, "") for name in _KEPT},
            "text": data.get("text", "")[: Report.TEXT_MAX],
            "photos_dropped": bool(request.FILES),
        },
        status=429,
    )
    response["Retry-After"] = str(ratelimit.WINDOW_SECONDS)
    return response


def likely_refused(request: HttpRequest) -> bool:
    """Return whether ``request``, a report posted to the form, is likely to be refused by
    its network's rate limit (tocsin.lib.inline answers those on the event loop)."""
    # The body is parsed only for a network past its share.
    return ratelimit.refusing(ratelimit.source_from(request)) and "restore" not in request.POST


def _form_page(
    request: HttpRequest,
    form: ReportForm,
    *,
    status: int,
    check_error: str = "",
    typed_code: str = "",
) -> HttpResponse:
    return render(
        request,
        "intake/report.html",
        {
            "form": form,
            "map_center": settings.MAP_CENTER,
            "as_member": _reporting_member(request) is not None,
            **place_views.search_context(request, form),
            "hotlines": hotlines.for_place(*_typed_place(form.data)),
            "check_error": check_error,
            "typed_code": typed_code,
        },
        status=status,
    )


@require_GET
def report_challenge(request: HttpRequest) -> JsonResponse:
    """Return a new proof-of-work challenge (ALTCHA format) for the report form: a harder
    one for a network already past its share of reports."""
    hard = ratelimit.exceeded(ratelimit.source_of(request))
    return JsonResponse(pow.make_challenge(maxnumber=pow.burst_difficulty() if hard else None))


@require_GET
def report_hotlines(request: HttpRequest) -> HttpResponse:
    """Return the hotlines for the place picked on the report form (an HTML partial)."""
    try:
        lat, lng = float(request.GET.get("lat", "")), float(request.GET.get("lng", ""))
    except ValueError:
        lat = lng = None  # type: ignore[assignment]
    return render(request, "_hotlines.html", {"hotlines": hotlines.for_place(lat, lng)})


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


_MISS_STATUS = {receipts.MALFORMED: 400, receipts.UNKNOWN: 404, receipts.LIMITED: 429}
# In an address, a code that cannot be one is a page that does not exist either.
_ADDRESS_MISS_STATUS = {**_MISS_STATUS, receipts.MALFORMED: 404}


@require_http_methods(["GET", "POST"])
def report_check(request: HttpRequest) -> HttpResponse:
    """The "check a receipt code" box (on this page, the report page and the receipt
    page): to the receipt page, or back to the page the box was on, saying why not."""
    if request.method == "GET":
        return _check_page(request, status=200)
    typed = request.POST.get("code", "")[:40]
    try:
        found = receipts.find(typed, ratelimit.source_of(request))
    except receipts.NotFound as e:
        error, status = receipts.problem(e.code), _MISS_STATUS[e.code]
        if request.POST.get("from") == "check":
            return _check_page(request, status=status, check_error=error, typed_code=typed)
        form = ReportForm(initial={"nonce": secrets.token_urlsafe(24)})
        return _form_page(request, form, status=status, check_error=error, typed_code=typed)
    return redirect("report_done", receipt=found.receipt)


def _check_page(
    request: HttpRequest, *, status: int, check_error: str = "", typed_code: str = ""
) -> HttpResponse:
    context = {
        "check_error": check_error,
        "typed_code": typed_code,
        "hotlines": hotlines.everywhere(),
    }
    return render(request, "intake/check.html", context, status=status)


def _receipt_or_page(request: HttpRequest, receipt: str) -> Report | HttpResponse:
    """Return the report of the receipt code in the address, or the page that says why
    there is none (with the box to try another code)."""
    try:
        return receipts.find(receipt, ratelimit.source_of(request))
    except receipts.NotFound as e:
        return _check_page(
            request,
            status=_ADDRESS_MISS_STATUS[e.code],
            check_error=receipts.problem(e.code),
            typed_code=receipt[:40],
        )


@require_http_methods(["GET", "POST"])
def report_done(request: HttpRequest, receipt: str) -> HttpResponse:
    """The receipt page: what became of the report, the dispatcher's answers, live.
    Whoever has the receipt code can read them and write back; nothing else identifies
    the reporter."""
    found = _receipt_or_page(request, receipt)
    if isinstance(found, HttpResponse):
        return found
    r = found
    if r.receipt != receipt:
        return redirect("report_done", receipt=r.receipt)
    status = 200
    check_error = typed_code = ""
    if request.method == "POST" and "code" in request.POST:
        # The box to check another receipt code.
        typed_code = request.POST.get("code", "")[:40]
        try:
            other = receipts.find(typed_code, ratelimit.source_of(request))
        except receipts.NotFound as e:
            check_error, status = receipts.problem(e.code), _MISS_STATUS[e.code]
        else:
            return redirect("report_done", receipt=other.receipt)
    elif request.method == "POST":
        body = request.POST.get("body", "")
        source = ratelimit.source_of(request)
        if not body.strip() or len(body) > replies.MAX_BODY:
            messages.error(request, _("Write a message first (at most 1,000 characters)."))
            status = 400
        elif ratelimit.take(source) is ratelimit.Share.REFUSED:
            messages.error(
                request,
                _(
                    "Messages are coming from your network faster than people can type "
                    "them. Call a hotline now, or wait ten minutes and send again."
                ),
            )
            status = 429
        else:
            replies.reporter_says(r, body)
            messages.success(request, _("Sent to the dispatcher."))
            return redirect("report_done", receipt=r.receipt)
    context = {
        **_status_context(r),
        # Where the reporter said it is, in words: at the block, as members read it,
        # since anyone who has the code can open this page.
        "where": Gazetteer.of(r).block(r.cell),
        "hotlines": hotlines.for_committees(r.committees.values_list("pk", flat=True)),
        "check_error": check_error,
        "typed_code": typed_code,
    }
    return render(request, "intake/done.html", context, status=status)


def _status_context(r: Report) -> dict[str, Any]:
    steps, now = progress.path(r, progress.of(r))
    return {
        "report": r,
        "progress": now,
        "steps": steps,
        "thread": r.messages.all(),
    }


@require_GET
def report_live(request: HttpRequest, receipt: str) -> HttpResponseBase:
    """The receipt page's live part (Server-Sent Events): the state and the answers."""
    try:
        found = receipts.find(receipt, ratelimit.source_of(request))
    except receipts.NotFound as e:
        return HttpResponse(status=_ADDRESS_MISS_STATUS[e.code])
    pk = found.pk
    language = request.LANGUAGE_CODE

    def render_status() -> str:
        r = Report.objects.filter(pk=pk).first()
        if r is None:  # purged meanwhile
            return ""
        with translation.override(language):
            return render_to_string("intake/_status.html", _status_context(r))

    channels = [f"receipt:{pk}"]
    if found.incident_id:
        channels.append(f"incident:{found.incident_id}")
    return sse.stream(request, channels, render_status, audience=("receipt", pk, language))


@cache_control(max_age=300, public=True)
def coverage(request: HttpRequest) -> JsonResponse:
    """Return the covered cells as GeoJSON, so reporters see where someone can respond."""
    cells = set(
        CommitteeCell.objects.filter(committee__in=Committee.objects.active())
        .values_list("cell", flat=True)
        .distinct()
    )
    return JsonResponse(geo.geojson_cells(cells), json_dumps_params={"separators": (",", ":")})


@access.staff_view
def report_photo(request: HttpRequest, pk: int) -> HttpResponse:
    """Return a report's photo to a dispatcher of a committee whose area holds the report."""
    photo = desk_access.photo_for_dispatcher(request, pk)
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
