"""A member's family plan on /me/family/: contacts (sealed), agreeing, the PIN, the card."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import global_settings
from django.contrib.auth.hashers import identify_hasher
from django.urls import reverse
from pytest_django.fixtures import Settings

from tests.factories import World, session_for, world
from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin.family import panic, plans, sending
from tocsin.family.models import MAX_CONTACTS, ContactMessage, EmergencyContact, FamilyPlan
from tocsin.legal import keys
from tocsin.members.models import Member


@pytest.fixture
def w(db: None) -> World:
    return world()


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DELIVERY_RATE = {**settings.DELIVERY_RATE, "email": 0}
        yield peer


def add(client, label: str = "Mom", address: str = "mom@example.org", language: str = "es"):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("family_contact_add"),
        {"label": label, "kind": "email", "address": address, "contact_language": language},
    )


def test_a_member_saves_a_plan_with_consent(w: World) -> None:
    client = session_for(w.member)
    r = client.post(
        reverse("family_plan"),
        {
            "committee": w.east.pk,
            "language": "es",
            "children": "Ana picks up Luis at Soto school",
            "medication": "insulin, fridge door",
            "documents": "blue folder, closet",
            "message": "Call Ana",
            "legal_may_see_plan": "on",
        },
    )
    assert r.status_code == 302
    plan = FamilyPlan.objects.get(member=w.member)
    assert plan.language == "es" and plan.legal_may_see_plan
    tasks = plans.tasks_for(w.member)
    assert [kind for kind, _sealed in tasks] == ["childcare", "medication", "documents", "message"]
    # Sealed to the legal team's key, in the plan's language.
    assert keys.unseal(tasks[0][1]) == {
        "text": "Recoger a los niños: Ana picks up Luis at Soto school"
    }


def test_the_legal_team_sees_no_task_without_consent(w: World) -> None:
    plan = panic.plan_for(w.member)
    plan.set_texts(children="Ana picks up Luis")
    plan.save()
    assert plans.tasks_for(w.member) == []
    assert plans.tasks_for(w.outsider) == []


def test_a_committee_of_someone_else_cannot_be_chosen(w: World) -> None:
    r = session_for(w.member).post(
        reverse("family_plan"), {"committee": w.west.pk, "language": "en"}
    )
    assert r.status_code == 400
    assert FamilyPlan.objects.get(member=w.member).committee_id == w.east.pk


def test_a_contact_is_sealed_and_asked_to_agree(w: World, smtp: SMTPPeer) -> None:
    client = session_for(w.member)
    assert add(client).status_code == 302
    contact = EmergencyContact.objects.get()
    assert b"mom@example.org" not in bytes(contact.sealed)
    assert "mom@example.org" not in contact.blind_index
    assert sending.send_due() == 1
    [mail] = smtp.to("mom@example.org")
    assert mail["Subject"] == "Mateo le pide que sea su contacto de emergencia"
    link = reverse("family_confirm", args=[contact.token])
    assert link in mail.get_content()
    page = client.get(reverse("family_plan")).content.decode()
    assert "has not agreed yet: not alerted" in page


def test_the_contact_agrees_by_a_post_not_by_opening_the_link(w: World) -> None:
    add(session_for(w.member))
    contact = EmergencyContact.objects.get()
    link = reverse("family_confirm", args=[contact.token])
    anyone = session_for(w.outsider)
    anyone.logout()
    assert anyone.get(link).status_code == 200
    contact.refresh_from_db()
    assert contact.confirmed_at is None
    r = anyone.post(link)
    assert r.status_code == 200 and "Gracias" in r.content.decode()
    contact.refresh_from_db()
    assert contact.confirmed_at is not None
    assert anyone.get(reverse("family_confirm", args=["nope"])).status_code == 404


def test_the_same_contact_twice_is_refused(w: World) -> None:
    client = session_for(w.member)
    add(client)
    r = add(client, label="Mama", address="MOM@example.org ")
    assert r.status_code == 400
    assert EmergencyContact.objects.count() == 1


def test_at_most_fifteen_contacts(w: World) -> None:
    client = session_for(w.member)
    for i in range(MAX_CONTACTS):
        assert add(client, label=f"c{i}", address=f"c{i}@example.org").status_code == 302
    r = add(client, label="one more", address="more@example.org")
    assert r.status_code == 400
    assert EmergencyContact.objects.count() == MAX_CONTACTS


def test_a_bad_address_is_refused(w: World) -> None:
    r = add(session_for(w.member), address="not an address")
    assert r.status_code == 400
    assert not EmergencyContact.objects.exists()


def test_only_the_member_removes_their_contact(w: World) -> None:
    add(session_for(w.member))
    contact = EmergencyContact.objects.get()
    url = reverse("family_contact_delete", args=[contact.pk])
    assert session_for(w.outsider).post(url).status_code == 404
    assert session_for(w.member).post(url).status_code == 302
    assert not EmergencyContact.objects.exists()
    assert not ContactMessage.objects.exists()


def test_the_pin_is_hashed_and_must_be_typed_twice(w: World, settings: Settings) -> None:
    # The hasher a real install uses (tocsin.settings keeps Django's), not the suite's fast
    # one (tests/settings.py).
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    client = session_for(w.member)
    assert client.post(reverse("family_pin"), {"pin": "2468", "again": "2469"}).status_code == 400
    assert client.post(reverse("family_pin"), {"pin": "24", "again": "24"}).status_code == 400
    assert client.post(reverse("family_pin"), {"pin": "2468", "again": "2468"}).status_code == 302
    plan = FamilyPlan.objects.get(member=w.member)
    assert "2468" not in plan.pin_hash
    assert identify_hasher(plan.pin_hash).algorithm == "pbkdf2_sha256"
    assert plan.pin_matches("2468") and not plan.pin_matches("8642")


def test_the_card_has_the_committees_hotline_in_the_members_language(w: World) -> None:
    w.east.hotline_numbers = ["+12135550100"]
    w.east.save()
    plan = panic.plan_for(w.member)
    plan.language = "es"
    plan.save()
    page = session_for(w.member).get(reverse("family_card")).content.decode()
    assert "Conozca sus derechos" in page
    assert "tel:+12135550100" in page
    assert "css/rights-print" in page


def test_the_pages_are_for_members_only(w: World) -> None:
    client = session_for(w.member)
    client.logout()
    assert client.get(reverse("family_plan")).status_code == 302
    assert client.get(reverse("family_panic")).status_code == 302


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_plan_page_says_unconfirmed_contacts_are_not_alerted(w: World, language: str) -> None:
    w.member.language = language
    w.member.save()
    page = session_for(w.member).get(reverse("family_plan")).content.decode()
    said = {
        "en": "Contacts who have not agreed yet are not alerted.",
        "es": "Los contactos que aún no han aceptado no reciben la alerta.",
    }
    assert said[language] in page


def test_the_plan_is_in_the_members_data_export_without_addresses_or_pin(w: World) -> None:
    client = session_for(w.member)
    client.post(reverse("family_plan"), {"language": "en", "children": "Ana picks up Luis"})
    add(client)
    client.post(reverse("family_pin"), {"pin": "2468", "again": "2468"})
    data = client.get(reverse("export_data")).json()["family_plan"]
    assert data["children"] == "Ana picks up Luis" and data["has_pin"] is True
    assert data["contacts"] == [
        {"name": "Mom", "kind": "email", "language": "es", "agreed_at": None}
    ]
    assert "mom@example.org" not in str(data) and "2468" not in str(data)


def test_the_contact_form_asks_for_a_number_only_when_a_channel_takes_one(
    w: World, settings: Settings
) -> None:
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = settings.TWILIO_FROM = ""
    settings.SMS_GATEWAY_URL = settings.SIGNAL_API_URL = ""
    page = session_for(w.member).get(reverse("family_plan")).content.decode()
    assert "Phone number or address" not in page
    assert "Email address" in page


def test_the_contacts_channel_is_named_in_the_members_language(w: World) -> None:
    client = session_for(w.member)
    add(client)
    Member.objects.filter(pk=w.member.pk).update(language="es")
    page = session_for(w.member).get(reverse("family_plan")).content.decode()
    assert "Mom · Correo electrónico ·" in page
