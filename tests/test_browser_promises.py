"""Promises the dispatcher's incident page makes, kept in Chromium against the real app:
its state buttons follow the incident live (a verifier's confirmation replaces "Confirm
and alert members" with "Resolved") while the note being typed stays, with the focus;
and the "press ? for the keys" hint shows where there is a keyboard, not on a phone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import BrowserContext, Page, expect

from tests import factories
from tests.browser_support import orm
from tests.factories import EAST
from tests.test_browser_loop import (  # noqa: F401 (fixtures)
    PHONE,
    Live,
    browser,
    live,
    mark,
    new_context,
    push,
    smtp,
    still_same_document,
    wait_live,
)
from tocsin.committees.models import Membership, Role
from tocsin.incidents import verify
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report as submit_report

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(ctx: BrowserContext, server: Live, persona_name: str) -> None:
    """Give ``ctx`` the session of a dispatcher who proved a second factor (the login
    itself is tested in tests/test_browser_loop.py)."""

    def session() -> str:
        from tocsin.members.models import Member

        client = factories.session_for(Member.objects.get(display_name=persona_name), strong=True)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    ctx.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": orm(session), "url": server.url}]
    )


def focused_field(page: Page) -> Any:
    return page.evaluate("() => document.activeElement && document.activeElement.name")


def test_the_state_buttons_follow_the_incident_live_and_keep_the_note_being_typed(
    live: Live,  # noqa: F811
    new_context: Callable[..., BrowserContext],  # noqa: F811
) -> None:
    def people() -> int:
        east = factories.committee("East")
        olga = factories.member("Olga", east, Role.ORGANIZER, email="olga@example.org")
        factories.member("Diego", east, Role.DISPATCHER, email="diego@example.org")
        vera = factories.member("Vera", area=EAST, email="vera@example.org")
        Membership.objects.create(committee=east, member=vera, role=Role.VERIFIER, vouched_by=olga)
        report = submit_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
        assert report.incident_id is None
        from tocsin.incidents.services import open_incident

        return open_incident(report, actor=None).pk

    incident_id = orm(people)
    desk_ctx = new_context()
    signed_in(desk_ctx, live, "Diego")
    desk = desk_ctx.new_page()
    desk.goto(f"/desk/incidents/{incident_id}/")
    wait_live(desk)
    mark(desk, "__openedBefore")
    # A keyboard: the hint is there.
    expect(desk.locator(".keys-hint")).to_be_visible()

    # Diego starts the note for the alert; meanwhile a verifier is sent (another tab).
    note = desk.locator("form.actions textarea[name=summary]")
    note.click()
    desk.keyboard.type("Two vans at the")
    desk.locator("form.actions input[name=all_channels]").check()
    note.focus()

    def ask_vera() -> None:
        from tocsin.members.models import Member

        incident = Incident.objects.get(pk=incident_id)
        diego = Member.objects.get(display_name="Diego")
        verify.request(incident, Member.objects.get(display_name="Vera"), actor=diego)

    orm(ask_vera)
    expect(desk.locator("#panel [data-testid=state]")).to_have_text("Verifying")
    expect(desk.locator("button[name=state][value=verifying]")).to_have_count(0)
    # The note, the tick and the focus stayed; typing goes on where it was.
    assert focused_field(desk) == "summary"
    desk.keyboard.type(" corner")
    expect(note).to_have_value("Two vans at the corner")
    expect(desk.locator("form.actions input[name=all_channels]")).to_be_checked()

    # Vera confirms from the street: the page offers the all-clear, not "Confirm".
    def vera_confirms() -> None:
        from tocsin.members.models import Member

        req = verify.latest_request(Member.objects.get(display_name="Vera"))
        assert req is not None
        verify.record_answer(req, "confirmed", channel="web")
        assert Incident.objects.get(pk=incident_id).state == State.CONFIRMED

    orm(vera_confirms)
    expect(desk.locator("button[name=state][value=resolved]")).to_be_visible()
    expect(desk.locator("button[name=state][value=confirmed]")).to_have_count(0)
    expect(desk.locator("[data-live-announce]")).to_have_text("State: Confirmed")
    assert still_same_document(desk, "__openedBefore")

    # The forms that arrived live are shared by every viewer of this page, so they came
    # without a CSRF token; the page put its own in, and the all-clear posts.
    page_token = desk.locator("#incident-live").get_attribute("data-csrf")
    tokens = desk.locator("#incident-live input[name=csrfmiddlewaretoken]").evaluate_all(
        "fields => fields.map((f) => f.value)"
    )
    assert tokens and set(tokens) == {page_token}
    desk.locator("button[name=state][value=resolved]").click()
    expect(desk.locator("#panel [data-testid=state]")).to_have_text("Resolved")

    # On a phone (a touch screen, no hover) the keys hint is not shown.
    phone_ctx = new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    signed_in(phone_ctx, live, "Diego")
    phone = phone_ctx.new_page()
    phone.goto(f"/desk/incidents/{incident_id}/")
    assert phone.evaluate("matchMedia('(hover: none) and (pointer: coarse)').matches")
    expect(phone.locator(".keys-hint")).to_be_hidden()
    phone.goto("/desk/")
    expect(phone.locator(".keys-hint")).to_be_hidden()
