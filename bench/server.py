"""What the benchmarks that run Tocsin's real HTTP server share (bench/flood.py,
bench/live.py, bench/intake.py): a free loopback port, a throwaway data folder and vault,
Django set up and migrated on it, and waiting for uvicorn to answer."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def throwaway_install(name: str) -> dict[str, str]:
    """Make a fresh data folder and, outside it as the vault wants, a passphrase file;
    return the environment that points a Tocsin process at them, on a free port."""
    data_dir = tempfile.mkdtemp(prefix=f"tocsin-{name}-")
    key_dir = tempfile.mkdtemp(prefix=f"tocsin-{name}-key-")
    passphrase_file = os.path.join(key_dir, "passphrase")
    with open(passphrase_file, "w") as f:
        f.write(f"{name} bench, thrown away after the run\n")
    os.chmod(passphrase_file, 0o600)
    url = f"http://127.0.0.1:{free_port()}"
    return {
        "DJANGO_SETTINGS_MODULE": "tocsin.settings",
        "TOCSIN_DATA_DIR": data_dir,
        # The throwaway vault opens without a prompt, with the cheapest key derivation.
        "TOCSIN_VAULT_PASSPHRASE_FILE": passphrase_file,
        "TOCSIN_VAULT_KDF": "interactive",
        "TOCSIN_SITE_URL": url,
        "TOCSIN_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TOCSIN_STAFF_MFA": "0",
    }


def set_up(env: dict[str, str]) -> str:
    """Point this process at the throwaway install ``env`` (throwaway_install), set Django
    up and migrate its database; return the port the server is to listen on."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env["TOCSIN_SITE_URL"].rsplit(":", 1)[1]


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("uvicorn stopped before it answered")
        try:
            with urllib.request.urlopen(f"{url}/offline/", timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"uvicorn did not answer at {url}")
