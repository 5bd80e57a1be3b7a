"""Secrets generated once and kept in plain in the data folder for the embedded default.

Only what hides no member data lives here: the Django secret key, which signs sessions and
links and hashes short-lived codes (nothing is encrypted under it since TOTP seeds moved
to the vault's TOTP key). Keys that open or confirm a contact address, or open a TOTP
seed, live in the vault's keyring, wrapped with its passphrase (tocsin.vault.wrapping). A
deployment that sets its vault keys in the environment but not TOCSIN_BLIND_INDEX_KEY
still keeps the blind-index key here, as before (docs/operations.md says why not to).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def data_dir_secret(data_dir: Path, name: str, *, nbytes: int = 48) -> str:
    """Return the secret stored in ``data_dir/name``, creating it (mode 0600) if absent."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value
