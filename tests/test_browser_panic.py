"""The panic button end to end, in Chromium at a phone's size, in English and Spanish.

Mateo prepares his family plan: Ana (email) and Beto (SMS) are his emergency contacts and
agree from the links in their messages; he sets a PIN. He presses the panic button: after
the few seconds to stop it, both get "Mateo needs help, call the legal line" through the
worker and the local SMTP and SMS peers. He cancels it with his PIN: both hear it was a
mistake. Then again with the phone offline: the press waits, and is sent when the phone is
back online.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import BrowserContext, Page, expect

from tests import factories
from tests.browser_support import WAIT_S, links_in, orm, text_of, wait_until
from tests.peers.sms_provider import SmsProvider, running, use_twilio
from tests.test_browser_loop import (  # noqa: F401 (fixtures)
    Live,
    browser,
    live,
    new_context,
    push,
    smtp,
    submit,
)
from tocsin.family.models import EmergencyContact, Trigger

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 360, "height": 740}
NUMBER = "+12135550142"
HOTLINE = "+12135550100"
PIN = "2468"
# The panic page's countdown (data-wait="5" in templates/family/panic.html), in ms.
COUNTDOWN_MS = 5000

WORDS = {
    "en": {
        "ask": "Mateo asks you to be an emergency contact",
        "ask_sms": "mateo asks you to be their emergency contact",
        "agree": "I agree",
        "thanks": "Thank you.",
        "not_agreed": "has not agreed yet: not alerted",
        "agreed": "agreed",
        "help": "Mateo needs help",
        "help_sms": f"mateo needs help. call the legal line {HOTLINE}.",
        "sent": "We are alerting your contacts.",
        "queued": "No connection: it will be sent as soon as the phone is back online.",
        "mistake": "Mateo: it was a mistake",
        "mistake_sms": "mateo is fine",
        "cancelled": "Cancelled. Everyone alerted hears it was a mistake.",
        "reached": "sent",
    },
    "es": {
        "ask": "Mateo le pide que sea su contacto de emergencia",
        "ask_sms": "mateo le pide que sea su contacto de emergencia",
        "agree": "Acepto",
        "thanks": "Gracias.",
        "not_agreed": "aún no acepta: no recibe la alerta",
        "agreed": "aceptó",
        "help": "Mateo necesita ayuda",
        "help_sms": f"mateo necesita ayuda. llame a la linea legal {HOTLINE}.",
        "sent": "Estamos alertando a sus contactos.",
        "queued": "Sin conexión: se enviará en cuanto el teléfono vuelva a tener conexión.",
        "mistake": "Mateo: fue un error",
        "mistake_sms": "mateo esta bien",
        "cancelled": "Cancelado. Todas las personas alertadas sabrán que fue un error.",
        "reached": "enviado",
    },
}


def plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@pytest.fixture
def sms(settings: Any) -> Iterator[SmsProvider]:
    # Before the live server and worker start: SMS is on from the first page.
    with running() as peer:
        yield use_twilio(settings, peer)


def signed_in(ctx: BrowserContext, server: Live, who: Any) -> None:
    def session() -> str:
        client = factories.session_for(who)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    ctx.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": orm(session), "url": server.url}]
    )


def fits_the_phone(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


def sms_to(peer: SmsProvider, after: int, words: str) -> str:
    def found() -> str | None:
        for sent in peer.messages[after:]:
            if sent.to == NUMBER and words in plain(sent.body):
                return sent.body
        return None

    return wait_until(found, f"an SMS saying {words!r}", timeout=WAIT_S)


def email_to(server: Live, subject: str, count: int = 1) -> str:
    def found() -> str | None:
        mails = [m for m in server.smtp.to("ana@example.org") if m["Subject"] == subject]
        return text_of(mails[-1]) if len(mails) >= count else None

    return wait_until(found, f"an email {subject!r}", timeout=WAIT_S)


def add_contact(page: Page, label: str, kind: str, address: str, language: str) -> None:
    page.fill("#id_label", label)
    page.select_option("#id_kind", kind)
    page.fill("#id_address", address)
    page.select_option("#id_contact_language", language)
    submit(page, "#contact-form button")


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_member_prepares_a_plan_and_presses_the_panic_button(
    sms: SmsProvider,
    live: Live,  # noqa: F811
    new_context: Callable[..., BrowserContext],  # noqa: F811
    language: str,
) -> None:
    words = WORDS[language]

    def scene() -> Any:
        w = factories.world()
        w.east.hotline_numbers = [HOTLINE]
        w.east.save()
        w.member.language = language
        w.member.save()
        return w

    w = orm(scene)

    # Mateo prepares his plan on his phone.
    ctx = new_context(viewport=PHONE, locale=language)
    signed_in(ctx, live, w.member)
    mateo = ctx.new_page()
    mateo.goto("/me/family/")
    fits_the_phone(mateo)
    add_contact(mateo, "Ana", "email", "ana@example.org", language)
    add_contact(mateo, "Beto", "sms", "(213) 555-0142", language)
    expect(mateo.locator("#contacts")).to_contain_text(words["not_agreed"])
    mateo.fill("#id_children", "Ana picks up Luis at Soto school")
    mateo.check("#id_legal_may_see_plan")
    submit(mateo, "#plan-form button")
    mateo.fill("#id_pin", PIN)
    mateo.fill("#id_again", PIN)
    submit(mateo, "#pin-form button")
    fits_the_phone(mateo)

    # Both contacts agree from the links in their messages.
    [ana_link] = links_in(email_to(live, words["ask"]), live.url)
    [beto_link] = links_in(sms_to(sms, 0, words["ask_sms"]), live.url)
    for link in (ana_link, beto_link):
        contact = new_context(viewport=PHONE, locale=language).new_page()
        contact.goto(link)
        fits_the_phone(contact)
        submit(contact, contact.get_by_role("button", name=words["agree"]))
        expect(contact.locator("#agreed")).to_contain_text(words["thanks"])
    assert orm(lambda: EmergencyContact.objects.confirmed().count()) == 2
    mateo.reload()
    expect(mateo.locator("#contacts")).not_to_contain_text(words["not_agreed"])

    # He presses the panic button: a few seconds to stop it, then both hear at once. The
    # page's clock is Playwright's from here on, so the test runs the countdown's seconds
    # (its timer fires each one) rather than waits them out.
    ctx.clock.install()
    mateo.goto("/me/family/panic/")
    fits_the_phone(mateo)
    before = len(sms.messages)
    mateo.click("#panic-button")
    ctx.clock.run_for(COUNTDOWN_MS)
    expect(mateo.locator("#panic-sent")).to_have_text(words["sent"], timeout=WAIT_S * 1000)
    assert words["help"] in email_to(live, words["help"])
    # Nothing about the detention: the name and the legal line, nothing more.
    assert plain(sms_to(sms, before, words["help_sms"])) == words["help_sms"]
    assert orm(lambda: Trigger.objects.get().kind) == "button"
    # Once both went out, his page says so, contact by contact.
    mateo.reload()
    expect(mateo.locator("[data-testid=calls] strong")).to_have_text([words["reached"]] * 2)

    # It was a mistake: he cancels with his PIN, and both hear it.
    before = len(sms.messages)
    mateo.fill("#id_pin", PIN)
    submit(mateo, "#cancel-form button")
    expect(mateo.locator(".messages")).to_contain_text(words["cancelled"])
    email_to(live, words["mistake"])
    sms_to(sms, before, words["mistake_sms"])

    # Again with no connection: the page opens from the service worker's copy, the press
    # waits, and goes when the phone is back online.
    assert mateo.evaluate("navigator.serviceWorker.ready.then(r => Boolean(r.active))")
    mateo.goto("/me/family/panic/")
    ctx.set_offline(True)
    mateo.goto("/me/family/panic/")
    mateo.click("#panic-button")
    ctx.clock.run_for(COUNTDOWN_MS)
    expect(mateo.locator("#panic-status")).to_have_text(words["queued"], timeout=WAIT_S * 1000)
    assert orm(lambda: Trigger.objects.filter(cancelled_at__isnull=True).count()) == 0
    before = len(sms.messages)
    ctx.set_offline(False)
    expect(mateo.locator("#panic-sent")).to_have_text(words["sent"], timeout=WAIT_S * 1000)
    email_to(live, words["help"], count=2)
    sms_to(sms, before, words["help_sms"])
    assert orm(lambda: Trigger.objects.filter(cancelled_at__isnull=True).count()) == 1
