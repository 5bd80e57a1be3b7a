from __future__ import annotations

import gzip
import io
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import override as translation_override
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_safe

from tocsin.committees import hotlines
from tocsin.lib import live, source, sse
from tocsin.public import basemap, incident_map

# The public list changes with time alone (an incident becomes public, or resolved, when
# its delay passes, and nothing is published then): its live stream renders at least this
# often.
MAP_RENDER_SECONDS = 60.0

# Tiles change only when the operator replaces the map file; a day-old tile is fine.
TILE_MAX_AGE = 86400


def home(request: HttpRequest) -> HttpResponse:
    # The upcoming mobilizations come from their own tag (tocsin.mobilize.templatetags):
    # public code reads no mobilize data itself.
    return render(request, "public/home.html")


def rights(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "public/rights.html",
        {"hotlines": hotlines.everywhere(), "share_url": _rights_url()},
    )


def _rights_url() -> str:
    return settings.SITE_URL + reverse("rights")


@require_safe
@cache_control(max_age=3600, public=True)
def rights_qr(request: HttpRequest) -> HttpResponse:
    """A QR code of the know-your-rights page, to print or show from a phone."""
    # A standalone SVG file needs its namespace, or an <img> shows nothing.
    svg = io.BytesIO()
    segno.make(_rights_url(), error="m").save(
        svg, kind="svg", scale=6, dark="#111", light="#fff", xmldecl=False
    )
    return HttpResponse(svg.getvalue(), content_type="image/svg+xml")


def _map_list(chosen: incident_map.Filter) -> dict[str, object]:
    return {
        "incidents": chosen.incidents(),
        "chosen": chosen,
        "time_zone": settings.TIME_ZONE,
    }


@require_safe
def public_map(request: HttpRequest) -> HttpResponse:
    """Confirmed and resolved incidents, coarse and late: a list that works anywhere, and
    a map drawn on request."""
    chosen = incident_map.Filter.from_query(request.GET)
    query = urlencode(chosen.query)
    context = _map_list(chosen) | {
        "kinds": incident_map.kinds(),
        "windows": incident_map.windows(),
        "query": query,
    }
    return render(request, "public/map.html", context)


@require_safe
def public_map_geojson(request: HttpRequest) -> JsonResponse:
    """The incidents of the public map as GeoJSON (RFC 7946), filtered like the page."""
    chosen = incident_map.Filter.from_query(request.GET)
    response = JsonResponse(
        incident_map.geojson(chosen.incidents()),
        content_type="application/geo+json",
        json_dumps_params={"separators": (",", ":"), "ensure_ascii": False},
    )
    # Its labels are in the reader's language (a cookie may choose it): no shared caches.
    patch_cache_control(response, private=True, max_age=60)
    return response


@require_GET
def public_map_live(request: HttpRequest) -> HttpResponseBase:
    """The public list, live: the same bytes for everyone who reads one filter in one
    language."""
    chosen = incident_map.Filter.from_query(request.GET)
    language = (get_language() or "en")[:2]

    def render_list() -> str:
        with translation_override(language):
            return render_to_string("public/_map_list.html", _map_list(chosen))

    return sse.stream(
        request,
        [live.PUBLIC_INCIDENTS],
        render_list,
        audience=("public_map", chosen, language),
        every=MAP_RENDER_SECONDS,
    )


def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "public/offline.html")


@require_safe
def source_code(request: HttpRequest) -> HttpResponseBase:
    """Offer the running version's source (AGPL section 13): the operator's URL, or an
    archive of Tocsin's own files built by this process."""
    if settings.SOURCE_URL:
        return HttpResponseRedirect(settings.SOURCE_URL)
    prefix = f"tocsin-{source.version()}"
    body = source.cached_archive(settings.BASE_DIR, prefix=prefix, exclude=settings.DATA_DIR)
    response = HttpResponse(body, content_type="application/gzip")
    response["Content-Disposition"] = f'attachment; filename="{prefix}.tar.gz"'
    patch_cache_control(response, public=True, max_age=3600)
    return response


@cache_control(max_age=0, no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    """Serve the service worker from the root, so its scope covers the whole site."""
    path = settings.BASE_DIR / "static" / "js" / "sw.js"
    response = HttpResponse(path.read_text(), content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


@cache_control(max_age=3600, public=True)
def manifest(request: HttpRequest) -> JsonResponse:
    data = {
        "name": "Tocsin",
        "short_name": "Tocsin",
        "description": _("Rapid response: report, verify, alert, show up."),
        "start_url": "/me/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#b3261e",
        "icons": [
            {"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("img/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json")


def accepts_gzip(request: HttpRequest) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        name, _sep, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


@require_safe
def tile(request: HttpRequest, z: int, x: int, y: int, ext: str) -> HttpResponse:
    """Serve one tile of the operator's map file (TOCSIN_MAP_FILE).

    Public, like the map data itself, and the same for everyone. An address no map has
    (the wrong extension, x or y past the zoom's edge, no map file) is a 404; a valid
    address where the map holds nothing (past its area or its zoom levels) is a 204.
    """
    found = basemap.map_file()
    if found is None or ext != found.format.ext:
        raise Http404
    try:
        stored = found.tile(z, x, y)
    except ValueError:
        raise Http404 from None
    if stored is None:
        response = HttpResponse(status=204)
    else:
        data, encoding = stored.data, stored.encoding
        if encoding == "gzip" and not accepts_gzip(request):
            data, encoding = gzip.decompress(data), ""
        etag = f'"{stored.etag}{"-gz" if encoding else ""}"'
        if etag in request.headers.get("If-None-Match", ""):
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(data, content_type=found.format.content_type)
            if encoding:
                response["Content-Encoding"] = encoding
        response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=TILE_MAX_AGE)
    patch_vary_headers(response, ["Accept-Encoding"])
    return response
