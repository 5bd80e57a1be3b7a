"""The whole loop on phones (360 x 740), in English and in Spanish, in Chromium.

An anonymous reporter with no GPS names the place (a car wash from the committee's
gazetteer), the dispatcher opens it from the desk and asks a verifier, the verifier
confirms from the street, a member and a responder are on their way, the dispatcher
resolves it, and the reporter's receipt says so. On every screen: the place is said in
words, the actions the screen promises are there, and nothing is wider than the phone.
(The burst case, 30 reports from one network at one place all reaching the desk, is
tests/test_burst_lane.py.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.utils import translation
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests import factories
from tests.browser_support import WAIT_MS, LiveServer, chromium, orm
from tests.factories import EAST
from tests.peers.push_service import PushService
from tests.peers.smtp import SMTPPeer, mail_settings
from tests.test_browser_loop import COUNT_LIVE_UPDATES, Live, submit, wait_live
from tocsin.alerts.messages import alert_url
from tocsin.committees.models import Committee, Membership, Role
from tocsin.incidents.models import Incident, State
from tocsin.incidents.progress import of as progress_of
from tocsin.intake.models import Report
from tocsin.lib.links import verify_link_token
from tocsin.members.models import Member
from tocsin.places.models import Place, PlaceKind

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"viewport": {"width": 360, "height": 740}, "has_touch": True, "is_mobile": True}
CAR_WASH = {"en": "Car wash, César Chávez & Soto", "es": "Autolavado, César Chávez y Soto"}


@pytest.fixture
def live(transactional_db: None, settings: Any) -> Iterator[Live]:
    with SMTPPeer() as smtp:
        server = LiveServer()
        try:
            settings.SITE_URL = server.url
            mail_settings(settings, smtp)
            server.start()
            yield Live(url=server.url, smtp=smtp, push=PushService())
        finally:
            server.stop()


@pytest.fixture
def browser(chromium_path: str, live: Live) -> Iterator[Browser]:
    with chromium(chromium_path) as b:
        yield b


@pytest.fixture
def phone(browser: Browser, live: Live) -> Iterator[Callable[..., Page]]:
    """Open a page on a new phone, in ``language``, signed in as ``persona`` or not."""
    made: list[BrowserContext] = []

    def make(language: str, persona: str | None = None) -> Page:
        ctx = browser.new_context(
            base_url=live.url, locale="es-ES" if language == "es" else "en-US", **PHONE
        )
        ctx.set_default_timeout(WAIT_MS)
        ctx.add_init_script(COUNT_LIVE_UPDATES)
        if persona is not None:
            cookie = orm(lambda: session_cookie(persona))
            ctx.add_cookies(
                [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live.url}]
            )
        made.append(ctx)
        return ctx.new_page()

    try:
        yield make
    finally:
        for ctx in made:
            ctx.close()


def session_cookie(persona: str) -> str:
    member = Member.objects.get(display_name=persona)
    client = factories.session_for(member, strong=True)
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def people(language: str) -> None:
    east = factories.committee("East")
    Committee.objects.filter(pk=east.pk).update(hotline_numbers=["+12135550142"])
    olga = factories.member("Olga", east, Role.ORGANIZER, language=language)
    factories.member("Diego", east, Role.DISPATCHER, language=language)
    vera = factories.member("Vera", area=EAST, language=language, email="vera@example.org")
    Membership.objects.create(committee=east, member=vera, role=Role.VERIFIER, vouched_by=olga)
    factories.member(
        "Mateo", east, Role.MEMBER, area=EAST, language=language, email="mateo@example.org"
    )
    factories.member(
        "Rosa", east, Role.RESPONDER, area=EAST, language=language, email="rosa@example.org"
    )
    Place.objects.create(
        committee=east,
        name=CAR_WASH["en"],
        name_es=CAR_WASH["es"],
        kind=PlaceKind.CAR_WASH,
        lat=EAST[0] + 0.00045,
        lng=EAST[1],
    )


def fits(page: Page) -> None:
    """The page is no wider than the phone."""
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 360, f"{page.url} is {wide} px wide on a 360 px phone"


def within_reach(target: Locator) -> None:
    """``target`` shows on the phone's screen as the page opens sideways: not off its
    right edge inside a box that scrolls."""
    box = target.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360, box


def says_the_place(page: Page, selector: str, language: str) -> None:
    """The screen names the place in words (the car wash, in the reader's language)."""
    expect(page.locator(selector).first).to_contain_text(CAR_WASH[language])
    fits(page)


def state_label(state: str, language: str) -> str:
    with translation.override(language):
        return str(State(state).label)


def receipt_title(receipt: str, language: str) -> str:
    """The receipt page's headline for the report now, in ``language``."""

    def title() -> str:
        with translation.override(language):
            return str(progress_of(Report.objects.get(receipt=receipt)).title)

    return orm(title)


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_whole_loop_on_phones_names_the_place_and_keeps_every_promise(
    live: Live, phone: Callable[..., Page], language: str
) -> None:
    orm(lambda: people(language))
    with translation.override(language):
        from django.utils.translation import gettext

        on_my_way = gettext("I'm on my way")

    # The reporter: no GPS, no map; types part of the name as people say it.
    reporter = phone(language)
    reporter.goto("/report/")
    assert reporter.evaluate("document.documentElement.lang") == language
    fits(reporter)
    reporter.fill("#where", "chavez")
    reporter.click("#where-find")
    reporter.locator("#where-results button", has_text=CAR_WASH[language]).click()
    expect(reporter.locator("#place-status")).to_contain_text(CAR_WASH[language])
    assert reporter.evaluate("() => !window.tocsinPickMap"), "the map loaded without being asked"
    fits(reporter)
    reporter.check("input[name=kind][value=workplace_raid]")
    reporter.fill("textarea[name=text]", "Vans at the car wash.")
    submit(reporter, "#submit-report")
    assert re.search(r"/report/[A-Z0-9]+/$", reporter.url), reporter.url
    receipt = reporter.locator("#receipt").inner_text().strip()
    says_the_place(reporter, "[data-testid=where]", language)
    wait_live(reporter)
    expect(reporter.locator("[data-testid=progress-title]")).to_have_text(
        receipt_title(receipt, language)
    )

    # The dispatcher: the card on the desk says where, then the incident page.
    desk = phone(language, "Diego")
    desk.goto("/desk/")
    wait_live(desk)
    card = desk.locator("[data-report]", has_text=receipt)
    expect(card).to_contain_text(CAR_WASH[language])
    fits(desk)
    submit(desk, card.locator("button").filter(has_text=re.compile(".")).first)
    found = re.search(r"/desk/incidents/(\d+)/$", desk.url)
    assert found, desk.url
    incident_id = int(found.group(1))
    wait_live(desk)
    says_the_place(desk, "#panel [data-testid=where]", language)
    # Its promises: ask a verifier, confirm, false alarm.
    expect(desk.locator("button[name=state][value=confirmed]")).to_be_visible()
    expect(desk.locator("button[name=state][value=unfounded]")).to_be_visible()
    vera_row = desk.locator("#panel table.candidates tr", has_text="Vera")
    within_reach(vera_row.locator("button"))
    submit(desk, vera_row.locator("button"))
    wait_live(desk)
    expect(desk.locator("#panel [data-testid=state]")).to_have_text(
        state_label("verifying", language)
    )
    fits(desk)
    expect(reporter.locator("[data-testid=progress-title]")).to_have_text(
        receipt_title(receipt, language)
    )

    # The verifier, from the street: where, and the three answers.
    vera_id = orm(lambda: Member.objects.get(display_name="Vera").pk)
    verifier = phone(language)
    verifier.goto(f"/v/{verify_link_token(member_id=vera_id, incident_id=incident_id)}/")
    says_the_place(verifier, "[data-testid=place]", language)
    for answer in ("confirmed", "police", "nothing"):
        expect(verifier.locator(f"[data-testid=answer-{answer}]")).to_be_visible()
    submit(verifier, "[data-testid=answer-confirmed]")
    expect(verifier.locator("[data-testid=answered]")).to_be_visible()
    fits(verifier)
    assert orm(lambda: Incident.objects.get(pk=incident_id).state) == State.CONFIRMED

    # The desk follows: resolved is offered now, confirm is not.
    expect(desk.locator("button[name=state][value=resolved]")).to_be_visible()
    expect(desk.locator("button[name=state][value=confirmed]")).to_have_count(0)
    expect(reporter.locator("[data-testid=progress-title]")).to_have_text(
        receipt_title(receipt, language)
    )

    # A member and a responder open their alerts: where, and "I'm on my way".
    def alert_path(name: str) -> str:
        member = Member.objects.get(display_name=name)
        return urlsplit(alert_url(member_id=member.pk, incident_id=incident_id)).path

    member = phone(language)
    member.goto(orm(lambda: alert_path("Mateo")))
    wait_live(member)
    says_the_place(member, "[data-testid=where]", language)
    expect(member.locator("#on-my-way")).to_have_text(on_my_way)
    submit(member, "#on-my-way")
    fits(member)

    responder = phone(language)
    responder.goto(orm(lambda: alert_path("Rosa")))
    wait_live(responder)
    says_the_place(responder, "[data-testid=where]", language)
    responder.select_option("select[name=role]", "legal_observer")
    submit(responder, "#on-my-way")
    fits(responder)
    expect(desk.locator("#panel tr[data-role=member] td.n-way")).to_have_text("1")
    expect(desk.locator("#panel tr[data-role=legal_observer] td.n-way")).to_have_text("1")

    # Resolved: the receipt shows the outcome, live.
    submit(desk, "button[name=state][value=resolved]")
    wait_live(desk)
    expect(desk.locator("#panel [data-testid=state]")).to_have_text(
        state_label("resolved", language)
    )
    fits(desk)
    resolved = receipt_title(receipt, language)
    expect(reporter.locator("[data-testid=progress-title]")).to_have_text(resolved)
    expect(reporter.locator("[data-testid=progress]")).to_have_attribute(
        "data-progress", "resolved"
    )
    assert orm(lambda: Incident.objects.get(pk=incident_id).state) == State.RESOLVED
    fits(reporter)
