"""The vault's lock: `tocsin manage vault lock` takes the private key from every worker.

For the moment a door is knocked on. The lock travels through the database, so it reaches
workers on every machine; they drop the key before their next batch. Nothing is lost:
deliveries, replies and committee posts wait in the queue, never failed for it, until
`tocsin manage vault unlock` hands the keys back (sealed to a key pair each waiting worker
made for the wait) or a worker starts again with the passphrase. Web pages keep working.

"Another process" is a second key state swapped in (``other_process``); the last test
runs a real `tocsin worker` process.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tests.factories import EAST, World, world
from tests.peers.sms_provider import SmsProvider, running, use_twilio
from tests.peers.smtp import SMTPPeer, mail_settings
from tests.vault_support import passphrase
from tocsin import vault
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus, Purpose
from tocsin.incidents import replies
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state, open_incident
from tocsin.intake.models import ReportMessage
from tocsin.members import security
from tocsin.vault import keys, locking
from tocsin.vault.models import VaultState, WaitingProcess

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def vault_of_its_own(own_vault: Path) -> Path:
    return own_vault


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        yield peer


@contextmanager
def other_process(state: keys._State) -> Iterator[keys._State]:
    """Run the block as another process would: with ``state`` as its keys."""
    saved = keys._STATE
    keys._STATE = state
    try:
        yield state
    finally:
        keys._STATE = saved


def unlocked_keys() -> Any:
    """Return the secrets as `vault unlock` gets them: the keyring opened with the passphrase."""
    ring = keys.keyring()
    assert ring is not None
    return keys.open_keyring(ring, passphrase=passphrase())[0]


def confirmed(w: World) -> Incident:
    report = submit_report(channel="web", kind="checkpoint", lat=EAST[0], lng=EAST[1])
    incident = open_incident(report, actor=w.dispatcher)
    return change_state(incident, State.CONFIRMED, actor=w.dispatcher, summary="Checkpoint.")


def statuses() -> list[tuple[str, int]]:
    return sorted(Delivery.objects.values_list("status", "attempts"))


def test_a_lock_keeps_every_delivery_queued_until_unlocked(smtp: SMTPPeer) -> None:
    w = world()
    confirmed(w)
    queued = Delivery.objects.count()
    assert queued
    locking.lock()

    assert outbox.drain() == outbox.Outcome()
    assert statuses() == [(DeliveryStatus.QUEUED, 0)] * queued
    assert smtp.messages == []

    locking.unlock(unlocked_keys())
    assert outbox.drain() == outbox.Outcome(sent=queued)
    assert statuses() == [(DeliveryStatus.SENT, 1)] * queued


def test_a_delivery_claimed_before_the_lock_goes_back_without_counting_an_attempt(
    smtp: SMTPPeer,
) -> None:
    confirmed(world())
    batch = outbox.claim(kind="email")
    assert batch
    locking.lock()
    outcome = outbox.Outcome()
    outbox.send_batch(batch, outcome)
    assert outcome == outbox.Outcome()
    assert statuses() == [(DeliveryStatus.QUEUED, 0)] * len(batch)
    assert not Delivery.objects.exclude(error="").exists()


def test_a_lock_made_on_another_machine_reaches_this_worker() -> None:
    sealed = vault.seal({"address": "rosa@example.org"})
    assert locking.check()
    # Another machine's `vault lock`: only the database says so.
    VaultState.objects.update_or_create(pk=1, defaults={"generation": locking.generation() + 1})
    assert not locking.check()
    with pytest.raises(vault.VaultLocked):
        vault.unseal(sealed)
    # Nothing unlocks it again by itself, not even the passphrase file.
    assert not locking.check()


def test_web_pages_keep_their_keys_through_a_lock() -> None:
    index = vault.blind_index("email", "rosa@example.org", form="email")
    locking.lock()
    assert vault.blind_index("email", "rosa@example.org", form="email") == index
    assert security.open_totp(security.seal_totp("JBSWY3DPEHPK3PXP")) == "JBSWY3DPEHPK3PXP"
    assert vault.seal({"address": "rosa@example.org"})


def test_unlock_hands_the_keys_to_a_waiting_worker_and_the_copy_never_opens_again() -> None:
    sealed = vault.seal({"address": "rosa@example.org"})
    with other_process(keys._State()) as worker:
        keys.serve_as_worker()
        assert locking.check()
    locking.lock()  # `tocsin manage vault lock`, here
    with other_process(worker):
        assert not locking.check()
        assert worker.waiting is not None
        _process, handover_key = worker.waiting
    assert locking.waiting() == 1
    assert WaitingProcess.objects.get().sealed is None

    assert locking.unlock(unlocked_keys()) == 1  # `tocsin manage vault unlock`, here
    [row] = WaitingProcess.objects.all()
    assert row.sealed
    with other_process(worker):
        assert locking.check()
        assert vault.unseal(sealed) == {"address": "rosa@example.org"}
    # The worker took the keys, removed the row and forgot the key pair of the handover.
    assert not WaitingProcess.objects.exists()
    assert worker.waiting is None
    del handover_key


def test_a_lock_takes_back_keys_handed_over_but_not_taken_yet() -> None:
    with other_process(keys._State()) as worker:
        keys.serve_as_worker()
        assert locking.check()
    locking.lock()
    with other_process(worker):
        assert not locking.check()
    locking.unlock(unlocked_keys())
    locking.lock()
    assert WaitingProcess.objects.get().sealed is None
    with other_process(worker):
        assert not locking.check()


def test_a_worker_restarted_with_the_passphrase_resumes_after_a_lock() -> None:
    locking.lock()
    with other_process(keys._State()):
        keys.start(worker=True, ask=None, say=print, generation=locking.generation_or_none())
        assert locking.check()


def test_a_worker_started_without_the_passphrase_waits_for_unlock(settings: Any) -> None:
    vault.seal({"address": "rosa@example.org"})  # the first start made the keyring
    settings.VAULT_PASSPHRASE_FILE = ""
    said: list[str] = []
    with other_process(keys._State()) as worker:
        keys.start(worker=True, ask=None, say=said.append, generation=locking.generation())
        assert not locking.check()
    assert "waiting for `tocsin manage vault unlock`" in said[0]
    assert locking.unlock(unlocked_keys()) == 1
    with other_process(worker):
        assert locking.check()


def test_replies_to_reporters_wait_while_locked(settings: Any) -> None:
    with running() as peer:
        sms: SmsProvider = use_twilio(settings, peer)
        w = world()
        report = submit_report(
            channel="hotline",
            kind="checkpoint",
            lat=EAST[0],
            lng=EAST[1],
            reply_to=("sms", "+12135550147"),
        )
        message = replies.reply(report, "We are checking.", actor=w.dispatcher)
        locking.lock()
        assert replies.send_due() == 0
        message.refresh_from_db()
        assert (message.status, message.attempts) == (ReportMessage.Status.QUEUED, 0)
        assert sms.messages == []
        locking.unlock(unlocked_keys())
        assert replies.send_due() == 1
        assert [m.to for m in sms.messages] == ["+12135550147"]


def test_with_keys_in_the_environment_a_lock_pauses_the_workers(settings: Any) -> None:
    _public, private = vault.generate_keypair()
    settings.VAULT_PRIVATE_KEY = private
    vault.reset_caches()
    with other_process(keys._State()) as worker:
        keys.serve_as_worker()
        assert locking.check()
    locking.lock()
    with other_process(worker):
        assert not locking.check()
    # `vault unlock` where the private key is set: nothing to type.
    with other_process(keys._State()):
        assert locking.unlock(keys.current_secrets()) == 1
    with other_process(worker):
        assert locking.check()


def test_the_lock_and_unlock_commands() -> None:
    vault.seal({"address": "rosa@example.org"})
    out = io.StringIO()
    call_command("vault", "lock", stdout=out)
    assert "Locked (generation 1)" in out.getvalue()
    assert not locking.check()
    out = io.StringIO()
    call_command("vault", "status", stdout=out)
    assert "Lock: generation 1, last locked" in out.getvalue()
    out = io.StringIO()
    call_command("vault", "unlock", stdout=out)  # the passphrase from the file
    assert "no worker is waiting now" in out.getvalue()
    assert locking.check()


# A real worker process.


def eventually(what: str, condition: Callable[[], Any]) -> Any:
    """Wait for ``condition`` (a safety net against a hang, not a measure of speed)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def worker_database_url() -> str:
    if connection.vendor == "sqlite":
        return f"sqlite:///{connection.settings_dict['NAME']}"
    from tests.test_workers_exactly_once import workers_database_url

    return workers_database_url()


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_drops_the_key_at_a_lock_and_resumes_at_unlock(
    smtp: SMTPPeer, own_vault: Path, tmp_path: Path
) -> None:
    w = world()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TOCSIN_DATA_DIR": str(own_vault),
        "TOCSIN_DATABASE_URL": worker_database_url(),
        "TOCSIN_SITE_URL": django_settings.SITE_URL,
        "TOCSIN_SMTP_HOST": smtp.host,
        "TOCSIN_SMTP_PORT": str(smtp.port),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tocsin.cli", "worker"],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        first = confirmed(w)
        eventually(
            "every delivery of the first alert",
            lambda: (
                not Delivery.objects.filter(alert__incident=first)
                .exclude(status=DeliveryStatus.SENT)
                .exists()
            ),
        )
        sent = len(smtp.messages)

        locking.lock()
        eventually("the worker waiting for the keys", lambda: WaitingProcess.objects.exists())
        change_state(first, State.RESOLVED, actor=w.dispatcher)
        written = timezone.now()
        # The worker looked again after the all-clear was queued, and sent nothing.
        eventually(
            "the worker looking again",
            lambda: WaitingProcess.objects.filter(seen_at__gt=written).exists(),
        )
        queued = Delivery.objects.filter(alert__incident=first, alert__purpose=Purpose.ALL_CLEAR)
        assert queued.exists()
        assert set(queued.values_list("status", "attempts")) == {(DeliveryStatus.QUEUED, 0)}
        assert len(smtp.messages) == sent

        assert locking.unlock(unlocked_keys()) == 1
        eventually(
            "the all-clear sent",
            lambda: set(queued.values_list("status", flat=True)) == {DeliveryStatus.SENT},
        )
        assert not Delivery.objects.filter(
            status__in=[DeliveryStatus.FAILED, DeliveryStatus.DEAD]
        ).exists()
        assert worker.poll() is None, log.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert "vault unlocked: deliveries resume" in log.read_text()
