"""The demo network (tocsin.demo.data): every persona exists and the loop can be tried."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from tests import factories
from tocsin.committees.models import Committee, Role
from tocsin.demo import data
from tocsin.demo import views as demo_views
from tocsin.incidents import verify
from tocsin.incidents.models import Answer, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import open_incident
from tocsin.mobilize.models import Mobilization
from tocsin.places.models import Place, PlaceKind
from tocsin.places.naming import Gazetteer


@pytest.mark.django_db
def test_it_loads_once_with_every_persona() -> None:
    assert data.load_demo(members=40)
    assert not data.load_demo(members=40)
    assert [m.persona for m in data.persona_members()] == [p[0] for p in data.PERSONAS]


@pytest.mark.django_db
def test_the_demo_ships_named_places_in_every_committee_inside_its_area() -> None:
    data.load_demo(members=10)
    for slug, *_rest in data.COMMITTEES:
        committee = Committee.objects.get(slug=slug)
        assert committee.places.filter(kind=PlaceKind.AREA).count() == 1
        assert committee.places.exclude(kind=PlaceKind.AREA).count() >= 5
    # Loading again (an older demo folder) adds nothing twice.
    assert data.load_places() == 0


@pytest.mark.django_db
def test_a_demo_report_at_soto_station_is_named_on_the_desk() -> None:
    data.load_demo(members=10)
    soto = Place.objects.get(name__startswith="Soto station")
    report = submit_report(channel="web", kind="checkpoint", lat=soto.lat, lng=soto.lng + 0.001)
    where = Gazetteer.of(report).exact(report.cell)
    assert where.place is not None and where.place.name == soto.name
    assert where.text == f"{where.metres} m east of Soto station (1st & Soto)"
    with translation.override("es"):
        assert where.text == f"a {where.metres} m al este de Estación Soto (1st y Soto)"


@pytest.mark.django_db
def test_the_desk_suggests_the_demo_verifier_on_duty_first() -> None:
    data.load_demo(members=40)
    center = next(c[3] for c in data.COMMITTEES if c[0] == "boyle-heights")
    report = submit_report(channel="web", kind="checkpoint", lat=center[0], lng=center[1])
    incident = open_incident(report, actor=None)
    [first, *_rest] = verify.suggest(incident)
    assert first.member.display_name == "Vero (verificadora)"
    assert first.on_duty and first.reachable
    assert first.member.memberships.get().role == Role.VERIFIER


@pytest.mark.django_db(transaction=True)
def test_the_demo_verifiers_confirmation_confirms_by_the_rules() -> None:
    data.load_demo(members=40)
    center = next(c[3] for c in data.COMMITTEES if c[0] == "boyle-heights")
    dispatcher = next(m for m in data.persona_members() if m.persona == "dispatcher")
    report = submit_report(channel="web", kind="checkpoint", lat=center[0], lng=center[1])
    incident = open_incident(report, actor=dispatcher)
    vero = verify.suggest(incident)[0].member
    request = verify.request(incident, vero, actor=dispatcher)
    verify.record_answer(request, Answer.CONFIRMED, channel="web")
    incident.refresh_from_db()
    assert incident.state == State.CONFIRMED


# The demo's login follows only a path on this site.

UNSAFE_NEXT = [
    "//evil.example",
    "https://evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "me",
]


def demo_login(settings: Any, target: str) -> HttpResponse:
    """Post to the demo's login as a persona (its URL exists only when the demo runs)."""
    settings.DEMO = True
    persona = factories.member("Ana")
    request = RequestFactory().post(f"/demo/login/{persona.pk}/", {"next": target})
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    request.user = AnonymousUser()
    return demo_views.login_as(request, persona.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_the_demo_login_never_follows_a_next_off_this_site(settings: Any, target: str) -> None:
    assert demo_login(settings, target)["Location"] == reverse("me")


@pytest.mark.django_db
def test_the_demo_login_follows_a_local_next(settings: Any) -> None:
    assert demo_login(settings, "/desk/?x=1")["Location"] == "/desk/?x=1"


@pytest.mark.django_db
def test_the_demo_has_upcoming_mobilizations_with_people_on_the_home_page(client: Any) -> None:
    data.load_demo(members=40)
    public = Mobilization.objects.public().upcoming()
    assert public.count() >= 3
    assert all(m.rsvps.going().exists() for m in public)
    assert Mobilization.objects.upcoming().exclude(visibility="public").exists()
    home = client.get(reverse("home")).content.decode()
    for m in public[:3]:
        assert reverse("mobilization", args=[m.pk]) in home
    # Loaded again while they are ahead: nothing twice.
    assert data.load_mobilizations() == 0


@pytest.mark.django_db
def test_the_demo_committees_are_found_by_zip_and_take_requests_to_join(client: Any) -> None:
    data.load_demo(members=40)
    found = client.get(reverse("committees_find"), {"zip": "90033"}).content.decode()
    assert 'data-committee="boyle-heights"' in found
    page = client.get(reverse("committee_public", args=["boyle-heights"]))
    assert page.status_code == 200
    assert 'id="join-form"' in page.content.decode()


@pytest.mark.django_db
def test_the_demo_legal_team_reads_cases_sealed_to_a_keyring_the_demo_passphrase_opens(
    tmp_path: Any, settings: Any
) -> None:
    from tocsin.committees.models import Duty, Shift
    from tocsin.legal import keys
    from tocsin.vault.keys import DEMO_PASSPHRASE

    settings.DEMO = True
    settings.DATA_DIR = tmp_path
    settings.LEGAL_PUBLIC_KEY = settings.LEGAL_PRIVATE_KEY = ""
    settings.LEGAL_PASSPHRASE_FILE = ""
    assert not keys.can_seal()
    assert keys.ensure_demo_keyring()
    assert not keys.ensure_demo_keyring()  # once
    assert keys.can_seal() and keys.can_open()
    assert keys.unseal(keys.seal({"who": "Someone"})) == {"who": "Someone"}
    # Wrapped with the demo's public passphrase, never lying there in the clear.
    assert "lock" in (tmp_path / keys.KEYRING_FILE).read_text()
    assert not (tmp_path / keys.PUBLIC_FILE).exists()
    assert DEMO_PASSPHRASE
    # Outside the demo, the keyring needs its passphrase file.
    settings.DEMO = False
    keys.forget()
    assert keys.can_seal() and not keys.can_open()

    data.load_demo(members=10)
    [lucia] = [m for m in data.persona_members() if m.persona == "legal"]
    assert lucia.memberships.get().role == Role.LEGAL
    assert Shift.objects.filter(member=lucia, duty=Duty.LAWYER).exists()
    assert lucia.start == "/legal/boyle-heights/"  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_messages_to_people_who_are_not_demo_members_land_in_everyone_elses_inbox(
    settings: Any,
) -> None:
    from django.http import Http404

    from tocsin.demo.models import DemoMessage
    from tocsin.demo.transport import DemoInboxTransport
    from tocsin.transports.base import Message

    settings.DEMO = True
    message = Message(subject="Mateo needs help", text="Call the legal line.", url="")
    DemoInboxTransport().send({"address": "ana@demo.tocsin.invalid"}, message, idempotency_key="k")
    [kept] = DemoMessage.objects.all()
    assert kept.member_id is None
    # Never the address itself: no contact channel in plaintext, in the demo either.
    assert "ana@" not in str(list(DemoMessage.objects.values()))
    # (The demo's URLs exist only when the demo runs: the view is called as they route.)
    request = RequestFactory().get("/demo/inbox/others/")
    request.user = AnonymousUser()
    page = demo_views.others(request).content.decode()
    assert "Mateo needs help" in page and "ana@" not in page
    settings.DEMO = False
    with pytest.raises(Http404):
        demo_views.others(request)
