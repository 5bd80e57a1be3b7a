"""Asking to join a listed committee from its public page, the organizer's answer (a
vouch, so the tree stays whole), and asking to start a committee where there is none."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import World, session_for, world
from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin import geo
from tocsin.committees import joining, vouching
from tocsin.committees.models import CommitteeRequest, Invite, JoinRequest, Membership, Role
from tocsin.members import security
from tocsin.mobilize import join_notices


@pytest.fixture
def w(db: None) -> World:
    found = world()
    found.east.listed = True
    found.east.save()
    return found


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        settings.DELIVERY_RATE = {**settings.DELIVERY_RATE, "email": 0}
        yield peer


def text(response: Any) -> str:
    return response.content.decode()


def scrub(body: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", body)


def ask(client: Client, slug: str, address: str = "ana@example.org", **fields: str) -> Any:
    data = {"display_name": "Ana", "channel": "email", "address": address, **fields}
    return client.post(reverse("committee_public", args=[slug]), data)


def join_link(message: Any) -> str:
    found = re.search(r"https?://\S+/join/(\S+?)/", message.get_content())
    assert found is not None
    return found.group(1)


def test_a_stranger_asks_to_join_and_the_address_is_sealed(w: World) -> None:
    response = ask(Client(), "east")
    assert response.status_code == 200
    assert "An organizer reads your request" in text(response)
    request = JoinRequest.objects.get()
    assert (request.committee, request.display_name, request.kind) == (w.east, "Ana", "email")
    assert b"ana@example.org" not in bytes(request.sealed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM committees_joinrequest")
        assert "ana@example.org" not in repr(cursor.fetchall())


def test_the_same_address_twice_gets_the_same_answer_and_one_request(w: World) -> None:
    first = ask(Client(), "east")
    again = ask(Client(), "east", address=" ANA@example.org")
    assert first.status_code == again.status_code == 200
    assert scrub(text(first)) == scrub(text(again))
    assert JoinRequest.objects.count() == 1


def test_a_bad_address_is_refused_and_nothing_is_stored(w: World) -> None:
    response = ask(Client(), "east", address="not an address")
    assert response.status_code == 400
    assert "Enter an email address." in text(response)
    assert not JoinRequest.objects.exists()


def test_a_network_asking_too_often_is_refused_for_a_while(w: World, settings: Settings) -> None:
    settings.RSVP_PER_10MIN = 2
    one_network = Client(REMOTE_ADDR="198.51.100.7")
    for n in range(2):
        assert ask(one_network, "east", address=f"p{n}@example.org").status_code == 200
    refused = ask(one_network, "east", address="p3@example.org")
    assert refused.status_code == 429
    assert "Many requests came from this network just now." in text(refused)
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert ask(other, "east", address="q@example.org").status_code == 200
    assert JoinRequest.objects.count() == 3


def test_an_unlisted_or_unapproved_committee_has_no_public_page(w: World) -> None:
    assert Client().get(reverse("committee_public", args=["west"])).status_code == 404
    assert ask(Client(), "west").status_code == 404
    w.east.approved_at = None
    w.east.save()
    assert Client().get(reverse("committee_public", args=["east"])).status_code == 404
    assert not JoinRequest.objects.exists()


def test_the_organizer_sees_the_request_and_other_committees_do_not(w: World) -> None:
    ask(Client(), "east")
    page = session_for(w.organizer, strong=True).get(
        reverse("committee_join_requests", args=["east"])
    )
    assert "Ana" in text(page)
    assert "ana@example.org" not in text(page)
    west = session_for(w.west_organizer, strong=True).get(
        reverse("committee_join_requests", args=["west"])
    )
    assert "Ana" not in text(west)


def test_accepting_sends_a_join_link_that_hangs_the_person_under_the_organizer(
    w: World, smtp: SMTPPeer
) -> None:
    ask(Client(), "east")
    request = JoinRequest.objects.get()
    organizer = session_for(w.organizer, strong=True)
    response = organizer.post(reverse("committee_join_accept", args=["east", request.pk]))
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.accepted_by == w.organizer
    assert request.invite is not None
    assert (request.invite.created_by, request.invite.max_uses) == (w.organizer, 1)
    assert join_notices.send_due() == 1
    assert join_notices.send_due() == 0  # sent once
    [message] = smtp.to("ana@example.org")
    assert "accepted your request to join" in message.get_content()
    token = join_link(message)
    # The form starts with the name given in the request.
    form = Client().get(reverse("join", args=[token])).content.decode()
    assert f'value="{request.display_name}"' in form
    joined = Client().post(
        reverse("join", args=[token]), {"display_name": "Ana", "language": "en", "email": ""}
    )
    assert joined.status_code == 302
    ana = Membership.objects.get(committee=w.east, member__display_name="Ana")
    assert ana.vouched_by == w.organizer
    [olga] = [n for n in vouching.tree(w.east) if n.member_id == w.organizer.pk]
    assert ana.member_id in [c.member_id for c in olga.children]
    # The link worked once.
    assert Client().get(reverse("join", args=[token])).status_code == 404


def test_the_join_link_comes_in_the_language_the_person_asked_in(w: World, smtp: SMTPPeer) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="es")
    ask(client, "east")
    request = JoinRequest.objects.get()
    assert request.language == "es"
    joining.accept(request, by=w.organizer)
    join_notices.send_due()
    [message] = smtp.to("ana@example.org")
    assert "aceptó su solicitud" in message.get_content()
    assert message["Subject"] == "Le damos la bienvenida a East"


def test_a_refused_address_is_marked_and_not_retried_forever(w: World, smtp: SMTPPeer) -> None:
    smtp.refuse("ana@example.org")
    ask(Client(), "east")
    request = JoinRequest.objects.get()
    joining.accept(request, by=w.organizer)
    assert join_notices.send_due() == 0
    request.refresh_from_db()
    assert request.sent_at is None
    assert request.error
    assert "ana@example.org" not in request.error
    assert request.attempts == join_notices.MAX_ATTEMPTS
    assert join_notices.send_due(now=timezone.now() + timedelta(days=1)) == 0
    page = session_for(w.organizer, strong=True).get(
        reverse("committee_join_requests", args=["east"])
    )
    assert "the join link could not be sent" in text(page)


def test_an_accepted_request_does_not_use_up_the_organizers_personal_invites(
    w: World,
) -> None:
    before = vouching.invites_left(w.organizer, w.east)
    for n in range(vouching.invites_per_week() + 1):
        request = joining.ask(
            w.east, display_name=f"P{n}", kind="email", address=f"p{n}@example.org", language="en"
        )
        assert request is not None
        joining.accept(request, by=w.organizer)
    assert vouching.invites_left(w.organizer, w.east) == before
    assert vouching.personal_invites(w.organizer, w.east) == []


def test_declining_deletes_the_request_and_sends_nothing(w: World, smtp: SMTPPeer) -> None:
    ask(Client(), "east")
    request = JoinRequest.objects.get()
    response = session_for(w.organizer, strong=True).post(
        reverse("committee_join_decline", args=["east", request.pk])
    )
    assert response.status_code == 302
    assert not JoinRequest.objects.exists()
    assert join_notices.send_due() == 0
    assert smtp.messages == []


def test_another_committees_organizer_cannot_answer_a_request(w: World) -> None:
    ask(Client(), "east")
    request = JoinRequest.objects.get()
    wendy = session_for(w.west_organizer, strong=True)
    for name in ("committee_join_accept", "committee_join_decline"):
        assert wendy.post(reverse(name, args=["west", request.pk])).status_code == 404
        assert wendy.post(reverse(name, args=["east", request.pk])).status_code == 404
    request.refresh_from_db()
    assert request.accepted_at is None


def test_an_expired_request_can_no_longer_be_accepted(w: World) -> None:
    ask(Client(), "east")
    JoinRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    request = JoinRequest.objects.get()
    response = session_for(w.organizer, strong=True).post(
        reverse("committee_join_accept", args=["east", request.pk])
    )
    assert response.status_code == 404
    assert not Invite.objects.filter(personal=True).exists()


def test_an_organizer_lists_and_unlists_the_committee(w: World) -> None:
    olga = session_for(w.organizer, strong=True)
    olga.post(reverse("committee_listed", args=["east"]), {"listed": "0"})
    w.east.refresh_from_db()
    assert not w.east.listed
    assert Client().get(reverse("committee_public", args=["east"])).status_code == 404
    olga.post(reverse("committee_listed", args=["east"]), {"listed": "1"})
    w.east.refresh_from_db()
    assert w.east.listed
    assert Client().get(reverse("committee_public", args=["east"])).status_code == 200


def test_a_committee_is_not_listed_until_its_organizers_list_it(db: None) -> None:
    found = world()
    assert not found.east.listed
    assert Client().get(reverse("committee_public", args=["east"])).status_code == 404


# --- starting a committee -----------------------------------------------------------------


def ask_to_start(client: Client, **fields: str) -> Any:
    data = {
        "name": "Harbor Workers",
        "kind": "workplace",
        "zip_code": "90744",
        "display_name": "Ana",
        "channel": "email",
        "address": "ana@example.org",
        **fields,
    }
    return client.post(reverse("committee_start"), data)


def test_a_stranger_asks_to_start_a_committee_by_zip_code(db: None) -> None:
    response = ask_to_start(Client())
    assert response.status_code == 200
    request = CommitteeRequest.objects.get()
    assert (request.name, request.kind, request.area_name) == (
        "Harbor Workers",
        "workplace",
        "Wilmington, CA",
    )
    assert geo.resolution(request.cell) == geo.PUBLIC_RESOLUTION
    assert b"ana@example.org" not in bytes(request.sealed)


def test_an_unknown_zip_code_is_refused(db: None) -> None:
    response = ask_to_start(Client(), zip_code="00000")
    assert response.status_code == 400
    assert "Enter a US ZIP code" in text(response)
    assert not CommitteeRequest.objects.exists()


def test_the_operator_starts_it_unapproved_and_the_person_becomes_its_organizer(
    db: None, smtp: SMTPPeer, settings: Settings
) -> None:
    settings.UNAPPROVED_AREA_M = 1000
    ask_to_start(Client())
    request = CommitteeRequest.objects.get()
    out = io.StringIO()
    call_command("committees", "requests", stdout=out)
    assert "Harbor Workers" in out.getvalue()
    call_command("committees", "start", str(request.pk), stdout=io.StringIO())
    request.refresh_from_db()
    committee = request.committee
    assert committee is not None
    # The limits of any new committee: not approved, its area the circle an organizer
    # of an unapproved committee may draw at most (here the operator's cap, 1 km).
    assert not committee.is_approved
    assert committee.cells() == geo.cells_for_circle(
        *geo.center(request.cell), 1000, settings.AREA_RESOLUTION
    )
    assert join_notices.send_due() == 1
    [message] = smtp.to("ana@example.org")
    assert "first organizer" in message.get_content()
    client = Client()
    client.post(
        reverse("join", args=[join_link(message)]),
        {"display_name": "Ana", "language": "en", "email": ""},
    )
    ana = Membership.objects.get(committee=committee)
    assert ana.role == Role.ORGANIZER
    # A staff role: they may add their first passkey or authenticator app.
    assert security.enrollment_open(ana.member)


def test_the_operator_refuses_and_the_request_is_gone(db: None) -> None:
    ask_to_start(Client())
    request = CommitteeRequest.objects.get()
    call_command("committees", "refuse", str(request.pk), stdout=io.StringIO())
    assert not CommitteeRequest.objects.exists()


def test_the_form_asks_for_a_number_only_when_the_server_sends_sms(w: World) -> None:
    page = text(Client().get(reverse("committee_public", args=[w.east.slug])))
    assert "Email address" in page
    assert "mobile number" not in page
    assert "mobile number" not in text(Client().get(reverse("committee_start")))


def test_the_committee_page_shows_how_many_wait_to_join(w: World) -> None:
    olga = session_for(w.organizer, strong=True)
    page = olga.get(reverse("committee", args=["east"])).content.decode()
    assert 'data-testid="join-waiting"' not in page
    ask(Client(), "east")
    ask(Client(), "east", address="beto@example.org")
    page = olga.get(reverse("committee", args=["east"])).content.decode()
    assert '<strong class="badge" data-testid="join-waiting">2 waiting</strong>' in page
