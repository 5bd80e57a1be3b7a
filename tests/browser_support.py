"""Support for browser tests: the real ASGI app under uvicorn, in a thread, plus helpers.

Server-Sent Events need an ASGI server, so Django's LiveServerTestCase (WSGI) will not do.
The server runs in the test process against the test database; tests that use it must be
marked ``django_db(transaction=True)`` so the server's threads see committed rows.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import uvicorn
from django.db import connections
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

# Every wait in the browser tests: generous, and never asserted on (CI runs the SQLite and
# PostgreSQL suites side by side on two cores, so a page or a delivery can take a while).
WAIT_S = 45.0
WAIT_MS = int(WAIT_S * 1000)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class LiveServer:
    """uvicorn serving tocsin.asgi on 127.0.0.1 and a port the kernel picked."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app="tocsin.asgi:application",
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            access_log=False,
            log_config=None,
            # Open SSE streams never finish on their own: do not wait long for them.
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self._access_logger = logging.getLogger("uvicorn.access")
        self._access_logger_was_disabled = self._access_logger.disabled
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="uvicorn", daemon=True
        )

    def start(self) -> LiveServer:
        # access_log=False empties uvicorn's access logger, but pytest's log capture hangs
        # its handlers on it again, and uvicorn then logs every client address and path.
        # Keep those out of test output as the app keeps them out of its logs.
        self._access_logger.disabled = True
        self.thread.start()
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/offline/", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn stopped before it answered")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not answer at {self.url} within {WAIT_S} s")
            time.sleep(0.1)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.sock.close()
        self._access_logger.disabled = self._access_logger_was_disabled


def orm[T](work: Callable[[], T]) -> T:
    """Run database code in a short-lived thread and return its result.

    Playwright's sync API keeps an event loop running in the test's thread, and Django
    (rightly) refuses to touch the database from a thread with a running loop. Rather than
    switch that guard off for the whole process (the app under test shares it), the test's
    own queries run in a thread of their own, which closes its connection when done.
    """

    def run() -> T:
        try:
            return work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def wait_until[T](
    check: Callable[[], T | None],
    what: str,
    *,
    timeout: float = WAIT_S,
    pump: Callable[[int], Any] | None = None,
) -> T:
    """Return the first truthy result of ``check()``, polling; fail after ``timeout``.

    ``pump`` (for example ``page.wait_for_timeout``) is called between polls instead of
    sleeping, so Playwright's sync API dispatches events (CDP, console) meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        if pump is not None:
            pump(150)
        else:
            time.sleep(0.1)


def text_of(message: EmailMessage) -> str:
    """Return the plain-text body of an email."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, f"no text part in {message['Subject']!r}"
    return part.get_content()


def links_in(text: str, base: str) -> list[str]:
    """Return the links to ``base`` found in ``text``."""
    return re.findall(re.escape(base) + r"/[^\s<>\"”]*", text)


@contextmanager
def chromium(executable_path: str) -> Iterator[Browser]:
    """Start Debian's Chromium, headless, and close it afterwards."""
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def add_virtual_authenticator(context: BrowserContext, page: Page) -> None:
    """Give the page a platform authenticator (a phone's), through Chrome DevTools."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
