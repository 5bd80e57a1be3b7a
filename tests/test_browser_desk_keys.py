"""The dispatcher's desk from the keyboard, in Chromium against the real app: a report is
opened, a verifier sent and the incident confirmed without touching the mouse, and a key
alone never acts (it only moves the focus; Enter acts)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from tests import factories
from tests.browser_support import orm, wait_until
from tests.factories import EAST
from tests.test_browser_loop import (  # noqa: F401 (fixtures)
    Live,
    browser,
    live,
    log_in,
    new_context,
    push,
    smtp,
    wait_live,
)
from tocsin.committees.models import Membership, Role, Shift
from tocsin.incidents.models import Incident, State, VerificationRequest
from tocsin.incidents.reports import receive_report as submit_report

pytestmark = pytest.mark.django_db(transaction=True)


def focused(page: Page) -> str:
    """What has the focus: its text, or the card it is."""
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.matches('.card') ? 'card:' + (e.dataset.report || '') : e.textContent.trim(); }"
    )


def key(page: Page, name: str) -> None:
    page.keyboard.press(name)


def enter_and_wait(page: Page) -> None:
    """Press Enter on a form's button and wait for the next page and its first live render."""
    with page.expect_navigation():
        page.keyboard.press("Enter")
    wait_live(page)


def updates(page: Page) -> int:
    return int(page.evaluate("() => window.__liveUpdates || 0"))


def test_a_dispatcher_opens_verifies_and_confirms_from_the_keyboard(
    live: Live,  # noqa: F811
    new_context: Callable[..., BrowserContext],  # noqa: F811
) -> None:
    def people() -> int:
        east = factories.committee("East")
        olga = factories.member("Olga", east, Role.ORGANIZER, email="olga@example.org")
        factories.member("Diego", east, Role.DISPATCHER, email="diego@example.org")
        vero = factories.member("Vero", area=EAST, email="vero@example.org")
        Membership.objects.create(committee=east, member=vero, role=Role.VERIFIER, vouched_by=olga)
        now = timezone.now()
        Shift.objects.create(
            committee=east, member=vero, starts_at=now, ends_at=now + timedelta(hours=2)
        )
        return submit_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1]).pk

    report_id = orm(people)
    desk = log_in(new_context(), live, "diego@example.org")
    desk.goto("/desk/")
    wait_live(desk)

    # ? shows the keys; j moves to the first report; Enter to its first button.
    expect(desk.locator("#keys-help")).to_be_hidden()
    key(desk, "?")
    expect(desk.locator("#keys-help")).to_be_visible()
    key(desk, "j")
    assert focused(desk) == f"card:{report_id}"
    key(desk, "Enter")
    assert focused(desk) == "Open as incident"
    enter_and_wait(desk)
    incident_id = orm(lambda: Incident.objects.get(reports__pk=report_id).pk)
    assert desk.url.endswith(f"/desk/incidents/{incident_id}/"), desk.url

    # s moves to "Ask to verify" for the first suggested verifier; nothing happens yet.
    key(desk, "s")
    assert focused(desk) == "Ask to verify"
    assert not orm(lambda: VerificationRequest.objects.exists())
    # Another report joins meanwhile: the page updates live and the focus stays put.
    seen = updates(desk)
    orm(lambda: submit_report(channel="sms", kind="checkpoint", lat=EAST[0], lng=EAST[1]))
    wait_live(desk, seen + 1)
    expect(desk.locator("[data-testid=report-summary]")).to_contain_text("2 reports")
    assert focused(desk) == "Ask to verify"
    enter_and_wait(desk)
    assert orm(lambda: VerificationRequest.objects.get().verifier.display_name) == "Vero"
    expect(desk.locator("[data-testid=state]")).to_have_text("Verifying")

    # c only moves to Confirm: a stray key never confirms a raid.
    key(desk, "c")
    assert focused(desk) == "Confirm and alert members"
    assert orm(lambda: Incident.objects.get(pk=incident_id).state) == State.VERIFYING
    enter_and_wait(desk)
    wait_until(
        lambda: orm(lambda: Incident.objects.get(pk=incident_id).state) == State.CONFIRMED,
        "the incident confirmed",
    )

    # a moves into the reply box; letters typed there are text, not keys; Escape leaves it.
    key(desk, "a")
    desk.keyboard.type("cvf")
    assert desk.locator("textarea[name=body]").input_value() == "cvf"
    key(desk, "Escape")
    key(desk, "f")
    assert focused(desk) == "False alarm"
    assert orm(lambda: Incident.objects.get(pk=incident_id).state) == State.CONFIRMED
