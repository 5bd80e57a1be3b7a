"""Create or rotate the vault's key pair (contact addresses are sealed to it)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
from nacl.encoding import Base64Encoder
from nacl.public import PrivateKey, PublicKey, SealedBox

from tocsin import vault
from tocsin.family.models import EmergencyContact, FamilyPlan
from tocsin.intake.models import ReportContact
from tocsin.members.models import ContactEndpoint
from tocsin.transports.models import CommitteeChannel
from tocsin.vault import keys, locking, wrapping

# Everything sealed to the vault, by what the count says.
SEALED: list[tuple[type[models.Model], str]] = [
    (ContactEndpoint, "contact endpoints"),
    (ReportContact, "reporters' callbacks"),
    (CommitteeChannel, "committee channels"),
    (EmergencyContact, "emergency contacts"),
    (FamilyPlan, "family plans"),
]


class Command(BaseCommand):
    help = (
        "create: print a new vault key pair, blind-index key and TOTP key as TOCSIN_* lines. "
        "rotate: make a new key pair and re-seal every sealed address to it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["create", "rotate"])
        parser.add_argument("--batch", type=int, default=500)
        parser.add_argument(
            "--share-file",
            action="append",
            default=[],
            dest="share_files",
            help="a split vault: a file holding one share (repeat; otherwise asked for)",
        )

    def handle(
        self, *args: Any, action: str, batch: int, share_files: list[str], **options: Any
    ) -> None:
        if action == "create":
            public, private = vault.generate_keypair()
            self.stdout.write(f"TOCSIN_VAULT_PUBLIC_KEY={public}")
            self.stdout.write(f"TOCSIN_VAULT_PRIVATE_KEY={private}")
            self.stdout.write(f"TOCSIN_BLIND_INDEX_KEY={secrets.token_urlsafe(48)}")
            self.stdout.write(f"TOCSIN_TOTP_KEY={secrets.token_urlsafe(48)}")
            self.stderr.write(
                "Give web processes the public, blind-index and TOTP keys; workers the "
                "private and blind-index keys."
            )
            return
        self.rotate(batch, share_files)

    def _say(self, message: str) -> None:
        self.stderr.write(message)

    def rotate(self, batch: int, share_files: list[str]) -> None:
        embedded = keys.embedded()
        ring = keys.keyring() if embedded else None
        try:
            if ring is not None:
                current, kek = keys.open_for_change(
                    ring, ask=keys.terminal(), say=self._say, share_files=share_files
                )
                old = SealedBox(PrivateKey(current.private_key.encode(), Base64Encoder))
            else:
                old = SealedBox(vault._private_key())
        except vault.VaultError as e:
            raise CommandError(f"rotation needs the current private key: {e}") from None
        public_b64, private_b64 = vault.generate_keypair()
        new = SealedBox(PublicKey(public_b64.encode(), encoder=Base64Encoder))
        counts = []
        # One transaction: either everything is sealed to the new key, or nothing is.
        with transaction.atomic():
            for model, _label in SEALED:
                count = 0
                rows = model._default_manager.select_for_update().only("pk", "sealed")
                # A family plan with no words seals nothing (b"").
                rows = rows.exclude(sealed=b"")
                for row in rows.iterator(batch):
                    data = old.decrypt(bytes(row.sealed))  # type: ignore[attr-defined]
                    model._default_manager.filter(pk=row.pk).update(sealed=bytes(new.encrypt(data)))
                    count += 1
                counts.append(count)
            if ring is not None:
                rotated = replace(current, private_key=private_b64)
                # The same KEK: the passphrase, or the shares, open the new keyring too.
                ring = wrapping.Keyring.seal(rotated, kek, ring.lock, demo=ring.demo)
                wrapping.write(settings.DATA_DIR, ring, replace=True)
        # Workers hold the old key, which opens nothing now: they drop it and wait.
        locking.lock()
        if ring is not None:
            locking.unlock(rotated)
        vault.reset_caches()
        done = ", ".join(f"{n} {label}" for n, (_m, label) in zip(counts, SEALED, strict=True))
        self.stdout.write(f"Re-sealed {done}.")
        if ring is not None:
            self.stdout.write(
                "Running workers now wait for the new key: run `tocsin manage vault unlock` "
                "(or restart them). Restart `tocsin serve` too: it seals with the public key."
            )
            return
        self.stdout.write("Set these now on every process (workers get the private key):")
        self.stdout.write(f"TOCSIN_VAULT_PUBLIC_KEY={public_b64}")
        self.stdout.write(f"TOCSIN_VAULT_PRIVATE_KEY={private_b64}")
        self.stdout.write("Workers stop sending (the old key opens nothing) until restarted.")
