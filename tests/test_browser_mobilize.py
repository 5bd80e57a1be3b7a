"""A planned mobilization end to end, in Chromium at a phone's size, in English and Spanish.

An organizer publishes a vigil with one place; a stranger signs up by email and another by
SMS, with no account, and the second lands on the waiting list. The organizer moves the
vigil an hour later: both hear at once. The first cancels from the link in their email, so
the second gets the place and is told. The second's reminders (the day before, the morning
of, 30 minutes before, the thank-you) go out as their times come (moved forward here); then,
at the vigil, they scan the organizer's check-in code, and the organizer marks a member
who came from the list of people. The organizer's pages speak the run's language too (her
own setting, as a member). Every message goes through the worker to the local SMTP and SMS
peers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone
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
from tocsin.members.models import Member
from tocsin.mobilize import rsvps
from tocsin.mobilize.planned import Mobilization, Rsvp, RsvpMessage

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 360, "height": 740}
LA = ZoneInfo("America/Los_Angeles")
NUMBER = "+12135550142"
Purpose = RsvpMessage.Purpose

# What each person reads, per language (SMS compared without accents: GSM-7 drops some).
WORDS = {
    "en": {
        "signed_up_email": "We are sending an email to the address you gave",
        "signed_up_sms": "We are sending a text message to the number you gave",
        "confirmation": "Signed up: Night vigil",
        "waitlisted": "night vigil is full: you are on the waiting list",
        "changed": "Changed: Night vigil",
        "changed_sms": "changed: night vigil is now",
        "you_are_signed_up": "You are signed up.",
        "cancelled": "Your sign-up is cancelled.",
        "promoted": "a place opened: you are now signed up for night vigil",
        "day_before": "tomorrow: night vigil",
        "morning_of": "today: night vigil",
        "soon": "in 30 minutes: night vigil",
        "thanks": "thank you for coming to night vigil",
        "checked_in": "You are checked in. Thank you for coming.",
        "cancel_button": "I can't come: cancel",
        "check_in_button": "I'm here: check in",
        "sign_up_button": "Sign up",
        # Below TOCSIN_PUBLIC_MIN_COUNT the count is hidden: the places left show the change.
        "few_coming": "Fewer than 5 people are coming.",
        "places_open": "Attending: fewer than 5 places left",
        "full": "Attending: full: waiting list",
        # The organizer's pages.
        "published": "Mobilization published.",
        "choose": "- Select an option -",
        "by_area": "Shift coverage by area, next 7 days",
        "people": "People and check-in",
        "checked_in_1": "checked in: 1 · no-shows",
        "checked_in_2": "checked in: 2 · no-shows",
        "mark": "Check in",
        "marked": "Checked in.",
        "here": "here",
    },
    "es": {
        "signed_up_email": "Le enviamos un correo a la dirección que dio",
        "signed_up_sms": "Le enviamos un mensaje de texto al número que dio",
        "confirmation": "Inscrito: Vigilia nocturna",
        "waitlisted": "vigilia nocturna esta lleno: usted esta en la lista de espera",
        "changed": "Cambio: Vigilia nocturna",
        "changed_sms": "cambio: vigilia nocturna ahora es",
        "you_are_signed_up": "Usted está inscrito.",
        "cancelled": "Su inscripción está cancelada.",
        "promoted": "se abrio un lugar: ahora usted esta inscrito en vigilia nocturna",
        "day_before": "manana: vigilia nocturna",
        "morning_of": "hoy: vigilia nocturna",
        "soon": "en 30 minutos: vigilia nocturna",
        "thanks": "gracias por venir a vigilia nocturna",
        "checked_in": "Su llegada quedó registrada. Gracias por venir.",
        "cancel_button": "No puedo ir: cancelar",
        "check_in_button": "Ya llegué: registrar llegada",
        "sign_up_button": "Inscribirse",
        "few_coming": "Vienen menos de 5 personas.",
        "places_open": "Asistente: quedan menos de 5 lugares",
        "full": "Asistente: lleno: lista de espera",
        "published": "Movilización publicada.",
        "choose": "- Elija una opción -",
        "by_area": "Cobertura de turnos por área, próximos 7 días",
        "people": "Personas y llegadas",
        "checked_in_1": "llegaron: 1 · no llegaron",
        "checked_in_2": "llegaron: 2 · no llegaron",
        "mark": "Registrar llegada",
        "marked": "Llegada registrada.",
        "here": "llegó",
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
        client = factories.session_for(who, strong=True)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    ctx.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": orm(session), "url": server.url}]
    )


def fits_the_phone(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


def local_input(at: datetime) -> str:
    return at.astimezone(LA).strftime("%Y-%m-%dT%H:%M")


def sms_to(peer: SmsProvider, after: int, words: str) -> str:
    def found() -> str | None:
        for sent in peer.messages[after:]:
            if sent.to == NUMBER and words in plain(sent.body):
                return sent.body
        return None

    return wait_until(found, f"an SMS saying {words!r}", timeout=WAIT_S)


def email_to(server: Live, address: str, subject: str) -> str:
    def found() -> str | None:
        for mail in server.smtp.to(address):
            if mail["Subject"] == subject:
                return text_of(mail)
        return None

    return wait_until(found, f"an email {subject!r}", timeout=WAIT_S)


def make_due(rsvp_id: int, purpose: str) -> None:
    """Move the clock forward for one reminder: it is due now."""

    def move() -> None:
        now = timezone.now()
        updated = RsvpMessage.objects.filter(
            rsvp_id=rsvp_id, purpose=purpose, status=RsvpMessage.Status.QUEUED
        ).update(due_at=now, next_attempt_at=now)
        assert updated == 1, (purpose, updated)

    orm(move)


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_vigil_from_publishing_to_check_in(
    sms: SmsProvider,
    live: Live,  # noqa: F811
    new_context: Callable[..., BrowserContext],  # noqa: F811
    language: str,
) -> None:
    words = WORDS[language]

    def scene() -> factories.World:
        w = factories.world()
        # The organizer's pages speak her own language (a member's setting, not the
        # browser's); her browser asks for it too.
        Member.objects.filter(pk=w.organizer.pk).update(language=language)
        return w

    w = orm(scene)
    start = (
        (timezone.now() + timedelta(days=3))
        .astimezone(LA)
        .replace(hour=19, minute=0, second=0, microsecond=0)
    )

    # The organizer publishes the vigil, on her phone: one place.
    organizer = new_context(viewport=PHONE, locale=language)
    signed_in(organizer, live, w.organizer)
    olga = organizer.new_page()
    olga.goto("/c/east/mobilizations/")
    fits_the_phone(olga)
    # Django's own empty choice, which its Spanish catalogue lacks, is in ours.
    expect(olga.locator("#id_kind option").first).to_have_text(words["choose"])
    olga.select_option("#id_kind", "vigil")
    olga.fill("#id_title", "Night vigil")
    olga.fill("#id_title_es", "Vigilia nocturna")
    olga.fill("#id_description", "Bring a candle.")
    olga.fill("#id_description_es", "Traiga una vela.")
    olga.fill("#id_starts_at", local_input(start))
    olga.fill("#id_ends_at", local_input(start + timedelta(hours=2)))
    olga.fill("#id_address", "Mariachi Plaza, 1st & Boyle")
    olga.fill("#id_capacity", "1")
    submit(olga, "#publish")
    m = orm(lambda: Mobilization.objects.get())
    assert olga.url.endswith(f"/c/east/mobilizations/{m.pk}/")
    expect(olga.locator(".messages")).to_have_text(words["published"])
    assert olga.evaluate("() => document.documentElement.lang") == language
    assert orm(lambda: Mobilization.objects.get().starts_at) == start

    # Someone keeps the public page open: its count follows the sign-ups live.
    watcher_ctx = new_context(viewport=PHONE, locale=language)
    watcher = watcher_ctx.new_page()
    watcher.goto(f"/m/{m.pk}/")
    watcher.evaluate("() => { window.__sameDocument = true; }")
    expect(watcher.locator("[data-testid=counts]")).to_have_text(words["few_coming"])
    expect(watcher.locator(".places-left")).to_have_text(words["places_open"])
    # With JavaScript and push in the browser, the form also offers push on this device.
    expect(watcher.locator("#id_channel option[value=webpush]")).to_have_count(1)

    # A stranger signs up by email, on the public page, with no account and no JavaScript.
    ana_ctx = new_context(viewport=PHONE, locale=language, java_script_enabled=False)
    ana = ana_ctx.new_page()
    ana.goto(f"/m/{m.pk}/")
    fits_the_phone(ana)
    # The share QR code is drawn (an SVG without its namespace would show nothing).
    qr_width = ana.evaluate("() => document.querySelector('.share img').naturalWidth")
    assert qr_width > 0
    assert ana.locator("#id_channel option[value=webpush]").count() == 0  # no JavaScript
    ana.select_option("#id_channel", "email")
    ana.fill("#id_address", "ana@example.org")
    submit(ana, "#rsvp-button")
    expect(ana.locator("[data-testid=signed-up]")).to_contain_text(words["signed_up_email"])
    confirmation = email_to(live, "ana@example.org", words["confirmation"])
    [ana_link] = links_in(confirmation, live.url)
    expect(watcher.locator(".places-left")).to_have_text(words["full"])
    expect(watcher.locator("[data-testid=counts]")).to_have_text(words["few_coming"])
    assert watcher.evaluate("() => window.__sameDocument === true")

    # Another signs up by SMS: the vigil is full, so the waiting list.
    beto_ctx = new_context(viewport=PHONE, locale=language)
    beto = beto_ctx.new_page()
    beto.goto(f"/m/{m.pk}/")
    beto.select_option("#id_channel", "sms")
    beto.fill("#id_address", "(213) 555-0142")
    submit(beto, "#rsvp-button")
    expect(beto.locator("[data-testid=signed-up]")).to_contain_text(words["signed_up_sms"])
    sms_to(sms, 0, words["waitlisted"])
    beto_rsvp = orm(lambda: Rsvp.objects.get(kind="sms"))
    assert beto_rsvp.status == "waitlist"
    assert beto_rsvp.language == language

    # The organizer moves the vigil an hour later: both hear at once.
    before = len(sms.messages)
    olga.fill("#id_starts_at", local_input(start + timedelta(hours=1)))
    olga.fill("#id_ends_at", local_input(start + timedelta(hours=3)))
    submit(olga, "#save")
    email_to(live, "ana@example.org", words["changed"])
    sms_to(sms, before, words["changed_sms"])

    # Ana cancels from her email's link: Beto gets the place and is told.
    ana.goto(ana_link)
    expect(ana.locator("[data-testid=rsvp-status]")).to_have_text(words["you_are_signed_up"])
    fits_the_phone(ana)
    before = len(sms.messages)
    submit(ana, ana.get_by_role("button", name=words["cancel_button"]))
    expect(ana.locator("[data-testid=rsvp-status]")).to_have_text(words["cancelled"])
    promoted = sms_to(sms, before, words["promoted"])
    assert orm(lambda: Rsvp.objects.get(kind="sms").status) == "going"

    # Beto's reminders, each when its time comes.
    for purpose in (Purpose.DAY_BEFORE, Purpose.MORNING_OF, Purpose.SOON, Purpose.THANKS):
        before = len(sms.messages)
        make_due(beto_rsvp.pk, purpose)
        sms_to(sms, before, words[purpose])

    # At the vigil: Beto opens his link once, then scans the organizer's check-in code.
    [beto_link] = links_in(promoted, live.url)
    beto.goto(beto_link)
    expect(beto.locator("[data-testid=rsvp-status]")).to_have_text(words["you_are_signed_up"])
    orm(
        lambda: Mobilization.objects.filter(pk=m.pk).update(
            starts_at=timezone.now() - timedelta(minutes=5),
            ends_at=timezone.now() + timedelta(hours=1),
        )
    )

    # Mateo, a member, signs up in one tap; a place is added for him.
    def mateo_signs_up() -> int:
        Mobilization.objects.filter(pk=m.pk).update(capacity=2)
        return rsvps.sign_up(Mobilization.objects.get(pk=m.pk), member=w.member).pk

    mateo_rsvp = orm(mateo_signs_up)
    olga.goto(f"/c/east/mobilizations/{m.pk}/people/")
    expect(olga.locator("h1")).to_have_text(words["people"])
    fits_the_phone(olga)
    code_url = olga.locator(".coords").inner_text().strip()
    assert re.fullmatch(re.escape(live.url) + r"/m/\d+/here/[\w-]+/", code_url), code_url
    assert olga.locator(".qr svg").count() == 1
    beto.goto(code_url)
    submit(beto, beto.get_by_role("button", name=words["check_in_button"]))
    expect(beto.locator("[data-testid=checked-in]")).to_have_text(words["checked_in"])
    olga.reload()
    expect(olga.locator("[data-testid=counts]")).to_contain_text(words["checked_in_1"])

    # Mateo came without his phone: the organizer marks him from the list.
    mateo_card = olga.locator(f"[data-rsvp='{mateo_rsvp}']")
    expect(mateo_card).to_contain_text("Mateo")
    submit(olga, mateo_card.get_by_role("button", name=words["mark"]))
    expect(olga.locator(".messages")).to_have_text(words["marked"])
    expect(olga.locator("[data-testid=counts]")).to_contain_text(words["checked_in_2"])
    expect(olga.locator(f"[data-rsvp='{mateo_rsvp}'] strong")).to_have_text(words["here"])
    expect(olga.locator(f"[data-rsvp='{mateo_rsvp}'] button")).to_have_count(0)
    fits_the_phone(olga)
    assert orm(lambda: Rsvp.objects.get(pk=mateo_rsvp).checked_in_at) is not None
    # Nobody's address on the organizer's page.
    assert "ana@example.org" not in olga.content()
    # (The number itself, in any of its forms: the check-in link shows the server's port,
    # which was 45555 in a CI run, so "555" alone is no test.)
    shown = olga.locator("main").inner_text()
    for form in ("555-0142", "5550142", "555 0142", "(213)"):
        assert form not in shown, form

    # Her dashboard fits the phone, shift coverage by area with it.
    olga.goto("/c/east/dashboard/")
    by_area = olga.locator("[data-testid=coverage-by-area] figcaption")
    expect(by_area).to_have_text(words["by_area"])
    fits_the_phone(olga)
