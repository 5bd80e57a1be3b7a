"""The core loop end to end, in Chromium, against the real ASGI app and real peers.

report (phone, anonymous) -> dispatcher's live desk -> verifying -> confirmed -> the worker
sends web push (to a local push service that checks VAPID and decrypts) and email (to a
local SMTP server) -> the push is delivered to the member's service worker through CDP and
shown as a notification -> the member answers "on my way" -> the dispatcher's headcount
updates live -> resolved -> all-clear. A second test does the same in Spanish and ends in
a false alarm, which sends a correction.

Everyone logs in through the real flow (email -> code at the SMTP peer -> code page); the
new member joins from the organizer's invite link. Live updates come over SSE, so every
"without reloading" check is made on a page that was opened before the change and is
still the same document (a marker set on ``window`` survives).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests import factories
from tests.browser_support import (
    WAIT_MS,
    LiveServer,
    chromium,
    links_in,
    orm,
    text_of,
    wait_until,
)
from tests.factories import EAST
from tests.peers.push_service import PushService
from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin import geo
from tocsin import worker as worker_module
from tocsin.alerts import messages
from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.committees.models import Committee, Membership, Role
from tocsin.incidents.models import Incident, State
from tocsin.intake.models import Report, ReportKind
from tocsin.members.models import AlertArea, ContactEndpoint, EndpointKind
from tocsin.places.models import Place, PlaceKind
from tocsin.places.naming import Gazetteer
from tocsin.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)

HAVE_SPANISH = (Path(django_settings.BASE_DIR) / "locale/es/LC_MESSAGES/django.mo").exists()

PHONE = {"width": 390, "height": 844}

# Counts SSE "update" events a page receives (test instrumentation only; the page's own
# live.js still does the work). It lets a test wait until a live region has had its first
# render before typing into it, and shows that a change arrived over the stream.
COUNT_LIVE_UPDATES = """
(() => {
  const Original = window.EventSource;
  if (!Original) return;
  window.__liveUpdates = 0;
  function Counting(url, options) {
    const source = new Original(url, options);
    source.addEventListener("update", () => { window.__liveUpdates += 1; });
    return source;
  }
  Counting.prototype = Original.prototype;
  window.EventSource = Counting;
})();
"""

# True once the pick map exists (and has drawn its areas, if it has any) and its view
# has stopped moving between two polls: fitBounds after the areas load moves it.
MAP_SETTLED = """(needAreas) => {
  const pick = window.tocsinPickMap;
  if (!pick || pick.map._animatingZoom) return false;
  if (needAreas && !document.querySelector("#map .leaflet-overlay-pane path")) return false;
  const view = pick.map.getCenter().toString() + "@" + pick.map.getZoom();
  const settled = window.__tocsinMapView === view;
  window.__tocsinMapView = view;
  return settled;
}"""

# The worker's housekeeping interval in these tests (the product's is a few seconds).
HOUSEKEEPING_SECONDS = 0.2

NOTIFICATION_TITLES = (
    "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => n.title))"
)


@dataclass
class Live:
    url: str
    smtp: SMTPPeer
    push: PushService


# Fixtures: teardown runs in reverse, so contexts close before the browser, the browser
# before the worker and server, and those before the peers and the settings go back.


@pytest.fixture
def smtp() -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        yield peer


@pytest.fixture
def push() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture
def live(
    transactional_db: None,
    settings: Any,
    smtp: SMTPPeer,
    push: PushService,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Live]:
    server = LiveServer()
    try:
        # Links in messages must point at this server: set before anything renders one.
        settings.SITE_URL = server.url
        mail_settings(settings, smtp)
        # What the worker's housekeeping sends (replies, mobilization and shift notices,
        # join links, panic messages) leaves within a fraction of a second, not up to
        # HOUSEKEEPING_SECONDS later: the tests wait for each such message.
        monkeypatch.setattr(worker_module, "HOUSEKEEPING_SECONDS", HOUSEKEEPING_SECONDS)
        server.start()
        worker = Worker(sweep_interval=0.5)
        worker.start()
        try:
            yield Live(url=server.url, smtp=smtp, push=push)
        finally:
            worker.stop()
    finally:
        server.stop()


@pytest.fixture
def browser(chromium_path: str, live: Live) -> Iterator[Browser]:
    with chromium(chromium_path) as b:
        yield b


@pytest.fixture
def new_context(browser: Browser, live: Live) -> Iterator[Callable[..., BrowserContext]]:
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        ctx = browser.new_context(base_url=live.url, **options)
        ctx.set_default_timeout(WAIT_MS)
        ctx.add_init_script(COUNT_LIVE_UPDATES)
        made.append(ctx)
        return ctx

    try:
        yield make
    finally:
        for ctx in made:
            ctx.close()


# Steps a person takes.


def submit(page: Page, target: str | Locator, *, status: int = 200) -> None:
    """Click a form's button and wait for the page it leads to; check that page's status.

    A refused POST (a 403 from the CSRF check, say) fails here with the server's words,
    not later with a confusing "element not found".
    """
    button = page.locator(target) if isinstance(target, str) else target
    with page.expect_navigation() as navigation:
        button.click()
    response = navigation.value
    got = response.status if response is not None else None
    if got != status:
        body = " ".join(page.locator("body").inner_text().split())[:300]
        raise AssertionError(f"{page.url} answered {got}, not {status}: {body}")


def log_in(ctx: BrowserContext, live: Live, email: str) -> Page:
    """Log in through /login/ and the code emailed to the SMTP peer; return the page on /me/."""
    page = ctx.new_page()
    page.goto("/login/")
    already = len(live.smtp.to(email))
    page.fill("input[name=email]", email)
    submit(page, "main form button.primary")
    assert page.url.endswith("/login/code/"), page.url
    mail = wait_until(lambda: live.smtp.to(email)[already:], f"a login code for {email}")[-1]
    code = re.search(r"\b(\d{6})\b", mail["Subject"])
    assert code, mail["Subject"]
    assert code.group(1) in text_of(mail)
    page.fill("input[name=code]", code.group(1))
    submit(page, "main form button.primary")
    assert page.url == f"{live.url}/me/", page.url
    return page


def wait_live(page: Page, updates: int = 1) -> None:
    """Wait until the page's live region has received ``updates`` SSE renders."""
    page.wait_for_function("n => (window.__liveUpdates || 0) >= n", arg=updates)


def mark(page: Page, name: str) -> None:
    page.evaluate("name => { window[name] = true; }", name)


def still_same_document(page: Page, name: str) -> bool:
    return page.evaluate("name => window[name] === true", name)


def open_map(page: Page) -> None:
    """Open the map where a page loads it only on request (the report page)."""
    opener = page.locator("#map-open")
    if opener.count() and opener.is_visible():
        opener.click()
    page.wait_for_function("() => Boolean(window.tocsinPickMap)")


def tap_map(page: Page, lat: float, lng: float, *, areas: bool) -> tuple[float, float]:
    """Click the pick map where (lat, lng) is drawn; return the place the form got."""
    open_map(page)
    page.evaluate("() => { delete window.__tocsinMapView; }")
    page.wait_for_function(MAP_SETTLED, arg=areas, polling=250)
    point = page.evaluate(
        """([lat, lng]) => {
            const p = window.tocsinPickMap.map.latLngToContainerPoint([lat, lng]);
            const box = document.getElementById("map").getBoundingClientRect();
            return {x: p.x, y: p.y, width: box.width, height: box.height};
        }""",
        [lat, lng],
    )
    assert 0 < point["x"] < point["width"] and 0 < point["y"] < point["height"], point
    page.locator("#map").click(position={"x": point["x"], "y": point["y"]})
    form = page.locator("#map").locator("xpath=ancestor::form")
    lat_input, lng_input = form.locator("input[name=lat]"), form.locator("input[name=lng]")
    expect(lat_input).not_to_have_value("")
    picked = float(lat_input.input_value()), float(lng_input.input_value())
    # One screen pixel is tens of metres at these zooms.
    assert abs(picked[0] - lat) < 0.003 and abs(picked[1] - lng) < 0.003, (picked, lat, lng)
    return picked


def report(
    page: Page,
    details: str,
    kind: str = "workplace_raid",
    *,
    at: tuple[float, float] | None = EAST,
) -> str:
    """Report from /report/ (already open): place (a tap on the map at ``at``; None: the
    place is already picked), kind, details; return the receipt."""
    if at is not None:
        tap_map(page, *at, areas=True)
    page.check(f"input[name=kind][value={kind}]")
    page.fill("textarea[name=text]", details)
    submit(page, "#submit-report")
    assert re.search(r"/report/[A-Z0-9]+/$", page.url), page.url
    receipt = page.locator("#receipt").inner_text().strip()
    assert receipt
    return receipt


CAR_WASH = "Car wash, César Chávez & Soto"


def members_place(incident_id: int, language: str = "en") -> str:
    """Return the incident's place as its members read it, in ``language``."""
    incident = Incident.objects.get(pk=incident_id)
    with translation.override(language):
        return messages.place_text(incident.cell, Gazetteer.of(incident))


def set_state(page: Page, state: str) -> None:
    submit(page, f"button[name=state][value={state}]")
    wait_live(page)
    with translation.override(page.evaluate("document.documentElement.lang")):
        label = str(State(state).label)
    expect(page.locator("#panel [data-testid=state]")).to_have_text(label)


def open_from_desk(desk: Page, receipt: str) -> int:
    card = desk.locator("[data-report]", has_text=receipt)
    submit(desk, card.get_by_role("button", name="Open as incident"))
    found = re.search(r"/desk/incidents/(\d+)/$", desk.url)
    assert found, desk.url
    wait_live(desk)
    return int(found.group(1))


def deliver_to_service_worker(ctx: BrowserContext, page: Page, live: Live, data: bytes) -> None:
    """Hand a push payload to the page's service worker, as the browser's push client would."""
    cdp = ctx.new_cdp_session(page)
    try:
        registrations: list[dict[str, Any]] = []
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda e: registrations.extend(e["registrations"]),
        )
        cdp.send("ServiceWorker.enable")

        def registration_id() -> str | None:
            for r in registrations:
                if r["scopeURL"] == f"{live.url}/" and not r.get("isDeleted"):
                    return r["registrationId"]
            return None

        reg_id = wait_until(
            registration_id, "the service worker registration", pump=page.wait_for_timeout
        )
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": live.url, "registrationId": reg_id, "data": data.decode()},
        )
    finally:
        cdp.detach()


def notification_titles(page: Page) -> list[str]:
    return page.evaluate(NOTIFICATION_TITLES)


def mails(smtp: SMTPPeer, address: str, subject_start: str) -> list[Any]:
    return [m for m in smtp.to(address) if str(m["Subject"]).startswith(subject_start)]


# The tests.


def test_report_confirm_alert_respond_all_clear(
    live: Live, new_context: Callable[..., BrowserContext], push: PushService, smtp: SMTPPeer
) -> None:
    # 1. People and places, in the database.
    def people() -> None:
        east = factories.committee("East")
        west = factories.committee("West", factories.WEST)
        Committee.objects.filter(pk=east.pk).update(hotline_numbers=["+12135550142"])
        Committee.objects.filter(pk=west.pk).update(hotline_numbers=["+13235550199"])
        factories.member("Olga", east, Role.ORGANIZER, email="olga@example.org")
        factories.member("Diego", east, Role.DISPATCHER, email="diego@example.org")
        factories.member("Walt", west, Role.DISPATCHER, email="walt@example.org")
        # A responder of East who has only email.
        factories.member("Rosa", east, Role.RESPONDER, area=EAST, email="rosa@example.org")
        # A place East's people name, about 50 m north of where the raid is.
        Place.objects.create(
            committee=east,
            name=CAR_WASH,
            name_es="Autolavado, César Chávez y Soto",
            kind=PlaceKind.CAR_WASH,
            lat=EAST[0] + 0.00045,
            lng=EAST[1],
        )

    orm(people)

    # 2. The organizer shares the invite link; a new person joins on their device.
    organizer = log_in(new_context(), live, "olga@example.org")
    organizer.goto("/c/east/")
    invite_url = organizer.locator("#invite-url").input_value()
    assert invite_url.startswith(f"{live.url}/join/"), invite_url

    member_ctx = new_context()
    member_ctx.grant_permissions(["notifications"], origin=live.url)
    me = member_ctx.new_page()
    me.goto(invite_url)
    me.fill("input[name=display_name]", "Lupe")
    me.select_option("select[name=language]", "en")
    submit(me, "#join")
    assert me.url == f"{live.url}/me/"
    expect(me.locator("h1")).to_have_text("Hello, Lupe")
    expect(me.locator("#areas li form")).to_have_count(0)

    tap_map(me, *EAST, areas=False)
    submit(me, "#add-area")
    expect(me.locator("#areas li form")).to_have_count(1)
    assert orm(lambda: AlertArea.objects.filter(member__display_name="Lupe").count()) == 1

    # Push on this device: what the page's script sends after pushManager.subscribe().
    subscription = push.subscription()
    me.wait_for_function("() => typeof window.tocsinSendSubscription === 'function'")
    # One on a push service this server does not send to (the peer's address spelled as
    # a number) is refused, and the page has the server's words for the member.
    disguised = dict(
        subscription, endpoint=subscription["endpoint"].replace("127.0.0.1", "2130706433")
    )
    said = me.evaluate(
        "sub => window.tocsinSendSubscription({toJSON: () => sub}).then(() => '', e => e.message)",
        disguised,
    )
    assert said.startswith("This server does not send alerts to this browser's push service")
    me.evaluate("sub => window.tocsinSendSubscription({toJSON: () => sub})", subscription)
    me.reload()
    with translation.override("en"):
        push_label = str(EndpointKind.WEBPUSH.label)
    expect(me.locator("#channels")).to_contain_text(push_label)
    kinds = orm(
        lambda: list(
            ContactEndpoint.objects.filter(member__display_name="Lupe").values_list(
                "kind", flat=True
            )
        )
    )
    assert kinds == [EndpointKind.WEBPUSH]
    # The service worker that will show the alert is installed and active.
    assert me.evaluate("navigator.serviceWorker.ready.then(r => Boolean(r.active))")

    # The organizer makes the newcomer a responder.
    organizer.goto("/c/east/")
    row = organizer.locator("tbody tr", has_text="Lupe")
    row.locator("select[name=role]").select_option("responder")
    submit(organizer, row.locator("button", has_text="Save"))
    role = orm(
        lambda: Membership.objects.get(member__display_name="Lupe", committee__slug="east").role
    )
    assert role == Role.RESPONDER

    # 4 (first half). Both dispatchers have their desk open before anything is reported.
    desk = log_in(new_context(), live, "diego@example.org")
    desk.goto("/desk/")
    wait_live(desk)
    expect(desk.locator("[data-report]")).to_have_count(0)
    mark(desk, "__deskOpenedBefore")
    west_desk = log_in(new_context(), live, "walt@example.org")
    west_desk.goto("/desk/")
    wait_live(west_desk)

    # 3. An anonymous reporter on a phone; first without a place.
    reporter = new_context(viewport=PHONE).new_page()
    reporter.goto("/report/")
    details = "Two unmarked vans at the loading dock, agents at the gate."
    reporter.check("input[name=kind][value=workplace_raid]")
    reporter.fill("textarea[name=text]", details)
    submit(reporter, "#submit-report", status=400)
    expect(reporter.locator(".error[role=alert]")).to_contain_text("Pick the place on the map")
    assert reporter.locator("textarea[name=text]").input_value() == details
    assert reporter.locator("input[name=kind][value=workplace_raid]").is_checked()
    assert orm(Report.objects.count) == 0
    # Before a place is picked the page offers every committee's hotline; once one is
    # picked, those of the committees covering it.
    hotlines = reporter.locator("#hotlines")
    expect(hotlines).to_contain_text("(323) 555-0199")
    tap_map(reporter, *EAST, areas=True)
    expect(hotlines).not_to_contain_text("(323) 555-0199")
    expect(hotlines.locator("a[href='tel:+12135550142']")).to_have_text("(213) 555-0142")

    # No GPS, no map needed: the reporter types the place as people say it (no accents).
    reporter.fill("#where", "cesar chavez car")
    reporter.click("#where-find")
    reporter.get_by_role("button", name=f"{CAR_WASH} · Car wash").click()
    expect(reporter.locator("#place-status")).to_have_text(f"Place picked: {CAR_WASH}")
    receipt = report(reporter, details, at=None)
    expect(reporter.locator("#receipt")).to_have_text(receipt)
    placed = orm(lambda: Report.objects.get(receipt=receipt))
    assert geo.center(placed.cell) == pytest.approx((EAST[0] + 0.00045, EAST[1]), abs=0.0003)
    # The receipt page says what became of the report, and follows it live.
    wait_live(reporter)
    mark(reporter, "__receiptOpenedBefore")
    expect(reporter.locator("[data-testid=progress-title]")).to_have_text("Received")

    # 4. The report reaches East's desk live; West's desk never shows it.
    card = desk.locator("[data-report]", has_text=receipt)
    expect(card).to_contain_text(details)
    expect(card).to_contain_text("Workplace raid")
    assert still_same_document(desk, "__deskOpenedBefore")
    expect(west_desk.locator("[data-report]")).to_have_count(0)
    west_desk.reload()
    wait_live(west_desk)
    expect(west_desk.locator("[data-report]")).to_have_count(0)
    expect(west_desk.locator("main")).not_to_contain_text(receipt)

    incident_id = open_from_desk(desk, receipt)
    set_state(desk, "verifying")
    expect(reporter.locator("[data-testid=progress-title]")).to_have_text("Being checked")
    assert still_same_document(reporter, "__receiptOpenedBefore")
    # Only the responders nearby hear it is possible (DESIGN.md section 3): Lupe by push.
    [possible] = wait_until(
        lambda: push.messages_for(subscription), "the possible alert at the push service"
    )
    assert json.loads(possible["payload"])["title"].startswith("Unverified: Workplace raid")
    told = orm(lambda: set(Delivery.objects.values_list("alert__purpose", flat=True)))
    assert told == {"possible"}, "members heard of it unconfirmed"
    summary = "Near the loading dock on the east side."
    desk.fill("form.actions textarea[name=summary]", summary)
    set_state(desk, "confirmed")
    mark(desk, "__incidentOpenedBefore")
    place = orm(lambda: members_place(incident_id))
    assert place == f"near {CAR_WASH}", place

    # 5. The worker sends: web push to Lupe's device, email to Rosa.
    [pushed] = wait_until(
        lambda: push.messages_for(subscription)[1:], "the alert at the push service"
    )
    assert push.rejections == []
    alert = json.loads(pushed["payload"])
    assert alert["title"] == f"Confirmed: Workplace raid {place}"
    assert "Observe, document, support. Do not interfere." in alert["body"]
    assert summary in alert["body"]
    assert alert["url"].startswith(f"{live.url}/a/")
    assert alert["tag"] == f"incident-{incident_id}"

    [rosa_mail] = wait_until(
        lambda: mails(smtp, "rosa@example.org", "Confirmed:"), "the alert email to Rosa"
    )
    assert rosa_mail["Subject"] == f"Confirmed: Workplace raid {place}"
    rosa_links = [u for u in links_in(text_of(rosa_mail), live.url) if "/a/" in u]
    assert rosa_links, text_of(rosa_mail)

    # The dispatcher sees the sends counted, live.
    confirmed_row = desk.locator("#panel tr[data-purpose=confirmed]")
    expect(confirmed_row.locator("td[data-testid=sent]")).to_have_text("2")
    expect(confirmed_row.locator("td[data-testid=failed]")).to_have_text("0")
    assert still_same_document(desk, "__incidentOpenedBefore")

    # The push reaches Lupe's service worker, which shows the alert.
    deliver_to_service_worker(member_ctx, me, live, pushed["payload"])
    wait_until(
        lambda: alert["title"] in notification_titles(me),
        "the alert notification",
        pump=me.wait_for_timeout,
    )

    # 6. Lupe opens the alert and is on her way as a legal observer.
    me.goto(alert["url"])
    wait_live(me)
    mark(me, "__alertOpenedBefore")
    expect(me.locator("h1")).to_have_text("Workplace raid")
    expect(me.locator("[data-testid=state]")).to_have_text("Confirmed")
    me.select_option("select[name=role]", "legal_observer")
    me.fill("input[name=eta_minutes]", "10")
    submit(me, "#on-my-way")
    wait_live(me)
    mark(me, "__alertOpenedBefore")
    expect(me.locator(".respond .ok")).to_contain_text("Legal observer")
    legal = desk.locator("#panel tr[data-role=legal_observer]")
    expect(legal.locator("td.n-way")).to_have_text("1")
    assert still_same_document(desk, "__incidentOpenedBefore")

    # Rosa opens the link from her email (no login) and comes too.
    rosa = new_context().new_page()
    rosa.goto(rosa_links[0])
    expect(rosa.locator("h1")).to_have_text("Workplace raid")
    rosa.select_option("select[name=role]", "observer")
    submit(rosa, "#on-my-way")
    expect(desk.locator("#panel tr[data-role=observer] td.n-way")).to_have_text("1")
    expect(me.locator("#headcount tr[data-role=observer] td.n-way")).to_have_text("1")

    # 7. Resolved: the all-clear goes to everyone who got the alert.
    set_state(desk, "resolved")
    pushed_all = wait_until(
        lambda: push.messages_for(subscription)[2:], "the all-clear at the push service"
    )
    all_clear = json.loads(pushed_all[0]["payload"])
    assert push.rejections == []
    assert all_clear["title"] == f"All clear: Workplace raid {place}"
    assert all_clear["tag"] == alert["tag"]
    [rosa_all_clear] = wait_until(
        lambda: mails(smtp, "rosa@example.org", "All clear:"), "the all-clear email to Rosa"
    )
    assert rosa_all_clear["Subject"] == all_clear["title"]
    # Lupe's open alert page says it is over, without reloading.
    expect(me.locator("#headcount .ok")).to_have_text("All clear: this incident has ended.")
    assert still_same_document(me, "__alertOpenedBefore")
    expect(desk.locator("#panel tr[data-purpose=all_clear] td[data-testid=sent]")).to_have_text("2")

    # The all-clear replaces the alert's notification (same tag) on Lupe's device.
    deliver_to_service_worker(member_ctx, me, live, pushed_all[0]["payload"])
    wait_until(
        lambda: notification_titles(me) == [all_clear["title"]],
        "the all-clear notification replacing the alert",
        pump=me.wait_for_timeout,
    )

    statuses = orm(lambda: set(Delivery.objects.values_list("status", flat=True)))
    assert statuses == {DeliveryStatus.SENT}, statuses
    assert len(push.received) == 3  # possible, confirmed, all-clear


def test_spanish_alert_and_false_alarm_correction(
    live: Live, new_context: Callable[..., BrowserContext], push: PushService, smtp: SMTPPeer
) -> None:
    subscription = push.subscription()

    def people() -> None:
        east = factories.committee("East")
        factories.member("Diego", east, Role.DISPATCHER, email="diego@example.org")
        # Ana gets push on her phone; Beto gets email. Both read Spanish.
        ana = factories.member("Ana", east, Role.RESPONDER, language="es", area=EAST)
        ContactEndpoint.create(
            ana,
            EndpointKind.WEBPUSH,
            subscription["endpoint"],
            data={"keys": subscription["keys"]},
            verified=True,
        )
        factories.member(
            "Beto", east, Role.MEMBER, language="es", area=EAST, email="beto@example.org"
        )

    orm(people)

    desk = log_in(new_context(), live, "diego@example.org")
    desk.goto("/desk/")
    wait_live(desk)

    # The reporter switches the site to Spanish and reports.
    reporter = new_context(viewport=PHONE).new_page()
    reporter.goto("/report/")
    submit(reporter, "form.lang button[value=es]")
    expect(reporter.locator("html")).to_have_attribute("lang", "es")
    receipt = report(reporter, "Camionetas sin placas frente a la fábrica.")

    expect(desk.locator("[data-report]", has_text=receipt)).to_be_visible()
    incident_id = open_from_desk(desk, receipt)
    set_state(desk, "confirmed")
    place = orm(lambda: members_place(incident_id))

    def spanish(msgid: str, **values: str) -> str:
        with translation.override("es"):
            return gettext(msgid) % values if values else gettext(msgid)

    with translation.override("es"):
        kind_es = str(ReportKind.WORKPLACE_RAID.label)
        place_es = orm(lambda: members_place(incident_id, "es"))
    confirmed_title = spanish("Confirmed: %(kind)s %(where)s", kind=kind_es, where=place_es)
    correction_title = spanish("Correction: false alarm %(where)s", where=place_es)
    if HAVE_SPANISH:
        assert confirmed_title != f"Confirmed: Workplace raid {place}"
        assert correction_title != f"Correction: false alarm {place}"

    [pushed] = wait_until(
        lambda: push.messages_for(subscription), "Ana's alert at the push service"
    )
    alert = json.loads(pushed["payload"])
    assert push.rejections == []
    assert alert["title"] == confirmed_title
    [beto_mail] = wait_until(lambda: smtp.to("beto@example.org"), "Beto's alert email")
    assert beto_mail["Subject"] == confirmed_title

    # The alert page follows the member's language, whatever the browser says.
    page = new_context(locale="en-US").new_page()
    page.goto(alert["url"])
    wait_live(page)
    mark(page, "__alertOpenedBefore")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    if HAVE_SPANISH:
        expect(page.locator("h1")).to_have_text(kind_es)
        expect(page.locator("#on-my-way")).to_have_text(spanish("I'm on my way"))

    # A false alarm after confirmation: a correction to everyone who got the alert.
    expect(desk.locator("#panel tr[data-purpose=confirmed] td[data-testid=sent]")).to_have_text("2")
    set_state(desk, "unfounded")
    # The reporter's receipt page says so, in their language.
    expect(reporter.locator("[data-testid=progress-title]")).to_have_text(spanish("False alarm"))
    later = wait_until(lambda: push.messages_for(subscription)[1:], "Ana's correction")
    correction = json.loads(later[0]["payload"])
    assert correction["title"] == correction_title
    assert correction["tag"] == alert["tag"]
    [beto_correction] = wait_until(
        lambda: smtp.to("beto@example.org")[1:], "Beto's correction email"
    )
    assert beto_correction["Subject"] == correction_title
    expect(page.locator("#headcount .ok")).to_have_text(
        spanish("Correction: this was a false alarm.")
    )
    # The rest of the open page follows too: its state, and no "I'm on my way" left to
    # press for a false alarm.
    expect(page.locator("[data-testid=state]")).to_have_text(spanish("False alarm"))
    expect(page.locator("#on-my-way")).to_have_count(0)
    assert still_same_document(page, "__alertOpenedBefore")
    expect(desk.locator("#panel tr[data-purpose=correction] td[data-testid=sent]")).to_have_text(
        "2"
    )
    assert push.rejections == []
