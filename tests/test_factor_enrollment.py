"""Who may add or remove a passkey or an authenticator app, and from which session.

A stolen mailbox gives an attacker an emailed-code ("weak") session. From it they must not
add a factor that opens the desk, nor remove the real one: factors change only from a
session that proved a factor, except a member's first one (a plain member protecting
their account, which never opens the desk by itself) and a staff member's first one,
inside the window an organizer's role grant opens.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import World, session_for
from tocsin.committees.models import Approval, Membership, Role
from tocsin.members import security
from tocsin.members.models import ContactEndpoint, Member, SecondFactor
from tocsin.vault import blind_index

pytestmark = pytest.mark.django_db


@pytest.fixture
def mfa(settings: Any) -> None:
    settings.STAFF_MFA = True


def add_totp(member: Member, *, unproven: bool = False) -> str:
    secret = security.new_totp_secret()
    SecondFactor.objects.create(
        member=member,
        kind=SecondFactor.Kind.TOTP,
        totp_secret=security.seal_totp(secret),
        confirmed=True,
        unproven=unproven,
    )
    return secret


def now_code(secret: str) -> str:
    return security.totp_at(secret, int(time.time() // 30))


def enroll_totp(client: Client, member: Member) -> Any:
    """Start and confirm an authenticator app the way the security page does."""
    client.post(reverse("totp_start"))
    pending = SecondFactor.objects.filter(member=member, confirmed=False).last()
    if pending is None:
        return None
    secret = security.open_totp(pending.totp_secret)
    assert secret is not None
    return client.post(reverse("totp_confirm"), {"code": now_code(secret)})


def desk_opens(client: Client) -> bool:
    return client.get(reverse("desk")).status_code == 200


def grant(organizer: Member, member: Member, role: str, *, committee_slug: str = "east") -> Any:
    """The organizer gives ``member`` the role; a staff role waits for a second staff member
    (the two-person rule), who approves it from their own strong session."""
    membership = Membership.objects.get(member=member, committee__slug=committee_slug)
    response = session_for(organizer, strong=True).post(
        reverse("committee_role", args=[committee_slug, membership.pk]), {"role": role}
    )
    waiting = Approval.objects.waiting().filter(kind="role", object_id=membership.pk).first()
    if waiting is not None:
        second = (
            Membership.objects.filter(committee__slug=committee_slug)
            .at_least(Role.DISPATCHER)
            .exclude(member=organizer)
            .exclude(member=member)
            .first()
        )
        assert second is not None
        session_for(second.member, strong=True).post(
            reverse("approval_decide", args=[waiting.pk]), {"decision": "approve"}
        )
    return response


def reload(member: Member) -> Member:
    return Member.objects.get(pk=member.pk)


# A stolen mailbox (a code-only session) cannot change a dispatcher's factors.


def test_a_code_only_session_cannot_add_an_authenticator_app_for_a_dispatcher(
    w: World, mfa: None
) -> None:
    client = session_for(w.dispatcher)
    enroll_totp(client, w.dispatcher)
    assert not SecondFactor.objects.filter(member=w.dispatcher).exists()
    assert not desk_opens(client)


def test_a_code_only_session_cannot_start_a_passkey_for_a_dispatcher(w: World, mfa: None) -> None:
    response = session_for(w.dispatcher).post(reverse("passkey_register_begin"))
    assert response.status_code == 403
    assert "error" in response.json()


def test_a_code_only_session_cannot_finish_a_passkey_for_a_dispatcher(w: World, mfa: None) -> None:
    response = session_for(w.dispatcher).post(
        reverse("passkey_register_complete"), {"credential": {}}, content_type="application/json"
    )
    assert response.status_code == 403


def test_a_code_only_session_cannot_remove_a_dispatchers_factor(w: World, mfa: None) -> None:
    add_totp(w.dispatcher)
    factor = SecondFactor.objects.get(member=w.dispatcher)
    response = session_for(w.dispatcher).post(reverse("remove_factor", args=[factor.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login_verify"))
    assert SecondFactor.objects.filter(pk=factor.pk).exists()


def test_a_code_only_session_cannot_remove_a_members_factor(w: World) -> None:
    add_totp(w.member, unproven=True)
    factor = SecondFactor.objects.get(member=w.member)
    session_for(w.member).post(reverse("remove_factor", args=[factor.pk]))
    assert SecondFactor.objects.filter(pk=factor.pk).exists()


def test_nobody_removes_someone_elses_factor_even_from_a_proved_session(w: World) -> None:
    add_totp(w.dispatcher)
    factor = SecondFactor.objects.get(member=w.dispatcher)
    for persona in (w.outsider, w.west_organizer, w.organizer):
        response = session_for(persona, strong=True).post(
            reverse("remove_factor", args=[factor.pk])
        )
        assert response.status_code == 404
    assert SecondFactor.objects.filter(pk=factor.pk).exists()


def test_a_dispatcher_with_a_proved_session_adds_and_removes_factors(w: World, mfa: None) -> None:
    add_totp(w.dispatcher)
    client = session_for(w.dispatcher, strong=True)
    enroll_totp(client, w.dispatcher)
    assert SecondFactor.objects.filter(member=w.dispatcher, confirmed=True).count() == 2
    first = SecondFactor.objects.filter(member=w.dispatcher).first()
    assert first is not None
    client.post(reverse("remove_factor", args=[first.pk]))
    assert SecondFactor.objects.filter(member=w.dispatcher, confirmed=True).count() == 1


def test_a_factor_added_from_a_proved_staff_session_opens_the_desk(w: World, mfa: None) -> None:
    add_totp(w.dispatcher)
    enroll_totp(session_for(w.dispatcher, strong=True), w.dispatcher)
    newest = SecondFactor.objects.filter(member=w.dispatcher).last()
    assert newest is not None and not newest.unproven


# A plain member may protect their own account; that factor does not open the desk.


def test_a_plain_member_adds_a_first_authenticator_app_from_a_code_session(
    w: World, mfa: None
) -> None:
    client = session_for(w.member)
    enroll_totp(client, w.member)
    factor = SecondFactor.objects.get(member=w.member)
    assert factor.confirmed
    assert factor.unproven


def test_a_plain_members_second_factor_needs_a_proved_session(w: World, mfa: None) -> None:
    add_totp(w.member, unproven=True)
    client = session_for(w.member)
    client.post(reverse("totp_start"))
    assert SecondFactor.objects.filter(member=w.member).count() == 1
    assert session_for(w.member).post(reverse("passkey_register_begin")).status_code == 403


def test_a_plain_member_who_proved_a_factor_adds_another(w: World, mfa: None) -> None:
    secret = add_totp(w.member, unproven=True)
    client = session_for(w.member)
    client.post(reverse("login_verify"), {"code": now_code(secret), "next": reverse("security")})
    enroll_totp(client, w.member)
    assert SecondFactor.objects.filter(member=w.member, confirmed=True).count() == 2


def test_a_factor_added_as_a_plain_member_does_not_open_the_desk_after_promotion(
    w: World, mfa: None
) -> None:
    client = session_for(w.member)
    enroll_totp(client, w.member)
    # Made dispatcher without an enrollment window (as a database edit would).
    Membership.objects.filter(member=w.member).update(role=Role.DISPATCHER)
    assert not desk_opens(client)
    secret = security.open_totp(SecondFactor.objects.get(member=w.member).totp_secret)
    assert secret is not None
    later = session_for(w.member)
    later.post(reverse("login_verify"), {"code": now_code(secret), "next": reverse("desk")})
    assert not desk_opens(later)


def test_a_factor_added_as_a_plain_member_counts_once_proved_inside_the_window(
    w: World, mfa: None
) -> None:
    enroll_totp(session_for(w.member), w.member)
    grant(w.organizer, w.member, Role.DISPATCHER)
    secret = security.open_totp(SecondFactor.objects.get(member=w.member).totp_secret)
    assert secret is not None
    client = session_for(w.member)
    # The step after the one used to confirm it: a code works only once.
    code = security.totp_at(secret, int(time.time() // 30) + 1)
    client.post(reverse("login_verify"), {"code": code, "next": reverse("desk")})
    assert desk_opens(client)
    assert not SecondFactor.objects.get(member=w.member).unproven
    assert reload(w.member).factor_enrollment_until is None


# Staff without a factor: the organizer's grant opens a window.


def test_a_dispatcher_without_a_factor_or_window_is_told_to_ask_an_organizer(
    w: World, mfa: None
) -> None:
    client = session_for(w.dispatcher)
    response = client.get(reverse("login_verify"), {"next": reverse("desk")})
    page = response.content.decode()
    assert "Ask an organizer of your committee to open enrollment" in page
    assert 'name="code"' not in page
    assert not desk_opens(client)


def test_the_ask_an_organizer_page_speaks_spanish(w: World, mfa: None) -> None:
    Member.objects.filter(pk=w.dispatcher.pk).update(language="es")
    response = session_for(w.dispatcher).get(reverse("login_verify"))
    assert "Pida a un organizador de su comité" in response.content.decode()


def test_a_refused_staff_enrollment_shows_the_ask_an_organizer_page(w: World, mfa: None) -> None:
    response = session_for(w.dispatcher).post(reverse("totp_start"))
    assert response.status_code == 403
    assert "Ask an organizer of your committee to open enrollment" in response.content.decode()


def test_an_organizer_granting_dispatcher_opens_enrollment(
    w: World, mfa: None, settings: Any
) -> None:
    before = timezone.now()
    grant(w.organizer, w.member, Role.DISPATCHER)
    member = reload(w.member)
    assert member.factor_enrollment_until is not None
    assert member.factor_enrollment_until >= before + timedelta(
        hours=settings.FACTOR_ENROLLMENT_HOURS
    )
    assert member.factor_enrollment_by == w.organizer


def test_granting_a_role_below_dispatcher_opens_no_window(w: World, mfa: None) -> None:
    grant(w.organizer, w.member, Role.VERIFIER)
    assert reload(w.member).factor_enrollment_until is None


def test_an_organizer_of_another_committee_cannot_open_enrollment(w: World, mfa: None) -> None:
    membership = Membership.objects.get(member=w.member, committee=w.east)
    response = session_for(w.west_organizer, strong=True).post(
        reverse("committee_role", args=["east", membership.pk]), {"role": Role.DISPATCHER}
    )
    assert response.status_code == 404
    assert reload(w.member).factor_enrollment_until is None


def test_a_new_dispatcher_adds_a_first_factor_inside_the_window_and_reaches_the_desk(
    w: World, mfa: None
) -> None:
    grant(w.organizer, w.member, Role.DISPATCHER)
    client = session_for(w.member)
    assert not desk_opens(client)
    enroll_totp(client, w.member)
    assert not SecondFactor.objects.get(member=w.member).unproven
    assert desk_opens(client)


def test_the_window_lets_in_one_factor_only(w: World, mfa: None) -> None:
    grant(w.organizer, w.member, Role.DISPATCHER)
    enroll_totp(session_for(w.member), w.member)
    assert reload(w.member).factor_enrollment_until is None
    # A second code-only session (the mailbox thief) finds it closed.
    thief = session_for(w.member)
    enroll_totp(thief, w.member)
    assert SecondFactor.objects.filter(member=w.member).count() == 1
    assert not desk_opens(thief)


def test_an_expired_window_lets_nothing_in(w: World, mfa: None) -> None:
    security.open_enrollment(w.dispatcher, granted_by=w.organizer)
    Member.objects.filter(pk=w.dispatcher.pk).update(
        factor_enrollment_until=timezone.now() - timedelta(minutes=1)
    )
    client = session_for(w.dispatcher)
    enroll_totp(client, w.dispatcher)
    assert not SecondFactor.objects.filter(member=w.dispatcher).exists()


def test_a_window_does_not_let_a_code_only_session_remove_a_factor(w: World, mfa: None) -> None:
    add_totp(w.dispatcher)
    factor = SecondFactor.objects.get(member=w.dispatcher)
    security.open_enrollment(w.dispatcher, granted_by=w.organizer)
    session_for(w.dispatcher).post(reverse("remove_factor", args=[factor.pk]))
    assert SecondFactor.objects.filter(pk=factor.pk).exists()


def test_a_window_closing_between_start_and_confirm_adds_nothing(w: World, mfa: None) -> None:
    security.open_enrollment(w.dispatcher, granted_by=w.organizer)
    client = session_for(w.dispatcher)
    client.post(reverse("totp_start"))
    pending = SecondFactor.objects.get(member=w.dispatcher, confirmed=False)
    Member.objects.filter(pk=w.dispatcher.pk).update(factor_enrollment_until=None)
    secret = security.open_totp(pending.totp_secret)
    assert secret is not None
    client.post(reverse("totp_confirm"), {"code": now_code(secret)})
    assert not SecondFactor.objects.filter(member=w.dispatcher, confirmed=True).exists()


def test_a_member_who_creates_a_committee_may_add_a_first_factor(w: World, mfa: None) -> None:
    client = session_for(w.member)
    client.post(reverse("committee_create"), {"name": "Harbor", "kind": "workplace"})
    assert Membership.objects.filter(member=w.member, role=Role.ORGANIZER).exists()
    enroll_totp(client, w.member)
    assert not SecondFactor.objects.get(member=w.member).unproven


def test_the_first_organizer_of_a_new_install_may_add_a_first_factor(mfa: None) -> None:
    call_command(
        "create_committee",
        name="Harbor",
        lat=34.05,
        lng=-118.25,
        organizer_email="first@example.org",
        stdout=None,
    )
    organizer = ContactEndpoint.objects.get(
        blind_index=blind_index("email", "first@example.org", form="email")
    ).member
    assert organizer.factor_enrollment_until is not None
    client = session_for(organizer)
    enroll_totp(client, organizer)
    assert desk_opens(client)


def test_the_security_page_says_when_enrollment_closes(w: World, mfa: None) -> None:
    security.open_enrollment(w.dispatcher, granted_by=w.organizer)
    page = session_for(w.dispatcher).get(reverse("security")).content.decode()
    assert "Olga opened enrollment" in page
