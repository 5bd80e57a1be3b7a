"""Every page each person sees, on a 360 px phone, in English and in Spanish: no page is
wider than the screen, every control is a finger-sized touch target with room around it,
and axe-core finds no WCAG 2.2 A/AA violation (tests/a11y_support.py).

The people: the anonymous reporter, the dispatcher, the verifier, a member, a responder,
the organizer and an outsider (a member of no committee). Each test collects every
problem of every page and fails once with all of them, so one run shows the whole list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page

from tests import factories
from tests.a11y_support import AXE_JS, PHONE_OPTIONS, phone_problems
from tests.browser_support import WAIT_MS, LiveServer, chromium, orm
from tests.conftest import need
from tests.factories import EAST
from tests.peers.push_service import PushService
from tests.peers.smtp import SMTPPeer, mail_settings
from tests.test_browser_loop import COUNT_LIVE_UPDATES, Live, open_map, submit, wait_live
from tocsin.alerts.messages import alert_url
from tocsin.committees import joining
from tocsin.committees.models import Committee, Duty, Invite, Membership, Role, Shift
from tocsin.incidents import verify
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state, open_incident
from tocsin.legal import cases as legal_cases
from tocsin.legal import interpreters
from tocsin.lib import ratelimit
from tocsin.lib.links import verify_link_token
from tocsin.places.models import Place, PlaceKind
from tocsin.transports import unsubscribe

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(transactional_db: None, settings: Any) -> Iterator[Live]:
    need(AXE_JS.is_file(), "axe-core is not installed (run `npm ci`)")
    with SMTPPeer() as smtp:
        server = LiveServer()
        try:
            settings.SITE_URL = server.url
            mail_settings(settings, smtp)
            server.start()
            yield Live(url=server.url, smtp=smtp, push=PushService())
        finally:
            server.stop()


# Function-scoped like the server: Playwright's sync API keeps an event loop running in
# the test's thread while a browser is open, and the database flush between tests refuses
# to run beside one (Chromium starts in about a second).
@pytest.fixture
def browser(chromium_path: str, live: Live) -> Iterator[Browser]:
    with chromium(chromium_path) as b:
        yield b


@pytest.fixture
def phone(browser: Browser, live: Live) -> Iterator[Callable[[str, str | None], BrowserContext]]:
    """Make a 360 px touch phone's browser in ``language``, signed in as a persona or not."""
    made: list[BrowserContext] = []

    def make(language: str, persona: str | None) -> BrowserContext:
        ctx = browser.new_context(
            base_url=live.url, locale="es-ES" if language == "es" else "en-US", **PHONE_OPTIONS
        )
        ctx.set_default_timeout(WAIT_MS)
        ctx.add_init_script(COUNT_LIVE_UPDATES)
        if persona is not None:
            ctx.add_cookies(
                [
                    {
                        "name": django_settings.SESSION_COOKIE_NAME,
                        "value": orm(lambda: session_cookie(persona)),
                        "url": live.url,
                    }
                ]
            )
        made.append(ctx)
        return ctx

    try:
        yield make
    finally:
        for ctx in made:
            ctx.close()


def session_cookie(persona: str) -> str:
    from tocsin.members.models import Member

    client = factories.session_for(Member.objects.get(display_name=persona), strong=True)
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


@dataclass
class Scene:
    rosa_membership: int
    receipt: str
    invite: str
    confirmed: int
    unverified: int
    member_alert: str
    responder_alert: str
    verify_page: str
    unsubscribe: str
    case: int


def scene(language: str) -> Scene:
    """Build a committee with every persona (reading ``language``), a confirmed incident
    they were alerted to, and a report a verifier was asked to check."""
    east = factories.committee("East")
    Committee.objects.filter(pk=east.pk).update(hotline_numbers=["+12135550142"])
    olga = factories.member("Olga", east, Role.ORGANIZER, language=language)
    diego = factories.member("Diego", east, Role.DISPATCHER, language=language)
    vera = factories.member("Vera", area=EAST, language=language, email="vera@example.org")
    Membership.objects.create(committee=east, member=vera, role=Role.VERIFIER, vouched_by=olga)
    # Mateo and Rosa have email, so the confirmation alerts them.
    mateo = factories.member(
        "Mateo", east, Role.MEMBER, area=EAST, language=language, email="mateo@example.org"
    )
    rosa = factories.member(
        "Rosa", east, Role.RESPONDER, area=EAST, language=language, email="rosa@example.org"
    )
    factories.member("Otto", language=language)
    # East's legal team: Lucia, with a case from a call and a Mam interpreter on the roster.
    lucia = factories.member("Lucia", east, Role.LEGAL, language=language)
    case = legal_cases.open_case(
        east, source="call", details={"who": "Ana", "language": "Mam"}, by=lucia
    )
    interpreters.set_languages(rosa, ["mam"], interprets=True)
    Place.objects.create(
        committee=east,
        name="Car wash, César Chávez & Soto",
        name_es="Autolavado, César Chávez y Soto",
        kind=PlaceKind.CAR_WASH,
        lat=EAST[0] + 0.00045,
        lng=EAST[1],
    )
    report = submit_report(
        channel="web", kind="workplace_raid", lat=EAST[0], lng=EAST[1], text="Vans at the gate."
    )
    confirmed = open_incident(report, actor=diego)
    change_state(confirmed, "verifying", actor=diego)
    change_state(confirmed, "confirmed", actor=diego)
    # Another report far enough away to be its own incident, not yet checked.
    other = submit_report(channel="web", kind="checkpoint", lat=EAST[0] + 0.01, lng=EAST[1])
    unverified = factories.own_incident(other, diego)
    verify.request(unverified, vera, actor=diego)
    invite = Invite.objects.create(committee=east, role=Role.MEMBER, created_by=olga)
    # On the desk too: a group of reports from one busy network, and a report held back.
    for n in range(3):
        submit_report(
            channel="web",
            kind="workplace_raid",
            lat=EAST[0] - 0.01,
            lng=EAST[1] + 0.0001 * n,
            suspicious=True,
            burst_group="b" * 16,
        )
    submit_report(
        channel="web", kind="agents_seen", lat=EAST[0], lng=EAST[1] - 0.01, suspicious=True
    )
    rosa_membership = Membership.objects.get(member=rosa, committee=east)
    # On-call shifts: Rosa's own, an open slot and one Diego offers (coverage and on-call).
    soon = timezone.now() + timedelta(hours=3)
    for holder, offered in ((rosa, None), (None, None), (diego, timezone.now())):
        Shift.objects.create(
            committee=east,
            member=holder,
            duty=Duty.RESPONDER,
            starts_at=soon,
            ends_at=soon + timedelta(hours=4),
            offered_at=offered,
        )
    # Listed publicly, with a stranger's request to join waiting.
    Committee.objects.filter(pk=east.pk).update(listed=True)
    joining.ask(east, display_name="Ana", kind="email", address="ana@example.org", language="en")

    def path(url: str) -> str:
        return urlsplit(url).path

    token = verify_link_token(member_id=vera.pk, incident_id=unverified.pk)
    stop_token = unsubscribe.token_for(member_id=mateo.pk, address="mateo@example.org")
    return Scene(
        rosa_membership=rosa_membership.pk,
        receipt=report.receipt,
        invite=invite.token,
        confirmed=confirmed.pk,
        unverified=unverified.pk,
        member_alert=path(alert_url(member_id=mateo.pk, incident_id=confirmed.pk)),
        responder_alert=path(alert_url(member_id=rosa.pk, incident_id=confirmed.pk)),
        verify_page=f"/v/{token}/",
        unsubscribe=f"/unsubscribe/{stop_token}/",
        case=case.pk,
    )


def pages_of(s: Scene) -> dict[str | None, list[str]]:
    """Return the pages each persona sees (None: the anonymous reporter)."""
    return {
        None: [
            "/",
            "/report/",
            f"/report/{s.receipt}/",
            "/report/check/",
            "/rights/",
            "/map/",
            "/offline/",
            "/login/",
            f"/join/{s.invite}/",
            s.unsubscribe,
            "/committees/",
            "/committees/?zip=90033",
            "/committees/east/",
            "/committees/start/",
            "/no-such-page/",
        ],
        "Diego": [
            "/desk/",
            f"/desk/incidents/{s.confirmed}/",
            f"/desk/incidents/{s.confirmed}/escalation/",
            f"/desk/incidents/{s.unverified}/",
            "/desk/hotline/",
            "/desk/deliveries/",
            "/c/east/coverage/",
            "/me/",
        ],
        "Vera": [s.verify_page, "/me/"],
        "Mateo": [
            "/me/",
            s.member_alert,
            "/me/data/",
            "/me/security/",
            "/me/family/",
            "/me/family/panic/",
            "/me/family/card/",
        ],
        "Rosa": [s.responder_alert, "/c/east/on-call/", "/me/"],
        "Olga": [
            "/c/east/",
            "/c/east/places/",
            "/c/east/dashboard/",
            "/c/east/vouching/",
            "/c/east/vouch/",
            f"/c/east/vouching/{s.rosa_membership}/cut/",
            "/committees/new/",
            "/c/east/requests/",
        ],
        "Otto": ["/me/", "/desk/", "/c/east/"],
        "Lucia": [
            "/legal/east/",
            f"/legal/east/{s.case}/",
            "/legal/east/interpreters/?language=mam",
            "/me/languages/",
        ],
    }


# Pages that answer "not found" or "forbidden" on purpose (and must fit a phone too).
REFUSED = {"/no-such-page/": 404, "Otto /desk/": 403, "Otto /c/east/": 404}


def look(page: Page, path: str, who: str) -> list[str]:
    """Open ``path`` and return its problems on the phone."""
    response = page.goto(path)
    status = response.status if response is not None else None
    expected = REFUSED.get(path, REFUSED.get(f"{who} {path}", 200))
    assert status == expected, f"{who} {path} answered {status}, not {expected}"
    if page.locator("[data-live]").count():
        wait_live(page)
    return phone_problems(page, f"{who} {path}")


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_page_fits_a_phone_and_passes_axe(
    live: Live,
    phone: Callable[[str, str | None], BrowserContext],
    language: str,
    settings: Any,
) -> None:
    s = orm(lambda: scene(language))
    problems: list[str] = []
    for persona, paths in pages_of(s).items():
        who = persona or "anonymous"
        page = phone(language, persona).new_page()
        for path in paths:
            problems += look(page, path, who)
            assert page.evaluate("document.documentElement.lang") == language, (who, path)
            if path == "/report/":
                # The map, once opened, with its controls; then sent with no place.
                open_map(page)
                problems += phone_problems(page, f"{who} /report/ (map open)")
                page.check("input[name=kind][value=checkpoint]")
                submit(page, "#submit-report", status=400)
                problems += phone_problems(page, f"{who} /report/ (refused: no place)")
                # Past this network's share: the small refusal page that keeps the words.
                settings.REPORT_RATE_PER_10MIN = settings.REPORT_REFUSE_PER_10MIN = 1
                orm(lambda: ratelimit.take(ratelimit.source_key("127.0.0.1")))
                submit(page, "#submit-report", status=429)
                problems += phone_problems(page, f"{who} /report/ (refused: past the share)")
                submit(page, "main form button")
                problems += phone_problems(page, f"{who} /report/ (restored after a refusal)")
            if path == "/me/security/":
                # Adding an authenticator app: its QR code and the code box.
                submit(page, "#add-totp")
                problems += phone_problems(page, f"{who} /me/security/ (adding an app)")
            if path == s.unsubscribe:
                submit(page, "main form button")
                problems += phone_problems(page, f"{who} email alerts stopped")
            if path == "/login/":
                page.fill("input[name=email]", "nobody@example.org")
                submit(page, "main form button.primary")
                problems += phone_problems(page, f"{who} /login/code/")
    assert problems == [], "\n".join(problems)


def test_the_report_pages_map_is_drawn_only_once_its_stylesheet_applies(
    phone: Callable[[str, str | None], BrowserContext],
) -> None:
    """On a slow network the map's stylesheet may come after its scripts: drawn then, its
    zoom buttons were bare 13x19 px links (the axe test above caught it under load)."""
    page = phone("en", None).new_page()
    held: list[Any] = []
    # Answered only when released below.
    page.route("**/leaflet/leaflet.css", lambda route: held.append(route))
    page.goto("/report/")
    with page.expect_request_finished(lambda r: r.url.endswith("/js/pickmap.js")):
        page.locator("#map-open").click()
    # Time for the scripts to run, had they been added beside the stylesheet (they run as
    # they arrive). With the stylesheet held, nothing else is to come.
    page.wait_for_timeout(500)
    assert held, "the map's stylesheet was asked for"
    assert page.evaluate("() => !window.tocsinPickMap"), "drawn before its stylesheet applied"
    held[0].continue_()
    page.wait_for_function("() => Boolean(window.tocsinPickMap)")
    box = page.locator(".leaflet-control-zoom-in").bounding_box()
    assert box is not None and box["width"] >= 24 and box["height"] >= 24, box
