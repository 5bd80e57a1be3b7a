"""Backups: encrypted to the operator's key, tamper-evident, pruned by age, and a restore
drill: back up, restore into an empty data folder, run the loop there."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from nacl.public import PrivateKey

from tests.factories import World, world
from tocsin.ops import backup

BASE = Path(settings.BASE_DIR)


def sealed(data: bytes, recipient: PrivateKey) -> bytes:
    out = io.BytesIO()
    writer = backup.EncryptingWriter(out, recipient.public_key)
    writer.write(data)
    writer.close()
    return out.getvalue()


def opened(blob: bytes, identity: PrivateKey) -> bytes:
    return b"".join(backup.decrypted_chunks(io.BytesIO(blob), identity))


@pytest.fixture
def operator(tmp_path: Path) -> tuple[Path, str]:
    """The operator's key pair: the private key in a file, the public key for the server."""
    identity = tmp_path / "backup-identity.txt"
    out = StringIO()
    call_command("backup", "--keygen", str(identity), stdout=out)
    public = out.getvalue().split("TOCSIN_BACKUP_PUBLIC_KEY=")[1].strip()
    assert identity.stat().st_mode & 0o077 == 0
    return identity, public


@pytest.mark.parametrize("size", [0, 1, backup.CHUNK, backup.CHUNK + 1, 3 * backup.CHUNK + 7])
def test_what_is_sealed_opens_with_the_operators_key_only(size: int) -> None:
    key, other = PrivateKey.generate(), PrivateKey.generate()
    data = os.urandom(size)
    blob = sealed(data, key)
    assert opened(blob, key) == data
    with pytest.raises(backup.BackupError, match="not made for this identity"):
        opened(blob, other)


def test_a_changed_byte_fails_the_restore() -> None:
    key = PrivateKey.generate()
    blob = bytearray(sealed(os.urandom(2 * backup.CHUNK), key))
    blob[-100] ^= 1
    with pytest.raises(backup.BackupError, match="damaged"):
        opened(bytes(blob), key)


def test_a_backup_cut_at_a_chunk_boundary_fails_instead_of_restoring_less() -> None:
    key = PrivateKey.generate()
    blob = sealed(os.urandom(3 * backup.CHUNK), key)
    header = len(backup.MAGIC) + 80 + 15
    one_chunk = 4 + backup.CHUNK + 16
    with pytest.raises(backup.BackupError):
        opened(blob[: header + 2 * one_chunk], key)
    with pytest.raises(backup.BackupError, match="after its end"):
        opened(blob + b"x", key)


def test_retention_deletes_backups_past_their_age_but_never_the_newest() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    names = [backup.backup_name(now - timedelta(days=d)) for d in (0, 3, 15, 40)]
    names += ["notes.txt", "tocsin-x.tocsin-backup"]
    assert backup.expired(names, now=now, keep_days=14) == [names[3], names[2]]
    only_old = [backup.backup_name(now - timedelta(days=100))]
    assert backup.expired(only_old, now=now, keep_days=14) == []


@pytest.mark.django_db(transaction=True)
def test_the_backup_holds_no_plaintext(operator: tuple[Path, str], tmp_path: Path) -> None:
    world()
    out = StringIO()
    call_command("backup", "--to", str(tmp_path / "b"), "--public-key", operator[1], stdout=out)
    (made,) = (tmp_path / "b").iterdir()
    assert made.name.endswith(".tocsin-backup") and made.stat().st_mode & 0o077 == 0
    blob = made.read_bytes()
    for needle in (b"SQLite format 3", b"Olga", b"secret_key", b"vault_keyring"):
        assert needle not in blob
    # The plaintext snapshot is gone from the data folder.
    scratch = Path(settings.DATA_DIR) / ".backup-tmp"
    assert not scratch.exists() or not any(scratch.iterdir())


def test_the_data_folder_copy_leaves_out_the_live_database_and_rebuilt_files(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    for name in (
        "secret_key",
        "vault_keyring",
        "media/photos/a.jpg",
        "tocsin.sqlite3",
        "tocsin.sqlite3-wal",
        "elsewhere.db",
        "elsewhere.db-wal",
        "static/css/tocsin.css",
        "source/tocsin-0.1.0.tar.gz",
        "backups/old.tocsin-backup",
        ".backup-tmp/x/database.sqlite3",
    ):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("x")
    found = backup._data_files(data, exclude=None, database=(data / "elsewhere.db").resolve())
    names = sorted(p.relative_to(data).as_posix() for p in found)
    assert names == ["media/photos/a.jpg", "secret_key", "vault_keyring"]


def test_backup_needs_a_public_key(settings) -> None:  # type: ignore[no-untyped-def]
    settings.BACKUP_PUBLIC_KEY = ""
    with pytest.raises(CommandError, match="TOCSIN_BACKUP_PUBLIC_KEY"):
        call_command("backup")


@pytest.mark.django_db
def test_restore_refuses_a_database_that_is_not_empty(operator: tuple[Path, str]) -> None:
    identity, _ = operator
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(identity), "--identity", str(identity))


# The drill runs in other processes, as an operator would: `tocsin manage restore` into a
# new data folder, then a report, a confirm and its deliveries against what was restored.
LOOP = """
import json
import django

django.setup()
from django.conf import settings

settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
from django.core import mail

mail.outbox = []
from tests.factories import confirmed_incident
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery
from tocsin.members.models import Member

confirmed_incident(Member.objects.get(display_name="Diego"))
outbox.drain()
print(json.dumps({
    "sent_to": sorted(to for m in mail.outbox for to in m.to),
    "states": sorted(Delivery.objects.values_list("status", flat=True)),
}))
"""


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # The same vault passphrase (tests/settings.py's file): the keyring travels in the
    # backup, still wrapped by it.
    env["TOCSIN_VAULT_PASSPHRASE_FILE"] = settings.VAULT_PASSPHRASE_FILE
    env["TOCSIN_DATA_DIR"] = str(data_dir)
    env["TOCSIN_SITE_URL"] = "http://testserver"
    env["TOCSIN_STAFF_MFA"] = "0"
    env["TOCSIN_VAULT_KDF"] = "interactive"
    env.pop("TOCSIN_DATABASE_URL", None)
    env.pop("TOCSIN_REDIS_URL", None)
    return env


@pytest.fixture
def empty_database() -> Iterator[str | None]:
    """On PostgreSQL, a new empty database to restore into (its URL); on SQLite, None: the
    new data folder's database file is the empty one."""
    if connection.vendor != "postgresql":
        yield None
        return
    name = f"tocsin_drill_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    try:
        yield f"postgres://{db['USER']}{password}@{db['HOST'] or 'localhost'}{port}/{name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_restore_drill_backs_up_restores_into_an_empty_folder_and_runs_the_loop(
    operator: tuple[Path, str], tmp_path: Path, empty_database: str | None
) -> None:
    identity, public = operator
    w: World = world()
    call_command("backup", "--to", str(tmp_path / "b"), "--public-key", public, stdout=StringIO())
    (made,) = (tmp_path / "b").iterdir()

    fresh = tmp_path / "fresh-data"
    # A keyring a first start made before the restore: kept aside, never overwritten.
    fresh.mkdir(mode=0o700)
    (fresh / "vault_keyring").write_text("a keyring of its own")
    env = _environment(fresh)
    if empty_database is not None:
        env["TOCSIN_DATABASE_URL"] = empty_database
    restored = subprocess.run(
        [sys.executable, "-m", "tocsin.cli", "manage", "restore", str(made)]
        + ["--identity", str(identity)],
        cwd=BASE,
        env=env,
        capture_output=True,
        text=True,
    )
    assert restored.returncode == 0, restored.stderr
    assert "restored a backup of Tocsin" in restored.stdout
    # The data folder's own files came back: signed links and the vault's keyring.
    for name in ("secret_key", "vault_keyring", "vault_public_key"):
        assert (fresh / name).read_bytes() == (Path(settings.DATA_DIR) / name).read_bytes()
    assert not (fresh / "backups").exists()
    assert (fresh / "vault_keyring.before-restore").read_text() == "a keyring of its own"

    loop = subprocess.run(
        [sys.executable, "-c", LOOP],
        cwd=BASE,
        env={**env, "DJANGO_SETTINGS_MODULE": "tocsin.settings"},
        capture_output=True,
        text=True,
    )
    assert loop.returncode == 0, loop.stderr
    result = json.loads(loop.stdout.strip().splitlines()[-1])
    # The members in the area got the alert: their sealed addresses opened after the restore.
    assert {"rosa@example.org", "mateo@example.org"} <= set(result["sent_to"])
    assert result["states"] and set(result["states"]) == {"sent"}
    assert w.responder.display_name == "Rosa"

    # Restoring again over the restored database is refused.
    again = subprocess.run(
        [sys.executable, "-m", "tocsin.cli", "manage", "restore", str(made)]
        + ["--identity", str(identity)],
        cwd=BASE,
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode != 0 and "not empty" in again.stderr
