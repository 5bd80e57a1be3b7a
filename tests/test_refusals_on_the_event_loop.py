"""A report refused by its network's rate limit is answered on the event loop, through
the real ASGI application (tocsin.lib.inline): the same page, headers and guards as in a
thread, and everything else still served in a thread."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.test import Client
from django.utils.html import escape

from tests import pow_support
from tests.asgi_support import post_scope
from tests.factories import EAST, World
from tocsin.incidents import report_views
from tocsin.intake.models import Report
from tocsin.lib import inline

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = "Two grey vans <at> the corner of 4th & Soto."
ADDRESS = "198.51.100.23"
OTHER_NETWORK = "198.51.101.23"


class Browser:
    """A browser with the report form's CSRF cookie and token, posting through
    tocsin.asgi.application as an ASGI server would."""

    def __init__(self) -> None:
        page = Client().get("/report/")
        self.cookie = page.cookies[django_settings.CSRF_COOKIE_NAME].value
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
        assert found is not None
        self.token = found.group(1)

    def post(
        self, fields: dict[str, Any], address: str = ADDRESS, cookie: str = "", app: Any = None
    ) -> Any:
        from tocsin.asgi import application

        application = app or application
        body = urlencode({"csrfmiddlewaretoken": self.token, **fields}).encode()
        cookies = f"{django_settings.CSRF_COOKIE_NAME}={self.cookie}{cookie}"
        scope = post_scope(
            "/report/",
            [
                (b"host", b"testserver"),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode()),
                (b"cookie", cookies.encode()),
                (b"sec-fetch-site", b"same-origin"),
            ],
            client=address,
        )
        sent: list[dict[str, Any]] = []
        chunks = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if chunks:
                return chunks.pop(0)
            await asyncio.Event().wait()  # the client waits for the answer
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async_to_sync(application)(scope, receive, send)
        return Answer(sent)


class Answer:
    def __init__(self, sent: list[dict[str, Any]]) -> None:
        start = next(m for m in sent if m["type"] == "http.response.start")
        self.status: int = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        self.page = b"".join(m.get("body", b"") for m in sent[1:]).decode()


def form(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "checkpoint",
        "text": TEXT,
        "lat": EAST[0],
        "lng": EAST[1],
        "nonce": fields.pop("nonce", "n-1"),
        "altcha": pow_support.solution(),
        **fields,
    }


@pytest.fixture
def refusing(w: World, settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One report per network, then 429; each refusal records whether it was answered on
    the event loop."""
    settings.REPORT_RATE_PER_10MIN = settings.REPORT_REFUSE_PER_10MIN = 1
    w.east.hotline_numbers = ["+12135550142"]
    w.east.save()
    answered_inline: list[bool] = []
    refused = report_views._refused

    def recording(request: Any) -> Any:
        response = refused(request)
        if not isinstance(response, inline.Elsewhere):
            answered_inline.append(inline.asked(request))
        return response

    monkeypatch.setattr(report_views, "_refused", recording)
    return answered_inline


def test_a_refusal_is_answered_on_the_event_loop_with_everything_the_page_says(
    refusing: list[bool],
) -> None:
    browser = Browser()
    assert browser.post(form(nonce="first")).status == 302
    # The hotlines are not in the cache yet: that one is answered in a thread.
    in_thread = browser.post(form(nonce="second"))
    on_loop = browser.post(form(nonce="third", kind="agents_seen"))
    assert refusing == [False, True]
    assert in_thread.status == on_loop.status == 429
    assert on_loop.headers["retry-after"] == "600"
    # The same middleware ran: the same headers (security, language, CSP, framing).
    assert set(on_loop.headers) == set(in_thread.headers)
    for name in ("content-security-policy", "x-frame-options", "referrer-policy", "vary"):
        assert on_loop.headers[name] == in_thread.headers[name], name
    page = on_loop.page
    assert "faster than people can type" in page
    assert 'href="tel:+12135550142"' in page
    assert escape(TEXT) in page
    assert 'name="kind" value="agents_seen"' in page
    # Its button takes the text back to the form, with a CSRF token that holds.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    browser.token = token.group(1)
    back = browser.post({"text": TEXT, "nonce": "third", "restore": "1"})
    assert back.status == 200
    assert 'data-testid="refusal"' not in back.page and escape(TEXT) in back.page
    assert Report.objects.count() == 1


def test_the_csrf_check_still_comes_first(refusing: list[bool]) -> None:
    browser = Browser()
    assert browser.post(form(nonce="first")).status == 302
    browser.token = "x" * 64
    assert browser.post(form(nonce="second")).status == 403
    assert refusing == []


def test_a_report_within_its_networks_share_is_stored_in_a_thread(refusing: list[bool]) -> None:
    browser = Browser()
    assert browser.post(form(nonce="first")).status == 302
    browser.post(form(nonce="second"))  # the hotlines now in the cache
    assert browser.post(form(nonce="other"), OTHER_NETWORK).status == 302
    assert Report.objects.count() == 2


def test_a_report_within_its_share_is_served_on_a_kept_thread_not_a_new_one(
    refusing: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django's ASGI handler starts a thread for each request: over uvicorn that cost a
    stored report more CPU than its view (docs/benchmarks.md). The form's posts that need
    the database are served by the same middleware on threads kept from one to the next."""
    threads: list[threading.Thread] = []
    submit = report_views._submit

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return submit(*args, **kwargs)

    monkeypatch.setattr(report_views, "_submit", recording)
    browser = Browser()
    for n in range(3):
        answer = browser.post(form(nonce=f"kept-{n}"), f"198.51.{110 + n}.23")
        assert answer.status == 302, answer.page[:300]
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert Report.objects.count() == 3
    assert all(t.name.startswith("tocsin-inline") for t in threads), threads
    assert all(t is not threading.main_thread() for t in threads)


def test_with_redis_nothing_is_answered_on_the_event_loop_but_threads_are_kept(
    refusing: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting in Redis is a network call: the event loop must not make it. The form's
    posts, refused or not, are then all served on the kept threads."""
    from django.urls import reverse

    from tocsin.asgi import django_application

    app = inline.Inline(
        django_application,
        path=reverse("report"),
        likely=report_views.likely_refused,
        limit=django_settings.REQUEST_MAX_BYTES,
        on_loop=False,
    )
    threads: list[str] = []
    refused = report_views._refused

    def recording(request: Any) -> Any:
        threads.append(threading.current_thread().name)
        return refused(request)

    monkeypatch.setattr(report_views, "_refused", recording)
    browser = Browser()
    assert browser.post(form(nonce="first"), app=app).status == 302
    browser.post(form(nonce="second"), app=app)  # the hotlines now in the cache
    assert browser.post(form(nonce="third"), app=app).status == 429
    assert refusing == [False, False]
    assert len(threads) == 2
    assert all(name.startswith("tocsin-inline") for name in threads), threads


def test_a_members_session_is_read_in_a_thread(refusing: list[bool]) -> None:
    browser = Browser()
    assert browser.post(form(nonce="first")).status == 302
    browser.post(form(nonce="second"))
    session = f"; {django_settings.SESSION_COOKIE_NAME}=not-a-session"
    assert browser.post(form(nonce="third"), cookie=session).status == 429
    assert refusing == [False, False]
