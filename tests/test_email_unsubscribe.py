"""One-click unsubscribe (RFC 8058) from alert emails, through the outbox and a local SMTP
server: the header, the page, the POST a mail provider sends, and what it turns off."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from tests import factories
from tests.conftest import need
from tests.factories import EAST
from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin.alerts import outbox
from tocsin.incidents.models import Incident
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state
from tocsin.members.models import ContactEndpoint, Member
from tocsin.transports import unsubscribe
from tocsin.transports.base import Message
from tocsin.transports.email import EmailTransport

pytestmark = pytest.mark.django_db

HEADER = re.compile(r"<(https?://[^\s<>]+/unsubscribe/([^/\s<>]+)/)>")


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        yield peer


@pytest.fixture
def world() -> factories.World:
    """Rosa reads Spanish, Mateo English; both have only an email and an area at EAST."""
    return factories.world()


def confirm(w: factories.World) -> Incident:
    report = submit_report(channel="web", kind="workplace_raid", lat=EAST[0], lng=EAST[1])
    incident = factories.own_incident(report, w.dispatcher)
    # Straight to confirmed: going through verifying tells the responders first
    # (tests/test_verification.py); here only the confirmed alert is under test.
    return change_state(incident, "confirmed", actor=w.dispatcher)


def alert_email(smtp: SMTPPeer, w: factories.World, address: str) -> EmailMessage:
    confirm(w)
    outcome = outbox.drain()
    assert outcome.failed == 0 and outcome.dead == 0
    [email] = smtp.to(address)
    return email


def link(email: EmailMessage) -> str:
    """Return the path of the email's List-Unsubscribe link."""
    match = HEADER.fullmatch(str(email["List-Unsubscribe"]))
    assert match is not None, email["List-Unsubscribe"]
    return urlsplit(match.group(1)).path


def endpoint(member: Member) -> ContactEndpoint:
    return ContactEndpoint.objects.get(member=member, kind="email")


def path_for(member: Member, address: str) -> str:
    token = unsubscribe.token_for(member_id=member.pk, address=address)
    return reverse("email_unsubscribe", args=[token])


def named_by(path: str) -> Any:
    """Return what the unsubscribe link at ``path`` names (member id, blind index)."""
    token = path.rstrip("/").rsplit("/", 1)[-1]
    return signing.loads(token, salt=unsubscribe.SALT)


def one_click(path: str) -> Any:
    """Post as a mail provider does (RFC 8058): no cookies, no CSRF token."""
    client = Client(enforce_csrf_checks=True)
    return client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )


def spanish_compiled() -> None:
    mo = django_settings.BASE_DIR / "locale" / "es" / "LC_MESSAGES" / "django.mo"
    need(mo.exists(), f"no compiled Spanish translations at {mo} (run compilemessages)")


# The outbox sends on a pool of threads, which must see the test's rows: commit them.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("persona", ["member", "responder"], ids=["english", "spanish"])
def test_every_alert_email_has_a_one_click_unsubscribe(
    smtp: SMTPPeer, world: factories.World, persona: str
) -> None:
    person = getattr(world, persona)
    address = f"{person.display_name.lower()}@example.org"
    email = alert_email(smtp, world, address)

    # As sent: one line, no RFC 2047 encoded words, which mail providers do not decode here.
    raw = dict(email.raw_items())["List-Unsubscribe"]
    match = HEADER.fullmatch(raw)
    assert match is not None, raw
    assert match.group(1).startswith(django_settings.SITE_URL + "/unsubscribe/")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The link names the endpoint without carrying the address.
    assert address not in match.group(1) and address.split("@")[0] not in match.group(2)
    # The link names this member's endpoint (compared by what the token says: two tokens
    # signed a second apart differ in their time stamp).
    assert named_by(link(email)) == named_by(path_for(person, address))


@pytest.mark.django_db(transaction=True)
def test_each_member_gets_their_own_link(smtp: SMTPPeer, world: factories.World) -> None:
    confirm(world)
    outbox.drain()
    [rosa] = smtp.to("rosa@example.org")
    [mateo] = smtp.to("mateo@example.org")
    assert link(rosa) != link(mateo)


def test_a_one_click_post_turns_off_that_email_address(world: factories.World) -> None:
    response = one_click(path_for(world.member, "mateo@example.org"))

    assert response.status_code == 200
    mateo = endpoint(world.member)
    assert mateo.disabled_at is not None
    assert mateo.last_error == "unsubscribed by member"
    # Nobody else's address, and the row stays (adding the address again turns it back on).
    assert ContactEndpoint.objects.filter(disabled_at__isnull=False).count() == 1


def test_a_second_post_changes_nothing(world: factories.World) -> None:
    path = path_for(world.member, "mateo@example.org")
    one_click(path)
    first = endpoint(world.member).disabled_at
    assert one_click(path).status_code == 200
    assert endpoint(world.member).disabled_at == first


def test_the_link_turns_off_only_that_members_address(world: factories.World) -> None:
    # Two members share one mailbox: each has their own endpoint for it.
    nora = factories.member("Nora", world.east, area=EAST, email="mateo@example.org")
    one_click(path_for(world.member, "mateo@example.org"))
    assert endpoint(world.member).disabled_at is not None
    assert endpoint(nora).disabled_at is None


def test_opening_the_link_asks_before_turning_anything_off(world: factories.World) -> None:
    # Mail scanners and link previews open links: a GET must change nothing.
    path = path_for(world.member, "mateo@example.org")
    response = Client().get(path)
    assert response.status_code == 200
    assert endpoint(world.member).disabled_at is None
    body = response.content.decode()
    assert f'<form method="post" action="{path}">' in body
    assert "Stop email alerts" in body


def test_the_page_speaks_the_members_language(world: factories.World) -> None:
    spanish_compiled()
    with translation.override("es"):
        question, done = gettext("Stop email alerts?"), gettext("Email alerts stopped")
    assert question != "Stop email alerts?", "no Spanish for the unsubscribe page"
    path = path_for(world.responder, "rosa@example.org")

    assert question in Client().get(path).content.decode()
    assert done in one_click(path).content.decode()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: "x" + t[1:],
        lambda t: signing.dumps([1, "0" * 64], salt="tocsin.alert-link"),
        lambda t: "nonsense",
    ],
    ids=["signature", "payload", "other-salt", "garbage"],
)
def test_a_tampered_token_is_refused(world: factories.World, tamper: Any) -> None:
    token = unsubscribe.token_for(member_id=world.member.pk, address="mateo@example.org")
    path = reverse("email_unsubscribe", args=[tamper(token)])
    assert Client().get(path).status_code == 404
    assert one_click(path).status_code == 404
    assert endpoint(world.member).disabled_at is None


def test_a_token_for_an_address_the_member_does_not_have_is_refused(
    world: factories.World,
) -> None:
    path = path_for(world.member, "rosa@example.org")
    assert one_click(path).status_code == 404
    assert not ContactEndpoint.objects.filter(disabled_at__isnull=False).exists()


def _signed_days_ago(monkeypatch: pytest.MonkeyPatch, days: float, member: Member) -> str:
    then = int(time.time() - days * 86400)
    with monkeypatch.context() as m:
        m.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(then))
        return path_for(member, "mateo@example.org")


def test_an_expired_token_is_refused(
    world: factories.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _signed_days_ago(monkeypatch, unsubscribe.MAX_AGE.days + 1, world.member)
    assert Client().get(path).status_code == 404
    assert one_click(path).status_code == 404
    assert endpoint(world.member).disabled_at is None


def test_a_token_a_few_weeks_old_still_works(
    world: factories.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _signed_days_ago(monkeypatch, unsubscribe.MAX_AGE.days - 2, world.member)
    assert one_click(path).status_code == 200
    assert endpoint(world.member).disabled_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_later_alert_no_longer_goes_to_that_address(
    smtp: SMTPPeer, world: factories.World
) -> None:
    first = alert_email(smtp, world, "mateo@example.org")
    assert one_click(link(first)).status_code == 200

    confirm(world)
    outbox.drain()

    assert len(smtp.to("mateo@example.org")) == 1
    assert len(smtp.to("rosa@example.org")) == 2


@pytest.mark.django_db(transaction=True)
def test_the_all_clear_keeps_the_members_reason(smtp: SMTPPeer, world: factories.World) -> None:
    # The all-clear goes to the endpoints that got the alert, this one included: it must
    # not turn "unsubscribed by member" (which /me/ lets the member undo) into an error.
    incident = confirm(world)
    outbox.drain()
    [first] = smtp.to("mateo@example.org")
    one_click(link(first))

    change_state(incident, "resolved", actor=world.dispatcher)
    outbox.drain()

    assert len(smtp.to("mateo@example.org")) == 1
    assert endpoint(world.member).last_error == "unsubscribed by member"


def test_a_message_sent_without_a_member_has_no_unsubscribe_link(smtp: SMTPPeer) -> None:
    message = Message(subject="Test", text="Test from Tocsin.", url="/")
    EmailTransport().send({"address": "rosa@example.org"}, message, idempotency_key="t1")
    [email] = smtp.to("rosa@example.org")
    assert email["List-Unsubscribe"] is None


def test_the_language_switch_changes_the_page(world: factories.World) -> None:
    path = path_for(world.responder, "rosa@example.org")
    client = Client()
    client.post(reverse("set_language"), {"language": "en", "next": path})
    body = client.get(path).content.decode()
    assert "Stop email alerts?" in body and '<html lang="en">' in body
