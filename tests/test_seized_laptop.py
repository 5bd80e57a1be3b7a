"""A seized one-laptop install opens nothing without the vault's passphrase.

The embedded default keeps everything in one data folder: the SQLite database with its
-wal and -shm files, uploads, keys. The install is used for real: members with email and
SMS channels, a hotline caller who left a callback number, a dispatcher's authenticator
app, a confirmed alert the worker delivered. Then it stops, and a seizure takes every file
of the data folder and the log. A program tries every file as every key Tocsin uses: as
the vault's private key on every sealed value; as the Django secret key, and as the TOTP
key, on every stored TOTP seed; and as the blind-index key on every address the test
planted (a blind index confirms a guessed phone number). Without the passphrase it must
recover nothing. Given the passphrase, the same program must recover everything, so the
scan is not blind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings as django_settings
from django.db import connection
from nacl.encoding import RawEncoder
from nacl.exceptions import CryptoError
from nacl.hash import blake2b
from nacl.public import PrivateKey, SealedBox
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

from tests import disk, factories
from tests.peers.smtp import SMTPPeer, mail_settings
from tests.privacy_support import LogCapture, files_under
from tocsin import vault
from tocsin.alerts import outbox
from tocsin.committees.models import Role
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state, open_incident
from tocsin.members import security
from tocsin.members.models import ContactEndpoint, SecondFactor
from tocsin.transports import registry as transports_registry

pytestmark = pytest.mark.django_db(transaction=True)

TAG = secrets.token_hex(4)
# Files bigger than this are data (the database, photos), not keys: they are searched
# for sealed values instead.
KEY_FILE_MAX = 64 * 1024


def phone() -> str:
    return f"+1213555{secrets.randbelow(10_000):04d}"


@dataclass
class Planted:
    """What the install holds that a seizure must not give away."""

    contacts: dict[str, tuple[str, str]] = field(default_factory=dict)  # address -> (kind,)
    seeds: set[str] = field(default_factory=set)


def real_use(smtp: SMTPPeer) -> Planted:
    """Run the install as a committee would: members join with channels, a hotline caller
    asks to be called back, a dispatcher sets up an authenticator app, an alert goes out."""
    planted = Planted()
    east = factories.committee("East")
    diego = factories.member("Diego", east, Role.DISPATCHER)
    seed = security.new_totp_secret()
    SecondFactor.objects.create(
        member=diego,
        kind=SecondFactor.Kind.TOTP,
        totp_secret=security.seal_totp(seed),
        confirmed=True,
    )
    planted.seeds.add(seed)
    for name in ("Ana", "Luis"):
        email = f"seized-{name.lower()}-{TAG}@canary-{TAG}.example"
        number = phone()
        m = factories.member(name, east, area=factories.EAST, email=email)
        sms = ContactEndpoint.create(m, "sms", number, verified=True)
        ContactEndpoint.objects.filter(pk=sms.pk).update(priority=5)
        planted.contacts[email] = ("email", email)
        planted.contacts[number] = ("sms", number)
    callback = phone()
    report = submit_report(
        channel="hotline",
        kind="workplace_raid",
        lat=factories.EAST[0],
        lng=factories.EAST[1],
        text="Vans at the loading dock.",
        reply_to=("sms", callback),
    )
    planted.contacts[callback] = ("sms", callback)
    incident = open_incident(report, actor=diego)
    change_state(incident, "verifying", actor=diego)
    change_state(incident, "confirmed", actor=diego, summary="Near the loading dock.")
    outbox.drain()
    # The worker opened the sealed addresses: the alert reached both members.
    reached = {r for m in smtp.messages for r in m.rcpt_tos}
    assert {a for a, (kind, _) in planted.contacts.items() if kind == "email"} <= reached
    return planted


# What a seizure takes.


def seize(log: str) -> dict[str, bytes]:
    """Return every file of the data folder (uploads included) and the log, by name."""
    roots = [Path(django_settings.DATA_DIR), Path(django_settings.MEDIA_ROOT)]
    image = {str(p): disk.read(p) for p in files_under(*roots)}
    image["the log"] = log.encode()
    return image


@dataclass
class Stored:
    """The values in the seized database that keys could open."""

    sealed: list[bytes]
    seeds: list[bytes]
    indexes: set[str]


def stored(image: dict[str, bytes], tmp_path: Path) -> Stored:
    queries = {
        "sealed": [
            "SELECT sealed FROM members_contactendpoint",
            "SELECT sealed FROM intake_reportcontact",
        ],
        "seeds": ["SELECT totp_secret FROM members_secondfactor WHERE totp_secret IS NOT NULL"],
        "indexes": ["SELECT blind_index FROM members_contactendpoint"],
    }
    if connection.vendor == "sqlite":
        # The seized copy, with its write-ahead log, opened as anyone would open it.
        name = Path(connection.settings_dict["NAME"]).name
        folder = tmp_path / "seized"
        folder.mkdir()
        for suffix in ("", "-wal", "-shm"):
            source = next((d for p, d in image.items() if p.endswith(f"/{name}{suffix}")), None)
            if source is not None:
                (folder / f"{name}{suffix}").write_bytes(source)
        assert (folder / name).exists(), "the seizure holds no database"
        with closing(sqlite3.connect(folder / name)) as db:
            rows = {k: [r[0] for q in qs for r in db.execute(q)] for k, qs in queries.items()}
    else:
        with connection.cursor() as cursor:
            rows = {}
            for k, qs in queries.items():
                rows[k] = []
                for q in qs:
                    cursor.execute(q)
                    rows[k] += [r[0] for r in cursor.fetchall()]
    return Stored(
        sealed=[bytes(b) for b in rows["sealed"]],
        seeds=[bytes(b) for b in rows["seeds"]],
        indexes={str(i) for i in rows["indexes"]},
    )


# The program that tries every file as a key.


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _decodings(text: bytes) -> set[bytes]:
    out = set()
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            out.add(decode(text + b"=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            pass
    try:
        out.add(bytes.fromhex(text.decode()))
    except (UnicodeDecodeError, ValueError):
        pass
    return out


def key_material(data: bytes) -> set[bytes]:
    """Return every form in which a file could hold a key: its bytes, its text, each line,
    each string of a JSON document, each of those decoded from base64 or hex."""
    if len(data) > KEY_FILE_MAX:
        return set()
    found = {data}
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return found
    found.add(text.strip().encode())
    found |= {line.strip().encode() for line in text.splitlines() if line.strip()}
    try:
        found |= {s.encode() for s in _strings(json.loads(text))}
    except ValueError:
        pass
    for item in list(found):
        found |= _decodings(item)
    return found


def unwrap(data: bytes, passphrase: str) -> set[bytes]:
    """Return the secrets of a vault keyring file opened with ``passphrase`` (the format
    docs/operations.md describes, read without Tocsin's code), or nothing."""
    try:
        doc = json.loads(data)
        lock = doc["lock"]
        assert doc["format"] == "tocsin-vault-keyring" and lock["kind"] == "passphrase"
    except (ValueError, KeyError, TypeError, AssertionError):
        return set()
    key = argon2id.kdf(
        SecretBox.KEY_SIZE,
        passphrase.encode(),
        base64.b64decode(lock["salt"]),
        opslimit=lock["opslimit"],
        memlimit=lock["memlimit"],
    )
    kek = SecretBox(key).decrypt(base64.b64decode(lock["kek"]))
    box_key = blake2b(kek, digest_size=32, person=b"tocsin-keyring", encoder=RawEncoder)
    inner = json.loads(SecretBox(box_key).decrypt(base64.b64decode(doc["secrets"])))
    return {s.encode() for s in _strings(inner)}


def fernets(material: bytes) -> Iterator[Fernet]:
    """Fernet keys ``material`` could be: one itself, raw, or what Tocsin derives from the
    Django secret key (TOTP seeds, before) or from the TOTP key."""
    if len(material) == 32:
        yield Fernet(base64.urlsafe_b64encode(material))
    try:
        yield Fernet(material)
    except ValueError:
        pass
    for label in (b"tocsin-totp\0", b"tocsin-totp-key\0"):
        yield Fernet(base64.urlsafe_b64encode(hashlib.sha256(label + material).digest()))


@dataclass
class Recovered:
    contacts: set[str] = field(default_factory=set)
    seeds: set[str] = field(default_factory=set)


def recover(
    image: dict[str, bytes], db: Stored, guesses: Iterable[tuple[str, str]], passphrase: str = ""
) -> Recovered:
    material: set[bytes] = set()
    for data in image.values():
        material |= key_material(data)
        if passphrase:
            for secret in unwrap(data, passphrase):
                material |= {secret, *_decodings(secret)}
    found = Recovered()
    for candidate in material:
        if len(candidate) == 32:
            box = SealedBox(PrivateKey(candidate))
            for blob in db.sealed:
                try:
                    found.contacts.add(json.loads(box.decrypt(blob))["address"])
                except CryptoError:
                    pass
        for f in fernets(candidate):
            for blob in db.seeds:
                try:
                    found.seeds.add(f.decrypt(blob).decode())
                except InvalidToken:
                    pass
        blind = hashlib.sha256(b"tocsin-blind-index\0" + candidate).digest()
        for kind, address in guesses:
            form = transports_registry.CHANNELS[kind].address_type
            message = f"{kind}\0{vault.normalize(form, address)}".encode()
            if hmac.new(blind, message, hashlib.sha256).hexdigest() in db.indexes:
                found.contacts.add(address)
    return found


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        yield peer


def test_a_seized_laptop_opens_no_contact_and_no_totp_seed_without_the_passphrase(
    smtp: SMTPPeer, tmp_path: Path
) -> None:
    with LogCapture() as logs:
        planted = real_use(smtp)
    image = seize(logs.text)
    db = stored(image, tmp_path)
    assert len(db.sealed) == len(planted.contacts) and db.seeds

    without = recover(image, db, planted.contacts.values())
    assert (sorted(without.contacts), sorted(without.seeds)) == ([], [])

    passphrase = Path(django_settings.VAULT_PASSPHRASE_FILE).read_text().strip()
    given = recover(image, db, planted.contacts.values(), passphrase=passphrase)
    assert given.contacts == set(planted.contacts)
    assert given.seeds == planted.seeds


def test_the_program_reads_keys_in_every_form_a_file_holds_them() -> None:
    raw = secrets.token_bytes(32)
    for data in (
        raw,
        base64.b64encode(raw) + b"\n",
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        raw.hex().encode(),
        json.dumps({"keys": [{"private": base64.b64encode(raw).decode()}]}).encode(),
    ):
        assert raw in key_material(data), data


def test_the_scan_is_not_blind() -> None:
    """Without Tocsin's code: keys left in plain in a folder open what they sealed, and a
    blind-index key confirms a guessed number."""
    private = PrivateKey.generate()
    secret_key = secrets.token_urlsafe(48)
    blind_key = secrets.token_urlsafe(48)
    legacy = Fernet(
        base64.urlsafe_b64encode(hashlib.sha256(b"tocsin-totp\0" + secret_key.encode()).digest())
    )
    number = phone()
    index = hmac.new(
        hashlib.sha256(b"tocsin-blind-index\0" + blind_key.encode()).digest(),
        f"sms\0{number}".encode(),
        hashlib.sha256,
    ).hexdigest()
    image = {
        "vault_private_key": base64.b64encode(bytes(private)),
        "secret_key": secret_key.encode(),
        "blind_index_key": blind_key.encode(),
    }
    db = Stored(
        sealed=[bytes(SealedBox(private.public_key).encrypt(b'{"address":"a@b.example"}'))],
        seeds=[legacy.encrypt(b"SEED")],
        indexes={index},
    )
    found = recover(image, db, [("sms", number), ("sms", phone())])
    assert found == Recovered(contacts={"a@b.example", number}, seeds={"SEED"})
