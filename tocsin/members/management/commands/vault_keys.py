"""Create or rotate the vault's key pair (contact endpoints are sealed to it)."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from nacl.encoding import Base64Encoder
from nacl.public import PrivateKey, PublicKey, SealedBox

from tocsin import vault
from tocsin.members.models import ContactEndpoint


class Command(BaseCommand):
    help = (
        "create: print a new vault key pair and blind-index key as TOCSIN_* lines. "
        "rotate: make a new key pair and re-seal every contact endpoint to it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["create", "rotate"])
        parser.add_argument("--batch", type=int, default=500)

    def handle(self, *args: Any, action: str, batch: int, **options: Any) -> None:
        if action == "create":
            public, private = vault.generate_keypair()
            self.stdout.write(f"TOCSIN_VAULT_PUBLIC_KEY={public}")
            self.stdout.write(f"TOCSIN_VAULT_PRIVATE_KEY={private}")
            self.stdout.write(f"TOCSIN_BLIND_INDEX_KEY={secrets.token_urlsafe(48)}")
            self.stderr.write("Give web processes only the public key; workers the private key.")
            return
        self.rotate(batch)

    def rotate(self, batch: int) -> None:
        embedded = not settings.VAULT_PRIVATE_KEY and not settings.VAULT_PUBLIC_KEY
        try:
            old = SealedBox(vault._private_key())
        except vault.VaultError as e:
            raise CommandError(f"rotation needs the current private key: {e}") from None
        public_b64, private_b64 = vault.generate_keypair()
        new = SealedBox(PublicKey(public_b64.encode(), encoder=Base64Encoder))
        count = 0
        # One transaction: either every endpoint is sealed to the new key, or none is.
        with transaction.atomic():
            for endpoint in (
                ContactEndpoint.objects.select_for_update().only("id", "sealed").iterator(batch)
            ):
                data = old.decrypt(bytes(endpoint.sealed))
                ContactEndpoint.objects.filter(pk=endpoint.pk).update(
                    sealed=bytes(new.encrypt(data))
                )
                count += 1
            if embedded:
                path = settings.DATA_DIR / "vault_private_key"
                tmp = path.with_suffix(".new")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(private_b64)
                os.replace(tmp, path)
        vault.reset_caches()
        # Checks that the new key opens what was written (and that the file is in place).
        PrivateKey(private_b64.encode(), encoder=Base64Encoder)
        self.stdout.write(f"Re-sealed {count} contact endpoints.")
        if not embedded:
            self.stdout.write("Set these now on every process (workers get the private key):")
            self.stdout.write(f"TOCSIN_VAULT_PUBLIC_KEY={public_b64}")
            self.stdout.write(f"TOCSIN_VAULT_PRIVATE_KEY={private_b64}")
