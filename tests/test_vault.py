"""Tests for tocsin.vault: sealed contact details and blind indexes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from nacl.encoding import Base64Encoder
from nacl.exceptions import CryptoError
from nacl.public import SealedBox
from pytest_django.fixtures import Settings

from tocsin import vault
from tocsin.transports import registry as transports_registry

# Hypothesis reruns a test body with one fixture instance; the vault fixture only resets
# caches, which is safe to share between examples.
shared_fixture = hsettings(suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.text(max_size=40),
    st.floats(allow_nan=False),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=12), json_values, max_size=6)
# Long enough that finding them in random ciphertext by chance is out of the question.
addresses = st.emails().filter(lambda a: len(a) >= 8)


@pytest.fixture(autouse=True)
def fresh_vault(settings: Settings) -> Iterator[Settings]:
    """Clear the vault's key caches before and after each test, around settings changes."""
    vault.reset_caches()
    yield settings
    vault.reset_caches()


@pytest.fixture
def public_only(fresh_vault: Settings) -> str:
    """Make this process a web process: it holds the public key only. Return the private key."""
    public, private = vault.generate_keypair()
    fresh_vault.VAULT_PUBLIC_KEY = public
    fresh_vault.VAULT_PRIVATE_KEY = ""
    vault.reset_caches()
    return private


# seal and unseal


def test_it_opens_what_it_sealed() -> None:
    value = {"address": "rosa@example.org", "keys": {"p256dh": "abc", "auth": "def"}}
    assert vault.unseal(vault.seal(value)) == value


@shared_fixture
@given(value=payloads)
def test_it_round_trips_any_json_object(value: dict) -> None:
    assert vault.unseal(vault.seal(value)) == value


@shared_fixture
@given(address=addresses)
def test_it_never_stores_the_address_in_the_clear(address: str) -> None:
    sealed = vault.seal({"address": address})
    assert address.encode() not in sealed


def test_it_never_stores_the_serialised_payload_in_the_clear() -> None:
    value = {"address": "mateo@example.org"}
    sealed = vault.seal(value)
    assert json.dumps(value, separators=(",", ":")).encode() not in sealed


def test_it_seals_the_same_value_differently_each_time() -> None:
    value = {"address": "mateo@example.org"}
    assert vault.seal(value) != vault.seal(value)


def test_it_refuses_a_tampered_box() -> None:
    sealed = bytearray(vault.seal({"address": "mateo@example.org"}))
    sealed[-1] ^= 0x01
    with pytest.raises(CryptoError):
        vault.unseal(bytes(sealed))


def test_it_refuses_a_box_sealed_to_another_key(fresh_vault: Settings) -> None:
    sealed = vault.seal({"address": "mateo@example.org"})
    fresh_vault.VAULT_PUBLIC_KEY = ""
    fresh_vault.VAULT_PRIVATE_KEY = vault.generate_keypair()[1]
    vault.reset_caches()
    with pytest.raises(CryptoError):
        vault.unseal(sealed)


def test_it_refuses_a_box_that_holds_no_object() -> None:
    # Seal a list by hand to the vault's own public key.
    sealed = bytes(SealedBox(vault._public_key()).encrypt(b"[1,2]"))
    with pytest.raises(vault.VaultError):
        vault.unseal(sealed)


def test_it_seals_with_only_the_public_key(public_only: str) -> None:
    sealed = vault.seal({"address": "rosa@example.org"})
    assert b"rosa@example.org" not in sealed


def test_it_cannot_open_with_only_the_public_key(public_only: str) -> None:
    sealed = vault.seal({"address": "rosa@example.org"})
    with pytest.raises(vault.VaultError):
        vault.unseal(sealed)


def test_it_lets_the_worker_open_what_a_web_process_sealed(
    public_only: str, fresh_vault: Settings
) -> None:
    sealed = vault.seal({"address": "rosa@example.org"})
    fresh_vault.VAULT_PUBLIC_KEY = ""
    fresh_vault.VAULT_PRIVATE_KEY = public_only
    vault.reset_caches()
    assert vault.unseal(sealed) == {"address": "rosa@example.org"}


def test_it_derives_the_public_key_from_a_private_key_alone(fresh_vault: Settings) -> None:
    public, private = vault.generate_keypair()
    fresh_vault.VAULT_PUBLIC_KEY = ""
    fresh_vault.VAULT_PRIVATE_KEY = private
    vault.reset_caches()
    sealed = vault.seal({"address": "x@example.org"})
    assert vault._public_key().encode(Base64Encoder).decode() == public
    assert vault.unseal(sealed) == {"address": "x@example.org"}


def test_it_generates_distinct_key_pairs() -> None:
    assert vault.generate_keypair() != vault.generate_keypair()


# blind_index


def test_it_gives_the_same_index_for_the_same_address() -> None:
    assert vault.blind_index("email", "rosa@example.org", form="email") == vault.blind_index(
        "email", "rosa@example.org", form="email"
    )


def test_it_gives_a_hex_sha256_index_that_hides_the_address() -> None:
    index = vault.blind_index("email", "rosa@example.org", form="email")
    assert len(index) == 64
    int(index, 16)
    assert "rosa" not in index


@shared_fixture
@given(address=st.emails())
def test_it_ignores_case_in_email_addresses(address: str) -> None:
    assert vault.blind_index("email", address.upper(), form="email") == vault.blind_index(
        "email", address.lower(), form="email"
    )


@shared_fixture
@given(
    address=st.emails(),
    before=st.sampled_from(["", " ", "\t", "  \n"]),
    after=st.sampled_from(["", " ", "\n"]),
)
def test_it_ignores_surrounding_whitespace_in_email_addresses(
    address: str, before: str, after: str
) -> None:
    assert vault.blind_index(
        "email", f"{before}{address}{after}", form="email"
    ) == vault.blind_index("email", address, form="email")


def test_it_ignores_full_width_characters_in_email_addresses() -> None:
    # NFKC folds the full-width letters a phone keyboard may produce.
    assert vault.blind_index("email", "ｒｏｓａ@example.org", form="email") == vault.blind_index(
        "email", "rosa@example.org", form="email"
    )


@pytest.mark.parametrize(
    "typed",
    [
        "+1 (213) 555-0100",
        "+1 213 555 0100",
        "+1.213.555.0100",
        "+1-213-555-0100",
        " +12135550100 ",
    ],
)
@pytest.mark.parametrize("kind", ["sms", "signal"])
def test_it_ignores_punctuation_in_phone_numbers(kind: str, typed: str) -> None:
    assert transports_registry.blind_index(kind, typed) == transports_registry.blind_index(
        kind, "+12135550100"
    )


@shared_fixture
@given(
    digits=st.text(alphabet="0123456789", min_size=7, max_size=15),
    separators=st.lists(st.sampled_from([" ", "-", ".", "(", ")", "/"]), max_size=15),
)
def test_it_indexes_a_phone_number_by_its_digits(digits: str, separators: list[str]) -> None:
    typed = "".join(
        d + (separators[i] if i < len(separators) else "") for i, d in enumerate(digits)
    )
    assert vault.blind_index("sms", "+" + typed, form="phone") == vault.blind_index(
        "sms", "+" + digits, form="phone"
    )


def test_it_tells_different_phone_numbers_apart() -> None:
    assert vault.blind_index("sms", "+12135550100", form="phone") != vault.blind_index(
        "sms", "+12135550101", form="phone"
    )


def test_it_tells_different_email_addresses_apart() -> None:
    assert vault.blind_index("email", "rosa@example.org", form="email") != vault.blind_index(
        "email", "rosa@example.com", form="email"
    )


@pytest.mark.parametrize(
    ("kind_a", "kind_b"), [("email", "webpush"), ("email", "sms"), ("sms", "signal")]
)
def test_it_gives_each_kind_its_own_index(kind_a: str, kind_b: str) -> None:
    address = "+12135550100"
    assert transports_registry.blind_index(kind_a, address) != transports_registry.blind_index(
        kind_b, address
    )


def test_it_keeps_case_in_push_subscription_urls() -> None:
    # Push endpoints are opaque URLs: case matters in their path.
    url = "https://push.example/wpush/v2/AbCdEf"
    assert vault.blind_index("webpush", url, form="opaque") != vault.blind_index(
        "webpush", url.lower(), form="opaque"
    )


def test_it_depends_on_the_blind_index_key(fresh_vault: Settings) -> None:
    fresh_vault.BLIND_INDEX_KEY = "first key for tests"
    vault.reset_caches()
    first = vault.blind_index("email", "rosa@example.org", form="email")
    fresh_vault.BLIND_INDEX_KEY = "second key for tests"
    vault.reset_caches()
    assert vault.blind_index("email", "rosa@example.org", form="email") != first
