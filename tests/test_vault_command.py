"""`tocsin manage vault split|unlock|passphrase|status`: the key split among organizers.

No single admin device holds a split key: the keyring's key-encryption key is cut k-of-n
(Shamir), each share printed with its index and a checksum, and `vault unlock` asks for k
of them one by one (or reads them from files).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.vault_support import passphrase, write
from tocsin import vault
from tocsin.vault import keys, locking, wrapping
from tocsin.vault.errors import WrongKey

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("vault", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def shares_in(output: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("Share ")]


def at_a_terminal(monkeypatch: pytest.MonkeyPatch, *typed: str) -> list[str]:
    """Answer the command's prompts with ``typed``; return the prompts it showed."""
    queue, prompts = list(typed), []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return queue.pop(0)

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", getpass)
    return prompts


@pytest.fixture
def split_vault(own_vault: Path) -> list[str]:
    sealed = vault.seal({"address": "rosa@example.org"})
    output = run("split", "--threshold", "3", "--shares", "5")
    assert vault.unseal(sealed)  # this process still holds the keys
    keys.forget()  # the next command is another process
    return shares_in(output)


def test_split_prints_each_share_with_its_index(split_vault: list[str]) -> None:
    assert [s.split("-")[2] for s in split_vault] == ["1", "2", "3", "4", "5"]
    assert len({s.split("-")[1] for s in split_vault}) == 1  # one set
    ring = keys.keyring()
    assert ring is not None and isinstance(ring.lock, wrapping.SharesLock)
    assert not any(s.encode() in p.read_bytes() for s in split_vault for p in ring_files())


def ring_files() -> list[Path]:
    from django.conf import settings

    return list(Path(settings.DATA_DIR).iterdir())


def test_after_a_split_the_passphrase_opens_nothing(split_vault: list[str]) -> None:
    ring = keys.keyring()
    assert ring is not None
    with pytest.raises(CommandError, match="give them with --share-file"):
        run("unlock")
    with pytest.raises(WrongKey):
        keys.open_keyring(ring, passphrase=passphrase())


def test_unlock_from_share_files(split_vault: list[str], tmp_path: Path) -> None:
    files = [write(tmp_path / f"s{i}", s) for i, s in enumerate(split_vault)]
    run("unlock", "--share-file", files[4], "--share-file", files[1], "--share-file", files[2])
    assert locking.check()


def test_too_few_shares_open_nothing(split_vault: list[str], tmp_path: Path) -> None:
    files = [write(tmp_path / f"s{i}", s) for i, s in enumerate(split_vault)]
    with pytest.raises(CommandError, match="3 different shares are needed"):
        run("unlock", "--share-file", files[0], "--share-file", files[1])


def test_unlock_asks_for_shares_one_by_one_and_again_after_a_typo(
    split_vault: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = split_vault[2][:-1] + ("0" if split_vault[2][-1] != "0" else "1")
    prompts = at_a_terminal(
        monkeypatch, split_vault[0], typo, split_vault[2], split_vault[0], split_vault[3]
    )
    run("unlock")
    assert prompts == [
        "Share 1 of 3: ",
        "Share 2 of 3: ",
        "Share 2 of 3: ",
        "Share 3 of 3: ",
        "Share 3 of 3: ",
    ]
    assert locking.check()


def test_a_new_passphrase_replaces_the_shares(
    split_vault: list[str], tmp_path: Path, settings: Any
) -> None:
    files = [write(tmp_path / f"s{i}", s) for i, s in enumerate(split_vault)]
    new = write(tmp_path / "new", "a new passphrase for the committee")
    output = run(
        "passphrase",
        *[a for f in files[:3] for a in ("--share-file", f)],
        "--new-passphrase-file",
        new,
    )
    assert "the shares no longer do" in output
    settings.VAULT_PASSPHRASE_FILE = new
    keys.forget()
    run("unlock")
    assert locking.check()


def test_a_new_passphrase_at_a_terminal(
    own_vault: Path, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    vault.seal({"address": "rosa@example.org"})
    at_a_terminal(monkeypatch, "a new passphrase", "a new passphrase")
    run("passphrase")  # the current one from the passphrase file
    ring = keys.keyring()
    assert ring is not None
    assert keys.open_keyring(ring, passphrase="a new passphrase")
    with pytest.raises(WrongKey):
        keys.open_keyring(ring, passphrase=passphrase())


def test_a_deployment_splits_the_keys_of_its_environment_for_its_workers(
    own_vault: Path, settings: Any, tmp_path: Path
) -> None:
    public, private = vault.generate_keypair()
    settings.VAULT_PUBLIC_KEY, settings.VAULT_PRIVATE_KEY = public, private
    settings.BLIND_INDEX_KEY, settings.TOTP_KEY = "the blind-index key", "the TOTP key"
    output = run("split", "--threshold", "2", "--shares", "3")
    assert "Copy vault_keyring and vault_public_key" in output
    # A worker with that keyring and no vault key in its environment.
    settings.VAULT_PUBLIC_KEY = settings.VAULT_PRIVATE_KEY = ""
    keys.forget()
    files = [write(tmp_path / f"s{i}", s) for i, s in enumerate(shares_in(output))]
    run("unlock", "--share-file", files[0], "--share-file", files[2])
    secrets = keys.current_secrets()
    assert (secrets.private_key, secrets.blind_index_key, secrets.totp_key) == (
        private,
        "the blind-index key",
        "the TOTP key",
    )
    assert keys.public_key() == public


def test_status_says_how_the_keys_are_kept(split_vault: list[str]) -> None:
    output = run("status")
    assert "Keys: split, any 3 of 5 shares open them" in output
    assert "Lock: never locked." in output
    assert "Workers waiting for the keys: 0." in output
