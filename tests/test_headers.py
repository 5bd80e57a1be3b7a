"""Security headers on every page, and a deployment that passes Django's deploy checks.

Each persona starts from the pages they are sent to and follows every link on the site
from there, so a new page linked from anywhere is checked without being listed here.
Every response must carry a strict Content-Security-Policy (no 'unsafe-inline', no
wildcard), Referrer-Policy no-referrer, nosniff, X-Frame-Options DENY and a
Permissions-Policy; pages of a logged-in person (or opened by a personal link) must not
be stored by the browser or any cache on the way.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.cache import cache
from django.test import Client

from tests import factories
from tests.factories import EAST
from tocsin.alerts.messages import alert_url
from tocsin.committees.models import Invite, Role
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state, open_incident

pytestmark = pytest.mark.django_db

BASE_DIR = Path(django_settings.BASE_DIR)

# Pages never crawled: they need a POST, stream forever, or end the session.
SKIP = re.compile(r"/live/$|^/logout/|^/demo/")

# Pages opened by a personal link (no login, but only one person has the link): an alert
# opened from a push or an email, a reporter's receipt. What they show is that person's,
# so they are as private as a logged-in page.
PERSONAL_LINKS = re.compile(r"^/a/[^/]+/$|^/report/[A-Z0-9]+/$")


@dataclass
class Fetched:
    path: str
    persona: str
    status: int
    headers: dict[str, str]
    body: bytes
    content_type: str


class Page(HTMLParser):
    """The links, scripts and inline code of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.resources: list[str] = []
        self.inline_scripts: list[str] = []  # nonce of each inline <script>, or ""
        self.referrer_policies: list[str] = []  # of each <meta name="referrer">
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for name in a:
            if name.startswith("on"):
                self.problems.append(f"inline event handler {name}= on <{tag}>")
        if "style" in a:
            self.problems.append(f"inline style= on <{tag}> (style-src blocks it)")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "script":
            if a.get("src"):
                self.resources.append(a["src"])
            else:
                self._in_script = True
                self.inline_scripts.append(a.get("nonce", ""))
        if tag in ("link", "img") and (a.get("href") or a.get("src")):
            self.resources.append(a.get("href") or a.get("src") or "")
        if tag == "style":
            self.problems.append("inline <style> element (style-src blocks it)")
        if tag == "meta" and a.get("name", "").lower() == "referrer":
            self.referrer_policies.append(a.get("content", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def csp_directives(header: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def csp_problems(header: str) -> list[str]:
    """Return what makes ``header`` less than strict."""
    if not header:
        return ["no Content-Security-Policy"]
    d = csp_directives(header)
    problems = []
    for name, sources in d.items():
        for source in sources:
            low = source.lower()
            if low in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*"):
                problems.append(f"{name} allows {source}")
            elif "*" in low:
                problems.append(f"{name} allows the wildcard {source}")
            elif low in ("http:", "https:", "ws:", "wss:", "blob:", "filesystem:"):
                problems.append(f"{name} allows every {source} URL")
            elif low == "data:" and name != "img-src":
                problems.append(f"{name} allows data: URLs")
    expected = {
        "default-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
    for name, sources in expected.items():
        if d.get(name) != sources:
            problems.append(f"{name} is {d.get(name)}, not {sources}")
    for name in ("script-src", "style-src", "connect-src", "img-src"):
        if name not in d:
            problems.append(f"no {name} (falls back to default-src, but say it)")
    return problems


def is_static(f: Fetched) -> bool:
    return f.path.startswith(django_settings.STATIC_URL)


def header_problems(f: Fetched, *, personal: bool) -> list[str]:
    h = {k.lower(): v for k, v in f.headers.items()}
    page = not is_static(f)
    problems = csp_problems(h.get("content-security-policy", ""))
    # no-referrer: forms still work because tocsin.lib.csrf reads Sec-Fetch-Site
    # (tests/test_csrf.py, and every browser test that submits a form).
    if h.get("referrer-policy") != "no-referrer":
        problems.append(f"Referrer-Policy is {h.get('referrer-policy')!r}")
    if h.get("x-content-type-options") != "nosniff":
        problems.append(f"X-Content-Type-Options is {h.get('x-content-type-options')!r}")
    # Static files (served by WhiteNoise before the clickjacking middleware) need no
    # X-Frame-Options: their CSP says frame-ancestors 'none', which every current
    # browser obeys, and a stylesheet or script cannot be clickjacked anyway.
    if page and h.get("x-frame-options") != "DENY":
        problems.append(f"X-Frame-Options is {h.get('x-frame-options')!r}")
    policy = h.get("permissions-policy", "")
    for feature in ("camera=()", "microphone=()", "payment=()"):
        if feature not in policy:
            problems.append(f"Permissions-Policy {policy!r} does not deny {feature}")
    # A view that declares its response public (the manifest) serves everyone the same.
    cache = h.get("cache-control", "")
    if personal and page and "public" not in cache and "no-store" not in cache:
        problems.append(f"personal page, but Cache-Control is {cache!r}")
    return [f"{f.persona} {f.path} ({f.status}): {p}" for p in problems]


def html_problems(f: Fetched, page: Page) -> list[str]:
    nonce = ""
    match = re.search(r"'nonce-([^']+)'", f.headers.get("Content-Security-Policy", ""))
    if match:
        nonce = match.group(1)
    problems = list(page.problems)
    for url in page.resources:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            problems.append(f"a resource from another origin: {url}")
    for script_nonce in page.inline_scripts:
        if not script_nonce or script_nonce != nonce:
            problems.append("inline <script> without the response's nonce")
    # A <meta name="referrer"> overrides the header for the page's own requests.
    for policy in page.referrer_policies:
        if policy != f.headers.get("Referrer-Policy"):
            problems.append(f"<meta name=referrer content={policy!r}> contradicts the header")
    return [f"{f.persona} {f.path}: {p}" for p in problems]


def fetch(client: Client, persona: str, path: str) -> Fetched:
    response = client.get(path)
    body = b"" if response.streaming else response.content
    return Fetched(
        path=path,
        persona=persona,
        status=response.status_code,
        headers=dict(response.items()),
        body=body,
        content_type=response.get("Content-Type", ""),
    )


def crawl(client: Client, persona: str, start: Iterable[str]) -> list[Fetched]:
    """Return every same-site page and resource reachable from ``start`` by links."""
    queue = list(start)
    seen: set[str] = set()
    out: list[Fetched] = []
    while queue:
        path = queue.pop(0)
        if path in seen or SKIP.search(path):
            continue
        seen.add(path)
        f = fetch(client, persona, path)
        assert f.status < 500, f"{persona} {path} answered {f.status}"
        out.append(f)
        if f.status in (301, 302):
            queue.append(f.headers["Location"])
        if "text/html" not in f.content_type:
            continue
        page = Page()
        page.feed(f.body.decode())
        for href in page.links + page.resources:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                # Another scheme (geo:) or another site: a link is not a request, and
                # resources from other sites are refused by html_problems.
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def log_in(email: str) -> Client:
    """Log in with the code emailed to ``email`` (the locmem backend keeps it)."""
    client = Client()
    already = len(mail.outbox)
    assert client.post("/login/", {"email": email}).status_code == 302
    [message] = [m for m in mail.outbox[already:] if email in m.to]
    code = re.search(r"\b(\d{6})\b", message.subject)
    assert code, message.subject
    assert client.post("/login/code/", {"code": code.group(1)}).status_code == 302
    return client


@dataclass
class Site:
    world: factories.World
    receipt: str
    invite: str
    incident: int
    alert_path: str


@pytest.fixture
def site() -> Site:
    # Login codes are rate limited per address in the cache, and other tests log in the
    # same personas.
    cache.clear()
    w = factories.world()
    report = submit_report(channel="web", kind="workplace_raid", lat=EAST[0], lng=EAST[1])
    other = submit_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    incident = open_incident(report, actor=w.dispatcher)
    change_state(incident, "verifying", actor=w.dispatcher)
    change_state(incident, "confirmed", actor=w.dispatcher)
    invite = Invite.objects.create(committee=w.east, role=Role.MEMBER, created_by=w.organizer)
    link = alert_url(member_id=w.member.pk, incident_id=incident.pk)
    return Site(
        world=w,
        receipt=other.receipt,
        invite=invite.token,
        incident=incident.pk,
        alert_path=urlsplit(link).path,
    )


def everything(site: Site) -> list[tuple[Fetched, bool]]:
    """Return every page each persona reaches, with whether it is personal."""
    anonymous = crawl(
        Client(),
        "anonymous",
        [
            "/",
            "/report/",
            f"/report/{site.receipt}/",
            "/rights/",
            "/offline/",
            "/login/",
            "/login/code/",
            f"/join/{site.invite}/",
            "/join/no-such-invite/",
            "/verify/not-a-token/",
            "/no-such-page/",
            "/sw.js",
            "/manifest.webmanifest",
            "/report/coverage.geojson",
        ],
    )
    by_link = crawl(Client(), "member by alert link", [site.alert_path])
    logged_in = []
    for persona, member, start in [
        ("member", site.world.member, ["/me/"]),
        ("responder", site.world.responder, ["/me/"]),
        (
            "dispatcher",
            site.world.dispatcher,
            ["/me/", "/desk/", f"/desk/incidents/{site.incident}/"],
        ),
        ("organizer", site.world.organizer, ["/me/", "/c/east/", "/committees/new/"]),
        ("outsider", site.world.outsider, ["/me/", "/desk/"]),
    ]:
        address = {
            site.world.member: "mateo@example.org",
            site.world.responder: "rosa@example.org",
            site.world.dispatcher: "diego@example.org",
            site.world.organizer: "olga@example.org",
        }.get(member)
        if address is None:
            client = Client()
            client.force_login(member.user)
        else:
            client = log_in(address)
        logged_in += crawl(client, persona, start)

    return [(f, bool(PERSONAL_LINKS.match(f.path))) for f in anonymous + by_link] + [
        (f, True) for f in logged_in
    ]


def test_every_page_sends_strict_security_headers(site: Site) -> None:
    fetched = everything(site)
    paths = {f.path for f, _personal in fetched}
    # The crawl reached the pages that matter (so it did not stop early).
    for expected in ("/me/", "/desk/", "/c/east/", site.alert_path, "/static/css/tocsin.css"):
        assert any(p.startswith(expected) for p in paths), (expected, sorted(paths))
    problems = [p for f, personal in fetched for p in header_problems(f, personal=personal)]
    assert problems == [], "\n".join(problems)


def test_no_page_has_inline_code_the_policy_would_block(site: Site) -> None:
    problems = []
    for f, _personal in everything(site):
        if "text/html" in f.content_type:
            page = Page()
            page.feed(f.body.decode())
            problems += html_problems(f, page)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("path", ["/", "/report/", "/offline/", "/login/"])
def test_a_page_names_no_referrer_policy_but_the_headers(client: Client, path: str) -> None:
    response = client.get(path)
    assert response["Referrer-Policy"] == "no-referrer"
    page = Page()
    page.feed(response.content.decode())
    assert set(page.referrer_policies) <= {"no-referrer"}


def test_the_embedded_http_setup_is_not_redirected_to_https(client: Client) -> None:
    response = client.get("/offline/")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
    assert not django_settings.SECURE_SSL_REDIRECT


# Production settings, in a fresh process: settings read the environment at import.


def manage(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TOCSIN_", "DJANGO_"))}
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "tocsin.settings", "TOCSIN_DATA_DIR": str(tmp_path), **env}
    )
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "TOCSIN_SITE_URL": "https://tocsin.example.org",
    "TOCSIN_ALLOWED_HOSTS": "tocsin.example.org",
    "TOCSIN_SECRET_KEY": secrets.token_urlsafe(64),
}

# Run in the subprocess: requests through a proxy that ends TLS (X-Forwarded-Proto) and
# around it (plain http), and the cookie flags.
PROBE = """
import json
from django.conf import settings
from django.test import Client
c = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0])
plain = c.get("/offline/")
proxied = c.get("/offline/", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location", "")],
    "proxied": [proxied.status_code, proxied.get("Strict-Transport-Security", "")],
    "cookies_secure": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
    "redirect": settings.SECURE_SSL_REDIRECT,
}))
"""


def test_production_settings_pass_the_deploy_checks(tmp_path: Path) -> None:
    done = manage(tmp_path, PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr


def test_production_redirects_plain_http_and_sends_hsts(tmp_path: Path) -> None:
    done = manage(tmp_path, PRODUCTION, "shell", "-c", PROBE)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["plain"] == [301, "https://tocsin.example.org/offline/"]
    assert got["proxied"] == [200, "max-age=31536000; includeSubDomains"]
    assert got["cookies_secure"] == [True, True]


def test_the_embedded_default_serves_plain_http(tmp_path: Path) -> None:
    done = manage(tmp_path, {}, "shell", "-c", PROBE)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["plain"] == [200, ""]
    assert got["proxied"] == [200, ""]
    assert got["redirect"] is False
    assert got["cookies_secure"] == [False, False]


def test_the_csp_checker_refuses_loose_policies() -> None:
    loose = (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src *; "
        "img-src https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    problems = csp_problems(loose)
    assert any("'unsafe-inline'" in p for p in problems)
    assert any("style-src allows *" in p for p in problems)
    assert any("every https: URL" in p for p in problems)
