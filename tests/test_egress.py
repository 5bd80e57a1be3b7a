"""Where Tocsin may connect for an address someone else chose (tocsin.lib.egress).

The connections go to a witness on loopback (tests/peers/witness.py): a refused one must
leave it untouched. Names resolve through the module's one lookup, which tests answer
with what they need (egress.resolve).
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import urllib3

from tests.peers.witness import Witness
from tocsin.lib import egress

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "192.0.0.8",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    "100::1",
    "2001::1",  # Teredo
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0:127.0.0.1",  # IPv4-translated
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "142.250.72.10",
    "17.253.144.10",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200a",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_an_address_inside_some_network_is_not_public(address: str) -> None:
    assert not egress.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_a_globally_routable_address_is_public(address: str) -> None:
    assert egress.is_public(ipaddress.ip_address(address))


@pytest.fixture
def witness() -> Iterator[Witness]:
    with Witness() as peer:
        yield peer


@pytest.fixture
def witness6() -> Iterator[Witness]:
    with Witness(host="::1") as peer:
        yield peer


def answer(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Resolve the names in ``answers`` to them (others as the system does); return
    the names looked up."""
    real = egress.resolve
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[egress.Address]:
        asked.append(host)
        if host in answers:
            return [ipaddress.ip_address(a) for a in answers[host]]
        return real(host, port)

    monkeypatch.setattr(egress, "resolve", resolve)
    return asked


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "0x7f000001",
        "127.1",
        "017700000001",
        "localhost",
        "::ffff:127.0.0.1",
        "::ffff:7f00:1",
    ],
)
def test_every_spelling_of_loopback_is_refused_before_connecting(
    witness: Witness, host: str
) -> None:
    with pytest.raises(egress.Refused):
        egress.connect(host, witness.port, timeout=5)
    assert witness.connections == 0


def test_ipv6_loopback_is_refused_before_connecting(witness6: Witness) -> None:
    with pytest.raises(egress.Refused):
        egress.connect("::1", witness6.port, timeout=5)
    assert witness6.connections == 0


@pytest.mark.parametrize(
    "first", ["127.0.0.2", "10.1.2.3", "169.254.169.254", "::1", "100.64.0.1", "fd00::1"]
)
def test_a_name_with_any_answer_inside_the_network_is_refused(
    witness: Witness, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    # The witness's address comes second: checking only the first answer, or dropping
    # the bad ones and trying the rest, would reach it.
    answer(monkeypatch, {"push.example.net": [first, "127.0.0.1"]})
    with pytest.raises(egress.Refused) as refusal:
        egress.connect("push.example.net", witness.port, timeout=5)
    assert witness.connections == 0
    assert "push.example.net" not in str(refusal.value) and first not in str(refusal.value)


def test_a_trusted_host_is_reached_on_the_address_looked_up_once(
    witness: Witness, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = answer(monkeypatch, {"relay.internal": ["127.0.0.1"]})
    sock = egress.connect("relay.internal", witness.port, timeout=5, trusted=True)
    sock.close()
    assert asked == ["relay.internal"]
    assert sock.family.name == "AF_INET"


def test_a_name_that_does_not_resolve_is_unresolved(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(host: str, port: int) -> list[egress.Address]:
        return []

    monkeypatch.setattr(egress, "resolve", resolve)
    with pytest.raises(egress.Unresolved):
        egress.check("nowhere.example.net", 443)


def test_a_public_answer_is_returned_to_connect_to(monkeypatch: pytest.MonkeyPatch) -> None:
    answer(monkeypatch, {"fcm.googleapis.com": ["142.250.72.10", "2a00:1450:4001:80b::200a"]})
    found = egress.check("fcm.googleapis.com", 443)
    assert [str(a) for a in found] == ["142.250.72.10", "2a00:1450:4001:80b::200a"]


# --- host lists ---


def test_a_host_list_keeps_names_wildcards_and_addresses_in_one_form() -> None:
    assert egress.parse_hosts(" FCM.googleapis.com, *.Push.Apple.com ,,[::1], 127.0.0.1 ") == (
        "fcm.googleapis.com",
        "*.push.apple.com",
        "::1",
        "127.0.0.1",
    )


@pytest.mark.parametrize(
    "entry",
    [
        "https://fcm.googleapis.com",
        "fcm.googleapis.com:443",
        "fcm.googleapis.com/",
        "*",
        "*.com",
        "*.127.0.0.1",
        "push.*.apple.com",
        "2130706433",
        "127.1",
        "0177.0.0.1",
        "fe80::1%eth0",
        "bad_name.example",
        "-bad.example",
        "ünicode.example",
        "a..b",
        "a.b.",
    ],
)
def test_a_host_list_refuses_what_is_not_a_host(entry: str) -> None:
    with pytest.raises(ValueError, match="is not a host name"):
        egress.parse_hosts(f"fcm.googleapis.com,{entry}")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("fcm.googleapis.com", True),
        ("FCM.googleapis.com", True),
        ("evilfcm.googleapis.com", False),
        ("fcm.googleapis.com.evil.example", False),
        ("fcm.googleapis.com.", False),
        ("web.push.apple.com", True),
        ("api.push.apple.com", True),
        ("push.apple.com", False),
        ("a.b.push.apple.com", True),
        ("xpush.apple.com", False),
        ("127.0.0.1", True),
        ("127.0.0.1.example.net", False),
        ("2130706433", False),
        ("127.1", False),
        ("::ffff:127.0.0.1", False),
        ("0:0:0:0:0:0:0:1", True),
        ("[::1]", True),
        ("localhost", False),
        ("", False),
    ],
)
def test_a_host_matches_a_list_entry_exactly_or_under_a_wildcard(host: str, allowed: bool) -> None:
    entries = egress.parse_hosts("fcm.googleapis.com,*.push.apple.com,127.0.0.1,::1")
    assert egress.matches(host, entries) is allowed


def test_only_an_entry_naming_one_machine_is_trusted() -> None:
    entries = egress.parse_hosts("*.push.apple.com,relay.example.net,127.0.0.1,localhost")
    assert egress.named_by_address("127.0.0.1", entries)
    assert egress.named_by_address("localhost", entries)
    assert not egress.named_by_address("relay.example.net", entries)
    assert not egress.named_by_address("web.push.apple.com", entries)
    assert not egress.named_by_address("2130706433", entries)
    assert not egress.named_by_address("10.0.0.1", entries)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TOCSIN_PUSH_HOSTS", "https://fcm.googleapis.com"),
        ("TOCSIN_PUSH_HOSTS", "*.com"),
        ("TOCSIN_APPRISE_PRIVATE_HOSTS", "ntfy.lan:8080"),
        ("TOCSIN_FEDERATION_PRIVATE_HOSTS", "https://partner.lan"),
    ],
)
def test_settings_refuse_a_malformed_host_list_at_start(variable: str, value: str) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tocsin.settings", variable: value}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert f"ImproperlyConfigured: {variable}:" in done.stderr
    assert "is not a host name" in done.stderr


# --- connections urllib3 opens (Apprise, through requests) ---


def test_a_guarded_block_refuses_urllib3_connections_into_the_network(witness: Witness) -> None:
    http = urllib3.PoolManager(retries=False)
    with egress.guarded() as guard, pytest.raises(urllib3.exceptions.NewConnectionError):
        http.request("GET", f"{witness.origin}/")
    assert guard.refused == 1
    assert witness.connections == 0
    # Outside the block urllib3 works as shipped.
    assert http.request("GET", f"{witness.origin}/").status == 201


def test_a_guarded_block_covers_threads_started_with_a_copy_of_its_context(
    witness: Witness,
) -> None:
    # As Apprise runs each service: in its own thread pool, with the caller's context.
    with egress.guarded() as guard, ThreadPoolExecutor(1) as pool:
        future = pool.submit(contextvars.copy_context().run, requests.get, witness.origin)
        with pytest.raises(requests.ConnectionError):
            future.result()
    assert guard.refused == 1
    assert witness.connections == 0


def test_a_guarded_block_reaches_a_host_the_operator_trusts(witness: Witness) -> None:
    with egress.guarded(trusted=lambda host: host == "127.0.0.1") as guard:
        assert requests.get(witness.origin, timeout=5).status_code == 201
    assert guard.refused == 0
    assert witness.connections == 1
