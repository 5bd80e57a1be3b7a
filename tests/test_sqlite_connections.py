"""SQLite connections outlive the request that opened them (tocsin.lib.sqlite), and only
when they are as a new one would be."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tocsin.lib.sqlite.base import POOL, DatabaseWrapper


@pytest.fixture
def database(tmp_path: Path, django_db_blocker: Any) -> Iterator[Path]:
    """A database file of its own (not the test database)."""
    with django_db_blocker.unblock():
        yield tmp_path / "pool.sqlite3"
    POOL.clear()


def wrapper(path: Path) -> DatabaseWrapper:
    """A Django connection to ``path``, with the settings Tocsin gives SQLite."""
    settings = {**connections["default"].settings_dict, "NAME": str(path)}
    settings["ENGINE"] = "tocsin.lib.sqlite"
    if "sqlite" not in connections["default"].vendor:
        settings["OPTIONS"] = {"transaction_mode": "IMMEDIATE"}
    return DatabaseWrapper(settings, alias="pool-test")


def raw(db: DatabaseWrapper) -> sqlite3.Connection:
    db.ensure_connection()
    conn = db.connection
    assert conn is not None
    return conn


def test_the_next_request_in_another_thread_reuses_a_closed_connection(database: Path) -> None:
    first = wrapper(database)
    opened = raw(first)
    first.close()
    taken: list[sqlite3.Connection] = []
    # Under ASGI the next request runs in a thread of its own, with a connection of its own.
    thread = threading.Thread(target=lambda: taken.append(raw(wrapper(database))))
    thread.start()
    thread.join()
    assert taken == [opened]


def test_a_connection_closed_inside_a_transaction_is_not_reused(database: Path) -> None:
    db = wrapper(database)
    opened = raw(db)
    with db.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("CREATE TABLE t (x)")
    db.close()
    again = raw(wrapper(database))
    assert again is not opened
    assert not again.in_transaction
    # The open transaction was rolled back with its connection.
    assert again.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def test_a_connection_without_foreign_keys_is_not_reused(database: Path) -> None:
    db = wrapper(database)
    opened = raw(db)
    db.disable_constraint_checking()
    db.close()
    again = raw(wrapper(database))
    assert again is not opened
    assert again.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_connection_whose_handle_was_closed_under_it_closes_and_is_not_reused(
    database: Path,
) -> None:
    db = wrapper(database)
    opened = raw(db)
    opened.close()  # as a worker finds a connection that broke while it waited
    db.close()
    assert db.connection is None
    again = raw(wrapper(database))
    assert again is not opened
    assert again.execute("SELECT 1").fetchone() == (1,)


def test_a_connection_to_a_file_since_replaced_is_not_reused(
    database: Path, tmp_path: Path
) -> None:
    db = wrapper(database)
    raw(db).execute("CREATE TABLE old (x)")
    # Its log folded into the file, as when the last connection to it closes.
    raw(db).execute("PRAGMA wal_checkpoint(TRUNCATE)")
    opened = db.connection
    db.close()
    other = tmp_path / "other.sqlite3"
    made = sqlite3.connect(other)
    made.execute("CREATE TABLE new (x)")
    made.close()
    os.replace(other, database)
    again = raw(wrapper(database))
    assert again is not opened
    tables = {r[0] for r in again.execute("SELECT name FROM sqlite_master")}
    assert tables == {"new"}
