"""Django's SQLite backend, keeping closed connections open for the next request.

Under ASGI every request runs its sync code in a thread of its own, so Django's
per-thread connection never serves a second request: each request that touches the
database opened the file again, and the first statement on a new connection reads the
whole schema (hundreds of tables and indexes), about 2 ms of CPU, more than the rest of a
stored report's queries. Here ``close()`` hands the open connection, idle and outside any
transaction, to a small per-process pool, and the next ``connect()`` in any thread takes it
back. Django still opens and closes a connection per request as before (CONN_MAX_AGE 0):
only the sqlite3 handle outlives it.

What a pooled connection keeps is what any open connection keeps (SQLite's page cache of
the file, the pragmas set at connect): nothing the file does not hold. A connection is
pooled only when it is in autocommit with no transaction open and foreign keys enforced,
so the next request gets it as a new one would be; one made before the file was replaced
(a test database made again, a file moved into place) is closed, not reused; a forked
child never uses its parent's.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
from typing import Any

from django.db.backends.sqlite3 import base

# Idle connections kept per database file: enough for the requests that run at once in one
# process; past it a closed connection is really closed.
POOL_SIZE = 8


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[str, list[tuple[tuple[int, int], sqlite3.Connection]]] = {}
        self._pid = os.getpid()

    def take(self, name: str) -> sqlite3.Connection | None:
        """Return an idle connection to the file ``name`` as it is now, or None."""
        identity = _identity(name)
        with self._lock:
            self._forget_parents()
            idle = self._idle.get(name)
            while idle:
                made_on, conn = idle.pop()
                if made_on == identity:
                    return conn
                conn.close()  # the file was replaced since: never reuse
        return None

    def give(self, name: str, conn: sqlite3.Connection) -> bool:
        """Keep ``conn`` for the next take(); False when the pool is full (close it)."""
        identity = _identity(name)
        if identity is None:
            return False
        with self._lock:
            self._forget_parents()
            idle = self._idle.setdefault(name, [])
            if len(idle) >= POOL_SIZE:
                return False
            idle.append((identity, conn))
            return True

    def clear(self) -> None:
        """Close every idle connection (this process's own)."""
        with self._lock:
            self._forget_parents()
            for idle in self._idle.values():
                for _made_on, conn in idle:
                    conn.close()
            self._idle.clear()

    def _forget_parents(self) -> None:
        # A forked child must neither use nor close its parent's connections (closing one
        # could checkpoint the parent's write-ahead log): they are dropped unclosed.
        if self._pid != os.getpid():
            _orphans.extend(conn for idle in self._idle.values() for _made_on, conn in idle)
            self._idle = {}
            self._pid = os.getpid()


def _identity(name: str) -> tuple[int, int] | None:
    try:
        st = os.stat(name)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


POOL = _Pool()
# At exit, closed for real: the last connection to close folds the write-ahead log into
# the file and removes it, as it would have without the pool.
atexit.register(POOL.clear)
# A forked child's inherited connections, kept referenced so that they are never closed.
_orphans: list[sqlite3.Connection] = []


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> sqlite3.Connection:
        if self._poolable():
            pooled = POOL.take(self.settings_dict["NAME"])
            if pooled is not None:
                return pooled
        conn: sqlite3.Connection = super().get_new_connection(conn_params)
        return conn

    def _close(self) -> None:
        conn = self.connection
        reusable = conn is not None and self._poolable() and self._reusable(conn)
        if not (reusable and POOL.give(self.settings_dict["NAME"], conn)):
            super()._close()  # type: ignore[misc]  # not in django-stubs

    def _poolable(self) -> bool:
        name = self.settings_dict["NAME"]
        return bool(name) and not self.is_in_memory_db()

    def _reusable(self, conn: sqlite3.Connection) -> bool:
        """Return whether ``conn`` is as a new connection would be: no transaction or
        atomic block open, autocommit on, foreign keys enforced."""
        if self.in_atomic_block:
            return False
        try:
            # A closed connection raises here (and is not reused).
            if conn.in_transaction or conn.isolation_level is not None:
                return False
            row = conn.execute("PRAGMA foreign_keys").fetchone()
        except sqlite3.Error:
            return False
        return bool(row and row[0] == 1)
