"""A join request accepted into the vouching tree, in Chromium at a phone's size, in
English and Spanish.

A stranger finds East by ZIP code from the home page, with no account and no JavaScript,
and asks to join with an email address. The organizer accepts on her phone; the worker
sends the join link to the local SMTP peer in the stranger's language; the stranger joins
through it and hangs in the vouching tree under the organizer who accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import BrowserContext, Page, expect

from tests import factories
from tests.browser_support import WAIT_S, links_in, orm, text_of, wait_until
from tests.test_browser_loop import (  # noqa: F401 (fixtures)
    Live,
    browser,
    live,
    new_context,
    push,
    smtp,
    submit,
)
from tocsin.committees.models import Committee, JoinRequest, Membership
from tocsin.members.models import Member

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 360, "height": 740}

WORDS = {
    "en": {
        "find": "Find the committee near you",
        "covers": "covers your ZIP code",
        "asked": "An organizer reads your request",
        "subject": "Welcome to East",
        "accepted": "Accepted: Ana",
    },
    "es": {
        "find": "Encuentre el comité cerca de usted",
        "covers": "cubre su código postal",
        "asked": "Un organizador lee su solicitud",
        "subject": "Le damos la bienvenida a East",
        "accepted": "Aceptada: Ana",
    },
}


def signed_in(ctx: BrowserContext, server: Live, who: Any) -> None:
    def session() -> str:
        client = factories.session_for(who, strong=True)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    ctx.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": orm(session), "url": server.url}]
    )


def fits_the_phone(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


def email_to(server: Live, address: str, subject: str) -> str:
    def found() -> str | None:
        for mail in server.smtp.to(address):
            if mail["Subject"] == subject:
                return text_of(mail)
        return None

    return wait_until(found, f"an email {subject!r}", timeout=WAIT_S)


def listed_world(language: str) -> factories.World:
    w = factories.world()
    Committee.objects.filter(pk=w.east.pk).update(listed=True)
    # The organizer's pages speak her own language (a member's setting, not the browser's).
    Member.objects.filter(pk=w.organizer.pk).update(language=language)
    return w


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_join_request_accepted_into_the_vouching_tree(
    live: Live,  # noqa: F811
    new_context: Callable[..., BrowserContext],  # noqa: F811
    language: str,
) -> None:
    words = WORDS[language]
    w = orm(lambda: listed_world(language))

    # A stranger finds East from the home page by ZIP code: no account, no JavaScript.
    ana_ctx = new_context(viewport=PHONE, locale=language, java_script_enabled=False)
    ana = ana_ctx.new_page()
    ana.goto("/")
    with ana.expect_navigation():
        ana.get_by_role("link", name=words["find"]).click()
    fits_the_phone(ana)
    ana.fill("#zip", "90033")
    submit(ana, "main form button.primary")
    east = ana.locator("[data-committee=east]")
    expect(east).to_contain_text(words["covers"])
    fits_the_phone(ana)
    with ana.expect_navigation():
        east.get_by_role("link", name="East").click()
    fits_the_phone(ana)
    expect(ana.locator("[data-testid=area]")).to_contain_text("Los Angeles, CA")
    ana.fill("#id_display_name", "Ana")
    ana.select_option("#id_channel", "email")
    ana.fill("#id_address", "ana@example.org")
    submit(ana, "#ask-button")
    expect(ana.locator("[data-testid=asked]")).to_contain_text(words["asked"])
    assert orm(lambda: JoinRequest.objects.get().language) == language

    # The organizer accepts on her phone, from the committee's page.
    olga_ctx = new_context(viewport=PHONE, locale=language)
    signed_in(olga_ctx, live, w.organizer)
    olga = olga_ctx.new_page()
    olga.goto("/c/east/")
    with olga.expect_navigation():
        olga.locator("#join-requests-link").click()
    fits_the_phone(olga)
    card = olga.locator("[data-request]")
    expect(card).to_contain_text("Ana")
    expect(card).not_to_contain_text("ana@example.org")
    submit(olga, card.locator("[data-testid=accept]"))
    expect(olga.locator("body")).to_contain_text(words["accepted"])
    expect(olga.locator("[data-testid=no-requests]")).to_have_count(1)

    # The worker sends the join link, in her language; she joins through it.
    welcome = email_to(live, "ana@example.org", words["subject"])
    [link] = [u for u in links_in(welcome, live.url) if "/join/" in u]
    ana.goto(link)
    fits_the_phone(ana)
    ana.fill("#id_display_name", "Ana")
    ana.select_option("#id_language", language)
    submit(ana, "#join")
    assert ana.url.endswith("/me/"), ana.url

    # She hangs in the vouching tree under Olga, who accepted her.
    def vouched_by() -> int | None:
        return Membership.objects.get(committee=w.east, member__display_name="Ana").vouched_by_id

    assert orm(vouched_by) == w.organizer.pk
    olga.goto("/c/east/vouching/")
    fits_the_phone(olga)
    olga_node = olga.locator("li", has=olga.locator("strong", has_text="Olga")).first
    expect(olga_node.locator("ul li strong", has_text="Ana")).to_have_count(1)
