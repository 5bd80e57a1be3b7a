"""The phone relay (an example channel added by docs/adding-a-channel.md): alerts as JSON
to a local bridge, what people send back through its hook, and the places that learn of
it from its transport class alone (member pages, desk, check, blind index)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests import factories
from tests.factories import World
from tocsin.hooks import channels as hook_channels
from tocsin.incidents.forms import HotlineForm
from tocsin.intake.models import Channel
from tocsin.members.models import ContactEndpoint, EndpointKind
from tocsin.transports import checks
from tocsin.transports import registry as transports
from tocsin.transports.base import Message, TransportError
from tocsin.transports.relay import RelayTransport

TOKEN = "relay-token-123"
MATEO = "+13105550100"


class Bridge(ThreadingHTTPServer):
    """A local bridge to phones: checks the bearer token, keeps what it was asked to send,
    answers ``status``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.sent: list[dict[str, Any]] = []
        self.status = 202

    def __enter__(self) -> Bridge:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/send"


class _Handler(BaseHTTPRequestHandler):
    server: Bridge

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
        else:
            self.server.sent.append(json.loads(body))
            self.send_response(self.server.status)
            if self.server.status == 429:
                self.send_header("Retry-After", "7")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def bridge(settings: Any) -> Iterator[Bridge]:
    with Bridge() as peer:
        settings.RELAY_URL = peer.url
        settings.RELAY_TOKEN = TOKEN
        yield peer


def send(address: str = MATEO) -> None:
    RelayTransport().send(
        {"address": address},
        Message(subject="", text="Tocsin alert.", url=""),
        idempotency_key="a1",
    )


def test_it_is_off_until_configured(settings: Any) -> None:
    settings.RELAY_URL = ""
    settings.RELAY_TOKEN = ""
    assert "relay" not in transports.registry()
    status = next(s for s in checks.statuses() if s.kind == "relay")
    assert status.state == "off" and status.name == "Phone relay"


def test_the_check_says_what_a_half_setup_lacks(settings: Any) -> None:
    settings.RELAY_URL = "http://127.0.0.1:9/send"
    settings.RELAY_TOKEN = ""
    status = next(s for s in checks.statuses() if s.kind == "relay")
    assert status.state == "partly configured"
    assert status.problems == ["TOCSIN_RELAY_TOKEN is not set"]


def test_the_registry_picks_it_once_configured(bridge: Bridge) -> None:
    assert transports.registry()["relay"] is RelayTransport


def test_it_posts_the_text_with_the_token(bridge: Bridge) -> None:
    send()
    assert bridge.sent == [{"to": MATEO, "text": "Tocsin alert.", "id": "a1"}]


def test_a_number_the_bridge_cannot_reach_is_permanent(bridge: Bridge) -> None:
    bridge.status = 404
    with pytest.raises(TransportError) as e:
        send()
    assert e.value.permanent


def test_a_rate_limit_waits_as_asked(bridge: Bridge) -> None:
    bridge.status = 429
    with pytest.raises(TransportError) as e:
        send()
    assert not e.value.permanent and e.value.retry_after == 7


def test_the_choice_lists_know_it() -> None:
    assert EndpointKind.RELAY == "relay"
    assert Channel.RELAY == "relay"


def test_its_addresses_are_phone_numbers() -> None:
    assert transports.blind_index("relay", "+1 (310) 555-0100") == transports.blind_index(
        "relay", MATEO
    )
    assert transports.blind_index("relay", MATEO) != transports.blind_index("sms", MATEO)


def test_its_hook_is_found_by_its_kind() -> None:
    assert "relay" in hook_channels.webhooks()
    assert reverse("relay_inbound") == "/hooks/relay/inbound/"


def post(client: Client, body: dict[str, Any], token: str = TOKEN) -> Any:
    return client.post(
        reverse("relay_inbound"),
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.mark.django_db
def test_the_hook_refuses_a_wrong_token(bridge: Bridge) -> None:
    assert post(Client(), {"from": MATEO, "text": "STOP"}, token="nope").status_code == 403


@pytest.mark.django_db
def test_stop_through_the_hook_turns_the_channel_off(bridge: Bridge) -> None:
    w: World = factories.world()
    ContactEndpoint.create(w.member, "relay", MATEO, verified=True)
    response = post(Client(), {"from": "(310) 555-0100", "text": "STOP", "id": "m1"})
    assert response.status_code == 200
    assert "START" in response.json()["reply"]
    assert ContactEndpoint.objects.get(kind="relay").disabled_at is not None


@pytest.mark.django_db
def test_the_member_page_offers_it_for_a_code(bridge: Bridge) -> None:
    w: World = factories.world()
    page = factories.session_for(w.member).get(reverse("me")).content.decode()
    assert 'value="relay"' in page


def test_the_desk_may_call_back_on_it(bridge: Bridge) -> None:
    assert ("relay", RelayTransport.label) in HotlineForm.base_fields["callback_kind"].choices
