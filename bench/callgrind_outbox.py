"""Outbox work per delivery in instructions, under callgrind: a figure the shared machine's
noise does not move.

    uv run python bench/callgrind_outbox.py                  # 20,000 members, 5,000 recipients
    uv run python bench/callgrind_outbox.py --members 2000 --recipients 500   # quicker
    uv run python bench/callgrind_outbox.py --tree ../other-checkout      # another checkout's code
    uv run python bench/callgrind_outbox.py --keep /tmp/cg   # keep callgrind's files to annotate

On these machines the CPU time of the same drain moves by half from one run to the next
(bench/fanout.py's repeats: 21 to 41 us a delivery within minutes), so a change of a few
per cent cannot be seen in it. Instructions can: valgrind's callgrind counts them, and two
runs of the same code differ by about 0.1 %. They are not time (a cache miss or a system
call counts as nothing, and valgrind's emulated CPU may take slower paths in OpenSSL), so
use this to compare two versions of the code and bench/fanout.py for the figure in time.

What is measured, as in bench/fanout.py: SQLite, a confirmed alert's deliveries drained by
``outbox.drain()`` to the null transport (claim, open, render, hand over, record), in one
process that settled as a worker does (tocsin.worker.settle). A throwaway data folder is
made and filled natively (not counted); then a second process runs under callgrind with
instrumentation off, drains one alert (not counted, a warm worker), confirms a second, and
counts from the drain's first call until every delivery is recorded sent (the send pool's
threads included). The floor, counted the same way: one bare INSERT ... SELECT of the
same rows into the delivery table, committed (bench/fanout.py's floor). And the peer: the
least Python any outbox runs per delivery, in one thread without a lease (bench/fanout.py's
peer), on a second alert.

Needs valgrind (Debian's package valgrind: callgrind and callgrind_control).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def _env(folder: Path) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "tocsin.settings",
        "TOCSIN_DATA_DIR": str(folder / "data"),
        "TOCSIN_VAULT_PASSPHRASE_FILE": str(folder / "key" / "passphrase"),
        "TOCSIN_VAULT_KDF": "interactive",
        "TOCSIN_SITE_URL": "http://127.0.0.1:8000",
        "TOCSIN_ALLOWED_HOSTS": "127.0.0.1",
        "TOCSIN_STAFF_MFA": "0",
        "TOCSIN_LOG_LEVEL": "WARNING",
    }


def _django(tree: Path) -> Any:
    sys.path[:0] = [str(tree / "bench"), str(tree)]
    import fanout

    fanout.setup_django()
    return fanout


def prepare(folder: Path, tree: Path, members: int, recipients: int) -> None:
    """Fill ``folder`` natively: members, endpoints sealed ahead, one alert drained."""
    from django.core.management import call_command
    from django.db import connection

    fanout = _django(tree)
    from tocsin.alerts import outbox

    call_command("migrate", verbosity=0)
    committee, dispatcher = fanout.bench_committee()
    cols = fanout.dataset(members, recipients, 42, folder / "dataset.pickle")
    fanout.load(cols, committee.pk)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    while outbox.prepare_seals(limit=5000):
        pass
    with connection.cursor() as cur:
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (folder / "meta.json").write_text(json.dumps({"dispatcher": dispatcher.pk}))


def _toggle(on: bool) -> None:
    """Turn callgrind's counting on or off for this process, and wait until it did (the
    request is taken while this process sleeps in a system call)."""
    control = subprocess.Popen(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        stdout=subprocess.DEVNULL,
    )
    while control.poll() is None:
        time.sleep(0.005)


@contextmanager
def _counted() -> Any:
    _toggle(True)
    try:
        yield
    finally:
        _toggle(False)


def measure(folder: Path, tree: Path, recipients: int, part: str) -> None:
    """Under callgrind: count the drain of one alert (``part`` "drain"), the floor or the
    peer."""
    fanout = _django(tree)
    from tocsin import geo
    from tocsin.alerts import outbox, targeting
    from tocsin.members.models import Member

    dispatcher = Member.objects.get(pk=json.loads((folder / "meta.json").read_text())["dispatcher"])
    fanout.warm_up()
    # A warm worker: one alert drained before the counted one.
    fanout.run_sqlite(dispatcher, recipients, 3600)
    if part == "floor":
        alert = targeting.alert_disk(geo.cell_at(*fanout.DOWNTOWN, geo.REPORT_RESOLUTION))
        inside = sorted(geo.disk(alert.cell, alert.ring))
        fanout.floor(fanout.new_incident(dispatcher), inside, recipients, around=_counted())
        return
    if part == "peer":
        fanout.peer(dispatcher, recipients, around=_counted())
        return
    incident = fanout.new_incident(dispatcher)
    fanout.NullTransport.take()
    _, _, alert_id = fanout.confirm(incident, dispatcher)
    with _counted():
        done = 0
        while done < recipients:
            outcome = outbox.drain()
            done += outcome.sent + outcome.failed + outcome.dead
    fanout.check_sent(alert_id, recipients, fanout.NullTransport.take())


def _python(tree: Path) -> str:
    """The tree's own interpreter (its virtual environment), else this one."""
    venv = tree / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _count(folder: Path, tree: Path, recipients: int, part: str) -> int:
    out = folder / f"callgrind.{part}.out"
    run = folder / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(folder / "data", run / "data")
    shutil.copytree(folder / "key", run / "key")
    shutil.copy(folder / "meta.json", run / "meta.json")
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            _python(tree),
            str(HERE),
            "--measure",
            part,
            f"--folder={run}",
            f"--tree={tree}",
            f"--recipients={recipients}",
        ],
        env={**os.environ, **_env(run)},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"the {part} under callgrind failed:\n{done.stderr[-3000:]}")
    for line in out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    sys.exit(f"no totals in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--recipients", type=int, default=5_000)
    parser.add_argument("--tree", type=Path, default=HERE.parent.parent, help="the checkout")
    parser.add_argument(
        "--keep", type=Path, help="copy callgrind's output files here (for callgrind_annotate)"
    )
    parser.add_argument("--measure", choices=["drain", "floor", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    tree = args.tree.resolve()
    if args.prepare:
        prepare(args.folder, tree, args.members, args.recipients)
        return
    if args.measure:
        measure(args.folder, tree, args.recipients, args.measure)
        return
    if shutil.which("callgrind_control") is None:
        sys.exit("needs valgrind (apt-get install valgrind)")
    folder = Path(tempfile.mkdtemp(prefix="tocsin-callgrind-"))
    try:
        (folder / "key").mkdir()
        (folder / "data").mkdir()
        passphrase = folder / "key" / "passphrase"
        passphrase.write_text("callgrind bench, thrown away after the run\n")
        passphrase.chmod(0o600)
        print(
            f"Outbox instructions per delivery: {args.members:,} members, {args.recipients:,}"
            f" recipients, tree {tree}",
            flush=True,
        )
        filled = subprocess.run(
            [
                _python(tree),
                str(HERE),
                "--prepare",
                f"--folder={folder}",
                f"--tree={tree}",
                f"--members={args.members}",
                f"--recipients={args.recipients}",
            ],
            env={**os.environ, **_env(folder)},
        )
        if filled.returncode:
            sys.exit("could not fill the data folder")
        drain = _count(folder, tree, args.recipients, "drain") / args.recipients
        floor = _count(folder, tree, args.recipients, "floor") / args.recipients
        least = _count(folder, tree, args.recipients, "peer") / args.recipients
        print(
            f"drain: {drain:,.0f} instructions per delivery"
            " (claim, open, render, hand over, record)"
        )
        print(f"floor: {floor:,.0f} instructions per row (one bare INSERT ... SELECT, committed)")
        print(
            f"peer: {least:,.0f} instructions per delivery (the least Python any outbox runs:"
            " bench/fanout.py's peer)"
        )
        print(
            f"drain / floor: {drain / floor:.1f}x; peer / floor: {least / floor:.1f}x;"
            f" drain / peer: {drain / least:.2f}x"
        )
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for out in folder.glob("callgrind.*.out"):
                shutil.copy(out, args.keep / out.name)
            print(f"callgrind's files: {args.keep} (callgrind_annotate --inclusive=yes FILE)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
