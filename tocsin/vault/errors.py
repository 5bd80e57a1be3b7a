"""The vault's errors."""

from __future__ import annotations


class VaultError(RuntimeError):
    """The vault cannot do what was asked (for example, open without a private key)."""


class VaultLocked(VaultError):
    """The key is not in this process now: nobody unlocked it yet, or a lock dropped it.

    Work that needs it waits (deliveries stay queued) and is done once it is unlocked.
    """


class WrongKey(VaultError):
    """A passphrase or a set of shares that does not open the keyring."""


class BadShare(VaultError):
    """A share that cannot be read (a typo: its checksum does not match)."""
