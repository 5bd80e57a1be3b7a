"""The escalation ladder with stand-down on a confirmed incident, in Chromium at a phone's
size, in English and Spanish (issue 16).

A checkpoint is confirmed: Mateo, Lucia (members) and Rosa (a responder) near it are
alerted. On his phone the dispatcher opens the escalation page from the incident: each
rung shows how many people it reaches before he taps it. Responders further out (Fede),
then every member of the committee (Carmen, far away, and the staff); he needs one member
as an observer. Mateo answers "on my way" from his email: Lucia and Carmen, alerted and
silent, get "enough people are there" by email in their language, and the dispatcher's
live headcount says so. He re-opens the call: they are called again. The public call at
Mariachi Plaza waits for a second staff member; the organizer approves it on her desk,
and its public page shows only counts. Every message goes through the worker to the local
SMTP peer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import BrowserContext, Page, expect

from tests import factories
from tests.browser_support import links_in, orm, text_of, wait_until
from tests.test_browser_loop import (  # noqa: F401 (fixtures)
    Live,
    browser,
    live,
    new_context,
    push,
    smtp,
    submit,
)
from tocsin.committees.models import Role
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report
from tocsin.incidents.services import change_state
from tocsin.members.models import Member
from tocsin.mobilize import services
from tocsin.mobilize.escalation import LadderStep, Step
from tocsin.mobilize.models import ResponderRole, ResponseState
from tocsin.places.models import Place, PlaceKind

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 360, "height": 740}
FAR = (factories.EAST[0], factories.EAST[1] + 0.07)

WORDS = {
    "en": {
        "confirmed": "Confirmed:",
        "enough": "Enough people are there:",
        "enough_cell": "Enough people are there, thank you",
        "reach_responders": "Reaches 1 person not alerted yet.",
        "reach_members": "Reaches 3 people not alerted yet.",
        "stand_down": "you can stand down",
        "on_the_way": "1 responder or member is on the way",
        "two_on_the_way": "2 responders and members are on the way",
        "guidance": "Do not interfere",
    },
    "es": {
        "confirmed": "Alerta confirmada:",
        "enough": "Ya hay suficientes personas:",
        "enough_cell": "Ya hay suficientes personas, gracias",
        "reach_responders": "Llega a 1 persona sin alertar todavía.",
        "reach_members": "Llega a 3 personas sin alertar todavía.",
        "stand_down": "puede retirarse",
        "on_the_way": "1 brigadista o miembro en camino",
        "two_on_the_way": "2 brigadistas y miembros en camino",
        "guidance": "No interfiera",
    },
}


def signed_in(ctx: BrowserContext, server: Live, who: Member) -> None:
    def session() -> str:
        client = factories.session_for(who, strong=True)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    ctx.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": orm(session), "url": server.url}]
    )


def fits_the_phone(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    wide = page.evaluate(
        "w => [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > w)"
        ".map(e => e.tagName + '.' + e.className + ' ' + e.textContent.slice(0, 40))",
        PHONE["width"],
    )
    assert width <= PHONE["width"], f"{page.url} is {width} px wide: {wide[:8]}"


def mails(server: Live, address: str, subject_start: str) -> list[Any]:
    return [m for m in server.smtp.to(address) if m["Subject"].startswith(subject_start)]


def wait_mails(server: Live, address: str, subject_start: str, n: int = 1) -> list[Any]:
    return wait_until(
        lambda: found if len(found := mails(server, address, subject_start)) >= n else None,
        f"{n} email(s) {subject_start!r} to {address}",
    )


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_escalation_ladder_with_stand_down_on_a_confirmed_incident(
    live: Live,  # noqa: F811
    new_context: Callable[..., BrowserContext],  # noqa: F811
    language: str,
    settings: Any,
) -> None:
    words = WORDS[language]
    # The public call's count shows from 1 here, so its live change can be watched; that
    # small counts are hidden in public is tests/test_public_counts.py's and
    # tests/test_escalation.py's.
    settings.PUBLIC_MIN_COUNT = 1

    def scene() -> tuple[factories.World, int, dict[str, Member]]:
        w = factories.world()
        Member.objects.update(language=language)
        people = {
            "lucia": factories.member(
                "Lucia", w.east, area=factories.EAST, email="lucia@example.org", language=language
            ),
            "fede": factories.member(
                "Fede",
                w.east,
                Role.RESPONDER,
                area=FAR,
                email="fede@example.org",
                language=language,
            ),
            "carmen": factories.member(
                "Carmen", w.east, area=FAR, email="carmen@example.org", language=language
            ),
        }
        Place.objects.create(
            committee=w.east,
            name="Mariachi Plaza",
            kind=PlaceKind.OTHER,
            lat=34.0472,
            lng=-118.2196,
        )
        w = factories.World(
            **{
                k: Member.objects.get(pk=v.pk) if isinstance(v, Member) else v
                for k, v in vars(w).items()
            }
        )
        report = receive_report(
            channel="web", kind="checkpoint", lat=factories.EAST[0], lng=factories.EAST[1]
        )
        incident = factories.own_incident(report, w.dispatcher)
        change_state(incident, State.CONFIRMED, actor=w.dispatcher)
        return w, incident.pk, people

    w, incident_id, people = orm(scene)
    mateo_mail = wait_mails(live, "mateo@example.org", words["confirmed"])[0]
    wait_mails(live, "lucia@example.org", words["confirmed"])

    # The dispatcher, on his phone: from the incident to its escalation page.
    ctx = new_context(viewport=PHONE, locale=language)
    signed_in(ctx, live, w.dispatcher)
    desk = ctx.new_page()
    desk.goto(f"/desk/incidents/{incident_id}/")
    submit(desk, "[data-testid=escalation-link]")
    assert desk.url.endswith(f"/desk/incidents/{incident_id}/escalation/")
    fits_the_phone(desk)

    # Rung 1: the reach is shown before the tap; Fede, further out, is alerted.
    responders = desk.locator("[data-rung=responders]")
    expect(responders.locator("[data-testid=reach]")).to_have_text(words["reach_responders"])
    assert mails(live, "fede@example.org", words["confirmed"]) == []
    submit(desk, responders.locator("[data-testid=take-rung]"))
    wait_mails(live, "fede@example.org", words["confirmed"])
    expect(responders.locator("[data-testid=rung-done]")).to_be_visible()

    # Rung 2: every member nobody alerted yet (Carmen and the two staff), once each.
    members = desk.locator("[data-rung=members]")
    expect(members.locator("[data-testid=reach]")).to_have_text(words["reach_members"])
    submit(desk, members.locator("[data-testid=take-rung]"))
    wait_mails(live, "carmen@example.org", words["confirmed"])
    assert len(mails(live, "mateo@example.org", words["confirmed"])) == 1

    # One member as an observer is enough.
    desk.fill("#needed_member", "1")
    submit(desk, "[data-testid=save-quorum]")
    fits_the_phone(desk)
    desk.wait_for_function("() => (window.__liveUpdates || 0) >= 1")
    headcount = desk.locator("[data-part=headcount] tr[data-role=member]")
    expect(headcount.locator("[data-testid=enough]")).to_have_count(0)

    # Mateo is on his way, from the link in his email.
    link = next(u for u in links_in(text_of(mateo_mail), live.url) if "/a/" in u)
    mateo = new_context(viewport=PHONE, locale=language).new_page()
    mateo.goto(link)
    submit(mateo, "#on-my-way")
    fits_the_phone(mateo)
    expect(mateo.locator("tr[data-role=member] [data-testid=enough]")).to_have_text(
        words["enough_cell"]
    )

    # Lucia and Carmen, alerted and silent, stand down; Rosa (a responder) does not.
    for who in ("lucia", "carmen"):
        [told] = wait_mails(live, f"{who}@example.org", words["enough"])
        assert words["stand_down"] in text_of(told)
    assert mails(live, "rosa@example.org", words["enough"]) == []
    assert mails(live, "mateo@example.org", words["enough"]) == []
    # The dispatcher's page says so, live.
    expect(headcount.locator("[data-testid=enough]")).to_have_text(words["enough_cell"])

    # He re-opens the call: the two are called again.
    desk.reload()
    submit(desk, "[data-testid=reopen-member]")
    wait_mails(live, "lucia@example.org", words["confirmed"], n=2)
    wait_mails(live, "carmen@example.org", words["confirmed"], n=2)
    expect(desk.locator("[data-part=headcount] [data-testid=enough]")).to_have_count(0)

    # Rung 3: a public call at Mariachi Plaza waits for a second staff member.
    public = desk.locator("[data-rung=public]")
    public.locator("select[name=place]").select_option(label="Mariachi Plaza")
    submit(desk, public.locator("[data-testid=take-rung]"))
    expect(public.locator("[data-testid=rung-waiting]")).to_be_visible()

    organizer_ctx = new_context(viewport=PHONE, locale=language)
    signed_in(organizer_ctx, live, w.organizer)
    olga = organizer_ctx.new_page()
    olga.goto(f"/desk/incidents/{incident_id}/")
    expect(olga.locator("[data-testid=approval-rung]")).to_be_visible()
    submit(olga, olga.locator("[data-approval] button[value=approve]"))
    assert orm(lambda: LadderStep.objects.get(incident_id=incident_id, step=Step.PUBLIC).done_at)

    desk.reload()
    submit(desk, public.locator("[data-testid=public-page]"))
    assert re.search(r"/m/\d+/$", desk.url), desk.url

    # Anyone opens the public call: counts only.
    stranger = new_context(viewport=PHONE, locale=language).new_page()
    stranger.goto(desk.url)
    fits_the_phone(stranger)
    expect(stranger.locator("h1")).to_contain_text("Mariachi Plaza")
    expect(stranger.locator(".description")).to_contain_text(words["guidance"])
    expect(stranger.locator("[data-testid=call-headcount]")).to_contain_text(words["on_the_way"])
    expect(stranger.locator("main")).not_to_contain_text("Mateo")
    # Rosa sets out as a legal observer: the open page counts her, live, still no names.
    stranger.wait_for_function("() => (window.__liveUpdates || 0) >= 1")
    orm(
        lambda: services.respond(
            Incident.objects.get(pk=incident_id),
            Member.objects.get(pk=w.responder.pk),
            role=ResponderRole.LEGAL_OBSERVER,
            state=ResponseState.ON_MY_WAY,
            eta_minutes=5,
        )
    )
    expect(stranger.locator("[data-testid=call-headcount]")).to_contain_text(
        words["two_on_the_way"]
    )
    expect(stranger.locator("main")).not_to_contain_text("Rosa")
