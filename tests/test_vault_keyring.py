"""The vault's keyring in the data folder: wrapped with a passphrase, never in plain.

What starts `tocsin serve`, `worker` and `demo` (keys.start): a new passphrase asked twice
on the first start, the passphrase asked (or read from TOCSIN_VAULT_PASSPHRASE_FILE) on
the next ones, the demo's public passphrase; a web process that keeps no private key; an
older install's plain keys moved into the keyring; TOTP seeds sealed again.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken

from tests.factories import member
from tests.vault_support import passphrase, write
from tocsin import cli, vault
from tocsin.members import security
from tocsin.members.models import SecondFactor
from tocsin.vault import keys, wrapping
from tocsin.vault.errors import VaultError, VaultLocked, WrongKey


def answers(*typed: str) -> Any:
    """Return a prompt that answers with ``typed``, one by one, and records the prompts."""
    queue = list(typed)

    def ask(prompt: str) -> str:
        ask.prompts.append(prompt)  # type: ignore[attr-defined]
        return queue.pop(0)

    ask.prompts = []  # type: ignore[attr-defined]
    return ask


def secrets_of(folder: Path, text: str) -> wrapping.Secrets:
    ring = wrapping.read(folder)
    assert ring is not None
    return keys.open_keyring(ring, passphrase=text)[0]


@pytest.fixture
def no_passphrase_file(settings: Any) -> None:
    settings.VAULT_PASSPHRASE_FILE = ""


def test_the_keyring_opens_with_its_passphrase_and_with_nothing_else(own_vault: Path) -> None:
    vault.seal({"address": "rosa@example.org"})  # the first use makes it
    secrets = secrets_of(own_vault, passphrase())
    assert secrets.public_key == (own_vault / "vault_public_key").read_text().strip()
    with pytest.raises(WrongKey):
        secrets_of(own_vault, passphrase() + " ")


def test_no_file_in_the_data_folder_holds_a_key_in_plain(own_vault: Path) -> None:
    vault.unseal(vault.seal({"address": "rosa@example.org"}))
    vault.blind_index("email", "rosa@example.org", form="email")
    security.seal_totp("JBSWY3DPEHPK3PXP")
    secrets = secrets_of(own_vault, passphrase())
    needles = [secrets.private_key, secrets.blind_index_key, secrets.totp_key]
    needles += [base64.b64decode(secrets.private_key).hex()]
    for path in own_vault.iterdir():
        data = path.read_bytes()
        for needle in needles:
            assert needle.encode() not in data, path
        assert base64.b64decode(secrets.private_key) not in data, path
    assert sorted(p.name for p in own_vault.iterdir()) == ["vault_keyring", "vault_public_key"]


def test_sealing_needs_only_the_public_key(own_vault: Path, settings: Any) -> None:
    vault.seal({"address": "rosa@example.org"})
    keys.forget()  # a new process, with no passphrase to read
    settings.VAULT_PASSPHRASE_FILE = ""
    sealed = vault.seal({"address": "mateo@example.org"})
    with pytest.raises(VaultLocked):
        vault.unseal(sealed)


@pytest.mark.django_db
def test_an_older_install_is_moved_into_the_keyring_and_its_plain_keys_removed(
    own_vault: Path,
) -> None:
    public, private = vault.generate_keypair()
    blind = "an-older-blind-index-key"
    (own_vault / "vault_private_key").write_text(private)
    (own_vault / "blind_index_key").write_text(blind)
    keep = own_vault.parent / "a-link-to-the-old-file"
    os.link(own_vault / "vault_private_key", keep)
    index = vault._blind_key_of(blind)
    from nacl.public import PublicKey, SealedBox

    old_seal = bytes(
        SealedBox(PublicKey(base64.b64decode(public))).encrypt(b'{"address":"rosa@example.org"}')
    )
    said: list[str] = []

    keys.start(worker=True, ask=None, say=said.append)

    assert not (own_vault / "vault_private_key").exists()
    assert not (own_vault / "blind_index_key").exists()
    # Overwritten before it was removed: another name for the same file reads noise.
    assert private.encode() not in keep.read_bytes()
    assert vault.unseal(old_seal) == {"address": "rosa@example.org"}
    assert vault._blind_key() == index
    assert secrets_of(own_vault, passphrase()).private_key == private
    assert any("rotate" in line for line in said)


def test_the_first_start_at_a_terminal_asks_for_a_new_passphrase_twice(
    own_vault: Path, no_passphrase_file: None
) -> None:
    said: list[str] = []
    ask = answers(
        "short", "a long passphrase", "another one", "a long passphrase", "a long passphrase"
    )
    keys.start(worker=True, ask=ask, say=said.append)
    assert len(ask.prompts) == 5
    assert said[:2] == [
        "At least 8 characters, please: a few words are best.",
        "The two do not match.",
    ]
    assert secrets_of(own_vault, "a long passphrase")


def test_a_start_at_a_terminal_asks_again_after_a_wrong_passphrase(
    own_vault: Path, no_passphrase_file: None
) -> None:
    keys.create("the right passphrase")
    keys.forget()
    said: list[str] = []
    keys.start(worker=True, ask=answers("wrong one", "the right passphrase"), say=said.append)
    assert said == ["That passphrase does not open the vault."]
    assert vault.unseal(vault.seal({"a": 1})) == {"a": 1}
    keys.forget()
    with pytest.raises(WrongKey):
        keys.start(worker=True, ask=answers("no", "nope", "never"), say=said.append)


def test_a_web_server_with_no_way_to_get_the_passphrase_does_not_start(
    own_vault: Path, no_passphrase_file: None
) -> None:
    with pytest.raises(VaultLocked):
        keys.start(worker=False, ask=None, say=print)


def test_a_web_process_keeps_every_key_but_the_private_one(own_vault: Path) -> None:
    keys.start(worker=False, ask=None, say=print)
    sealed = vault.seal({"address": "rosa@example.org"})
    assert vault.blind_index("email", "rosa@example.org", form="email")
    assert security.open_totp(security.seal_totp("JBSWY3DPEHPK3PXP")) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(VaultError, match="holds only the vault's public key"):
        vault.unseal(sealed)
    assert keys.state().secrets is not None and keys.state().secrets.private_key == ""


def test_a_passphrase_file_in_the_data_folder_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", "import tocsin.settings"],
        env={
            "PATH": "/usr/bin:/bin",
            "TOCSIN_DATA_DIR": str(data),
            "TOCSIN_VAULT_PASSPHRASE_FILE": write(data / "passphrase", "in the wrong place"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "must not be in TOCSIN_DATA_DIR" in done.stderr


# The demo.


@pytest.mark.django_db
def test_the_demo_uses_its_known_passphrase_says_so_and_never_asks(
    own_vault: Path, no_passphrase_file: None, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("the demo asked"))
    cli._open_vault(worker=True, demo=True)
    assert "tocsin-demo" in capsys.readouterr().err
    ring = wrapping.read(own_vault)
    assert ring is not None and ring.demo
    assert secrets_of(own_vault, keys.DEMO_PASSPHRASE)


def test_a_real_start_on_the_demos_keyring_warns(own_vault: Path, no_passphrase_file: None) -> None:
    keys.start(worker=True, ask=None, say=print, passphrase=keys.DEMO_PASSPHRASE, demo=True)
    keys.forget()
    said: list[str] = []
    keys.start(worker=True, ask=answers(keys.DEMO_PASSPHRASE), say=said.append)
    assert "whose passphrase is public" in said[0]


def test_the_demo_on_a_folder_with_a_real_passphrase_stops_with_a_reason(
    own_vault: Path, no_passphrase_file: None
) -> None:
    keys.create("a real passphrase")
    keys.forget()
    with pytest.raises(VaultError, match="its own passphrase, not the demo's"):
        keys.start(worker=True, ask=None, say=print, passphrase=keys.DEMO_PASSPHRASE, demo=True)


# TOTP seeds.


def legacy_fernet(secret_key: str) -> Fernet:
    key = hashlib.sha256(b"tocsin-totp\0" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


@pytest.mark.django_db
def test_seeds_an_older_version_sealed_with_the_secret_key_are_sealed_again(
    own_vault: Path, settings: Any
) -> None:
    import time

    m = member("Diego")
    seed = security.new_totp_secret()
    old = legacy_fernet(settings.SECRET_KEY).encrypt(seed.encode())
    factor = SecondFactor.objects.create(
        member=m, kind=SecondFactor.Kind.TOTP, totp_secret=old, confirmed=True
    )
    assert security.open_totp(old) == seed  # still opens before the start reseals it

    assert security.reseal_totp_seeds() == 1
    assert security.reseal_totp_seeds() == 0
    factor.refresh_from_db()
    resealed = bytes(factor.totp_secret)
    assert security.open_totp(resealed) == seed
    with pytest.raises(InvalidToken):
        legacy_fernet(settings.SECRET_KEY).decrypt(resealed)
    assert security.verify_member_totp(m, security.totp_at(seed, int(time.time() // 30)))


def test_a_deployment_gives_the_totp_key_in_the_environment(own_vault: Path, settings: Any) -> None:
    public, _private = vault.generate_keypair()
    settings.VAULT_PUBLIC_KEY = public  # a web process of a deployment
    settings.TOTP_KEY = "a TOTP key given to every web process"
    blob = security.seal_totp("JBSWY3DPEHPK3PXP")
    assert security.open_totp(blob) == "JBSWY3DPEHPK3PXP"
    settings.TOTP_KEY = "another key"
    assert security.open_totp(blob) is None
    assert not (own_vault / "vault_keyring").exists()


def test_a_deployment_without_a_totp_key_keeps_the_key_from_the_secret_key(
    own_vault: Path, settings: Any
) -> None:
    public, _private = vault.generate_keypair()
    settings.VAULT_PUBLIC_KEY = public
    blob = security.seal_totp("JBSWY3DPEHPK3PXP")
    assert legacy_fernet(settings.SECRET_KEY).decrypt(blob) == b"JBSWY3DPEHPK3PXP"


# Shares.


def split(kek: bytes, threshold: int = 3, count: int = 5) -> tuple[Any, list[wrapping.Share]]:
    return wrapping.split(kek, threshold=threshold, count=count)


def test_any_k_shares_rebuild_the_key_and_fewer_do_not() -> None:
    kek = wrapping.new_kek()
    lock, shares = split(kek)
    assert [s.index for s in shares] == [1, 2, 3, 4, 5]
    assert lock.open([shares[4], shares[0], shares[2]]) == kek
    assert lock.open(shares) == kek
    with pytest.raises(VaultError, match="3 different shares"):
        lock.open([shares[0], shares[1], shares[1]])


def test_a_share_with_a_typo_is_caught_by_its_checksum() -> None:
    _lock, [share, *_] = split(wrapping.new_kek())
    text = str(share)
    assert wrapping.Share.parse(text.upper().replace("-", " - ")) == share
    position = text.index("-", len("tocsin-xxxx-1-")) + 1
    typo = text[:position] + ("1" if text[position] != "1" else "2") + text[position + 1 :]
    with pytest.raises(VaultError, match="checksum does not match"):
        wrapping.Share.parse(typo)
    with pytest.raises(VaultError, match="12 parts"):
        wrapping.Share.parse(text.rsplit("-", 1)[0])


def test_shares_of_another_split_are_refused() -> None:
    kek = wrapping.new_kek()
    lock, shares = split(kek)
    _other_lock, others = split(kek)
    with pytest.raises(VaultError, match="another split"):
        lock.open([shares[0], shares[1], others[2]])


# The data folder's permissions.


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_an_older_install_is_tightened_to_its_owner(tmp_path: Path) -> None:
    from tocsin.lib import datadir

    folder = tmp_path / "data"
    (folder / "media" / "photos").mkdir(parents=True)
    for name in ("tocsin.sqlite3", "tocsin.sqlite3-wal", "vault_private_key", "media/photos/a.jpg"):
        (folder / name).write_text("x")
        (folder / name).chmod(0o644)
    for sub in (folder, folder / "media"):
        sub.chmod(0o755)
    (folder / "media" / "photos").chmod(0o640)  # a folder nobody could enter
    datadir.secure(folder)
    assert {mode(p) for p in [folder, *folder.rglob("*")] if p.is_dir()} == {0o700}
    assert {mode(p) for p in folder.rglob("*") if p.is_file()} == {0o600}


def test_sqlite_makes_its_log_files_as_private_as_the_database(tmp_path: Path) -> None:
    import sqlite3
    from contextlib import closing

    from tocsin.lib import datadir

    path = tmp_path / "data" / "tocsin.sqlite3"
    datadir.private_file(path)
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
        db.commit()
        made = [p for p in path.parent.iterdir()]
        assert {p.name for p in made} >= {
            "tocsin.sqlite3",
            "tocsin.sqlite3-wal",
            "tocsin.sqlite3-shm",
        }
        assert {mode(p) for p in made} == {0o600}
    assert mode(path.parent) == 0o700


@pytest.fixture
def fresh_install(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TOCSIN_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "tocsin.settings",
        "TOCSIN_DATA_DIR": str(tmp_path / "data"),
        "TOCSIN_VAULT_PASSPHRASE_FILE": write(tmp_path / "passphrase", "a fresh passphrase"),
        "TOCSIN_VAULT_KDF": "interactive",
    }


def test_a_fresh_install_is_its_owners_alone(fresh_install: dict[str, str], tmp_path: Path) -> None:
    import subprocess
    import sys

    from tocsin.settings import BASE_DIR

    for argv in (
        ["manage", "migrate", "--verbosity", "0"],
        ["manage", "shell", "-c", "from tocsin import vault; vault.unseal(vault.seal({}))"],
    ):
        subprocess.run(
            [sys.executable, "-m", "tocsin.cli", *argv],
            env=fresh_install,
            cwd=BASE_DIR,
            stdin=subprocess.DEVNULL,
            check=True,
            capture_output=True,
        )
    folder = tmp_path / "data"
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {
        "tocsin.sqlite3",
        "vault_keyring",
        "vault_public_key",
        "secret_key",
    }
    assert {str(p): mode(p) for p in files} == {str(p): 0o600 for p in files}
    assert {mode(p) for p in [folder, *folder.rglob("*")] if p.is_dir()} == {0o700}
