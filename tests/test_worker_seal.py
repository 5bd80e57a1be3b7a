"""Endpoints opened once are sealed again for the workers (tocsin.alerts.outbox.resealing):
the next alerts open them without an X25519, and still reach the right address."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import World
from tests.test_outbox import RecordingTransport, confirmed_incident, email_of
from tocsin import vault
from tocsin.alerts import outbox
from tocsin.alerts.models import WorkerSeal
from tocsin.alerts.outbox import resealing
from tocsin.incidents.models import State
from tocsin.incidents.services import change_state
from tocsin.transports import registry as transports_base

pytestmark = pytest.mark.django_db


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> type[RecordingTransport]:
    recording = type("Recording", (RecordingTransport,), {"sent": [], "failures": {}})
    monkeypatch.setattr(
        transports_base, "registry", lambda: {"email": recording, "webpush": recording}
    )
    return recording


def no_slow_open(blob: bytes) -> dict[str, Any]:
    raise AssertionError("opened the slow way")


def test_the_next_alert_opens_the_endpoints_without_the_slow_way(
    w: World, transport: type[RecordingTransport], monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = confirmed_incident(w)
    assert outbox.drain().sent == 2
    assert set(WorkerSeal.objects.values_list("endpoint_id", flat=True)) == {
        email_of(w.responder).pk,
        email_of(w.member).pk,
    }
    monkeypatch.setattr(vault, "unseal", no_slow_open)
    transport.sent.clear()
    change_state(incident, State.RESOLVED, actor=w.dispatcher)
    assert outbox.drain().sent == 2
    assert sorted(s.address for s in transport.sent) == ["mateo@example.org", "rosa@example.org"]


def test_a_worker_seal_holds_no_address_in_the_clear(
    w: World, transport: type[RecordingTransport]
) -> None:
    confirmed_incident(w)
    outbox.drain()
    for blob in WorkerSeal.objects.values_list("blob", flat=True):
        assert b"example.org" not in bytes(blob)


def test_a_changed_address_is_never_opened_as_the_old_one() -> None:
    old, new = (
        vault.seal({"address": "old@example.org"}),
        vault.seal({"address": "new@example.org"}),
    )
    _, seal = resealing.open_fast(old, None)
    assert seal is not None
    value, fresh = resealing.open_fast(new, seal)
    assert value == {"address": "new@example.org"}
    assert fresh is not None  # sealed again, for the new address


def test_a_seal_under_other_keys_is_opened_the_slow_way_and_sealed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sealed = vault.seal({"address": "ana@example.org"})
    _, seal = resealing.open_fast(sealed, None)
    assert seal is not None
    # What rotated vault keys look like to a stored seal: a different derived key.
    monkeypatch.setattr(resealing, "_key", lambda: b"\x01" * 32)
    value, fresh = resealing.open_fast(sealed, seal)
    assert value == {"address": "ana@example.org"}
    assert fresh is not None and fresh != seal
    assert resealing.open_fast(sealed, fresh) == (value, None)


def test_a_locked_vault_opens_no_worker_seal(monkeypatch: pytest.MonkeyPatch) -> None:
    sealed = vault.seal({"address": "ana@example.org"})
    _, seal = resealing.open_fast(sealed, None)

    def locked() -> Any:
        raise vault.VaultLocked("locked")

    monkeypatch.setattr(vault, "_private_key", locked)
    with pytest.raises(vault.VaultLocked):
        resealing.open_fast(sealed, seal)


@pytest.mark.parametrize("cut", ["flipped", "short"])
def test_a_damaged_seal_is_opened_the_slow_way_and_sealed_again(cut: str) -> None:
    sealed = vault.seal({"address": "ana@example.org"})
    _, seal = resealing.open_fast(sealed, None)
    assert seal is not None
    damaged = seal[:-1] + bytes([seal[-1] ^ 1]) if cut == "flipped" else seal[:30]
    value, fresh = resealing.open_fast(sealed, damaged)
    assert value == {"address": "ana@example.org"}
    assert fresh is not None


def test_a_seal_of_the_earlier_format_is_opened_the_slow_way_and_sealed_again() -> None:
    """Seals stored before AES-GCM (XChaCha20-Poly1305 under the same key, a 24-byte nonce
    and no version byte) still reach the right address, and are replaced once."""
    import hashlib
    import json
    import os

    from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt

    sealed = vault.seal({"address": "ana@example.org"})
    nonce = os.urandom(24)
    data = json.dumps({"address": "ana@example.org"}).encode()
    bound = hashlib.sha256(sealed).digest()
    earlier = nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(
        data, bound, nonce, resealing.worker_key()
    )
    value, fresh = resealing.open_fast(sealed, earlier)
    assert value == {"address": "ana@example.org"}
    assert fresh is not None and fresh[:1] == b"\x02"
    assert resealing.open_fast(sealed, fresh) == (value, None)


def test_each_seal_has_its_own_nonce() -> None:
    sealed = vault.seal({"address": "ana@example.org"})
    seals = {resealing.open_fast(sealed, None)[1] for _ in range(20)}
    assert len(seals) == 20


def test_an_idle_worker_seals_new_endpoints_before_their_first_alert(
    w: World, transport: type[RecordingTransport], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.members.models import ContactEndpoint

    verified = ContactEndpoint.objects.filter(verified_at__isnull=False, disabled_at__isnull=True)
    assert verified.exists() and not WorkerSeal.objects.exists()
    monkeypatch.setattr(resealing, "_prepared_after", 0)
    monkeypatch.setattr(resealing, "_rest_until", 0.0)
    assert outbox.prepare_seals() == verified.count()
    assert set(WorkerSeal.objects.values_list("endpoint_id", flat=True)) == set(
        verified.values_list("id", flat=True)
    )
    assert outbox.prepare_seals() == 0  # nothing left to seal: the pass is over
    # The first alert opens every address without an X25519, and reaches the right ones.
    monkeypatch.setattr(vault, "unseal", no_slow_open)
    confirmed_incident(w)
    assert outbox.drain().sent == 2
    assert sorted(s.address for s in transport.sent) == ["mateo@example.org", "rosa@example.org"]


def test_sealing_ahead_takes_endpoints_a_batch_at_a_time_and_skips_one_it_cannot_open(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.members.models import ContactEndpoint

    verified = list(
        ContactEndpoint.objects.filter(
            verified_at__isnull=False, disabled_at__isnull=True
        ).order_by("id")
    )
    assert len(verified) >= 3
    broken = verified[0]
    ContactEndpoint.objects.filter(pk=broken.pk).update(sealed=b"not sealed")
    monkeypatch.setattr(resealing, "_prepared_after", 0)
    monkeypatch.setattr(resealing, "_rest_until", 0.0)
    assert resealing.prepare(limit=2) == 1  # the broken one passed over
    assert resealing.prepare(limit=1000) == len(verified) - 2  # the rest, after those two
    assert not WorkerSeal.objects.filter(endpoint=broken).exists()
    # The pass is over: the next one starts from the first endpoint after a rest, so
    # the broken one is tried once a pass, never ahead of the others.
    assert resealing.prepare(limit=1000) == 0
    assert resealing._rest_until > 0 and resealing._prepared_after == 0
    added = ContactEndpoint.create(w.member, "email", "new@example.org", verified=True)
    assert resealing.prepare(limit=1000) == 0  # resting
    monkeypatch.setattr(resealing, "_rest_until", 0.0)
    assert resealing.prepare(limit=1000) == 1
    assert WorkerSeal.objects.filter(endpoint=added).exists()


def test_sealing_ahead_does_nothing_while_the_vault_is_locked(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked() -> Any:
        raise vault.VaultLocked("locked")

    monkeypatch.setattr(vault, "_private_key", locked)
    monkeypatch.setattr(resealing, "_rest_until", 0.0)
    assert outbox.prepare_seals() == 0
    assert not WorkerSeal.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_workers_housekeeping_seals_new_endpoints_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import time

    from tests.factories import world
    from tocsin import worker as worker_module
    from tocsin.members.models import ContactEndpoint

    world()
    verified = ContactEndpoint.objects.filter(verified_at__isnull=False, disabled_at__isnull=True)
    monkeypatch.setattr(resealing, "_prepared_after", 0)
    monkeypatch.setattr(resealing, "_rest_until", 0.0)
    monkeypatch.setattr(worker_module, "HOUSEKEEPING_SECONDS", 0.05)
    worker = worker_module.Worker()
    thread = threading.Thread(target=worker._housekeeping)
    thread.start()
    try:
        deadline = time.monotonic() + 60  # against a hang only
        while WorkerSeal.objects.count() < verified.count() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop_event.set()
        thread.join(60)
    assert set(WorkerSeal.objects.values_list("endpoint_id", flat=True)) == set(
        verified.values_list("id", flat=True)
    )


@pytest.mark.parametrize(
    "details",
    [
        {"address": "ana@example.org"},
        {"address": "+13235550100"},
        {"address": "ána@example.org"},
        {"endpoint": "https://push.example/x", "keys": {"p256dh": "p", "auth": "a"}},
        {"address": "ana@example.org", "label": "work"},
        {"address": 7},
    ],
)
def test_a_worker_seal_gives_back_exactly_the_details_sealed(details: dict[str, Any]) -> None:
    sealed = vault.seal(details)
    opened, seal = resealing.open_fast(sealed, None)
    assert opened == details and seal is not None
    assert resealing.open_fast(sealed, seal) == (details, None)
