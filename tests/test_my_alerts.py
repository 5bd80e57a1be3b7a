""" "My alerts" on /me/: the alerts a member got, newest first, each with the incident's
kind, the place as members are shown it, how it stands now, and a link to the alert page;
in the member's language, and nobody else's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from tests.factories import EAST, WEST, World, member, own_incident, session_for
from tocsin.alerts.messages import place_text
from tocsin.alerts.models import Alert, Delivery, DeliveryStatus
from tocsin.committees.models import Role
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report as submit_report
from tocsin.incidents.services import change_state
from tocsin.intake.models import ReportKind
from tocsin.members.models import Member
from tocsin.places.models import Place, PlaceKind

pytestmark = pytest.mark.django_db


def incident(
    w: World, kind: str = ReportKind.CHECKPOINT, place: tuple[float, float] = EAST
) -> Incident:
    report = submit_report(channel="web", kind=kind, lat=place[0], lng=place[1])
    dispatcher = w.dispatcher if place == EAST else w.west_dispatcher
    return own_incident(report, dispatcher)


def confirmed(w: World, kind: str = ReportKind.CHECKPOINT, *, minutes_ago: int = 0) -> Incident:
    """A confirmed incident whose alert the worker sent ``minutes_ago``."""
    found = change_state(incident(w, kind), State.CONFIRMED, actor=w.dispatcher)
    at = timezone.now() - timedelta(minutes=minutes_ago)
    Alert.objects.filter(incident=found).update(sent_at=at)
    Delivery.objects.filter(alert__incident=found).update(status=DeliveryStatus.SENT, sent_at=at)
    return found


def my_alerts(persona: Member) -> str:
    """Return the "My alerts" section of ``persona``'s /me/ page."""
    html = session_for(persona).get(reverse("me")).content.decode()
    found = re.search(r'<section[^>]*data-testid="my-alerts".*?</section>', html, re.S)
    assert found, html
    return found.group(0)


def rows(section: str) -> list[str]:
    return re.findall(r"<li[^>]*data-incident=.*?</li>", section, re.S)


def test_it_lists_my_alerts_newest_first_with_kind_place_and_state(w: World) -> None:
    older = confirmed(w, ReportKind.CHECKPOINT, minutes_ago=90)
    newer = confirmed(w, ReportKind.WORKPLACE_RAID, minutes_ago=5)
    change_state(older, State.RESOLVED, actor=w.dispatcher)
    listed = rows(my_alerts(w.member))
    assert len(listed) == 2
    assert f'data-incident="{newer.pk}"' in listed[0]
    assert "Workplace raid" in listed[0] and "Confirmed" in listed[0]
    assert "Checkpoint" in listed[1] and "Resolved" in listed[1]
    assert place_text(newer.cell) in listed[0]


def test_a_false_alarm_reads_false_alarm(w: World) -> None:
    found = confirmed(w)
    change_state(found, State.UNFOUNDED, actor=w.dispatcher)
    [row] = rows(my_alerts(w.member))
    assert "False alarm" in row


def test_each_alert_links_to_my_own_alert_page(w: World) -> None:
    found = confirmed(w)
    [row] = rows(my_alerts(w.member))
    link = re.search(r'href="(/a/[^"]+/)"', row)
    assert link, row
    page = Client().get(link.group(1))
    assert page.status_code == 200
    assert page.context["member"] == w.member and page.context["incident"] == found


def test_it_speaks_my_language(w: World) -> None:
    confirmed(w, ReportKind.WORKPLACE_RAID)
    section = my_alerts(w.responder)  # Rosa reads Spanish
    with translation.override("es"):
        kind, state = str(ReportKind.WORKPLACE_RAID.label), str(State.CONFIRMED.label)
    assert kind != "Workplace raid"
    assert kind in section and state in section


def test_an_incident_i_heard_of_twice_is_listed_once(w: World) -> None:
    found = confirmed(w)
    change_state(found, State.RESOLVED, actor=w.dispatcher)  # the all-clear reaches me too
    assert len(rows(my_alerts(w.member))) == 1


def test_an_alert_cancelled_before_it_reached_me_is_not_listed(w: World) -> None:
    # Closed before the worker sent anything: the queued alert is cancelled.
    found = change_state(incident(w), State.CONFIRMED, actor=w.dispatcher)
    change_state(found, State.UNFOUNDED, actor=w.dispatcher)
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.CANCELLED}
    assert rows(my_alerts(w.member)) == []


def test_nobody_sees_alerts_they_were_not_sent(w: World) -> None:
    confirmed(w)
    # A West incident, alerted to West's members only.
    wes = member("Wes", w.west, Role.MEMBER, area=WEST, email="wes@example.org")
    west = change_state(incident(w, place=WEST), State.CONFIRMED, actor=w.west_dispatcher)
    assert [f'data-incident="{west.pk}"' in r for r in rows(my_alerts(wes))] == [True]
    for persona in (w.outsider, w.west_dispatcher, w.dispatcher):
        assert rows(my_alerts(persona)) == []
    assert all(f'data-incident="{west.pk}"' not in r for r in rows(my_alerts(w.member)))


def test_with_no_alert_it_says_so(w: World) -> None:
    section = my_alerts(w.member)
    assert rows(section) == []
    assert "No alerts yet" in section


def test_it_needs_a_login() -> None:
    response = Client().get(reverse("me"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_responder_sees_an_unverified_alert_they_got_and_members_do_not(w: World) -> None:
    found = change_state(incident(w), State.VERIFYING, actor=w.dispatcher)
    Delivery.objects.update(status=DeliveryStatus.SENT)
    [row] = rows(my_alerts(w.responder))
    assert f'data-incident="{found.pk}"' in row
    assert rows(my_alerts(w.member)) == []


def test_the_place_is_named_by_the_committees_places_in_my_language(w: World) -> None:
    Place.objects.create(
        committee=w.east,
        name="Soto station (1st & Soto)",
        name_es="Estación Soto (1st y Soto)",
        kind=PlaceKind.TRANSIT,
        lat=EAST[0],
        lng=EAST[1],
    )
    confirmed(w)
    [english] = rows(my_alerts(w.member))
    # Block level, as members are shown it: "near" or "about 200 m west of" the station.
    assert re.search(
        r"Checkpoint</strong> · (near|about \d+ m \w+ of) Soto station \(1st &amp; Soto\)</a>",
        english,
    )
    w.member.language = "es"
    w.member.save()
    [spanish] = rows(my_alerts(w.member))
    assert re.search(
        r"</strong> · (cerca de|a unos \d+ m al \w+ de) Estación Soto \(1st y Soto\)</a>", spanish
    )
    for row in (english, spanish):
        assert not re.search(r"\d+\.\d{3,}, -?\d", row), row  # no coordinates
