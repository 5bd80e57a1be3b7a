"""`tocsin manage legal_keys`: make the legal team's key pair.

The public key goes into the data folder (every process seals cases with it). The private
key is, for the processes the legal team reads cases in: wrapped with a passphrase into the
data folder's legal_keyring.json (--passphrase-file; those processes get
TOCSIN_LEGAL_PASSPHRASE_FILE), written to a file outside the data folder
(--private-key-file: TOCSIN_LEGAL_PRIVATE_KEY_FILE), or printed once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tocsin.legal import keys


class Command(BaseCommand):
    help = "Make the legal team's key pair (cases are sealed to it, not to the vault)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--private-key-file",
            help="write the private key to this file (outside the data folder), mode 600",
        )
        parser.add_argument(
            "--passphrase-file",
            help="wrap the private key with the passphrase in this file (first line) into "
            "the data folder, like the vault's keyring",
        )
        parser.add_argument("--replace", action="store_true", help="replace an existing public key")

    def handle(self, *args: Any, **options: Any) -> None:
        target = keys.public_file()
        if target.exists() and not options["replace"]:
            raise CommandError(
                f"{target} exists: cases are sealed to it. --replace makes a new pair "
                "(cases sealed to the old one open only with the old private key)"
            )
        out = options.get("private_key_file")
        if out and Path(out).resolve().is_relative_to(Path(settings.DATA_DIR)):
            raise CommandError("the private key must not be in the data folder")
        passphrase_file = options.get("passphrase_file")
        passphrase = ""
        if passphrase_file:
            if Path(passphrase_file).resolve().is_relative_to(Path(settings.DATA_DIR)):
                raise CommandError("the passphrase file must not be in the data folder")
            with open(passphrase_file) as f:
                passphrase = f.readline().rstrip("\r\n")
            if len(passphrase) < 8:
                raise CommandError("the passphrase needs at least 8 characters")
        public, private = keys.generate()
        if passphrase:
            keys.write_keyring(public, private, passphrase)
        if out:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(private + "\n")
        target.write_text(public + "\n")
        self.stdout.write(f"TOCSIN_LEGAL_PUBLIC_KEY={public}")
        if passphrase:
            self.stdout.write(f"TOCSIN_LEGAL_PASSPHRASE_FILE={passphrase_file}")
        elif out:
            self.stdout.write(f"TOCSIN_LEGAL_PRIVATE_KEY_FILE={out}")
        else:
            self.stdout.write(f"TOCSIN_LEGAL_PRIVATE_KEY={private}")
            self.stdout.write("Give the private key only to the legal team's processes.")
