"""On-call coverage in Chromium at a phone's size, in English and Spanish.

The organizer plans an open responder slot that starts within the hour; the dispatcher's
coverage page lists it and says the area is not covered now; the responder signs up on
their on-call page and the worker reminds them once, by email, in their language; they
offer the shift, the dispatcher takes it, and the responder is told; the coverage page
shows the swap.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from tests import factories
from tests.browser_support import orm, text_of, wait_until
from tests.test_browser_loop import (  # noqa: F401 (fixtures)
    Live,
    browser,
    live,
    new_context,
    push,
    smtp,
    submit,
)
from tests.test_browser_mobilize import PHONE, fits_the_phone, signed_in
from tocsin.committees.models import Shift
from tocsin.members.models import Member

pytestmark = pytest.mark.django_db(transaction=True)

LA = ZoneInfo("America/Los_Angeles")

WORDS = {
    "en": {
        "coverage": "Coverage: East",
        "not_covered": "Not covered now",
        "open_slot": "open slot",
        "sign_up": "Sign up",
        "signed_up": "You are signed up for this shift.",
        "reminder": "Your shift starts soon",
        "offer": "Offer to swap",
        "take": "Take this shift",
        "taken": "Your shift was taken over",
        "swap": "Diego took over Rosa's shift",
    },
    "es": {
        "coverage": "Cobertura: East",
        "not_covered": "Sin cubrir ahora",
        "open_slot": "turno libre",
        "sign_up": "Inscribirse",
        "signed_up": "Usted está inscrito en este turno.",
        "reminder": "Su turno empieza pronto",
        "offer": "Ofrecer para cambiar",
        "take": "Tomar este turno",
        "taken": "Otra persona tomó su turno",
        "swap": "Diego tomó el turno de Rosa",
    },
}


def email_starting(server: Live, address: str, subject: str) -> str:
    def found() -> str | None:
        for mail in server.smtp.to(address):
            if mail["Subject"].startswith(subject):
                return text_of(mail)
        return None

    return wait_until(found, f"an email {subject!r} to {address}")


def phone_page(make: Callable[..., BrowserContext], server: Live, who: Member) -> Page:
    ctx = make(viewport=PHONE)
    signed_in(ctx, server, who)
    return ctx.new_page()


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_slot_signed_up_for_reminded_and_swapped(
    live: Live,  # noqa: F811
    new_context: Callable[..., BrowserContext],  # noqa: F811
    language: str,
) -> None:
    words = WORDS[language]
    w = orm(factories.world)
    orm(lambda: Member.objects.update(language=language))
    start = (timezone.now() + timedelta(minutes=50)).astimezone(LA)

    # The organizer plans an open responder slot, on her phone.
    olga = phone_page(new_context, live, w.organizer)
    olga.goto("/c/east/")
    fits_the_phone(olga)
    olga.select_option("#id_duty", "responder")
    olga.select_option("#id_member", "")
    olga.fill("#id_starts_at", start.strftime("%Y-%m-%dT%H:%M"))
    olga.fill("#id_hours", "4")
    submit(olga, "form[action$='/shifts/'] button")
    expect(olga.locator("ul.shifts")).to_contain_text(words["open_slot"])

    # The dispatcher's coverage page: the area has no responder now, and the slot is open.
    diego = phone_page(new_context, live, w.dispatcher)
    diego.goto("/c/east/coverage/")
    fits_the_phone(diego)
    expect(diego.locator("h1")).to_have_text(words["coverage"])
    expect(diego.locator("main")).to_contain_text(words["not_covered"])
    slot = orm(lambda: Shift.objects.get())
    expect(diego.locator(f"[data-slot='{slot.pk}']")).to_be_visible()

    # The responder signs up; the worker reminds her once, in her language.
    rosa = phone_page(new_context, live, w.responder)
    rosa.goto("/c/east/on-call/")
    fits_the_phone(rosa)
    expect(rosa.locator(f"[data-slot='{slot.pk}'] button")).to_have_text(words["sign_up"])
    submit(rosa, f"[data-slot='{slot.pk}'] button")
    expect(rosa.locator("main")).to_contain_text(words["signed_up"])
    reminder = email_starting(live, "rosa@example.org", words["reminder"])
    assert "/c/east/on-call/" in reminder

    # She offers it; the dispatcher takes it; she is told.
    expect(rosa.locator(f"[data-mine='{slot.pk}'] button")).to_have_text(words["offer"])
    submit(rosa, f"[data-mine='{slot.pk}'] button")
    diego.goto("/c/east/on-call/")
    fits_the_phone(diego)
    expect(diego.locator(f"[data-offered='{slot.pk}'] button")).to_have_text(words["take"])
    submit(diego, f"[data-offered='{slot.pk}'] button")
    email_starting(live, "rosa@example.org", words["taken"])
    assert orm(lambda: Shift.objects.get().member_id) == w.dispatcher.pk
    reminders = [m for m in live.smtp.to("rosa@example.org") if words["reminder"] in m["Subject"]]
    assert len(reminders) == 1

    # The organizer sees the swap on the coverage page.
    olga.goto("/c/east/coverage/")
    expect(olga.locator(f"[data-swap='{slot.pk}']")).to_contain_text(words["swap"])
