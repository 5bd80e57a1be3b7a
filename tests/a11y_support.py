"""Checks a phone and a screen reader would make, run in a page by the browser tests.

- the page is no wider than the phone (``document.documentElement.scrollWidth``);
- axe-core (the npm package, a development dependency read from node_modules and injected
  by the test; Tocsin never serves it) finds no WCAG 2.2 A/AA violation;
- every control is a touch target of at least 44 x 44 CSS pixels, with at least 8 pixels
  between it and the next one. Links inside a sentence are exempt, as WCAG 2.5.8 says.

Contexts that inject axe-core are made with ``bypass_csp=True``: the page's policy allows
no inline script, and axe arrives as one. Nothing else changes (Tocsin's templates have
no inline scripts or styles), and tests/test_browser_no_third_party.py checks the policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from playwright.sync_api import Page

AXE_JS = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

PHONE_360 = {"width": 360, "height": 740}
PHONE_OPTIONS: dict[str, Any] = {
    "viewport": PHONE_360,
    "has_touch": True,
    "is_mobile": True,
    "bypass_csp": True,
}

MIN_TARGET_PX = 44
MIN_GAP_PX = 8

# The function, without the comment lines above it (Playwright takes a string for a
# function only when it starts like one).
TARGETS_JS = "\n".join(
    line
    for line in (Path(__file__).parent / "a11y_targets.js").read_text().splitlines()
    if not line.startswith("//")
)

AXE_RUN_JS = """(tags) => axe.run(document, {runOnly: {type: "tag", values: tags}}).then((r) =>
  r.violations.map((v) => {
    const where = v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ");
    return `${v.impact} ${v.id}: ${v.help} (${where})`;
  }))"""


def overflow(page: Page, width: int = PHONE_360["width"]) -> list[str]:
    """Return a problem when the page is wider than ``width`` CSS pixels."""
    wide = page.evaluate("document.documentElement.scrollWidth")
    return [f"the page is {wide} px wide on a {width} px screen"] if wide > width else []


def small_targets(page: Page) -> list[str]:
    """Return the controls too small or too close to another for a finger."""
    return page.evaluate(TARGETS_JS, [MIN_TARGET_PX, MIN_GAP_PX])


def axe_violations(page: Page) -> list[str]:
    """Return axe-core's WCAG 2.2 A/AA violations on the page, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE_JS.read_text())
    return page.evaluate(AXE_RUN_JS, WCAG_TAGS)


def phone_problems(page: Page, label: str) -> list[str]:
    """Return every problem of the page on a 360 px phone, each prefixed with ``label``."""
    found = overflow(page) + small_targets(page) + axe_violations(page)
    return [f"{label}: {p}" for p in found]
