"""Push endpoints only on the push services the operator allows (TOCSIN_PUSH_HOSTS).

A member hands /me/push/ a URL as "this device's subscription", and "Send a test" makes
the worker, the process that holds the vault key, POST to it. Every endpoint refused
here points at a witness on loopback (tests/peers/witness.py): that the witness saw no
connection is the proof that nothing went there. The checks happen when the endpoint is
stored (a 400 in the member's language, no row) and again when the worker sends (an
endpoint stored before, or allowed by a setting since changed: refused for good, never
connected to).

The suite's settings allow the push peer's 127.0.0.1 (tests/settings.py), as an operator
would allow a relay they run; tests of the shipped list set it back to the default.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings as django_settings
from django.test import Client, override_settings
from django.urls import reverse
from django_tasks_db.models import DBTaskResult
from hypothesis import strategies as st

from tests.factories import World
from tests.peers.witness import Witness, redirect
from tocsin.lib import egress
from tocsin.members.models import ContactEndpoint, Member
from tocsin.transports import webpush
from tocsin.transports.base import Message, TransportError
from tocsin.transports.webpush import WebPushTransport

DEFAULT_HOSTS = egress.parse_hosts(django_settings.PUSH_HOSTS_DEFAULT)

# A loopback address in every spelling a URL parser, a resolver or an allow-list written
# as "starts with http://127.0.0.1" might take for something else. {port} is a witness's.
DISGUISES = [
    "http://127.0.0.1.example.net:{port}/push/1",
    "https://127.0.0.1.example.net:{port}/push/1",
    "http://127.0.0.1.:{port}/push/1",
    "http://2130706433:{port}/push/1",
    "http://0177.0.0.1:{port}/push/1",
    "http://0x7f.0.0.1:{port}/push/1",
    "http://0x7f000001:{port}/push/1",
    "http://127.1:{port}/push/1",
    "http://[::ffff:127.0.0.1]:{port}/push/1",
    "http://[::ffff:7f00:1]:{port}/push/1",
    "http://[::127.0.0.1]:{port}/push/1",
    "http://localhost:{port}/push/1",
    "http://fcm.googleapis.com@127.0.0.1:{port}/push/1",
    "http://127.0.0.1:{port}@fcm.googleapis.com/push/1",
    "https://fcm.googleapis.com:{port}@127.0.0.1/push/1",
]
DISGUISE_IDS = [
    "name-starting-127",
    "name-starting-127-https",
    "trailing-dot",
    "decimal",
    "octal",
    "hex-dotted",
    "hex",
    "short",
    "ipv4-mapped",
    "ipv4-mapped-hex",
    "ipv4-compatible",
    "localhost",
    "credentials-before",
    "credentials-after",
    "credentials-https",
]
# Places inside the operator's network a name may resolve to.
PRIVATE_ANSWERS = ["127.0.0.2", "10.0.0.1", "169.254.169.254", "::1", "100.64.0.1", "fd00::1"]
# An address of a real push service, for names the tests resolve.
PUBLIC_ANSWER = "142.250.72.10"
EVIL = "evil.push.services.mozilla.com"


@pytest.fixture
def witness() -> Iterator[Witness]:
    with Witness() as peer:
        yield peer


@pytest.fixture
def witness6() -> Iterator[Witness]:
    with Witness(host="::1") as peer:
        yield peer


@pytest.fixture
def shipped_hosts(settings: Any) -> None:
    """The push services a fresh install allows: no loopback peer."""
    settings.PUSH_HOSTS = DEFAULT_HOSTS


@pytest.fixture(autouse=True)
def _fresh_pools() -> Iterator[None]:
    webpush._forget_pools()
    yield
    webpush._forget_pools()


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Answer lookups of the names in ``answers`` (others as the system does); return
    the names looked up, in order."""
    real = egress.resolve
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[egress.Address]:
        asked.append(host)
        if host in answers:
            return [ipaddress.ip_address(a) for a in answers[host]]
        return real(host, port)

    monkeypatch.setattr(egress, "resolve", resolve)
    return asked


def browser_keys() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    encode = base64.urlsafe_b64encode
    return {
        "p256dh": encode(raw).rstrip(b"=").decode(),
        "auth": encode(os.urandom(16)).rstrip(b"=").decode(),
    }


def as_(member: Member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def subscribe(member: Member, endpoint: str) -> Any:
    body = {"endpoint": endpoint, "keys": browser_keys(), "label": "phone"}
    return as_(member).post(
        reverse("push_subscribe"), json.dumps(body), content_type="application/json"
    )


def refused(response: Any, member: Member) -> str:
    """Check ``response`` is the refusal a member sees; return its words."""
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert not member.endpoints.filter(kind="webpush").exists()
    return str(error)


def stored(member: Member, endpoint: str) -> ContactEndpoint:
    """An endpoint as a worker would find it: stored before this check, or allowed by a
    setting the operator has changed since."""
    return ContactEndpoint.create(
        member, "webpush", endpoint, data={"keys": browser_keys()}, verified=True
    )


MESSAGE = Message(subject="Tocsin test message", text="Tocsin test", url="http://testserver/")


def send(endpoint: str) -> TransportError:
    """Send as the worker does; return the error it must raise."""
    payload = {"address": endpoint, "keys": browser_keys()}
    with pytest.raises(TransportError) as failure:
        WebPushTransport().send(payload, MESSAGE, idempotency_key="test-1")
    error = failure.value
    assert endpoint not in error.message
    return error


def run_tasks() -> None:
    """Run every queued task, as the worker would."""
    for result in DBTaskResult.objects.ready().order_by("enqueued_at"):
        result.task.call(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
        result.delete()


# --- When a member stores a subscription ---


@pytest.mark.parametrize("template", DISGUISES, ids=DISGUISE_IDS)
def test_an_endpoint_that_disguises_loopback_is_refused_and_not_stored(
    w: World, witness: Witness, template: str
) -> None:
    refused(subscribe(w.member, template.format(port=witness.port)), w.member)
    assert witness.connections == 0


def test_an_ipv6_loopback_endpoint_is_refused(w: World, witness6: Witness) -> None:
    refused(subscribe(w.member, f"http://[::1]:{witness6.port}/push/1"), w.member)
    assert witness6.connections == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://10.0.0.1/push/1",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/push/1",
        "http://100.64.0.1/push/1",
        "https://push.example/sub/1",
        "https://evilfcm.googleapis.com/fcm/send/1",
        "https://fcm.googleapis.com.evil.example/fcm/send/1",
        "https://notify.windows.com/w/1",
    ],
)
def test_an_endpoint_off_the_allowed_push_services_is_refused(w: World, endpoint: str) -> None:
    refused(subscribe(w.member, endpoint), w.member)


def test_the_refusal_is_in_the_members_language(w: World, witness: Witness) -> None:
    endpoint = f"http://2130706433:{witness.port}/push/1"
    english = refused(subscribe(w.member, endpoint), w.member)
    spanish = refused(subscribe(w.responder, endpoint), w.responder)  # Rosa reads Spanish
    assert english.startswith("This server does not send alerts to this browser's push service")
    assert spanish.startswith("Este servidor no envía alertas al servicio push de este navegador")


def test_loopback_is_refused_unless_the_operator_allowed_it(
    w: World, witness: Witness, shipped_hosts: None
) -> None:
    refused(subscribe(w.member, f"{witness.origin}/push/1"), w.member)
    assert witness.connections == 0


def test_plain_http_to_a_push_service_is_refused(w: World, shipped_hosts: None) -> None:
    refused(subscribe(w.member, "http://fcm.googleapis.com/fcm/send/abc"), w.member)


@pytest.mark.parametrize("answer", PRIVATE_ANSWERS)
def test_a_name_on_an_allowed_service_that_resolves_into_the_operators_network_is_refused(
    w: World, witness: Witness, shipped_hosts: None, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    # The witness's own address comes second: a check that looked at one answer, or
    # dropped the bad ones and connected to the rest, would reach it.
    fake_dns(monkeypatch, {EVIL: [answer, "127.0.0.1"]})
    refused(subscribe(w.member, f"https://{EVIL}:{witness.port}/wpush/v2/x"), w.member)
    assert witness.connections == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
        "https://android.googleapis.com/gcm/send/dGVzdA",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
        "https://updates-autopush.stage.push.services.mozilla.com/wpush/v2/gAAAAA",
        "https://web.push.apple.com/QGx1Y2t5",
        "https://api.push.apple.com/3/device/abc",
        "https://wns2-by3p.notify.windows.com/w/?token=BQYAAAB",
    ],
)
def test_each_push_service_a_browser_uses_is_accepted(
    w: World, shipped_hosts: None, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    host = endpoint.split("/")[2]
    fake_dns(monkeypatch, {host: [PUBLIC_ANSWER]})
    response = subscribe(w.member, endpoint)
    assert response.status_code == 200, response.content
    assert w.member.endpoints.get(kind="webpush").open()["address"] == endpoint


def test_a_push_service_whose_name_does_not_resolve_now_is_still_stored(
    w: World, shipped_hosts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker checks the address again when it sends; a lookup failing at this
    # moment says nothing about the endpoint.
    def resolve(host: str, port: int) -> list[egress.Address]:
        raise egress.Unresolved("no answer")

    monkeypatch.setattr(egress, "resolve", resolve)
    assert subscribe(w.member, "https://fcm.googleapis.com/fcm/send/x").status_code == 200


def test_a_peer_the_operator_named_by_address_is_accepted(w: World, witness: Witness) -> None:
    # tests/settings.py allows 127.0.0.1, as an operator would a relay of their own.
    response = subscribe(w.member, f"{witness.origin}/push/1")
    assert response.status_code == 200, response.content


# --- When the worker sends ---


@pytest.mark.parametrize("template", DISGUISES, ids=DISGUISE_IDS)
def test_the_worker_refuses_each_disguise_for_good_without_connecting(
    witness: Witness, template: str
) -> None:
    error = send(template.format(port=witness.port))
    assert error.permanent
    assert witness.connections == 0


def test_the_worker_refuses_an_endpoint_the_operator_no_longer_allows(
    witness: Witness, settings: Any
) -> None:
    settings.PUSH_HOSTS = DEFAULT_HOSTS
    error = send(f"{witness.origin}/push/1")
    assert error.permanent
    assert "TOCSIN_PUSH_HOSTS" in error.message
    assert witness.connections == 0


def test_the_worker_refuses_ipv6_loopback(witness6: Witness) -> None:
    assert send(f"http://[::1]:{witness6.port}/push/1").permanent
    assert witness6.connections == 0


@pytest.mark.parametrize("answer", PRIVATE_ANSWERS)
def test_the_worker_refuses_a_name_that_now_resolves_into_the_operators_network(
    witness: Witness, shipped_hosts: None, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    asked = fake_dns(monkeypatch, {EVIL: [answer, "127.0.0.1"]})
    error = send(f"https://{EVIL}:{witness.port}/wpush/v2/x")
    assert "not a public address" in error.message
    assert asked == [EVIL]
    assert witness.connections == 0


@pytest.mark.parametrize("status", [301, 302, 307])
def test_the_worker_never_follows_a_redirect(witness: Witness, status: int) -> None:
    with Witness() as elsewhere:
        witness.answer = redirect(status, f"{elsewhere.origin}/push/1")
        error = send(f"{witness.origin}/push/1")
        assert error.permanent
        assert witness.connections == 1
        assert elsewhere.connections == 0


def test_send_a_test_to_a_stored_endpoint_off_the_list_reaches_nothing(
    w: World, witness: Witness, shipped_hosts: None, django_capture_on_commit_callbacks: Any
) -> None:
    endpoint = stored(w.member, f"{witness.origin}/push/1")
    client = as_(w.member)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("test_endpoint", args=[endpoint.pk]))
    run_tasks()
    assert witness.connections == 0
    endpoint.refresh_from_db()
    assert "TOCSIN_PUSH_HOSTS" in endpoint.last_error
    page = client.get(reverse("me")).content.decode()
    assert "this server does not send to this browser&#x27;s push service" in page


def test_the_refusal_on_the_channel_page_is_in_the_members_language(
    w: World, witness: Witness, shipped_hosts: None, django_capture_on_commit_callbacks: Any
) -> None:
    endpoint = stored(w.responder, f"{witness.origin}/push/1")
    client = as_(w.responder)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("test_endpoint", args=[endpoint.pk]))
    run_tasks()
    page = client.get(reverse("me")).content.decode()
    assert "este servidor no envía al servicio push de este navegador" in page


def test_a_test_says_the_same_whether_a_port_is_open_or_closed(
    w: World, witness: Witness, shipped_hosts: None, django_capture_on_commit_callbacks: Any
) -> None:
    # The channel's status was the scanner's readout: open, closed and slow ports each
    # gave another error. Nothing is connected to now, so nothing can differ.
    closed = Witness()
    closed.close()
    open_one = stored(w.member, f"{witness.origin}/push/1")
    closed_one = stored(w.member, f"{closed.origin}/push/1")
    client = as_(w.member)
    for endpoint in (open_one, closed_one):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("test_endpoint", args=[endpoint.pk]))
    run_tasks()
    open_one.refresh_from_db()
    closed_one.refresh_from_db()
    assert open_one.last_error == closed_one.last_error != ""
    assert witness.connections == 0


# --- Through a proxy the operator configured ---


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Witness]:
    """A proxy (HTTP_PROXY and HTTPS_PROXY) that records what reaches it and answers 201."""
    with Witness() as peer:
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, peer.origin)
        webpush._forget_pools()
        yield peer


def test_through_a_proxy_an_endpoint_off_the_list_never_reaches_the_proxy(
    proxy: Witness, witness: Witness, shipped_hosts: None
) -> None:
    assert send(f"{witness.origin}/push/1").permanent
    assert proxy.connections == 0 and witness.connections == 0


def test_through_a_proxy_a_name_resolving_into_the_network_never_reaches_the_proxy(
    proxy: Witness, shipped_hosts: None, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.PUSH_HOSTS = (*DEFAULT_HOSTS, "relay.example.net")
    fake_dns(monkeypatch, {"relay.example.net": ["10.0.0.7"]})
    # The proxy resolves the name itself: Tocsin's own answer is checked first.
    error = send("https://relay.example.net/push/1")
    assert not error.permanent and "not a public address" in error.message
    assert proxy.connections == 0


def test_through_a_proxy_a_redirect_is_not_followed(proxy: Witness, witness: Witness) -> None:
    with Witness() as elsewhere:
        proxy.answer = redirect(307, f"{elsewhere.origin}/push/1")
        assert send(f"{witness.origin}/push/1").permanent
        assert proxy.connections == 1
        assert elsewhere.connections == 0 and witness.connections == 0


def test_through_a_proxy_an_allowed_endpoint_is_sent(proxy: Witness, witness: Witness) -> None:
    payload = {"address": f"{witness.origin}/push/1", "keys": browser_keys()}
    WebPushTransport().send(payload, MESSAGE, idempotency_key="test-2")
    assert proxy.connections == 1
    assert proxy.received[0].startswith(f"POST {witness.origin}/push/1 HTTP/1.1".encode())


# --- The worker's short way of reading an endpoint ---

# Endpoints of allowed push services as often as odd ones, then any path and query.
ORIGINS = st.one_of(
    st.sampled_from(
        [
            "https://fcm.googleapis.com",
            "https://updates.push.services.mozilla.com:443",
            "http://127.0.0.1:8080",
            "http://127.0.0.1",
            "https://127.0.0.1:443",
        ]
    ),
    st.tuples(
        st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "http:/", "https:", ""]),
        st.sampled_from(["", "user@", "a:b@", "fcm.googleapis.com@"]),
        st.sampled_from(
            [
                "fcm.googleapis.com",
                "FCM.googleapis.com",
                "127.0.0.1",
                "127.1",
                "localhost",
                "[::1]",
                "[::1",
                "evil.example.net",
                "",
            ]
        ),
        st.sampled_from(["", ":", ":443", ":80", ":8080", ":0", ":99999", ":x", ":-1"]),
    ).map("".join),
)
TAILS = st.text(alphabet="/?#@:[]%ab1 \t\r\nñ\x7f", max_size=24)


def outcome(read: Any, endpoint: str) -> Any:
    try:
        return read(endpoint)
    except ValueError as e:
        return (type(e), str(e))


@hypothesis.settings(max_examples=600, deadline=None)
@hypothesis.given(ORIGINS, TAILS)
def test_the_worker_reads_each_endpoint_as_the_full_parse_does(origin: str, tail: str) -> None:
    endpoint = origin + tail
    with override_settings(PUSH_HOSTS=("127.0.0.1", *DEFAULT_HOSTS)):
        for _ in range(2):  # the second time from what the first one kept
            assert outcome(webpush.parse_endpoint, endpoint) == outcome(
                webpush._parse_endpoint, endpoint
            )
    with override_settings(PUSH_HOSTS=DEFAULT_HOSTS):
        # A push service the list no longer names is refused at once.
        assert outcome(webpush.parse_endpoint, endpoint) == outcome(
            webpush._parse_endpoint, endpoint
        )
