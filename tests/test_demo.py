"""The demo network (tocsin.demo.data): every persona exists and the loop can be tried."""

from __future__ import annotations

import pytest

from tocsin.committees.models import Role
from tocsin.demo import data
from tocsin.incidents import verify
from tocsin.incidents.models import Answer, State
from tocsin.incidents.services import open_incident
from tocsin.intake.services import submit_report


@pytest.mark.django_db
def test_it_loads_once_with_every_persona() -> None:
    assert data.load_demo(members=40)
    assert not data.load_demo(members=40)
    assert [m.persona for m in data.persona_members()] == [p[0] for p in data.PERSONAS]


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
