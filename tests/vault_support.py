"""A data folder and vault key state of a test's own.

The suite's processes share one data folder and unlock its keyring once (from the
passphrase file tests/settings.py writes). A test that makes, migrates, splits, rotates or
locks a keyring gets its own folder and its own key state instead, so nothing it does
reaches another test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from tocsin import vault
from tocsin.vault import keys

PASSPHRASE_FILE = django_settings.VAULT_PASSPHRASE_FILE


def passphrase() -> str:
    """Return the suite's passphrase (the one its keyrings open with)."""
    return keys.first_line(PASSPHRASE_FILE)


@pytest.fixture
def own_vault(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Give the test an empty data folder and a process that holds no key yet."""
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    settings.DATA_DIR = folder
    settings.VAULT_PUBLIC_KEY = settings.VAULT_PRIVATE_KEY = ""
    settings.BLIND_INDEX_KEY = settings.TOTP_KEY = ""
    monkeypatch.setattr(keys, "_STATE", keys._State())
    vault.reset_caches()
    yield folder
    vault.reset_caches()


def write(path: Path, text: str) -> str:
    path.write_text(text + "\n")
    return str(path)
