"""Phone numbers: written the way people write them, kept in E.164 everywhere one enters
(tocsin.lib.phones, tocsin.vault.normalize, the member's phone form, the hotline's
callback, inbound SMS and Signal senders), refused with a reason in the person's language
when no phone can have them.

555-01xx numbers are the fictional ones of North American films; libphonenumber holds
them valid (they fit the plan), so tests use them as real members' numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.factories import EAST, World, report_by_text
from tocsin import vault
from tocsin.hooks.inbound import Inbound, handle
from tocsin.incidents.forms import HotlineForm
from tocsin.intake.models import Report, ReportContact
from tocsin.lib import phones
from tocsin.lib.phones import PhoneError
from tocsin.members.forms import PhoneForm
from tocsin.members.models import ContactEndpoint
from tocsin.transports import registry as transports_base
from tocsin.transports import registry as transports_registry
from tocsin.transports.base import Message, Transport

US = "+12135550142"
MX = "+525512345678"
US_WRITTEN = [
    "(213) 555-0142",
    "213 555 0142",
    "213-555-0142",
    "213.555.0142",
    "2135550142",
    "1 213 555 0142",
    "+1 213 555 0142",
    "+1 (213) 555-0142",
    "+12135550142",
    " +1-213-555-0142 ",
    "２１３ ５５５ ０１４２",  # full width, from a phone keyboard
    "٢١٣٥٥٥٠١٤٢",  # Arabic-Indic digits
]
MX_WRITTEN = [
    "+52 55 1234 5678",
    "+52 (55) 1234-5678",
    "+525512345678",
    "+52 1 55 1234 5678",  # the mobile "1" Mexico dropped in 2019
    "011 52 55 1234 5678",  # dialled from the US
]


# tocsin.lib.phones


@pytest.mark.parametrize("written", US_WRITTEN)
def test_a_us_number_written_any_way_is_one_e164_number(written: str) -> None:
    assert phones.parse(written, region="US") == US


@pytest.mark.parametrize("written", MX_WRITTEN)
def test_a_mexican_number_written_any_way_is_one_e164_number(written: str) -> None:
    assert phones.parse(written, region="US") == MX


def test_a_national_number_belongs_to_the_configured_region() -> None:
    assert phones.parse("55 1234 5678", region="MX") == MX
    with pytest.raises(PhoneError):
        phones.parse("213 555 0142", region="MX")  # not a Mexican number


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("555-0142", phones.TOO_SHORT),
        ("+1 213", phones.TOO_SHORT),
        ("+1 213 555 01420000", phones.TOO_LONG),
        ("+52 55 1234 5678 9012", phones.TOO_LONG),
        ("+999 1234 5678 9012 3456", phones.BAD_COUNTRY),
        ("+1 123 555 0142", phones.INVALID),  # no area code 123
        ("+1 213 055 0142", phones.INVALID),  # no exchange starts with 0
        ("+999 1234 5678", phones.BAD_COUNTRY),
        ("213 555 ABCD", phones.LETTERS),
        ("1-800-FLOWERS", phones.LETTERS),
        ("+1 213 555 0142 ext. 5", phones.LETTERS),
        ("", phones.NOT_A_NUMBER),
        ("+", phones.NOT_A_NUMBER),
        ("---", phones.NOT_A_NUMBER),
    ],
)
def test_a_number_no_phone_can_have_is_refused_with_its_reason(written: str, code: str) -> None:
    with pytest.raises(PhoneError) as refused:
        phones.parse(written, region="US")
    assert refused.value.code == code


def test_a_senders_address_is_e164_when_it_reads_as_a_number() -> None:
    assert phones.e164("(213) 555-0142", region="US") == US
    assert phones.e164("+1 123 555 0142", region="US") == "+11235550142"  # possible
    assert phones.e164("0d4a3c8e-1b2f-4e5a-9c6d-7e8f9a0b1c2d", region="US") is None
    assert phones.e164("12345", region="US") is None  # a short code
    assert phones.e164("\ud800", region="US") is None


@hsettings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40) | st.text(alphabet="+0123456789 ()-.", max_size=40))
def test_parsing_anything_returns_e164_or_refuses(text: str) -> None:
    try:
        number = phones.parse(text, region="US")
    except PhoneError:
        pass
    else:
        assert number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16
    found = phones.e164(text, region="US")
    assert found is None or (found.startswith("+") and found[1:].isdigit())


# Blind indexes


def old_index(kind: str, address: str) -> str:
    """The blind index as Tocsin computed it before numbers went through phonenumbers."""
    key = vault._blind_key()
    return hmac.new(key, f"{kind}\0{address}".encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("kind", ["sms", "signal"])
@pytest.mark.parametrize(
    ("written", "e164"), [(w, US) for w in US_WRITTEN] + [(w, MX) for w in MX_WRITTEN]
)
def test_every_way_of_writing_a_number_finds_one_index(kind: str, written: str, e164: str) -> None:
    assert transports_registry.blind_index(kind, written) == transports_registry.blind_index(
        kind, e164
    )


@pytest.mark.parametrize("stored", [US, MX, "+442079460958", "+13105550100", "+390612345678"])
def test_a_number_stored_in_e164_keeps_the_index_it_had(stored: str) -> None:
    assert vault.blind_index("sms", stored, form="phone") == old_index("sms", stored)


def test_an_address_that_is_no_number_keeps_the_index_it_had() -> None:
    # A Signal account known only by its UUID: indexed by its digits, as before.
    uuid = "0d4a3c8e-1b2f-4e5a-9c6d-7e8f9a0b1c2d"
    digits = "".join(ch for ch in uuid if ch.isdigit())
    assert vault.blind_index("signal", uuid, form="phone") == old_index("signal", digits)


# The member's phone form, in the member's language


class Recorder(Transport):
    kind = "sms"

    def send(self, payload: dict, message: Message, *, idempotency_key: str) -> None:
        pass


@pytest.fixture
def phones_on(monkeypatch: pytest.MonkeyPatch) -> None:
    real = transports_base.registry

    def registry() -> dict[str, type[Transport]]:
        return {**real(), "sms": Recorder, "signal": Recorder}

    monkeypatch.setattr(transports_base, "registry", registry)


def as_(persona: Any) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


@pytest.mark.parametrize("written", ["(213) 555-0142", "213 555 0142", "+1 213-555-0142"])
def test_a_member_adds_a_number_as_they_write_it_and_it_is_kept_in_e164(
    w: World, phones_on: None, django_capture_on_commit_callbacks: Any, written: str
) -> None:
    with django_capture_on_commit_callbacks():
        as_(w.member).post(reverse("add_phone"), {"kind": "sms", "number": written})
    endpoint = w.member.endpoints.get(kind="sms")
    assert endpoint.open()["address"] == US
    assert endpoint.blind_index == vault.blind_index("sms", US, form="phone")


def test_a_mexican_number_is_kept_in_e164(
    w: World, phones_on: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks():
        as_(w.member).post(reverse("add_phone"), {"kind": "signal", "number": "+52 1 55 1234 5678"})
    assert w.member.endpoints.get(kind="signal").open()["address"] == MX


@pytest.mark.parametrize(
    ("written", "english"),
    [
        ("555-0142", "too short"),
        ("+1 213 555 01420000", "too long"),
        ("+1 123 555 0142", "No phone can have that number"),
        ("213 555 ABCD", "only digits"),
        ("+999 1234 5678", "No country has that code"),
    ],
)
def test_a_number_that_cannot_exist_is_refused_in_the_members_language(
    w: World, phones_on: None, written: str, english: str
) -> None:
    data = {"kind": "sms", "number": written}
    form = PhoneForm(data, kinds=["sms"])
    assert not form.is_valid()
    assert english in form.errors["number"][0]
    with translation.override("es"):
        spanish_form = PhoneForm(data, kinds=["sms"])
        assert not spanish_form.is_valid()
        spanish = spanish_form.errors["number"][0]
    assert english not in spanish
    # Rosa reads Spanish: the page tells her in Spanish, and nothing is stored.
    rosa = as_(w.responder)
    response = rosa.post(reverse("add_phone"), data)
    page = html.unescape(rosa.get(response["Location"]).content.decode())
    assert spanish in page and english not in page
    assert not ContactEndpoint.objects.filter(kind="sms").exists()


def test_the_help_text_shows_the_regions_own_way_of_writing(settings: Any) -> None:
    assert "(201) 555-0123" in str(PhoneForm(kinds=["sms"]).fields["number"].help_text)
    settings.PHONE_REGION = "MX"
    assert "200 123 4567" in str(PhoneForm(kinds=["sms"]).fields["number"].help_text)


# The hotline's callback number


def call(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "checkpoint",
        "lat": EAST[0],
        "lng": EAST[1],
        "language": "es",
        "nonce": os.urandom(8).hex(),
        **fields,
    }


def hotline_form(data: dict[str, Any]) -> HotlineForm:
    form = HotlineForm(data)
    form.fields["callback_kind"].choices = [("", ""), ("sms", "SMS"), ("signal", "Signal")]  # type: ignore[attr-defined]
    return form


@pytest.mark.parametrize("written", ["(213) 555-0142", "213 555 0142", "+1 213 555 0142"])
def test_a_callback_number_is_kept_in_e164(db: None, written: str) -> None:
    form = hotline_form(call(callback_kind="sms", callback=written))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["callback"] == US


def test_a_callback_number_that_cannot_exist_is_refused(db: None) -> None:
    form = hotline_form(call(callback_kind="sms", callback="+1 123 555 0142"))
    assert not form.is_valid()
    assert "No phone can have that number" in form.errors["callback"][0]


def test_the_hotline_seals_the_callback_in_e164(w: World, phones_on: None) -> None:
    response = as_(w.dispatcher).post(
        reverse("hotline"), call(callback_kind="sms", callback="(213) 555-0142")
    )
    assert response.status_code == 302
    contact = ReportContact.objects.get(report=Report.objects.get())
    assert vault.unseal(bytes(contact.sealed)) == {"address": US}


# Inbound senders


@pytest.mark.parametrize("sender", ["2135550142", "(213) 555-0142", "+1 213 555 0142"])
def test_an_inbound_sender_is_found_however_the_gateway_writes_the_number(
    w: World, sender: str
) -> None:
    ContactEndpoint.create(w.member, "sms", US, verified=True)
    assert "no more messages" in (handle(Inbound("sms", sender, "STOP")) or "")
    assert w.member.endpoints.get(kind="sms").disabled_at is not None


def test_a_report_by_sms_keeps_the_sender_to_answer_in_e164(w: World) -> None:
    ContactEndpoint.create(w.member, "sms", US, verified=True)
    report, _reply = report_by_text("sms", "(213) 555-0142", "REPORT two vans at the corner")
    contact = ReportContact.objects.get(report=report)
    assert vault.unseal(bytes(contact.sealed)) == {"address": US}


def test_a_signal_sender_known_by_uuid_is_kept_as_it_is() -> None:
    uuid = "0d4a3c8e-1b2f-4e5a-9c6d-7e8f9a0b1c2d"
    assert Inbound("signal", uuid, "hola").address == uuid
    assert Inbound("signal", "+1 213 555 0142", "hola").address == US
    assert Inbound("telegram", "2135550142", "hola").address == "2135550142"


# The setting


def settings_in(tmp_path: Path, region: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; from django.conf import settings; django.setup();"
            " print(settings.PHONE_REGION)",
        ],
        env={
            "DJANGO_SETTINGS_MODULE": "tocsin.settings",
            "TOCSIN_DATA_DIR": str(tmp_path),
            "TOCSIN_PHONE_REGION": region,
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_region_is_us_unless_set(settings: Any) -> None:
    assert settings.PHONE_REGION == "US"


def test_the_region_setting_is_checked_at_start(tmp_path: Path) -> None:
    assert settings_in(tmp_path, " mx ").stdout.split() == ["MX"]
    refused = settings_in(tmp_path, "Mexico")
    assert refused.returncode != 0
    assert "TOCSIN_PHONE_REGION" in refused.stderr


def test_an_endpoint_seals_a_phone_number_in_e164(w: World) -> None:
    endpoint = ContactEndpoint.create(w.member, "sms", "(213) 555-0142", verified=True)
    assert endpoint.open()["address"] == US
    assert endpoint.blind_index == vault.blind_index("sms", US, form="phone")
