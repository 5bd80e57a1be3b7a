"""Backups: a consistent snapshot of the database and the data folder, encrypted to the
operator's public key, and the restore of one into an empty data folder.

The snapshot is SQLite's online backup API (pages copied while Tocsin keeps writing, each
step consistent) or ``pg_dump`` (one transaction). With it go the data folder's own files:
the secret key, the vault's keyring (still wrapped by the vault passphrase: the sealed
contacts in the database stay sealed in the backup, and opening them after a restore needs
that passphrase as before), the VAPID keys and the report photos. Not the collected static
files, the source archive, or earlier backups.

The file is encrypted the way age does it: a random file key sealed to the operator's
X25519 public key (a libsodium sealed box), and the tar stream encrypted in 64 KiB chunks
under that key (XSalsa20-Poly1305), each chunk's nonce counting up and marking the last,
so a chunk cut, swapped or dropped fails the restore instead of restoring less.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from nacl.encoding import Base64Encoder
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox
from nacl.utils import random as random_bytes

MAGIC = b"TOCSIN-BACKUP-1\n"
CHUNK = 64 * 1024
# The nonce: a random prefix per file, the chunk's number, and 1 on the last chunk.
_PREFIX = 15
SUFFIX = ".tocsin-backup"
NAME = re.compile(r"^tocsin-(\d{8}T\d{6}Z)" + re.escape(SUFFIX) + "$")
# Never copied from the data folder: rebuilt at start, or the database (snapshotted).
SKIP_FOLDERS = {"static", "source", "backups", ".backup-tmp"}
SKIP_FILE = re.compile(r".*\.sqlite3(-wal|-shm|-journal)?$")
FORMAT = 1


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, for the operator."""


# --- keys -------------------------------------------------------------------------------


def new_identity() -> tuple[str, str]:
    """Return a new (private, public) key pair, base64, for `backup --keygen`."""
    key = PrivateKey.generate()
    return (
        key.encode(Base64Encoder).decode(),
        key.public_key.encode(Base64Encoder).decode(),
    )


def public_key(text: str) -> PublicKey:
    try:
        return PublicKey(text.strip().encode(), encoder=Base64Encoder)
    except Exception:
        raise BackupError("the backup public key is not a base64 X25519 key") from None


def read_identity(path: Path) -> PrivateKey:
    """Read a private key file written by `backup --keygen` (comments start with #)."""
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines()]
    except OSError as e:
        raise BackupError(f"cannot read the identity file {path}: {e.strerror}") from None
    keys = [ln for ln in lines if ln and not ln.startswith("#")]
    try:
        return PrivateKey(keys[0].encode(), encoder=Base64Encoder)
    except Exception:
        raise BackupError(f"{path} holds no backup private key") from None


# --- the encrypted stream ---------------------------------------------------------------


def _nonce(prefix: bytes, counter: int, *, last: bool) -> bytes:
    return prefix + struct.pack(">Q", counter) + (b"\x01" if last else b"\x00")


class EncryptingWriter(io.RawIOBase):
    """A write-only stream that encrypts what it is given, chunk by chunk, into ``out``."""

    def __init__(self, out: IO[bytes], recipient: PublicKey) -> None:
        file_key = random_bytes(SecretBox.KEY_SIZE)
        self.box = SecretBox(file_key)
        self.prefix = random_bytes(_PREFIX)
        self.out = out
        self.buffer = bytearray()
        self.counter = 0
        out.write(MAGIC)
        out.write(SealedBox(recipient).encrypt(file_key))
        out.write(self.prefix)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += bytes(data)
        # Keep at least one byte back: the last chunk is written (marked last) at close.
        while len(self.buffer) > CHUNK:
            self._chunk(bytes(self.buffer[:CHUNK]), last=False)
            del self.buffer[:CHUNK]
        return len(data)

    def _chunk(self, plain: bytes, *, last: bool) -> None:
        sealed = self.box.encrypt(plain, _nonce(self.prefix, self.counter, last=last)).ciphertext
        self.out.write(struct.pack(">I", len(sealed)))
        self.out.write(sealed)
        self.counter += 1

    def close(self) -> None:
        if not self.closed:
            self._chunk(bytes(self.buffer), last=True)
            self.buffer.clear()
        super().close()


def decrypted_chunks(source: IO[bytes], identity: PrivateKey) -> Iterator[bytes]:
    """Yield the plaintext of an encrypted backup; raise BackupError on any tampering."""
    if source.read(len(MAGIC)) != MAGIC:
        raise BackupError("not a Tocsin backup (or a newer format)")
    sealed_key = source.read(SecretBox.KEY_SIZE + 48)
    try:
        box = SecretBox(SealedBox(identity).decrypt(sealed_key))
    except CryptoError:
        raise BackupError("this backup was not made for this identity") from None
    prefix = source.read(_PREFIX)
    counter = 0
    while True:
        head = source.read(4)
        if len(head) < 4:
            raise BackupError("the backup is cut short")
        (size,) = struct.unpack(">I", head)
        if size > CHUNK + SecretBox.MACBYTES:
            raise BackupError("the backup is damaged")
        sealed = source.read(size)
        for last in (False, True):
            try:
                plain = box.decrypt(sealed, _nonce(prefix, counter, last=last))
            except CryptoError:
                continue
            break
        else:
            raise BackupError("the backup is damaged or was changed")
        counter += 1
        yield plain
        if last:
            if source.read(1):
                raise BackupError("the backup has data after its end")
            return


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self.pending))
        target[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


# --- snapshot and restore ---------------------------------------------------------------


def backup_name(now: datetime) -> str:
    return f"tocsin-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}{SUFFIX}"


@contextmanager
def _scratch(data_dir: Path) -> Iterator[Path]:
    """A private folder beside the live database for the plaintext snapshot: the same
    disk and the same protection as the database it copies, removed afterwards."""
    parent = data_dir / ".backup-tmp"
    parent.mkdir(mode=0o700, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def snapshot_sqlite(database: str, target: Path) -> None:
    """Copy a live SQLite database with the online backup API."""
    source = sqlite3.connect(database)
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()


def _pg_env(db: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Return libpq connection flags and environment (the password never on a command line)."""
    args = []
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            args += [flag, str(db[key])]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return args, env


def snapshot_postgresql(db: dict[str, Any], target: Path) -> None:
    args, env = _pg_env(db)
    done = subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", "--file", str(target), *args, db["NAME"]],
        env=env,
        capture_output=True,
    )
    if done.returncode != 0:
        raise BackupError("pg_dump failed: " + done.stderr.decode(errors="replace")[-500:])


def _data_files(
    data_dir: Path, *, exclude: Path | None, database: Path | None = None
) -> Iterator[Path]:
    # The live database wherever it is named (snapshotted, never copied as a file).
    live: set[Path] = set()
    if database is not None:
        live = {database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))}
    for root, dirs, files in os.walk(data_dir):
        root_path = Path(root)
        dirs[:] = sorted(
            d
            for d in dirs
            if not (root_path == data_dir and d in SKIP_FOLDERS)
            and not (root_path / d).is_symlink()
            and (exclude is None or (root_path / d).resolve() != exclude)
        )
        for name in sorted(files):
            path = root_path / name
            if root_path == data_dir and SKIP_FILE.match(name) or path.resolve() in live:
                continue
            if path.is_symlink() or not path.is_file():
                continue
            yield path


def create(
    *,
    db: dict[str, Any],
    data_dir: Path,
    target_dir: Path,
    recipient: PublicKey,
    version: str,
    now: datetime,
) -> Path:
    """Write one encrypted backup into ``target_dir``; return its path."""
    target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = "postgresql" if "postgresql" in db["ENGINE"] else "sqlite"
    final = target_dir / backup_name(now)
    partial = final.with_name(final.name + ".partial")
    with _scratch(data_dir) as scratch:
        database = scratch / ("database.pgdump" if engine == "postgresql" else "database.sqlite3")
        if engine == "postgresql":
            snapshot_postgresql(db, database)
        else:
            snapshot_sqlite(str(db["NAME"]), database)
        manifest = {"format": FORMAT, "version": version, "engine": engine}
        manifest["created"] = now.astimezone(UTC).isoformat()
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            writer = EncryptingWriter(out, recipient)
            with tarfile.open(fileobj=writer, mode="w|gz") as tar:
                raw = json.dumps(manifest).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
                tar.add(database, arcname=database.name)
                live = None if engine == "postgresql" else Path(str(db["NAME"])).resolve()
                for path in _data_files(data_dir, exclude=target_dir.resolve(), database=live):
                    tar.add(path, arcname="data/" + path.relative_to(data_dir).as_posix())
            writer.close()
            out.flush()
            os.fsync(out.fileno())
    os.replace(partial, final)
    return final


def _is_empty(db: dict[str, Any]) -> bool:
    if "postgresql" in db["ENGINE"]:
        from django.db import connection

        return not connection.introspection.table_names()
    path = Path(str(db["NAME"]))
    if not path.exists() or path.stat().st_size == 0:
        return True
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def restore(*, source: Path, identity: PrivateKey, db: dict[str, Any], data_dir: Path) -> dict:  # type: ignore[type-arg]
    """Restore ``source`` into an empty database and data folder; return its manifest."""
    from django.db import connections

    if not _is_empty(db):
        raise BackupError("the database is not empty: restore only into a new, empty one")
    engine = "postgresql" if "postgresql" in db["ENGINE"] else "sqlite"
    manifest: dict[str, Any] | None = None
    with _scratch(data_dir) as scratch, source.open("rb") as encrypted:
        reader = io.BufferedReader(_ChunkReader(decrypted_chunks(encrypted, identity)))
        database: Path | None = None
        staged: list[tuple[Path, Path]] = []
        with tarfile.open(fileobj=reader, mode="r|gz") as tar:
            for member in tar:
                name = member.name
                if not member.isfile() or name.startswith("/") or ".." in name.split("/"):
                    raise BackupError(f"the backup holds an unexpected entry: {name!r}")
                extracted = tar.extractfile(member)
                assert extracted is not None
                if name == "manifest.json":
                    manifest = json.loads(extracted.read())
                    continue
                landing = scratch / "files" / name
                landing.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with open(landing, "wb") as out:
                    shutil.copyfileobj(extracted, out)
                if name.startswith("database."):
                    database = landing
                elif name.startswith("data/"):
                    staged.append((landing, data_dir / name.removeprefix("data/")))
        if manifest is None or manifest.get("format") != FORMAT or database is None:
            raise BackupError("the backup has no manifest or no database")
        if manifest["engine"] != engine:
            raise BackupError(
                f"this backup is of a {manifest['engine']} database; "
                f"TOCSIN_DATABASE_URL names a {engine} one"
            )
        # Only now, with every chunk authenticated, does anything reach the data folder.
        # A different file already there (a keyring a first start made) is kept aside,
        # never overwritten: a key is not something to lose by restoring.
        for landing, final in staged:
            final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if final.exists() and final.read_bytes() != landing.read_bytes():
                os.replace(final, final.with_name(final.name + ".before-restore"))
            os.replace(landing, final)
            final.chmod(0o600)
        connections.close_all()
        if engine == "postgresql":
            args, env = _pg_env(db)
            done = subprocess.run(
                ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", db["NAME"], *args]
                + [str(database)],
                env=env,
                capture_output=True,
            )
            if done.returncode != 0:
                raise BackupError("pg_restore failed: " + done.stderr.decode()[-500:])
        else:
            snapshot_sqlite(str(database), Path(str(db["NAME"])))
    return manifest


# --- retention --------------------------------------------------------------------------


def expired(names: list[str], *, now: datetime, keep_days: int) -> list[str]:
    """Return the backups among ``names`` older than ``keep_days``, by the time in their
    name; the newest backup is never among them, however old."""
    dated = []
    for name in names:
        match = NAME.match(name)
        if match:
            when = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            dated.append((when, name))
    dated.sort()
    cutoff = now - timedelta(days=keep_days)
    return [name for when, name in dated[:-1] if when < cutoff]


def prune(target_dir: Path, *, now: datetime, keep_days: int) -> list[str]:
    """Delete the backups in ``target_dir`` past ``keep_days``; return their names."""
    names = [p.name for p in target_dir.iterdir() if p.is_file()]
    gone = expired(names, now=now, keep_days=keep_days)
    for name in gone:
        (target_dir / name).unlink()
    return gone
