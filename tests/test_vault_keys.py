"""The vault_keys command: create prints keys; rotate re-seals every endpoint."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from tests.factories import member
from tocsin import vault
from tocsin.members.models import ContactEndpoint


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
    }


@pytest.mark.django_db
def test_rotate_reseals_every_endpoint_to_a_new_key(settings) -> None:  # type: ignore[no-untyped-def]
    m = member("Rosa", email="rosa@example.org")
    ContactEndpoint.create(
        m, "webpush", "https://push.example/xyz", data={"keys": {"auth": "a"}}, verified=True
    )
    before = {e.pk: bytes(e.sealed) for e in ContactEndpoint.objects.all()}
    old_private = (settings.DATA_DIR / "vault_private_key").read_text()
    out = io.StringIO()
    call_command("vault_keys", "rotate", stdout=out)
    assert "Re-sealed 2" in out.getvalue()
    assert (settings.DATA_DIR / "vault_private_key").read_text() != old_private
    for e in ContactEndpoint.objects.all():
        assert bytes(e.sealed) != before[e.pk]
    assert {e.open()["address"] for e in ContactEndpoint.objects.all()} == {
        "rosa@example.org",
        "https://push.example/xyz",
    }


@pytest.mark.django_db
def test_rotate_refuses_without_the_private_key(settings) -> None:  # type: ignore[no-untyped-def]
    from django.core.management.base import CommandError

    public, _private = vault.generate_keypair()
    settings.VAULT_PUBLIC_KEY = public
    settings.VAULT_PRIVATE_KEY = ""
    vault.reset_caches()
    with pytest.raises(CommandError):
        call_command("vault_keys", "rotate", stdout=io.StringIO())
