from __future__ import annotations

import gzip

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
from django.templatetags.static import static
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from tocsin.committees import hotlines
from tocsin.lib import source
from tocsin.public import basemap

# Tiles change only when the operator replaces the map file; a day-old tile is fine.
TILE_MAX_AGE = 86400


def home(request: HttpRequest) -> HttpResponse:
    # The upcoming mobilizations come from their own tag (tocsin.mobilize.templatetags):
    # public code reads no mobilize data itself.
    return render(request, "public/home.html")


def rights(request: HttpRequest) -> HttpResponse:
    return render(request, "public/rights.html", {"hotlines": hotlines.everywhere()})


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
