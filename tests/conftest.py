from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

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


@pytest.fixture(scope="session", autouse=True)
def _postgresql_flushes_by_delete() -> Iterator[None]:
    """On PostgreSQL, empty the tables after a transactional test with DELETE, not TRUNCATE.

    Django's flush truncates every table in one statement, and PostgreSQL makes new files
    for each of them: about 0.6 s per flush here, after every transactional test. Deleting
    the few rows a test left takes a few milliseconds. The tables are first locked as
    TRUNCATE locks them (ACCESS EXCLUSIVE), so the flush still waits for any transaction a
    test left open, and the foreign keys (deferred, as Django makes them) are checked when
    the flush commits. Sequences are left alone, as the flush without reset_sequences does.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(
        self: DatabaseOperations,
        style: Any,
        tables: list[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if not tables or reset_sequences or allow_cascade:
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        names = [self.quote_name(table) for table in tables]
        return [f"LOCK TABLE {', '.join(names)} IN ACCESS EXCLUSIVE MODE;"] + [
            f"DELETE FROM {name};" for name in names
        ]

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
    try:
        yield
    finally:
        DatabaseOperations.sql_flush = truncate  # type: ignore[method-assign]


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
