"""Back up the database and the data folder, encrypted to the operator's public key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from tocsin.lib import source
from tocsin.ops import backup


class Command(BaseCommand):
    help = (
        "Write an encrypted backup (database snapshot and data folder) into "
        "TOCSIN_BACKUP_DIR, then delete backups older than TOCSIN_BACKUP_KEEP_DAYS. "
        "`--keygen FILE` makes the key pair: keep FILE off this server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--keygen", metavar="FILE", help="write a new private key to FILE")
        parser.add_argument("--to", metavar="DIR", help="instead of TOCSIN_BACKUP_DIR")
        parser.add_argument("--public-key", help="instead of TOCSIN_BACKUP_PUBLIC_KEY")
        parser.add_argument("--keep-days", type=int, help="instead of TOCSIN_BACKUP_KEEP_DAYS")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["keygen"]:
            self._keygen(Path(options["keygen"]))
            return
        raw_key = options["public_key"] or settings.BACKUP_PUBLIC_KEY
        if not raw_key:
            raise CommandError(
                "no public key: set TOCSIN_BACKUP_PUBLIC_KEY (make one with "
                "`tocsin manage backup --keygen FILE` on another machine)"
            )
        target = Path(options["to"] or settings.BACKUP_DIR)
        keep_days = options["keep_days"] or settings.BACKUP_KEEP_DAYS
        now = timezone.now()
        try:
            made = backup.create(
                db=connection.settings_dict,
                data_dir=Path(settings.DATA_DIR),
                target_dir=target,
                recipient=backup.public_key(raw_key),
                version=source.version(),
                now=now,
            )
        except backup.BackupError as e:
            raise CommandError(str(e)) from None
        self.stdout.write(f"wrote {made} ({made.stat().st_size} bytes)")
        for name in backup.prune(target, now=now, keep_days=keep_days):
            self.stdout.write(f"deleted {name} (older than {keep_days} days)")

    def _keygen(self, path: Path) -> None:
        private, public = backup.new_identity()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists; not overwriting a key") from None
        with os.fdopen(fd, "w") as out:
            out.write(f"# Tocsin backup private key. Public key: {public}\n{private}\n")
        self.stdout.write(f"wrote the private key to {path}: keep it off the server")
        self.stdout.write(f"TOCSIN_BACKUP_PUBLIC_KEY={public}")
