"""The `tocsin` command: demo, serve, worker, and Django's management commands."""

from __future__ import annotations

import argparse
import os
import sys


def _address(args: argparse.Namespace) -> tuple[str, int]:
    """Return the host and port to listen on, from the flags or TOCSIN_HOST/TOCSIN_PORT."""
    host = args.host or os.environ.get("TOCSIN_HOST") or "127.0.0.1"
    raw_port = args.port or os.environ.get("TOCSIN_PORT") or 8000
    try:
        port = int(raw_port)
    except ValueError:
        sys.exit(f"TOCSIN_PORT must be an integer, not {raw_port!r}")
    return host, port


def _setup(*, demo: bool = False, address: tuple[str, int] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
    if demo:
        os.environ["TOCSIN_DEMO"] = "1"
    if address is not None:
        # Links in messages must point where this server listens, unless the operator
        # named the public URL.
        host = "127.0.0.1" if address[0] in ("0.0.0.0", "::") else address[0]  # noqa: S104
        os.environ.setdefault("TOCSIN_SITE_URL", f"http://{host}:{address[1]}")
    import django

    django.setup()


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _open_vault(*, worker: bool, demo: bool = False) -> None:
    """Unlock the vault's keys into memory: the passphrase from the terminal, from
    TOCSIN_VAULT_PASSPHRASE_FILE, or the demo's public one. A web process keeps only what
    pages need; a worker that gets no passphrase waits, locked, for `vault unlock`."""
    from django.conf import settings
    from django.db import DatabaseError

    from tocsin.members import security
    from tocsin.vault import VaultError, VaultLocked, keys, locking

    demo_passphrase = demo and not settings.VAULT_PASSPHRASE_FILE
    if demo_passphrase:
        _say(
            f"Vault passphrase of the demo (public; never for real members): {keys.DEMO_PASSPHRASE}"
        )
    try:
        keys.start(
            worker=worker,
            # The demo never waits at a prompt.
            ask=None if demo else keys.terminal(),
            say=_say,
            passphrase=keys.DEMO_PASSPHRASE if demo_passphrase else "",
            demo=demo,
            generation=locking.generation_or_none(),
        )
    except VaultError as e:
        sys.exit(f"tocsin: {e}")
    try:
        # Authenticator-app seeds sealed by an older version with the secret key, which
        # lies in the data folder, are sealed again under the vault's TOTP key.
        resealed = security.reseal_totp_seeds()
    except (VaultLocked, DatabaseError):
        return
    if resealed:
        _say(f"Resealed {resealed} authenticator-app seeds under the vault's TOTP key.")


def _server_class():  # type: ignore[no-untyped-def]
    import uvicorn

    from tocsin.lib import sse

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            # Live pages hold Server-Sent Event streams open for ever: tell them to end,
            # so shutting down does not wait for every browser to go away.
            sse.shutdown()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    return Server


def _serve(host: str, port: int, *, worker: bool) -> None:
    import uvicorn

    from tocsin.alerts import cellindex
    from tocsin.lib import staticfiles
    from tocsin.worker import Worker, settle

    _Server = _server_class()
    # Static files compressed once, here, then served compressed (tocsin/lib/staticfiles.py).
    staticfiles.collect()
    # Confirming an incident targets members in this process: keep their areas in memory.
    cellindex.start()
    background = Worker() if worker else None
    if background is not None:
        settle()
        background.start()
    try:
        # access_log=False: the server's access log would hold client addresses.
        config = uvicorn.Config(
            "tocsin.asgi:application",
            host=host,
            port=port,
            access_log=False,
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=10,
        )
        _Server(config).run()
    finally:
        if background is not None:
            background.stop()


def _street_maps(*, demo: bool = False) -> str:
    """Return where the maps' streets come from, and how to get them when there are none."""
    from django.conf import settings

    from tocsin.public.basemap import describe

    if demo and settings.MAP_FILE is None and not settings.TILE_URL:
        # The demo cannot ship OpenStreetMap data: whoever runs it fetches Los Angeles once.
        return (
            "Street maps: none (maps show committee areas only). For streets, get a map of "
            "Los Angeles once and set TOCSIN_MAP_FILE: README, 'Street maps in the demo'."
        )
    return describe()


def cmd_demo(args: argparse.Namespace) -> None:
    host, port = _address(args)
    _setup(demo=True, address=(host, port))
    from django.conf import settings

    from tocsin.demo.data import load_demo, persona_members

    _migrate()
    _open_vault(worker=True, demo=True)
    from tocsin.legal import keys as legal_keys

    if legal_keys.ensure_demo_keyring():
        _say("Legal cases are sealed to a keyring the demo's passphrase opens (never real cases).")
    created = load_demo()
    print(f"\nTocsin demo {'created' if created else 'reused'} in {settings.DATA_DIR}")
    print(f"Open http://{host}:{port}/demo/ to log in as any of these (no password in the demo):")
    for m in persona_members():
        print(f"  {m.persona:<12} {m.display_name:<22} {m.demo_email}")  # type: ignore[attr-defined]
    print("Messages to demo members land in their demo inbox.")
    print(_street_maps(demo=True))
    print("Press Ctrl-C to stop.\n")
    _serve(host, port, worker=True)


def cmd_serve(args: argparse.Namespace) -> None:
    host, port = _address(args)
    _setup(address=(host, port))
    if args.migrate:
        _migrate()
    _open_vault(worker=args.with_worker)
    _say(_street_maps())
    _serve(host, port, worker=args.with_worker)


def cmd_worker(args: argparse.Namespace) -> None:
    _setup()
    _open_vault(worker=True)
    from tocsin.worker import Worker, settle

    settle()
    print("Tocsin worker running. Press Ctrl-C to stop.")
    Worker().run_forever()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    # Everything Tocsin writes (the database and its -wal and -shm files, keys, uploads) is
    # its owner's alone.
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="tocsin", description="Tocsin rapid-response network")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run everything on SQLite with demo data")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--host", default=None)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("serve", help="run the web server")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--host", default=None)
    p.add_argument("--migrate", action="store_true", help="apply migrations first")
    p.add_argument("--with-worker", action="store_true", help="also run a worker in this process")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("worker", help="run a delivery and task worker")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("manage", help="run a Django management command", add_help=False)
    p.set_defaults(func=None)
    if argv and argv[0] == "manage":
        _setup()
        from django.core.management import execute_from_command_line

        from tocsin.vault import keys

        # A command that needs the vault's keys asks for the passphrase at this terminal.
        keys.set_prompt(keys.terminal())

        execute_from_command_line(["tocsin manage", *argv[1:]])
        return
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
