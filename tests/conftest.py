from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.factories import World

REQUIRE_SERVICES = os.environ.get("TOCSIN_REQUIRE_SERVICES") == "1"

# Fixtures every test module may use.
pytest_plugins = ["tests.vault_support"]


def need(available: bool, reason: str) -> None:
    """Skip the test when a component is absent, or fail when CI requires it."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"TOCSIN_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    need(os.path.exists(path), "Chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture
def w(db: None) -> World:
    """The shared personas and committees (tests.factories.world). A module that needs a
    different world (other settings, more data) defines its own ``w``."""
    from tests.factories import world

    return world()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache: rate-limit counters never leak between tests."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_targeting_index() -> None:
    """Each test targets through a new in-memory index, built on first use from what the
    test's database holds (rolled-back rows of earlier tests never linger in it)."""
    from tocsin.alerts import cellindex

    cellindex.INDEX.reset(lazy=True)


@pytest.fixture(autouse=True)
def _fresh_pacing() -> None:
    """Rate limits and provider pauses of one test never hold back the next."""
    from tocsin.alerts import outbox

    outbox.reset_pacing()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """A language a test (or code it ran, such as a view for a Spanish speaker) activated
    never carries over into the next test."""
    from django.utils import translation

    yield
    translation.deactivate()
