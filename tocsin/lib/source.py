"""The running version's source, as AGPL section 13 asks of a network service.

Tocsin builds a .tar.gz of its own files once per process, on the first request for it,
and keeps it in memory. Only an allow-list of the project's own files goes in:
never the data folder (database, keys, uploads), the virtualenv, node_modules, a .env file
or anything else an operator keeps beside the code.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

# What a person needs to run and change this version: the package, its pages and
# translations, the lock file, docs, deployment files, tests and benches.
TOP_FILES = (
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "uv.lock",
    ".python-version",
    "manage.py",
    "package.json",
    "package-lock.json",
)
TOP_FOLDERS = ("tocsin", "templates", "static", "locale", "docs", "deploy", "tests", "bench", ".ci")
# Never in the archive, wherever they turn up.
SKIP_NAMES = {"__pycache__", ".git", ".venv", "node_modules", ".env"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".key", ".env")

_lock = threading.Lock()
_built: bytes | None = None


def version() -> str:
    """Return the installed Tocsin's version ("0.1.0")."""
    try:
        return metadata.version("tocsin")
    except metadata.PackageNotFoundError:
        return "unknown"


def files(base: Path, *, exclude: Path | None = None) -> Iterator[Path]:
    """Yield the files that go in the archive, sorted, relative to ``base``."""
    exclude = exclude.resolve() if exclude is not None else None
    found: list[Path] = []
    for name in TOP_FILES:
        path = base / name
        if path.is_file() and not path.is_symlink():
            found.append(path)
    for name in TOP_FOLDERS:
        top = base / name
        if not top.is_dir() or top.is_symlink():
            continue
        for root, dirs, names in os.walk(top):
            root_path = Path(root)
            if exclude is not None and root_path.resolve().is_relative_to(exclude):
                dirs[:] = []
                continue
            # Symbolic links could point anywhere (node_modules is one): never followed.
            dirs[:] = sorted(
                d for d in dirs if d not in SKIP_NAMES and not (root_path / d).is_symlink()
            )
            for n in names:
                path = root_path / n
                if n in SKIP_NAMES or n.endswith(SKIP_SUFFIXES) or path.is_symlink():
                    continue
                found.append(path)
    for path in sorted(found):
        yield path.relative_to(base)


def archive(base: Path, *, prefix: str, exclude: Path | None = None) -> bytes:
    """Return a gzipped tar of the source under ``base``, the same bytes for the same files
    (no times, owners or modes of this machine in it)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for relative in files(base, exclude=exclude):
            data = (base / relative).read_bytes()
            info = tarfile.TarInfo(f"{prefix}/{relative.as_posix()}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def cached_archive(base: Path, *, prefix: str, exclude: Path | None = None) -> bytes:
    """Return this process's source archive, building it on first use.

    Kept in memory (about a megabyte), never written to the data folder: what a seized
    data folder holds stays the data, and the archive always matches the running code."""
    global _built
    with _lock:
        if _built is None:
            _built = archive(base, prefix=prefix, exclude=exclude)
        return _built


def forget() -> None:
    """Drop this process's cached archive (tests)."""
    global _built
    with _lock:
        _built = None
