"""The VAPID key: `tocsin manage vapid show|rotate`, and the signed tokens reused per push
service. Each test keeps its key in its own folder, so rotating never touches another
test's key."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command, get_commands

from tests import factories
from tests.peers.push_service import PushService
from tocsin.members.management.commands.vapid import Command
from tocsin.members.models import ContactEndpoint
from tocsin.transports import vapid
from tocsin.transports.base import Message, TransportError
from tocsin.transports.webpush import WebPushTransport

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Only the VAPID key moves: the vault's keys stay where the rest of the suite has them.
    monkeypatch.setattr(vapid, "key_path", lambda: tmp_path / "vapid_private_key.pem")
    settings.VAPID_PRIVATE_KEY = ""
    vapid.reset_caches()
    yield tmp_path
    vapid.reset_caches()  # later tests load the suite's own key again


def run(*args: str, answer: str | None = None, monkeypatch: Any = None) -> str:
    if answer is not None:
        monkeypatch.setattr("builtins.input", lambda prompt: answer)
    out = io.StringIO()
    call_command(Command(), *args, stdout=out)
    return out.getvalue()


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def push(sub: dict[str, Any]) -> None:
    payload = {"address": sub["endpoint"], "keys": sub["keys"]}
    message = Message(subject="Test", text="Test", url="/", extra={"ttl": 60})
    WebPushTransport().send(payload, message, idempotency_key="a1-e1")


def test_tocsin_manage_finds_the_command() -> None:
    # Django finds commands only in installed apps: tocsin.transports must be one.
    assert "vapid" in get_commands(), "add 'tocsin.transports' to INSTALLED_APPS"


def test_show_prints_the_key_browsers_subscribe_with(data_dir: Path) -> None:
    out = run("show")
    assert f"public key (applicationServerKey): {vapid.application_server_key()}" in out
    assert f"private key: {data_dir / 'vapid_private_key.pem'} (mode 0600)" in out
    assert f"subject: {django_settings.VAPID_SUBJECT}" in out


def test_the_key_is_made_on_first_use_and_kept(data_dir: Path) -> None:
    path = data_dir / "vapid_private_key.pem"
    assert not path.exists()
    first = vapid.application_server_key()
    assert mode(path) == 0o600
    vapid.reset_caches()
    assert vapid.application_server_key() == first
    assert first in run("show")


def test_the_public_key_is_an_uncompressed_p256_point() -> None:
    key = vapid.application_server_key()
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def test_rotate_makes_a_new_private_key(data_dir: Path) -> None:
    old = vapid.application_server_key()
    out = run("rotate", "--no-input")
    new = vapid.application_server_key()
    assert new != old
    assert f"new public key (applicationServerKey): {new}" in out
    path = data_dir / "vapid_private_key.pem"
    assert mode(path) == 0o600
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert new in run("show")
    # No half-written or temporary copy of the key is left next to it.
    assert [p.name for p in data_dir.iterdir()] == ["vapid_private_key.pem"]


def test_rotate_warns_that_members_must_turn_push_on_again() -> None:
    w = factories.world()
    for n, member in enumerate([w.member, w.member, w.responder]):
        ContactEndpoint.create(
            member, "webpush", f"https://push.example/{n}", data={"keys": {}}, verified=True
        )
    out = run("rotate", "--no-input")
    assert "3 device(s) of 2 member(s)" in out
    assert "Members must turn push on again on each device" in out
    assert "Restart the web and worker processes" in out


def test_rotate_keeps_every_subscription_row() -> None:
    w = factories.world()
    ContactEndpoint.create(
        w.member, "webpush", "https://push.example/1", data={"keys": {}}, verified=True
    )
    run("rotate", "--no-input")
    push_rows = ContactEndpoint.objects.filter(kind="webpush")
    assert push_rows.count() == 1
    assert push_rows.get().disabled_at is None


def test_rotate_asks_first(monkeypatch: pytest.MonkeyPatch) -> None:
    old = vapid.application_server_key()
    with pytest.raises(CommandError, match="cancelled"):
        run("rotate", answer="no", monkeypatch=monkeypatch)
    vapid.reset_caches()
    assert vapid.application_server_key() == old
    run("rotate", answer="yes", monkeypatch=monkeypatch)
    assert vapid.application_server_key() != old


def test_a_key_from_the_environment_is_shown_and_never_rotated(
    settings: Any, data_dir: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    settings.VAPID_PRIVATE_KEY = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    vapid.reset_caches()
    out = run("show")
    assert "private key: from TOCSIN_VAPID_PRIVATE_KEY" in out
    with pytest.raises(CommandError, match="TOCSIN_VAPID_PRIVATE_KEY"):
        run("rotate", "--no-input")
    assert not (data_dir / "vapid_private_key.pem").exists()


def test_after_rotation_old_subscriptions_are_refused_and_new_ones_work() -> None:
    with PushService() as service:
        old = service.subscription(application_server_key=vapid.application_server_key())
        push(old)
        run("rotate", "--no-input")
        with pytest.raises(TransportError) as info:
            push(old)
        # Permanent: the outbox turns the subscription off and uses the next channel.
        assert info.value.permanent
        new = service.subscription(application_server_key=vapid.application_server_key())
        push(new)
        assert len(service.messages_for(old)) == 1
        assert len(service.messages_for(new)) == 1
        assert [r["status"] for r in service.rejections] == [403]


# The signed token: one ES256 signature per push service for hours, not one per push.


def test_the_token_is_reused_for_the_same_push_service() -> None:
    now = 1_900_000_000.0
    first = vapid.authorization("https://fcm.googleapis.com", now=now)
    later = now + vapid.TOKEN_SECONDS - vapid.TOKEN_MARGIN - 60
    assert vapid.authorization("https://fcm.googleapis.com", now=later) == first


def test_a_token_near_its_end_is_signed_afresh() -> None:
    now = 1_900_000_000.0
    first = vapid.authorization("https://fcm.googleapis.com", now=now)
    late = now + vapid.TOKEN_SECONDS - vapid.TOKEN_MARGIN + 1
    assert vapid.authorization("https://fcm.googleapis.com", now=late) != first


def test_each_push_service_gets_a_token_for_its_own_origin() -> None:
    fcm = vapid.authorization("https://fcm.googleapis.com")
    mozilla = vapid.authorization("https://updates.push.services.mozilla.com")
    assert fcm != mozilla


def test_rotation_drops_the_tokens_signed_with_the_old_key() -> None:
    before = vapid.authorization("https://fcm.googleapis.com")
    run("rotate", "--no-input")
    after = vapid.authorization("https://fcm.googleapis.com")
    assert before != after
    assert after.endswith(f"k={vapid.application_server_key()}")


def test_a_refused_token_is_signed_afresh_next_time() -> None:
    with PushService() as service:
        sub = service.subscription(application_server_key=vapid.application_server_key())
        push(sub)
        token = vapid.authorization(service.origin)
        service.answer(sub, 403)
        with pytest.raises(TransportError):
            push(sub)
        assert vapid.authorization(service.origin) != token
