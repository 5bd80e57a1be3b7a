"""No page makes a request to anyone but Tocsin (DESIGN.md section 2), in Chromium.

Every page a person can reach is visited as the person who reaches it: the anonymous
reporter (home, report with a tap on the map and the receipt, know-your-rights, offline,
login and the login code page), a newcomer joining from an invite (then /me/ with a tap on
the map), the organizer (the committee page with its map and QR code), the dispatcher (the
desk and an incident) and a member opening an alert from its signed link. Every request
of every page, of the service worker and of the manifest fetch is recorded: all must go
to the server's own origin, and no page may trip its Content-Security-Policy.

With TOCSIN_TILE_URL set, map tiles come from the tile server the operator named, and only
from there; the policy settings compute for that URL lets exactly that origin in. With
TOCSIN_MAP_FILE set, Tocsin serves the street map itself: the page fetches vector tiles
from Tocsin and draws them (protomaps-leaflet, from npm), under the same strict policy.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from tests import factories
from tests.browser_support import WAIT_MS, LiveServer, chromium, orm, wait_until
from tests.conftest import need
from tests.factories import EAST
from tests.maps_support import vector_map
from tests.peers.push_service import PushService
from tests.peers.smtp import SMTPPeer, mail_settings
from tests.test_browser_loop import Live, log_in, open_map, submit, tap_map
from tocsin.alerts.messages import alert_url
from tocsin.committees.models import Invite, Role
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state, open_incident
from tocsin.mobilize.models import Mobilization
from tocsin.public import basemap

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
# Schemes that never leave the browser.
LOCAL_SCHEMES = ("data:", "blob:", "about:")


def tiny_png() -> bytes:
    """Return a valid 1x1 PNG (a map tile need not be 256 pixels to be drawn)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xb3\x26\x1e")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


class TileServer:
    """A map tile server on a loopback port: answers /{z}/{x}/{y}.png with a tiny PNG."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        png = tiny_png()
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Seen:
    page: str
    url: str
    kind: str
    service_worker: bool


@dataclass
class Recorder:
    """Every request of a browser context, labelled with the page being visited."""

    origin: str
    requests: list[Seen] = field(default_factory=list)
    csp_errors: list[str] = field(default_factory=list)
    page: str = "(start)"

    def watch(self, ctx: BrowserContext) -> BrowserContext:
        ctx.on("request", self._request)
        ctx.on("console", self._console)
        return ctx

    def _request(self, request: Request) -> None:
        self.requests.append(
            Seen(self.page, request.url, request.resource_type, request.service_worker is not None)
        )

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp_errors.append(f"{self.page}: {message.text}")

    def visit(self, page: Page, path: str, label: str | None = None) -> None:
        self.page = label or path
        page.goto(path)
        page.wait_for_load_state("networkidle")

    def elsewhere(self, *, allowed: tuple[str, ...] = ()) -> list[str]:
        """Return the requests that went to another origin than ours (or ``allowed``)."""
        out = []
        for seen in self.requests:
            if seen.url.startswith(LOCAL_SCHEMES):
                continue
            parts = urlsplit(seen.url)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin != self.origin and origin not in allowed:
                who = "service worker" if seen.service_worker else seen.kind
                out.append(f"{seen.page}: {who} {seen.url}")
        return out


@pytest.fixture
def smtp() -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        yield peer


@pytest.fixture
def live(transactional_db: None, settings: Any, smtp: SMTPPeer) -> Iterator[Live]:
    # Login codes are rate limited per address in the cache, and other tests log in the
    # same personas.
    cache.clear()
    server = LiveServer()
    try:
        settings.SITE_URL = server.url
        mail_settings(settings, smtp)
        server.start()
        # No push peer is needed: nothing here is sent by push.
        yield Live(url=server.url, smtp=smtp, push=PushService())
    finally:
        server.stop()


@pytest.fixture
def browser(chromium_path: str, live: Live) -> Iterator[Browser]:
    with chromium(chromium_path) as b:
        yield b


@pytest.fixture
def recorder(live: Live) -> Recorder:
    return Recorder(origin=live.url)


@pytest.fixture
def new_context(
    browser: Browser, live: Live, recorder: Recorder
) -> Iterator[Callable[..., BrowserContext]]:
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        ctx = browser.new_context(base_url=live.url, **options)
        ctx.set_default_timeout(WAIT_MS)
        made.append(ctx)
        return recorder.watch(ctx)

    try:
        yield make
    finally:
        for ctx in made:
            ctx.close()


@dataclass
class Scene:
    invite: str
    incident: int
    alert_path: str
    mobilization: int = 0


def scene() -> Scene:
    east = factories.committee("East")
    olga = factories.member("Olga", east, Role.ORGANIZER, email="olga@example.org")
    diego = factories.member("Diego", east, Role.DISPATCHER, email="diego@example.org")
    mateo = factories.member("Mateo", east, area=EAST, email="mateo@example.org")
    report = submit_report(channel="web", kind="workplace_raid", lat=EAST[0], lng=EAST[1])
    incident = open_incident(report, actor=diego)
    change_state(incident, "verifying", actor=diego)
    change_state(incident, "confirmed", actor=diego)
    invite = Invite.objects.create(committee=east, role=Role.MEMBER, created_by=olga)
    link = alert_url(member_id=mateo.pk, incident_id=incident.pk)
    start = timezone.now() + timedelta(days=2)
    vigil = Mobilization.objects.create(
        committee=east,
        kind="vigil",
        title="Vigil",
        address="Plaza",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )
    return Scene(
        invite=invite.token,
        incident=incident.pk,
        alert_path=urlsplit(link).path,
        mobilization=vigil.pk,
    )


def fetch_manifest(ctx: BrowserContext, page: Page, recorder: Recorder) -> None:
    """Make Chromium fetch the page's web app manifest, as it does before installing."""
    recorder.page = f"{page.url} (manifest)"
    cdp = ctx.new_cdp_session(page)
    try:
        got = cdp.send("Page.getAppManifest")
    finally:
        cdp.detach()
    assert got.get("url", "").endswith("/manifest.webmanifest"), got
    assert not got.get("errors"), got["errors"]


def wait_for_service_worker(page: Page) -> None:
    assert page.evaluate("navigator.serviceWorker.ready.then(r => Boolean(r.active))")


def test_no_page_requests_anything_from_another_origin(
    live: Live, new_context: Callable[..., BrowserContext], recorder: Recorder
) -> None:
    s = orm(scene)

    # The anonymous reporter, on a phone.
    anon = new_context(viewport=PHONE)
    page = anon.new_page()
    for path in ("/", "/rights/", "/offline/"):
        recorder.visit(page, path)
    wait_for_service_worker(page)
    fetch_manifest(anon, page, recorder)
    # The public map, with its map open: Leaflet, the streets and the incidents' cells.
    recorder.visit(page, "/map/")
    page.click("#map-open")
    page.wait_for_function("() => document.getElementById('map').dataset.drawn !== undefined")
    page.wait_for_load_state("networkidle")
    recorder.visit(page, "/report/")
    tap_map(page, *EAST, areas=True)
    page.check("input[name=kind][value=agents_seen]")
    recorder.page = "/report/ (sent)"
    submit(page, "#submit-report")
    expect(page.locator("#receipt")).not_to_be_empty()
    page.wait_for_load_state("networkidle")
    # Planned mobilizations: the list, a page with its QR code and live count, a calendar.
    recorder.visit(page, "/m/")
    page.click("#map-open")
    page.wait_for_function("() => document.getElementById('map').dataset.drawn !== undefined")
    page.wait_for_load_state("networkidle")
    recorder.visit(page, f"/m/{s.mobilization}/", "/m/<id>/")
    expect(page.locator("[data-testid=counts]")).to_be_visible()
    recorder.visit(page, "/login/")
    page.fill("input[name=email]", "nobody@example.org")
    recorder.page = "/login/code/"
    submit(page, "main form button.primary")
    assert page.url.endswith("/login/code/"), page.url
    page.wait_for_load_state("networkidle")

    # A newcomer joins from the invite, then picks an area on /me/.
    newcomer = new_context(viewport=PHONE)
    page = newcomer.new_page()
    recorder.visit(page, f"/join/{s.invite}/", "/join/<invite>/")
    page.fill("input[name=display_name]", "Lupe")
    recorder.page = "/me/ (after joining)"
    submit(page, "#join")
    assert page.url == f"{live.url}/me/"
    page.wait_for_load_state("networkidle")
    tap_map(page, *EAST, areas=False)
    submit(page, "#add-area")
    page.wait_for_load_state("networkidle")

    # The organizer: the committee page with its map of the area and the invite QR code.
    recorder.page = "/login/ (organizer)"
    organizer = log_in(new_context(), live, "olga@example.org")
    recorder.visit(organizer, "/c/east/")
    expect(organizer.locator("#map .leaflet-overlay-pane path").first).to_be_attached()
    recorder.visit(organizer, "/c/east/mobilizations/")
    expect(organizer.locator("#map .leaflet-overlay-pane path").first).to_be_attached()
    recorder.visit(
        organizer, f"/c/east/mobilizations/{s.mobilization}/people/", "/c/east/.../people/"
    )

    # The dispatcher: the desk and the incident, both with live updates.
    recorder.page = "/login/ (dispatcher)"
    desk = log_in(new_context(), live, "diego@example.org")
    recorder.visit(desk, "/desk/")
    recorder.visit(desk, f"/desk/incidents/{s.incident}/", "/desk/incidents/<id>/")

    # A member opens the alert from the signed link in their message.
    alert = new_context(viewport=PHONE).new_page()
    recorder.visit(alert, s.alert_path, "/a/<token>/")
    expect(alert.locator("[data-testid=state]")).to_have_text("Confirmed")

    urls = [r.url for r in recorder.requests]
    # The recording saw what it should: the service worker's own fetch, the manifest,
    # the map's areas, the scripts.
    assert any(r.service_worker for r in recorder.requests), "no service worker request seen"
    assert f"{live.url}/manifest.webmanifest" in urls
    assert f"{live.url}/report/coverage.geojson" in urls
    assert any(u.endswith("leaflet.js") for u in urls)
    assert f"{live.url}/m/map.geojson" in urls
    assert f"{live.url}/m/{s.mobilization}/qr.svg" in urls
    assert f"{live.url}/m/{s.mobilization}/live/" in urls
    assert recorder.elsewhere() == [], "\n".join(recorder.elsewhere())
    assert recorder.csp_errors == [], "\n".join(recorder.csp_errors)


# Map tiles from the operator's tile server.


def csp_for_tile_url(tile_url: str, tmp_path: Path) -> dict[str, list[str]]:
    """Return settings.SECURE_CSP as tocsin.settings computes it for ``tile_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOCSIN_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tocsin.settings",
            "TOCSIN_DATA_DIR": str(tmp_path),
            "TOCSIN_TILE_URL": tile_url,
        }
    )
    done = subprocess.run(
        [
            sys.executable,
            str(Path(django_settings.BASE_DIR) / "manage.py"),
            "shell",
            "-c",
            "import json; from django.conf import settings; print(json.dumps(settings.SECURE_CSP))",
        ],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def tiles() -> Iterator[TileServer]:
    with TileServer() as server:
        yield server


def test_map_tiles_come_only_from_the_operators_tile_server(
    live: Live,
    new_context: Callable[..., BrowserContext],
    recorder: Recorder,
    tiles: TileServer,
    settings: Any,
    tmp_path: Path,
) -> None:
    tile_url = f"{tiles.origin}/{{z}}/{{x}}/{{y}}.png"
    csp = csp_for_tile_url(tile_url, tmp_path)
    # Exactly the tile server's origin is let in, for images only.
    assert csp["img-src"] == ["'self'", "data:", tiles.origin]
    assert [d for d, sources in csp.items() if tiles.origin in sources] == ["img-src"]
    # Serve with that policy and that tile URL (the server thread reads settings per request).
    settings.TILE_URL = tile_url
    settings.SECURE_CSP = csp
    orm(scene)

    page = new_context(viewport=PHONE).new_page()
    recorder.visit(page, "/report/")
    open_map(page)
    wait_until(lambda: tiles.paths, "a tile request", pump=page.wait_for_timeout)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#map img.leaflet-tile')]"
        ".some(img => img.complete && img.naturalWidth > 0)"
    )
    tap_map(page, *EAST, areas=True)
    page.wait_for_load_state("networkidle")

    tile_requests = [
        r.url for r in recorder.requests if r.url.endswith(".png") and "/static/" not in r.url
    ]
    assert tile_requests, "the map asked for no tiles"
    assert all(u.startswith(f"{tiles.origin}/") for u in tile_requests), tile_requests
    assert all(p.endswith(".png") and p.count("/") == 3 for p in tiles.paths), tiles.paths
    assert recorder.elsewhere(allowed=(tiles.origin,)) == []
    assert recorder.csp_errors == [], "\n".join(recorder.csp_errors)


# Street maps from Tocsin's own map file.

# A tile canvas with more than the background on it: land, a road, its label.
DRAWN = """() => [...document.querySelectorAll("#map canvas.leaflet-tile")].some((canvas) => {
  if (!canvas.width || !canvas.height) return false;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  for (let i = 0; i < data.length; i += 4 * 7) {
    colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    if (colours.size > 2) return true;
  }
  return false;
})"""


def test_street_maps_come_from_tocsins_own_map_file(
    live: Live,
    new_context: Callable[..., BrowserContext],
    recorder: Recorder,
    settings: Any,
    tmp_path: Path,
) -> None:
    need(basemap.renderer_installed(), "protomaps-leaflet is not installed (run `npm ci`)")
    # The server thread reads settings per request. Vector tiles, as `pmtiles extract`
    # writes them from the Protomaps build: the route most operators take.
    settings.MAP_FILE = vector_map(tmp_path / "east.pmtiles", zooms=range(10, 16))
    settings.TILE_URL = ""
    orm(scene)

    page = new_context(viewport=PHONE).new_page()
    recorder.visit(page, "/report/")
    tap_map(page, *EAST, areas=True)
    page.wait_for_function(DRAWN, polling=250)
    page.wait_for_load_state("networkidle")

    tiles = [r.url for r in recorder.requests if "/tiles/" in r.url]
    assert tiles, "the map asked for no tiles"
    assert all(u.startswith(f"{live.url}/tiles/") and u.endswith(".mvt") for u in tiles), tiles
    assert any(
        u.endswith("/static/protomaps-leaflet/protomaps-leaflet.js")
        for u in (r.url for r in recorder.requests)
    )
    expect(page.locator("#map .leaflet-control-attribution")).to_contain_text("© OpenStreetMap")
    assert recorder.elsewhere() == [], "\n".join(recorder.elsewhere())
    assert recorder.csp_errors == [], "\n".join(recorder.csp_errors)
