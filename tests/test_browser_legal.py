"""The legal team works a case in Chromium at a phone's size, in English and Spanish.

Lucia (East's legal team, the lawyer on call) opens a case from a call; the worker tells
her by email that someone needs help, with only a signed link; the link opens the case.
She works its tasks: the lawyer contact, the locator check (not found, then found: the
case is located), a court date that becomes a members-only accompaniment. An interpreter
for Mam is found on call in one step and sent the call; she came. The case moves through
its states to closed, and the timeline tells the story.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from tests import factories
from tests.browser_support import links_in, orm
from tests.test_browser_coverage import email_starting
from tests.test_browser_loop import (  # noqa: F401 (fixtures)
    Live,
    browser,
    live,
    new_context,
    push,
    smtp,
    submit,
)
from tests.test_browser_mobilize import PHONE, fits_the_phone, local_input, signed_in
from tocsin.committees.models import Duty, Role, Shift
from tocsin.legal import interpreters
from tocsin.legal.models import Case, InterpreterCall, Task, TaskKind
from tocsin.members.models import Member
from tocsin.mobilize.planned import Mobilization

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = {
    "en": {
        "cases": "Legal cases of East",
        "lawyer_on_call": "Lawyer on call now: Lucia",
        "new_case": "Someone needs legal help",
        "case": "Case L-",
        "located": "Located",
        "interpreter_mail": "Interpreter needed: Mam",
        "closed": "Closed",
        "timeline": "Lawyer notified",
    },
    "es": {
        "cases": "Casos legales de East",
        "lawyer_on_call": "Abogado de turno ahora: Lucia",
        "new_case": "Alguien necesita ayuda legal",
        "case": "Caso L-",
        "located": "Localizado",
        "interpreter_mail": "Se necesita intérprete: Mam",
        "closed": "Cerrado",
        "timeline": "Abogado avisado",
    },
}


def phone_page(make: Callable[..., BrowserContext], server: Live, who: Member) -> Page:
    ctx = make(viewport=PHONE)
    signed_in(ctx, server, who)
    return ctx.new_page()


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_legal_team_works_a_case_to_closure_with_a_mam_interpreter(
    live: Live,  # noqa: F811
    new_context: Callable[..., BrowserContext],  # noqa: F811
    language: str,
) -> None:
    words = WORDS[language]
    w = orm(factories.world)

    def people() -> tuple[Member, Member]:
        lucia = factories.member(
            "Lucia", w.east, Role.LEGAL, email="lucia@example.org", language=language
        )
        marta = factories.member("Marta", w.east, email="marta@example.org", language=language)
        interpreters.set_languages(marta, ["mam"], interprets=True)
        now = timezone.now()
        for who, duty in ((lucia, Duty.LAWYER), (marta, Duty.INTERPRETER)):
            Shift.objects.create(
                committee=w.east,
                member=who,
                duty=duty,
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=6),
            )
        return lucia, marta

    lucia, marta = orm(people)

    # A call comes in: Lucia opens the case on her phone.
    page = phone_page(new_context, live, lucia)
    page.goto("/legal/east/")
    fits_the_phone(page)
    expect(page.locator("h1")).to_have_text(words["cases"])
    expect(page.locator("main")).to_contain_text(words["lawyer_on_call"])
    page.fill("#id_who", "Maria Tzunun")
    page.fill("#id_a_number", "A-204-555-913")
    page.fill("#id_country_of_birth", "Guatemala")
    page.fill("#id_language", "Mam")
    page.check("#id_consent")
    submit(page, "form[action$='/new/'] button")
    case = orm(lambda: Case.objects.get())
    expect(page.locator("h1")).to_contain_text(words["case"])
    fits_the_phone(page)

    # The worker tells her, with nothing but a signed link; the link opens the case.
    mail = email_starting(live, "lucia@example.org", words["new_case"])
    assert "Maria" not in mail and "A-204" not in mail
    [link] = [u for u in links_in(mail, live.url) if "/legal/link/" in u]
    page.goto(link)
    assert page.url.endswith(f"/legal/east/{case.pk}/")
    expect(page.locator("[data-field='a_number']")).to_have_text("A-204-555-913")

    # The tasks: the lawyer contact, then the locator (not found, then found).
    lawyer_task = orm(lambda: Task.objects.get(case=case, kind=TaskKind.LAWYER))
    submit(page, f"[data-task='{lawyer_task.pk}'] button")
    locator = orm(lambda: Task.objects.get(case=case, kind=TaskKind.LOCATOR))
    expect(page.locator(f"[data-task='{locator.pk}'] a[href*='locator.ice.gov']")).to_be_visible()
    submit(page, f"[data-task='{locator.pk}'] button[name='found'][value='0']")
    again = orm(lambda: Task.objects.get(case=case, kind=TaskKind.LOCATOR, done_at__isnull=True))
    submit(page, f"[data-task='{again.pk}'] button[name='found'][value='1']")
    expect(page.locator("[data-state]")).to_contain_text(words["located"])

    # A court date, made into an accompaniment for the committee's members.
    page.locator("details summary").first.click()
    page.select_option("#id_kind", "court")
    page.fill("#id_text", "Immigration court, room 5")
    page.fill("#id_due_at", local_input(timezone.now() + timedelta(days=3)))
    submit(page, "form[action$='/tasks/'] button")
    court = orm(lambda: Task.objects.get(case=case, kind=TaskKind.COURT))
    page.fill(f"#where-{court.pk}", "Federal building steps")
    submit(page, f"[data-task='{court.pk}'] form[action$='/mobilize/'] button")
    m = orm(lambda: Mobilization.objects.get())
    assert m.visibility == "members" and "Maria" not in m.title
    fits_the_phone(page)

    # An interpreter for Mam, found on call in one step and sent the call; she came.
    page.select_option("form[action$='/interpreters/'] select", "mam")
    submit(page, "form[action$='/interpreters/'] button")
    fits_the_phone(page)
    submit(page, f"[data-interpreter='{marta.pk}'] button")
    email_starting(live, "marta@example.org", words["interpreter_mail"])
    call = orm(lambda: InterpreterCall.objects.get())
    submit(page, f"[data-call='{call.pk}'] button")
    assert orm(lambda: InterpreterCall.objects.get().came_at) is not None

    # Represented, released, closed.
    for state in ("represented", "released", "closed"):
        page.select_option("#id_state", state)
        submit(page, "form[action$='/state/'] button")
    expect(page.locator("[data-state]")).to_contain_text(words["closed"])
    expect(page.locator("ol.timeline")).to_contain_text(words["timeline"])
    assert page.locator("ol.timeline li[data-event='state']").count() == 4
    fits_the_phone(page)
