"""Restore an encrypted backup into an empty database and data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from tocsin.ops import backup


class Command(BaseCommand):
    help = (
        "Restore a backup made by `tocsin manage backup` into this server's empty database "
        "and data folder. Then start Tocsin as usual (the vault asks for its passphrase)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the .tocsin-backup file")
        parser.add_argument(
            "--identity", required=True, metavar="FILE", help="the private key from --keygen"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = backup.restore(
                source=Path(options["file"]),
                identity=backup.read_identity(Path(options["identity"])),
                db=connection.settings_dict,
                data_dir=Path(settings.DATA_DIR),
            )
        except backup.BackupError as e:
            raise CommandError(str(e)) from None
        except FileNotFoundError as e:
            raise CommandError(f"no such file: {e.filename}") from None
        self.stdout.write(
            f"restored a backup of Tocsin {manifest['version']} made {manifest['created']}; "
            "run `tocsin serve --migrate` if this version is newer"
        )
