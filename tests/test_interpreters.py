"""Interpreters: members say which languages they speak (the region's Indigenous
languages too); interpreters take on-call shifts; the desk and the legal team find who is
on call for a language in one step and send them the call; the case and the incident
record that an interpreter was needed and who came."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import EAST, World, member, session_for
from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin.committees.models import Duty, Membership, Role, Shift
from tocsin.incidents import services as incidents
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, ReportKind
from tocsin.legal import cases, interpreters, notices
from tocsin.legal.models import LANGUAGE_CODES, Event, InterpreterCall, SpokenLanguage
from tocsin.members.models import Member
from tocsin.mobilize import oncall

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        settings.DELIVERY_RATE = {**settings.DELIVERY_RATE, "email": 0}
        yield peer


@pytest.fixture
def marta(w: World) -> Member:
    """A member of East who interprets Mam and K'iche', on call now."""
    m = member("Marta", w.east, Role.MEMBER, email="marta@example.org", language="es")
    interpreters.set_languages(m, ["mam", "quc"], interprets=True)
    now = timezone.now()
    Shift.objects.create(
        committee=w.east, member=m, duty=Duty.INTERPRETER, starts_at=now - H, ends_at=now + 3 * H
    )
    return m


def test_the_roster_has_the_regions_indigenous_languages() -> None:
    for code in ("mam", "quc", "kjb", "mix", "zap", "trs", "tsz"):
        assert code in LANGUAGE_CODES


def test_a_member_says_on_their_page_which_languages_they_speak(w: World) -> None:
    client = session_for(w.member)
    assert reverse("my_languages") in client.get(reverse("me")).text
    client.post(reverse("my_languages"), {"languages": ["mam", "zap"], "interprets": "on"})
    rows = SpokenLanguage.objects.filter(member=w.member)
    assert sorted(rows.values_list("language", flat=True)) == ["mam", "zap"]
    assert all(r.interprets for r in rows)
    client.post(reverse("my_languages"), {"languages": ["zap"]})
    assert list(
        SpokenLanguage.objects.filter(member=w.member).values_list("language", "interprets")
    ) == [("zap", False)]


def test_any_member_may_hold_an_interpreter_shift(w: World) -> None:
    assert oncall.may_hold(Membership.objects.get(member=w.member), Duty.INTERPRETER)


def test_the_desk_finds_who_is_on_call_for_mam_in_one_step(w: World, marta: Member) -> None:
    off_call = member("Tomas", w.east)
    interpreters.set_languages(off_call, ["mam"], interprets=True)
    speaks_only = member("Ines", w.east)
    interpreters.set_languages(speaks_only, ["mam"], interprets=False)
    page = session_for(w.dispatcher, strong=True).get(
        reverse("legal_interpreters", args=["east"]), {"language": "mam"}
    )
    assert f'data-interpreter="{marta.pk}"' in page.text
    assert f'data-roster="{off_call.pk}"' in page.text
    assert f'data-interpreter="{off_call.pk}"' not in page.text
    assert "Ines" not in page.text
    assert interpreters.on_call(w.east, "zap") == []


def test_an_interpreter_of_another_committee_is_not_found(w: World, marta: Member) -> None:
    assert interpreters.on_call(w.west, "mam") == []
    page = session_for(w.west_dispatcher, strong=True).get(
        reverse("legal_interpreters", args=["west"]), {"language": "mam"}
    )
    assert "Marta" not in page.text


def test_the_desk_sends_the_call_for_an_incident_and_records_who_came(
    w: World, marta: Member, smtp: SMTPPeer
) -> None:
    report = receive_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1]
    )
    incident = incidents.open_incident(report, actor=w.dispatcher)
    desk = session_for(w.dispatcher, strong=True)
    page = desk.get(reverse("incident", args=[incident.pk]))
    assert 'data-testid="interpreter"' in page.text
    assert reverse("legal_interpreters", args=["east"]) in page.text
    sent = desk.post(
        reverse("legal_interpreter_send", args=["east"]),
        {"language": "mam", "interpreter": marta.pk, "incident": incident.pk},
    )
    assert sent["Location"] == reverse("incident", args=[incident.pk])
    call = InterpreterCall.objects.get()
    assert f'data-call="{call.pk}"' in desk.get(reverse("incident", args=[incident.pk])).text
    assert (call.incident, call.interpreter, call.language) == (incident, marta, "mam")
    assert notices.send_due() == 1
    [message] = smtp.to("marta@example.org")
    assert "intérprete de Mam" in message.get_content()
    desk.post(reverse("legal_interpreter_came", args=["east", call.pk]))
    call.refresh_from_db()
    assert call.came_at is not None


def test_a_west_dispatcher_cannot_send_an_east_interpreter(w: World, marta: Member) -> None:
    answer = session_for(w.west_dispatcher, strong=True).post(
        reverse("legal_interpreter_send", args=["west"]),
        {"language": "mam", "interpreter": marta.pk},
    )
    assert answer.status_code == 404
    assert not InterpreterCall.objects.exists()


def test_the_legal_team_sends_an_interpreter_for_a_case_and_the_timeline_says_so(
    w: World, marta: Member
) -> None:
    lucia = member("Lucia", w.east, Role.LEGAL)
    case = cases.open_case(w.east, source="call", details={"who": "Ana"}, by=lucia)
    client = session_for(lucia)
    page = client.get(
        reverse("legal_interpreters", args=["east"]), {"language": "mam", "case": case.pk}
    )
    assert f'data-interpreter="{marta.pk}"' in page.text
    client.post(
        reverse("legal_interpreter_send", args=["east"]),
        {"language": "mam", "interpreter": marta.pk, "case": case.pk},
    )
    call = InterpreterCall.objects.get(case=case)
    client.post(reverse("legal_interpreter_came", args=["east", call.pk]))
    kinds = list(case.events.values_list("kind", "value"))
    assert (Event.Kind.INTERPRETER, "mam") in kinds
    assert (Event.Kind.INTERPRETER_CAME, "mam") in kinds
    # A dispatcher cannot attach a call to a case: cases are the legal team's.
    answer = session_for(w.dispatcher, strong=True).post(
        reverse("legal_interpreter_send", args=["east"]),
        {"language": "mam", "interpreter": marta.pk, "case": case.pk},
    )
    assert answer.status_code == 404


def test_a_members_languages_are_in_their_data_export(w: World) -> None:
    interpreters.set_languages(w.member, ["tsz"], interprets=True)
    export = session_for(w.member).get(reverse("export_data")).json()
    assert export["languages_spoken"] == [{"language": "tsz", "interprets": True}]


def test_the_interpreter_is_told_which_number_to_call(w: World, marta: Member) -> None:
    from tocsin.legal.models import Notice

    w.east.hotline_numbers = ["+12135550100"]
    w.east.save()
    lucia = member("Lucia", w.east, Role.LEGAL)
    case = cases.open_case(w.east, source="call", details={"who": "Ana"}, by=lucia)
    session_for(lucia).post(
        reverse("legal_interpreter_send", args=["east"]),
        {"language": "mam", "interpreter": marta.pk, "case": case.pk},
    )
    notice = Notice.objects.get(member=marta)
    assert "(213) 555-0100" in notices.render(notice).text
    # So is the lawyer told of a new case.
    [to_lawyer] = Notice.objects.filter(member=lucia, purpose=Notice.Purpose.CASE)
    assert "(213) 555-0100" in notices.render(to_lawyer).text
