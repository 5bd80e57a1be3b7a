"""`tocsin demo` as a newcomer runs it, in Chromium on a 360 px phone.

The demo runs in a process of its own (a fresh data folder, SQLite, its own port), exactly
as the README says to start it. Two things are checked there:

- weight: the report page's first load is at most 150 kB over the wire. The demo, like
  `tocsin serve`, collects the static files compressed at start; the map library loads
  only when the reporter opens the map (a name search needs none of it);
- the demo's own pages (the personas, their inboxes) and each persona's first page fit
  the phone and pass axe-core (tests/a11y_support.py), in English and Spanish.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.a11y_support import AXE_JS, PHONE_OPTIONS, phone_problems
from tests.browser_support import WAIT_MS, chromium
from tests.conftest import need

REPORT_PAGE_LIMIT = 150_000  # bytes over the wire, headers included

# Starting the demo migrates a new SQLite database and writes the demo network: give it
# time on a loaded machine (a guard against a hang, never a measure of speed).
START_WAIT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo() -> Iterator[str]:
    """Run `tocsin demo` in a fresh data folder; yield its address."""
    port = free_port()
    # The demo's own environment, not the test suite's: no test settings, no test data
    # folder or database, no test site URL.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOCSIN_", "DJANGO_SETTINGS"))}
    with tempfile.TemporaryDirectory(prefix="tocsin-demo-test-") as data:
        env["TOCSIN_DATA_DIR"] = data
        log = open(os.path.join(data, "demo.log"), "w+")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "tocsin.cli", "demo", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_WAIT_S
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/offline/", timeout=2) as r:  # noqa: S310
                        if r.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"tocsin demo did not start:\n{log.read()[-3000:]}")
                time.sleep(0.5)
            yield url
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


@pytest.fixture(scope="module")
def browser(demo: str) -> Iterator[Browser]:
    path = "/usr/bin/chromium"
    need(os.path.exists(path), "Chromium is not installed (apt-get install chromium)")
    with chromium(path) as b:
        yield b


def bytes_of_first_load(page: Page, path: str) -> tuple[int, list[tuple[int, str]]]:
    """Open ``path`` in a fresh page; return the bytes it took over the wire (headers and
    bodies as sent, compressed or not) and each response's share, largest first."""
    cdp = page.context.new_cdp_session(page)
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}
    cdp.on(
        "Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"])
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])),
    )
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    page.goto(path)
    page.wait_for_load_state("networkidle")
    cdp.detach()
    shares = sorted(((n, urls.get(rid, rid)) for rid, n in sizes.items()), reverse=True)
    return sum(sizes.values()), shares


def test_the_report_page_first_load_is_at_most_150_kb(demo: str, browser: Browser) -> None:
    ctx = browser.new_context(base_url=demo, **PHONE_OPTIONS)
    ctx.set_default_timeout(WAIT_MS)
    try:
        page = ctx.new_page()
        total, shares = bytes_of_first_load(page, "/report/")
        listing = "\n".join(f"{n:>8} {u}" for n, u in shares)
        print(f"report page, first load: {total} bytes over the wire\n{listing}")
        assert total <= REPORT_PAGE_LIMIT, f"{total} bytes:\n{listing}"
        assert not any("leaflet" in u for _, u in shares), listing
        # The map is one tap away, and comes compressed.
        leaflet: list[Any] = []
        page.on("response", lambda r: leaflet.append(r) if r.url.endswith("leaflet.js") else None)
        page.click("#map-open")
        page.wait_for_function("() => Boolean(window.tocsinPickMap)")
        assert leaflet and leaflet[0].header_value("content-encoding") == "gzip"
    finally:
        ctx.close()


def test_the_demo_pages_and_each_personas_first_page_fit_a_phone(
    demo: str, browser: Browser
) -> None:
    need(AXE_JS.is_file(), "axe-core is not installed (run `npm ci`)")
    problems: list[str] = []
    for language in ("en", "es"):
        ctx = browser.new_context(
            base_url=demo, locale="es-ES" if language == "es" else "en-US", **PHONE_OPTIONS
        )
        ctx.set_default_timeout(WAIT_MS)
        try:
            page = ctx.new_page()
            page.goto("/demo/")
            assert page.evaluate("document.documentElement.lang") == language
            problems += phone_problems(page, f"{language} /demo/")
            page.goto(page.locator("a[href*='/demo/inbox/']").first.get_attribute("href") or "")
            problems += phone_problems(page, f"{language} a demo inbox")
            page.goto("/demo/")
            names = page.locator("button[data-persona]").evaluate_all(
                "buttons => buttons.map(b => b.dataset.persona)"
            )
            assert len(names) >= 5, names
            for persona in names:
                page.goto("/demo/")
                with page.expect_navigation():
                    page.click(f"button[data-persona={persona}]")
                problems += phone_problems(page, f"{language} {persona} {page.url}")
                # Whoever is logged in finds their own demo inbox (a newcomer too).
                assert page.locator("[data-testid=my-demo-inbox]").count() == 1, persona
        finally:
            ctx.close()
    assert problems == [], "\n".join(problems)
