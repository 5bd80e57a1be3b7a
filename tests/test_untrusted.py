"""Reading JSON and text from outside (tocsin.lib.untrusted), which every inbound parser
uses: the webhooks, the signal-cli poller, page scripts' JSON, proof-of-work payloads."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.factories import world
from tests.fuzz_support import HOSTILE_JSON, JSON, JSON_STYLE, json_bytes
from tocsin.lib import untrusted
from tocsin.lib.untrusted import MAX_DEPTH, NotJSON, load_json, text
from tocsin.members.models import ContactEndpoint


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    return []


def test_text_drops_nul_and_replaces_lone_surrogates() -> None:
    assert text("ST\x00OP") == "STOP"
    assert text("a\ud800b\udfff") == "a\ufffdb\ufffd"
    assert text("🚨 ¿Qué? \u202e") == "🚨 ¿Qué? \u202e"


def test_it_cleans_every_string_keys_included() -> None:
    raw = b'{"te\\u0000xt": ["\\ud800", {"\\udc80": "ok\\u0000"}]}'
    assert load_json(raw) == {"text": ["\ufffd", {"\ufffd": "ok"}]}


def test_invalid_utf8_is_replaced_not_refused() -> None:
    assert load_json(b'{"text": "STOP\xff"}') == {"text": "STOP\ufffd"}


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2),
        b"9" * 5000,
        b'{"a": ',
        b"",
    ],
    ids=["stack-deep", "too-deep", "huge-number", "cut-off", "empty"],
)
def test_it_refuses_what_it_cannot_read(raw: bytes) -> None:
    with pytest.raises(NotJSON):
        load_json(raw)


def test_nesting_up_to_the_limit_is_read() -> None:
    value = load_json(b"[" * MAX_DEPTH + b"1" + b"]" * MAX_DEPTH)
    for _ in range(MAX_DEPTH):
        value = value[0]
    assert value == 1


@hsettings(max_examples=200, deadline=None)
@given(raw=st.builds(json_bytes, JSON, JSON_STYLE) | HOSTILE_JSON | st.binary(max_size=200))
def test_it_returns_clean_json_or_refuses(raw: bytes) -> None:
    try:
        value = load_json(raw)
    except NotJSON:
        return
    for s in strings(value):
        assert "\x00" not in s
        s.encode("utf-8")


# Page scripts' JSON: the passkey login (anyone) and a device's push subscription (a member).

HOSTILE_PAGE_JSON = [
    b"[" * 20_000 + b"]" * 20_000,
    b'{"credential": "\\ud800", "endpoint": "https://push.example/\\ud800", "keys": '
    b'{"p256dh": "\\ud800", "auth": "\\u0000"}, "label": "\\ud800"}',
    b'{"credential": {"id": "\xff\xfe"}}',
]


@pytest.mark.django_db
@pytest.mark.parametrize("body", HOSTILE_PAGE_JSON, ids=["deep", "surrogates", "bad-utf8"])
def test_the_passkey_login_answers_hostile_json_with_a_400(body: bytes) -> None:
    response = Client().post(
        reverse("passkey_login_complete"), body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", HOSTILE_PAGE_JSON, ids=["deep", "surrogates", "bad-utf8"])
def test_a_push_subscription_in_hostile_json_is_refused_or_stored_clean(body: bytes) -> None:
    w = world()
    client = Client()
    client.force_login(w.member.user)
    response = client.post(reverse("push_subscribe"), body, content_type="application/json")
    assert response.status_code in (200, 400)
    for label in ContactEndpoint.objects.values_list("label", flat=True):
        label.encode("utf-8")


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("\u202eRTL\u202c", "RTL"),  # a right-to-left override would show it reversed
        ("Ol\u200fga\u2066 (organizer)\u2069", "Olga (organizer)"),
        ("  Ana\tMaría \n", "Ana María"),
        ("Lupe\x00", "Lupe"),
        ("Café 👩‍👧", "Café 👩‍👧"),  # letters and emoji (with their joiners) stay
    ],
)
def test_a_name_keeps_no_invisible_or_control_character(typed: str, kept: str) -> None:
    assert untrusted.name(typed) == kept


@pytest.mark.django_db
def test_a_display_name_given_on_joining_is_cleaned() -> None:
    from tocsin.members.forms import JoinForm

    form = JoinForm({"display_name": "\u202eagl\u2066O", "language": "en"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["display_name"] == "aglO"
    assert not JoinForm({"display_name": "\u202e\u202c", "language": "en"}).is_valid()
