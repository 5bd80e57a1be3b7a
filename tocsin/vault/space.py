"""Make deleted data gone from the database files, not only unlinked.

Used by the scheduled purge (tocsin.retention) and by a member deleting their account.
"""

from __future__ import annotations

import logging

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)


def zero_freed_pages() -> None:
    """On SQLite, make this connection overwrite deleted content instead of unlinking it.

    A copy of the file taken before the next VACUUM (or when VACUUM cannot run) then holds
    no deleted text in its free pages.
    """
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA secure_delete = ON")


def _sqlite_has_free_pages() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA freelist_count")
        row = cursor.fetchone()
    return bool(row and row[0])


def reclaim_space(tables: set[str]) -> None:
    """Rewrite the storage so deleted rows are gone from the files, not only unlinked.

    SQLite: VACUUM rebuilds the file when the purge deleted something or the file has free
    pages; a truncating WAL checkpoint then empties the write-ahead log, which still holds
    old copies of pages. The checkpoint runs every time: rows deleted elsewhere (a member
    deleting their account, with secure_delete on) leave their old pages only in the log.
    PostgreSQL: VACUUM on the touched tables. Neither can run inside a transaction, so
    inside one (a test, or a caller's atomic block) this only logs and returns.
    """
    if connection.in_atomic_block:
        logger.info("purge: inside a transaction, space not reclaimed")
        return
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                if tables or _sqlite_has_free_pages():
                    cursor.execute("VACUUM")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            elif connection.vendor == "postgresql":
                for table in sorted(tables):
                    cursor.execute(f"VACUUM {connection.ops.quote_name(table)}")
    except OperationalError:
        # Another process held the database for longer than the busy timeout: the rows are
        # deleted (and zeroed on SQLite); the next run reclaims the space.
        logger.warning("purge: database busy, space not reclaimed this time")
