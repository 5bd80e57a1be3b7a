"""Serving pages on PostgreSQL holds a bounded number of connections, however many requests."""

from __future__ import annotations

import urllib.request

import pytest
from django.db import connection

from tests.browser_support import LiveServer, orm

pytestmark = pytest.mark.django_db(transaction=True)


def _open_connections() -> int:
    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return int(cursor.fetchone()[0])

    return orm(count)


def test_many_requests_to_the_asgi_app_hold_a_bounded_number_of_connections() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("connection counting is PostgreSQL's pg_stat_activity")
    server = LiveServer().start()
    try:
        before = _open_connections()
        for _ in range(40):
            with urllib.request.urlopen(f"{server.url}/committees/", timeout=30) as r:  # noqa: S310
                assert r.status == 200
        after = _open_connections()
    finally:
        server.stop()
    assert after - before <= 5, (before, after)
