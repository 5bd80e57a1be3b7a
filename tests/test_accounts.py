"""Accounts: second factors for staff, TOTP, sessions that end, revocation, rate limits."""

from __future__ import annotations

import time

import pyotp
import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tocsin.committees.models import Membership
from tocsin.members import security
from tocsin.members.models import ContactEndpoint, Member, SecondFactor

pytestmark = pytest.mark.django_db


@pytest.fixture
def mfa(settings):  # type: ignore[no-untyped-def]
    settings.STAFF_MFA = True


def login(member: Member) -> Client:
    """Log in through the real session start, as the login views do."""
    client = Client()
    client.force_login(member.user)
    session = client.session
    session[security.EPOCH_KEY] = member.session_epoch
    session[security.LOGIN_AT_KEY] = int(time.time())
    session.save()
    return client


def add_totp(member: Member) -> str:
    secret = security.new_totp_secret()
    SecondFactor.objects.create(
        member=member,
        kind=SecondFactor.Kind.TOTP,
        totp_secret=security.seal_totp(secret),
        confirmed=True,
    )
    return secret


# TOTP (RFC 6238)


def test_it_computes_the_rfc_6238_sha1_test_vector() -> None:
    # RFC 6238 appendix B: secret "12345678901234567890", T=59 s -> 94287082 (8 digits).
    import base64

    secret = base64.b32encode(b"12345678901234567890").decode()
    assert security.totp_at(secret, 59 // 30) == "287082"


def test_it_accepts_the_current_code_and_one_step_of_drift() -> None:
    secret = security.new_totp_secret()
    now = 1_800_000_000.0
    step = int(now // 30)
    assert security.check_totp(secret, security.totp_at(secret, step), now=now) == step
    assert security.check_totp(secret, security.totp_at(secret, step - 1), now=now) == step - 1
    assert security.check_totp(secret, security.totp_at(secret, step - 3), now=now) is None


def test_it_refuses_a_code_already_used() -> None:
    secret = security.new_totp_secret()
    now = 1_800_000_000.0
    step = int(now // 30)
    assert (
        security.check_totp(secret, security.totp_at(secret, step), after_step=step, now=now)
        is None
    )


def test_the_setup_link_is_one_an_authenticator_app_reads() -> None:
    secret = security.new_totp_secret()
    totp = pyotp.parse_uri(security.totp_uri(secret, "Diego Ñ"))
    assert isinstance(totp, pyotp.TOTP)
    assert totp.secret == secret
    assert totp.issuer == "Tocsin"
    assert totp.name == "Diego Ñ"
    now = 1_800_000_000
    assert totp.at(now) == security.totp_at(secret, now // 30)


def test_it_stores_the_totp_secret_encrypted(w: World) -> None:
    secret = add_totp(w.dispatcher)
    factor = SecondFactor.objects.get(member=w.dispatcher)
    assert secret.encode() not in bytes(factor.totp_secret)
    assert security.open_totp(factor.totp_secret) == secret


def test_a_totp_code_works_once_per_member(w: World) -> None:
    secret = add_totp(w.dispatcher)
    code = security.totp_at(secret, int(time.time() // 30))
    assert security.verify_member_totp(w.dispatcher, code)
    assert not security.verify_member_totp(w.dispatcher, code)


# Staff must use a second factor


def test_it_sends_a_dispatcher_with_an_emailed_code_session_to_the_second_step(
    w: World, mfa: None
) -> None:
    response = login(w.dispatcher).get(reverse("desk"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login_verify"))


def test_it_sends_an_organizer_to_the_second_step(w: World, mfa: None) -> None:
    response = login(w.organizer).get(reverse("committee", args=[w.east.slug]))
    assert response["Location"].startswith(reverse("login_verify"))


def test_it_lets_a_plain_member_use_member_pages_without_a_second_factor(
    w: World, mfa: None
) -> None:
    assert login(w.member).get(reverse("me")).status_code == 200


def test_it_asks_staff_without_a_factor_to_set_one_up(w: World, mfa: None) -> None:
    security.open_enrollment(w.dispatcher, granted_by=w.organizer)
    response = login(w.dispatcher).get(reverse("login_verify"))
    assert reverse("security").encode() in response.content


def test_a_dispatcher_with_a_totp_code_reaches_the_desk(w: World, mfa: None) -> None:
    secret = add_totp(w.dispatcher)
    client = login(w.dispatcher)
    code = security.totp_at(secret, int(time.time() // 30))
    response = client.post(reverse("login_verify"), {"code": code, "next": reverse("desk")})
    assert response["Location"] == reverse("desk")
    assert client.get(reverse("desk")).status_code == 200


def test_a_wrong_totp_code_keeps_the_desk_closed(w: World, mfa: None) -> None:
    add_totp(w.dispatcher)
    client = login(w.dispatcher)
    client.post(reverse("login_verify"), {"code": "000000", "next": reverse("desk")})
    assert client.get(reverse("desk")).status_code == 302


def test_it_refuses_the_live_desk_stream_to_a_weak_staff_session(w: World, mfa: None) -> None:
    response = login(w.dispatcher).get(reverse("desk_live"), HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 403


def test_a_member_adds_an_authenticator_app(w: World) -> None:
    client = login(w.dispatcher)
    client.post(reverse("totp_start"))
    pending = SecondFactor.objects.get(member=w.dispatcher, confirmed=False)
    secret = security.open_totp(pending.totp_secret)
    assert secret is not None
    page = client.get(reverse("security"))
    assert secret.encode() in page.content
    code = security.totp_at(secret, int(time.time() // 30))
    client.post(reverse("totp_confirm"), {"code": code})
    assert SecondFactor.objects.get(pk=pending.pk).confirmed
    assert security.STRONG_KEY in client.session


def test_a_wrong_code_does_not_confirm_an_authenticator_app(w: World) -> None:
    client = login(w.dispatcher)
    client.post(reverse("totp_start"))
    client.post(reverse("totp_confirm"), {"code": "123456"})
    assert not SecondFactor.objects.filter(member=w.dispatcher, confirmed=True).exists()


def test_a_member_cannot_remove_someone_elses_factor(w: World) -> None:
    add_totp(w.dispatcher)
    factor = SecondFactor.objects.get(member=w.dispatcher)
    response = login(w.member).post(reverse("remove_factor", args=[factor.pk]))
    assert response.status_code == 404
    assert SecondFactor.objects.filter(pk=factor.pk).exists()


# Sessions end


def test_log_out_everywhere_ends_every_session(w: World) -> None:
    phone, laptop = login(w.member), login(w.member)
    assert laptop.get(reverse("me")).status_code == 200
    phone.post(reverse("logout_everywhere"))
    assert laptop.get(reverse("me")).status_code == 302


def test_it_ends_a_session_past_the_absolute_limit(w: World, settings) -> None:  # type: ignore[no-untyped-def]
    client = login(w.member)
    session = client.session
    session[security.LOGIN_AT_KEY] = int(time.time()) - settings.SESSION_ABSOLUTE_DAYS * 86400 - 60
    session.save()
    assert client.get(reverse("me")).status_code == 302


def test_it_rotates_the_session_id_at_login(w: World) -> None:
    client = Client()
    client.get(reverse("login"))
    client.cookies["sessionid"] = "fixated-session-id"
    from tocsin.members import auth

    login_id = auth.send_login_code("mateo@example.org")
    assert login_id is not None
    # Read the code from the database is impossible (it is hashed): set a known one.
    from tocsin.members.models import LoginCode

    LoginCode.objects.filter(pk=login_id).update(code_hash=auth._hash("123456"))
    session = client.session
    session["login_id"] = login_id
    session.save()
    before = client.cookies["sessionid"].value
    client.post(reverse("login_code"), {"code": "123456"})
    assert client.cookies["sessionid"].value != before


# Revocation


def test_revoking_a_member_ends_their_sessions_and_push(w: World) -> None:
    ContactEndpoint.create(
        w.member, "webpush", "https://push.example/abc", data={"keys": {}}, verified=True
    )
    member_client = login(w.member)
    assert member_client.get(reverse("me")).status_code == 200
    membership = Membership.objects.get(member=w.member, committee=w.east)
    login(w.organizer).post(
        reverse("committee_role", args=[w.east.slug, membership.pk]), {"role": "remove"}
    )
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert not ContactEndpoint.objects.filter(member=w.member, kind="webpush").exists()
    assert member_client.get(reverse("me")).status_code == 302


def test_an_organizer_of_another_committee_cannot_revoke(w: World) -> None:
    membership = Membership.objects.get(member=w.member, committee=w.east)
    response = login(w.west_organizer).post(
        reverse("committee_role", args=[w.east.slug, membership.pk]), {"role": "remove"}
    )
    assert response.status_code == 404
    assert Membership.objects.filter(pk=membership.pk).exists()


# Login rate limit


def test_it_stops_sending_codes_to_one_address_after_the_hourly_limit(w: World, settings) -> None:  # type: ignore[no-untyped-def]
    from tocsin.members import auth

    sent = [
        auth.send_login_code("mateo@example.org") for _ in range(settings.LOGIN_CODES_PER_HOUR + 2)
    ]
    assert all(s is not None for s in sent[: settings.LOGIN_CODES_PER_HOUR])
    assert sent[-1] is None


def test_the_limit_answers_the_same_page_as_an_unknown_address(w: World, settings) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    for _ in range(settings.LOGIN_CODES_PER_HOUR + 1):
        limited = client.post(reverse("login"), {"email": "mateo@example.org"})
    unknown = client.post(reverse("login"), {"email": "nobody@example.org"})
    assert limited.status_code == unknown.status_code == 302
    assert limited["Location"] == unknown["Location"]


# Where the second step sends a person next: only a path on this site.


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)", "me"],
)
def test_the_second_step_never_follows_a_next_off_this_site(
    w: World, mfa: None, target: str
) -> None:
    secret = add_totp(w.dispatcher)
    code = security.totp_at(secret, int(time.time() // 30))
    response = login(w.dispatcher).post(reverse("login_verify"), {"code": code, "next": target})
    assert response["Location"] == reverse("me")
