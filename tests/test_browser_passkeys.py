"""Passkeys in a real browser: a new dispatcher adds one inside the window the grant of
his role opened, then logs in with it alone.

Chromium's virtual authenticator (Chrome DevTools Protocol, WebAuthn domain) stands in
for a phone's platform authenticator. WebAuthn needs a secure context and a domain as
relying party, so the browser talks to the live server as http://localhost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import Browser, expect

from tests.browser_support import WAIT_MS, LiveServer, add_virtual_authenticator, chromium, orm
from tests.factories import committee, member
from tocsin.committees.models import Role
from tocsin.members import security
from tocsin.members.models import SecondFactor


@pytest.fixture
def live_localhost(transactional_db: None, settings: Any) -> Iterator[str]:
    server = LiveServer()
    url = f"http://localhost:{server.port}"
    settings.SITE_URL = url
    settings.STAFF_MFA = True
    server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def browser(chromium_path: str, live_localhost: str) -> Iterator[Browser]:
    with chromium(chromium_path) as b:
        yield b


def session_cookie(user_member: Any) -> str:
    """Return a session key for a member who logged in by emailed code (a weak session)."""
    store = SessionStore()
    store["_auth_user_id"] = str(user_member.user.pk)
    store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    store["_auth_user_hash"] = user_member.user.get_session_auth_hash()
    store[security.EPOCH_KEY] = user_member.session_epoch
    store[security.LOGIN_AT_KEY] = int(time.time())
    store.create()
    assert store.session_key is not None
    return store.session_key


def test_a_dispatcher_adds_a_passkey_and_logs_in_with_it(
    browser: Browser, live_localhost: str
) -> None:
    url = live_localhost

    def people() -> Any:
        east = committee("East")
        olga = member("Olga", east, Role.ORGANIZER, email="olga@example.org")
        diego = member("Diego", east, Role.DISPATCHER, email="diego@example.org")
        # Olga's grant of the role opens Diego's window to add his first factor.
        security.open_enrollment(diego, granted_by=olga)
        return diego

    diego = orm(people)
    key = orm(lambda: session_cookie(diego))

    ctx = browser.new_context(base_url=url)
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    add_virtual_authenticator(ctx, page)
    ctx.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": key, "url": url}])

    # With only an emailed code, the desk sends him to set up a second factor.
    page.goto("/desk/")
    assert "/login/verify/" in page.url
    page.get_by_role("link", name="Set one up").click()
    page.locator("#add-passkey").click()
    expect(page.locator("#factors")).to_contain_text("Passkey")
    assert orm(lambda: SecondFactor.objects.filter(member=diego, kind="passkey").count()) == 1

    # Adding it proved the factor: the desk opens.
    page.goto("/desk/")
    expect(page.locator("h1")).to_have_text("Dispatch desk")

    # Log out, then log in with the passkey alone (no email, no code).
    page.get_by_role("button", name="Log out").click()
    page.goto("/login/")
    page.get_by_role("button", name="Log in with a passkey").click()
    page.wait_for_url(f"{url}/me/")
    page.goto("/desk/")
    expect(page.locator("h1")).to_have_text("Dispatch desk")
    ctx.close()


def test_a_passkey_from_another_site_is_refused(browser: Browser, live_localhost: str) -> None:
    # The same browser and authenticator, but the server expects another origin.
    url = live_localhost

    def people() -> Any:
        diego = member("Diego", committee("East"), Role.DISPATCHER)
        security.open_enrollment(diego, granted_by=None)
        return diego

    diego = orm(people)
    key = orm(lambda: session_cookie(diego))
    ctx = browser.new_context(base_url=url)
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    add_virtual_authenticator(ctx, page)
    ctx.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": key, "url": url}])
    django_settings.SITE_URL = "http://localhost:1"  # the server now expects another origin
    page.goto("/me/security/")
    page.locator("#add-passkey").click()
    expect(page.locator("#passkey-status")).to_contain_text("could not be added")
    assert orm(lambda: SecondFactor.objects.filter(member=diego).count()) == 0
    ctx.close()
