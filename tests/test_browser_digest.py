"""The daily digest's pages in a real browser, on a 360 px phone, in English and Spanish:
sign up, confirm from the emailed link, stop from the digest's link; each page fits the
phone, has finger-sized targets and passes axe (tests/a11y_support.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.a11y_support import AXE_JS, PHONE_OPTIONS, phone_problems
from tests.browser_support import WAIT_MS, LiveServer, chromium, orm
from tests.conftest import need
from tests.peers.smtp import SMTPPeer, mail_settings
from tests.test_browser_loop import submit
from tocsin.digest import service as digest
from tocsin.digest.models import Subscription

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(transactional_db: None, settings: Any) -> Iterator[tuple[str, SMTPPeer]]:
    need(AXE_JS.is_file(), "axe-core is not installed (run `npm ci`)")
    with SMTPPeer() as smtp:
        server = LiveServer()
        try:
            settings.SITE_URL = server.url
            settings.DELIVERY_RATE = {**settings.DELIVERY_RATE, "email": 0}
            mail_settings(settings, smtp)
            server.start()
            yield server.url, smtp
        finally:
            server.stop()


def link(smtp: SMTPPeer, address: str, name: str) -> str:
    [found] = re.findall(
        rf"https?://[^/\s]+(/digest/{name}/[^/\s]+/)", smtp.to(address)[-1].get_content()
    )
    return found


@pytest.mark.parametrize("language", ["en", "es"])
def test_signing_up_confirming_and_stopping_on_a_phone(
    site: tuple[str, SMTPPeer], chromium_path: str, language: str
) -> None:
    url, smtp = site
    address = f"ana-{language}@example.org"
    problems: list[str] = []
    with chromium(chromium_path) as browser:
        ctx = browser.new_context(
            base_url=url,
            locale="es-ES" if language == "es" else "en-US",
            **PHONE_OPTIONS,
        )
        ctx.set_default_timeout(WAIT_MS)
        page: Page = ctx.new_page()

        def check(label: str) -> None:
            assert page.evaluate("document.documentElement.lang") == language
            problems.extend(phone_problems(page, f"{language} {label}"))

        page.goto("/digest/")
        check("sign-up")
        page.fill("input[name=email]", address)
        submit(page, "main form button")
        check("asked to confirm")
        assert orm(digest.send_due) == 1
        page.goto(link(smtp, address, "confirm"))
        check("confirm")
        submit(page, "main form button")
        assert page.locator("[data-testid=digest-confirmed]").count() == 1
        check("confirmed")
        stop = page.locator("main a[href*='/digest/stop/']").get_attribute("href")
        assert stop is not None
        page.goto(stop)
        check("stop")
        submit(page, "main form button")
        assert page.locator("[data-testid=digest-stopped]").count() == 1
        check("stopped")
        ctx.close()
    assert not orm(lambda: Subscription.objects.exists())
    assert problems == [], "\n".join(problems)
