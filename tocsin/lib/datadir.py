"""The data folder is its owner's alone: the folder and every folder in it 0700, every
file 0600 (the SQLite database with its -wal and -shm files, uploads, keys, any log an
operator writes there)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def secure(folder: Path) -> None:
    """Create ``folder`` (mode 0700), or tighten an existing one and what it holds.

    An older install made its files 0644: anyone on the machine could copy the database.
    Files of other users (which Tocsin never makes) are left as they are.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(folder, folder=True)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            _tighten(Path(root, name), folder=True)
        for name in files:
            _tighten(Path(root, name), folder=False)


def _tighten(path: Path, *, folder: bool) -> None:
    """Make a folder 0700; take from a file every permission of the group and others."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
            return
        now = stat.S_IMODE(info.st_mode)
        wanted = 0o700 if folder else now & 0o600
        if now != wanted:
            path.chmod(wanted)
    except FileNotFoundError:
        pass  # removed meanwhile (SQLite's -shm and -wal come and go)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists.

    SQLite gives its -wal and -shm files the mode of the database file, so a database
    file made here first keeps all three private.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
