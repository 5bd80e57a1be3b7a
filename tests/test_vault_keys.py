"""The vault_keys command: create prints keys; rotate re-seals everything sealed, and the
keyring's passphrase (or shares) open the new key."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from tests.factories import EAST, member
from tests.vault_support import write
from tocsin import vault
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.intake.models import ReportContact
from tocsin.members.models import ContactEndpoint
from tocsin.vault import keys, locking, wrapping


@pytest.fixture(autouse=True)
def fresh_keys():  # type: ignore[no-untyped-def]
    vault.reset_caches()
    yield
    vault.reset_caches()


def test_create_prints_a_key_pair_and_a_blind_index_key() -> None:
    out = io.StringIO()
    call_command("vault_keys", "create", stdout=out, stderr=io.StringIO())
    lines = dict(line.split("=", 1) for line in out.getvalue().splitlines())
    assert set(lines) == {
        "TOCSIN_VAULT_PUBLIC_KEY",
        "TOCSIN_VAULT_PRIVATE_KEY",
        "TOCSIN_BLIND_INDEX_KEY",
        "TOCSIN_TOTP_KEY",
    }


def sealed_world() -> None:
    """A member with email and push, and a hotline caller who left a number."""
    m = member("Rosa", email="rosa@example.org")
    ContactEndpoint.create(
        m, "webpush", "https://push.example/xyz", data={"keys": {"auth": "a"}}, verified=True
    )
    from tests.factories import committee

    committee("East")
    submit_report(
        channel="hotline",
        kind="checkpoint",
        lat=EAST[0],
        lng=EAST[1],
        reply_to=("sms", "+12135550100"),
    )


def opened() -> set[str]:
    return {e.open()["address"] for e in ContactEndpoint.objects.all()} | {
        vault.unseal(bytes(c.sealed))["address"] for c in ReportContact.objects.all()
    }


@pytest.mark.django_db
def test_rotate_reseals_everything_sealed_to_a_new_key(settings, own_vault) -> None:  # type: ignore[no-untyped-def]
    sealed_world()
    before = [bytes(e.sealed) for e in ContactEndpoint.objects.all()]
    old_public = (own_vault / "vault_public_key").read_text()
    out = io.StringIO()
    call_command("vault_keys", "rotate", stdout=out)
    assert "Re-sealed 2 contact endpoints, 1 reporters' callbacks" in out.getvalue()
    assert (own_vault / "vault_public_key").read_text() != old_public
    assert not any(bytes(e.sealed) in before for e in ContactEndpoint.objects.all())
    assert opened() == {"rosa@example.org", "https://push.example/xyz", "+12135550100"}


@pytest.mark.django_db
def test_the_passphrase_opens_the_rotated_key_and_no_plain_key_is_written(
    settings, own_vault
) -> None:  # type: ignore[no-untyped-def]
    sealed_world()
    call_command("vault_keys", "rotate", stdout=io.StringIO())
    ring = keys.keyring()
    assert ring is not None
    secrets, _kek = keys.open_keyring(ring, passphrase=keys.passphrase_from_file())
    assert secrets.public_key == (own_vault / "vault_public_key").read_text().strip()
    for path in own_vault.iterdir():
        assert secrets.private_key.encode() not in path.read_bytes(), path


@pytest.mark.django_db
def test_running_workers_drop_the_old_key_at_a_rotation(settings, own_vault) -> None:  # type: ignore[no-untyped-def]
    sealed_world()
    before = locking.generation()
    call_command("vault_keys", "rotate", stdout=io.StringIO())
    assert locking.generation() == before + 1


@pytest.mark.django_db
def test_rotate_works_with_a_split_vault(settings, own_vault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sealed_world()
    out = io.StringIO()
    call_command("vault", "split", "--threshold", "2", "--shares", "3", stdout=out)
    shares = [
        line.split(": ", 1)[1] for line in out.getvalue().splitlines() if line.startswith("Share ")
    ]
    files = [write(tmp_path / f"share{i}", s) for i, s in enumerate(shares)]
    keys.forget()
    call_command(
        "vault_keys",
        "rotate",
        "--share-file",
        files[0],
        "--share-file",
        files[2],
        stdout=io.StringIO(),
    )
    keys.forget()
    call_command(
        "vault", "unlock", "--share-file", files[1], "--share-file", files[2], stdout=io.StringIO()
    )
    assert opened() == {"rosa@example.org", "https://push.example/xyz", "+12135550100"}
    assert isinstance(wrapping.read(own_vault).lock, wrapping.SharesLock)  # type: ignore[union-attr]


@pytest.mark.django_db
def test_rotate_refuses_without_the_private_key(settings) -> None:  # type: ignore[no-untyped-def]
    from django.core.management.base import CommandError

    public, _private = vault.generate_keypair()
    settings.VAULT_PUBLIC_KEY = public
    settings.VAULT_PRIVATE_KEY = ""
    vault.reset_caches()
    with pytest.raises(CommandError):
        call_command("vault_keys", "rotate", stdout=io.StringIO())
