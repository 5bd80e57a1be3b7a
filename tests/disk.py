"""Read files as a seizure would, without disturbing the test process's SQLite locks.

SQLite keeps POSIX advisory locks on its database files, and POSIX drops every lock a
process holds on a file when that process closes *any* descriptor of it. A test that
opened the live test database to read its bytes would silently drop the locks of its own
connections: another process using the same file (a worker a test started) then believes
it is alone, and on closing deletes the write-ahead log and its index from under them, and
the suite's next connections fail with "disk I/O error". So the database's files are read
by another process (``cat``), whose descriptors are its own.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def read(path: Path) -> bytes:
    """Return the bytes of ``path`` (empty if it went away meanwhile)."""
    if ".sqlite3" not in path.name:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return b""
    done = subprocess.run(["cat", "--", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        if not path.exists():
            return b""
        raise OSError(done.stderr.decode(errors="replace"))
    return done.stdout
