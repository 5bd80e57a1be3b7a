"""`tocsin manage vault status|lock|unlock|split|passphrase`: the vault's keys and its lock.

lock      every worker drops the private key before its next batch; deliveries wait queued
unlock    with the passphrase (or k shares): hand the keys to every waiting worker
split     cut the key-encryption key k-of-n among organizers (Shamir); print the shares
passphrase  wrap the keys with a new passphrase (also how a split vault gets one back)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tocsin.vault import keys, locking, wrapping
from tocsin.vault.errors import VaultError
from tocsin.vault.models import VaultState
from tocsin.vault.wrapping import Keyring, PassphraseLock, SharesLock


class Command(BaseCommand):
    help = "The vault's keys: status, lock, unlock, split (k-of-n shares), passphrase."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "lock", "unlock", "split", "passphrase"])
        parser.add_argument(
            "--share-file",
            action="append",
            default=[],
            dest="share_files",
            help="a split vault: a file holding one share (repeat; otherwise asked for)",
        )
        parser.add_argument("--threshold", type=int, default=3, help="split: shares that open it")
        parser.add_argument("--shares", type=int, default=5, help="split: shares to make")
        parser.add_argument(
            "--new-passphrase-file",
            default="",
            help="passphrase: read the new passphrase from this file (otherwise asked twice)",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, action)(**options)
        except VaultError as e:
            raise CommandError(str(e)) from None

    def _say(self, message: str) -> None:
        self.stderr.write(message)

    def _ring(self) -> Keyring:
        ring = keys.keyring()
        if ring is None:
            raise CommandError(
                "this data folder has no vault keyring: the first `tocsin serve --with-worker` "
                "or `tocsin worker` makes it"
            )
        return ring

    def _open(self, ring: Keyring, share_files: list[str]) -> tuple[wrapping.Secrets, bytes]:
        return keys.open_for_change(
            ring, ask=keys.terminal(), say=self._say, share_files=share_files
        )

    # --- actions ---

    def status(self, **options: Any) -> None:
        out = self.stdout.write
        if not keys.embedded():
            out("Keys: from TOCSIN_* variables (no keyring is used).")
        else:
            ring = keys.keyring()
            if ring is None:
                out("Keys: none yet (the first start makes the keyring).")
            elif isinstance(ring.lock, PassphraseLock):
                mib = ring.lock.memlimit // (1024 * 1024)
                out(
                    f"Keys: wrapped with a passphrase in {settings.DATA_DIR / wrapping.KEYRING} "
                    f"(Argon2id, {ring.lock.opslimit} passes, {mib} MiB)."
                )
            else:
                out(
                    f"Keys: split, any {ring.lock.threshold} of {ring.lock.count} shares open "
                    f"them (set {ring.lock.set})."
                )
            if ring is not None and ring.demo:
                out(
                    "Warning: made by `tocsin demo`, whose passphrase is public. "
                    "Set your own: tocsin manage vault passphrase"
                )
            if any(wrapping.legacy_secrets(settings.DATA_DIR)):
                out("Warning: an older version's plain key files are still in the data folder.")
        state = VaultState.objects.filter(pk=1).first()
        if state is None or not state.locked_at:
            out("Lock: never locked.")
        else:
            at = timezone.localtime(state.locked_at).strftime("%Y-%m-%d %H:%M")
            out(f"Lock: generation {state.generation}, last locked {at}.")
        out(f"Workers waiting for the keys: {locking.waiting()}.")

    def lock(self, **options: Any) -> None:
        generation = locking.lock()
        self.stdout.write(
            f"Locked (generation {generation}). Every worker drops the private key before "
            "its next batch; deliveries and replies wait in the queue. To resume: "
            "tocsin manage vault unlock (or restart the workers with the passphrase)."
        )

    def unlock(self, *, share_files: list[str], **options: Any) -> None:
        if keys.embedded():
            secrets, _kek = self._open(self._ring(), share_files)
        else:
            try:
                secrets = keys.current_secrets()
            except VaultError as e:
                raise CommandError(
                    f"{e}: run this where TOCSIN_VAULT_PRIVATE_KEY is set, or restart the workers"
                ) from None
        handed = locking.unlock(secrets)
        if handed:
            self.stdout.write(f"Unlocked: the keys went to {handed} waiting worker(s).")
        else:
            self.stdout.write(
                "Unlocked, but no worker is waiting now. A worker that notices the lock later "
                "waits again: run this once more. One started with the passphrase needs none."
            )

    def split(self, *, threshold: int, shares: int, share_files: list[str], **options: Any) -> None:
        ring: Keyring | None = None
        if keys.embedded():
            ring = self._ring()
            secrets, _kek = self._open(ring, share_files)
        else:
            # A deployment: wrap the keys of this process's environment for its workers.
            if keys.keyring() is not None:
                raise CommandError(f"{settings.DATA_DIR / wrapping.KEYRING} exists already")
            secrets = keys.current_secrets()
        # A new KEK: an old copy of the keyring with the old passphrase opens nothing new.
        kek = wrapping.new_kek()
        lock, parts = wrapping.split(kek, threshold=threshold, count=shares)
        wrapping.write(
            settings.DATA_DIR, Keyring.seal(secrets, kek, lock), replace=ring is not None
        )
        out = self.stdout.write
        out(
            f"The vault's key is split: any {threshold} of these {shares} shares open it "
            f"(set {lock.set}). Give each to a different organizer; keep no copy here."
        )
        for part in parts:
            out(f"Share {part.index} of {shares}: {part}")
        if ring is None:
            out(
                f"Copy {wrapping.KEYRING} and {wrapping.PUBLIC_KEY} from {settings.DATA_DIR} "
                "into each worker's data folder and remove TOCSIN_VAULT_PRIVATE_KEY and "
                "TOCSIN_VAULT_PUBLIC_KEY from the workers' environment: they then start "
                "locked and wait for `tocsin manage vault unlock`."
            )
        else:
            out(
                "The passphrase no longer opens the vault. Workers that start without a "
                "terminal wait for `tocsin manage vault unlock`, which asks for "
                f"{threshold} shares."
            )

    def passphrase(
        self, *, share_files: list[str], new_passphrase_file: str, **options: Any
    ) -> None:
        ring = self._ring()
        secrets, _kek = self._open(ring, share_files)
        if new_passphrase_file:
            new = keys.first_line(new_passphrase_file)
        else:
            ask = keys.terminal()
            new = keys.ask_new_passphrase(ask, self._say) if ask else ""
        if not new:
            raise CommandError(
                "no new passphrase: run this on a terminal, or --new-passphrase-file"
            )
        if len(new) < keys.MIN_PASSPHRASE:
            raise CommandError(f"a passphrase needs at least {keys.MIN_PASSPHRASE} characters")
        kek = wrapping.new_kek()
        lock = PassphraseLock.make(kek, new, kdf=settings.VAULT_KDF)
        wrapping.write(settings.DATA_DIR, Keyring.seal(secrets, kek, lock), replace=True)
        was_split = isinstance(ring.lock, SharesLock)
        self.stdout.write(
            "The vault now opens with the new passphrase"
            + (" (the shares no longer do)." if was_split else ".")
            + " If TOCSIN_VAULT_PASSPHRASE_FILE holds the old one, replace it."
        )
