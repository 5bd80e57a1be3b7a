"""The two-person rule and the broadcast breaker (issue 13, part 1).

A confirmed raid below the committee's single-person reach goes out with one tap. A wider
alert, an alert to a partner's members, a committee's alerts past the breaker, a role
grant and the member list export wait for a second staff member, who approves from their
own session; the audit keeps who asked and who approved, never the content.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import EAST, World, committee, member, world
from tocsin.alerts.models import Alert, Delivery, Purpose
from tocsin.committees import approvals, partners
from tocsin.committees import services as committee_services
from tocsin.committees.models import Approval, Committee, Membership, Role, Share
from tocsin.incidents import services as incidents
from tocsin.incidents.models import Incident, State
from tocsin.incidents.reports import receive_report
from tocsin.incidents.twoperson import reason_for
from tocsin.intake.models import Channel
from tocsin.members.models import Member

# --- the pure decision ---------------------------------------------------------------


@given(
    reach=st.integers(0, 10_000),
    threshold=st.integers(1, 10_000),
    partner=st.booleans(),
    network=st.booleans(),
    recent=st.integers(0, 100),
    per_hour=st.integers(1, 100),
)
def test_it_needs_a_second_person_exactly_when_a_limit_is_passed(
    reach: int, threshold: int, partner: bool, network: bool, recent: int, per_hour: int
) -> None:
    reason = reason_for(
        reach=reach,
        threshold=threshold,
        partner=partner,
        network=network,
        recent=recent,
        per_hour=per_hour,
    )
    assert (reason is None) == (
        reach <= threshold and not partner and not network and recent < per_hour
    )
    if recent >= per_hour:
        assert reason == Approval.Reason.BREAKER
    elif network and not partner:
        # An incident resting only on a partner network's reports: always a second person.
        assert reason == Approval.Reason.NETWORK


@given(
    reach=st.integers(0, 10_000),
    more=st.integers(0, 10_000),
    threshold=st.integers(1, 10_000),
    recent=st.integers(0, 100),
    per_hour=st.integers(1, 100),
)
def test_reaching_more_members_never_lifts_the_rule(
    reach: int, more: int, threshold: int, recent: int, per_hour: int
) -> None:
    def needs(n: int) -> bool:
        return (
            reason_for(
                reach=n,
                threshold=threshold,
                partner=False,
                network=False,
                recent=recent,
                per_hour=per_hour,
            )
            is not None
        )

    assert not needs(reach) or needs(reach + more)


# --- alerts --------------------------------------------------------------------------


@pytest.fixture
def w(db: None) -> World:
    w = world()
    for i in range(6):
        member(f"East {i}", w.east, area=EAST, email=f"east{i}@example.org")
    return w


def _incident(w: World) -> Incident:
    report = receive_report(channel=Channel.WEB, kind="checkpoint", lat=EAST[0], lng=EAST[1])
    return incidents.open_incident(report, actor=w.dispatcher)


def _client(m: Member) -> Client:
    c = Client()
    c.force_login(m.user)
    return c


def _member_alerts(incident: Incident) -> int:
    return Delivery.objects.filter(
        alert__incident=incident, alert__purpose=Purpose.CONFIRMED
    ).count()


def test_below_the_threshold_a_confirmation_alerts_at_once(w: World) -> None:
    incident = _incident(w)
    response = _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": "confirmed"}
    )
    assert response.status_code == 302
    assert _member_alerts(incident) == 8  # Rosa, Mateo and the six
    assert not Approval.objects.exists()


@pytest.fixture
def narrow(w: World) -> World:
    """East lets one person's alert reach at most 3 members."""
    Committee.objects.filter(pk=w.east.pk).update(alert_threshold=3)
    return w


def test_a_wider_alert_waits_for_a_second_person(narrow: World) -> None:
    w = narrow
    incident = _incident(w)
    _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": "confirmed"}
    )
    incident.refresh_from_db()
    assert incident.state == State.CONFIRMED
    assert _member_alerts(incident) == 0
    approval = Approval.objects.get()
    assert (approval.kind, approval.reason, approval.status) == ("alert", "reach", "waiting")
    assert approval.requested_by == w.dispatcher
    assert approval.options["reach"] == 8
    # The other staff hear it waits; the one who asked does not.
    told = set(
        Delivery.objects.filter(alert__purpose=Purpose.APPROVAL).values_list("member", flat=True)
    )
    assert told == {w.organizer.pk}
    assert incident.events.filter(action="approval_waiting").exists()


def test_the_one_who_asked_cannot_approve_it(narrow: World) -> None:
    w = narrow
    incident = _incident(w)
    client = _client(w.dispatcher)
    client.post(reverse("incident_state", args=[incident.pk]), {"state": "confirmed"})
    approval = Approval.objects.get()
    client.post(reverse("approval_decide", args=[approval.pk]), {"decision": "approve"})
    assert Approval.objects.get().status == "waiting"
    assert _member_alerts(incident) == 0


def test_a_second_staff_member_approves_with_one_tap(narrow: World) -> None:
    w = narrow
    incident = _incident(w)
    _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": "confirmed"}
    )
    approval = Approval.objects.get()
    desk = _client(w.organizer).get(reverse("desk")).content.decode()
    assert f'data-approval="{approval.pk}"' in desk
    response = _client(w.organizer).post(
        reverse("approval_decide", args=[approval.pk]), {"decision": "approve"}
    )
    assert response.status_code == 302
    assert _member_alerts(incident) == 8
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by) == ("done", w.organizer)
    assert incident.events.filter(action="approval_given", actor=w.organizer).exists()


def test_another_committees_staff_cannot_approve(narrow: World) -> None:
    w = narrow
    incident = _incident(w)
    _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": "confirmed"}
    )
    approval = Approval.objects.get()
    for outsider in (w.west_dispatcher, w.west_organizer, w.member, w.responder):
        response = _client(outsider).post(
            reverse("approval_decide", args=[approval.pk]), {"decision": "approve"}
        )
        assert response.status_code == 404
    assert _member_alerts(incident) == 0


def test_a_declined_alert_sends_nothing(narrow: World) -> None:
    w = narrow
    incident = _incident(w)
    _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": "confirmed"}
    )
    approval = Approval.objects.get()
    _client(w.organizer).post(
        reverse("approval_decide", args=[approval.pk]), {"decision": "decline"}
    )
    assert Approval.objects.get().status == "declined"
    assert _member_alerts(incident) == 0


def test_closing_the_incident_cancels_what_waits(narrow: World) -> None:
    w = narrow
    incident = _incident(w)
    _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": "confirmed"}
    )
    _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": "unfounded"}
    )
    assert Approval.objects.get().status == "cancelled"
    assert _member_alerts(incident) == 0


def test_an_expired_approval_cannot_be_given(narrow: World) -> None:
    w = narrow
    incident = _incident(w)
    _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": "confirmed"}
    )
    Approval.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    approval = Approval.objects.get()
    response = _client(w.organizer).post(
        reverse("approval_decide", args=[approval.pk]), {"decision": "approve"}
    )
    assert response.status_code == 404
    assert _member_alerts(incident) == 0


def test_a_rule_confirmation_above_the_threshold_waits_for_one_dispatcher(narrow: World) -> None:
    w = narrow
    incident = _incident(w)
    incidents.change_state(incident, State.CONFIRMED, actor=None, committees={w.east.pk})
    approval = Approval.objects.get()
    assert approval.requested_by is None
    incidents.approve_alert(approval, by=w.dispatcher)
    assert _member_alerts(incident) == 8


def test_the_audit_names_who_asked_and_who_approved_never_the_content(narrow: World) -> None:
    w = narrow
    incident = _incident(w)
    note = "Vans at the corner store"
    _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]), {"state": "confirmed", "summary": note}
    )
    approval = Approval.objects.get()
    _client(w.organizer).post(
        reverse("approval_decide", args=[approval.pk]), {"decision": "approve"}
    )
    approval.refresh_from_db()
    assert note not in str(approval.options)
    assert set(approval.options) <= {"committees", "targets", "all_channels", "reach"}
    page = _client(w.organizer).get(reverse("committee", args=[w.east.slug])).content.decode()
    assert 'data-testid="audit"' in page
    assert "Diego" in page and "Olga" in page


# --- the broadcast breaker -------------------------------------------------------------


def test_the_breaker_holds_alerts_past_the_hourly_limit_and_tells_organizers(
    w: World, settings: Any
) -> None:
    settings.ALERTS_PER_HOUR = 2
    done = []
    for _ in range(3):
        incident = _incident(w)
        # Each raid at a new place: clustering would join them otherwise.
        incidents.change_state(
            incident, State.CONFIRMED, actor=w.dispatcher, committees={w.east.pk}
        )
        incidents.change_state(incident, State.RESOLVED, actor=w.dispatcher, committees={w.east.pk})
        done.append(incident)
    confirmed = Alert.objects.filter(purpose=Purpose.CONFIRMED, committee=w.east).count()
    assert confirmed == 2
    approval = Approval.objects.get()
    assert approval.reason == "breaker"
    told = set(
        Delivery.objects.filter(alert__purpose=Purpose.APPROVAL).values_list("member", flat=True)
    )
    assert w.organizer.pk in told


# --- partners --------------------------------------------------------------------------


@pytest.fixture
def north(w: World) -> Committee:
    north = committee("North", (34.0900, -118.2107), radius_m=1500)
    nora = member("Nora", north, Role.ORGANIZER)
    for i in range(3):
        member(f"North {i}", north, area=EAST, email=f"north{i}@example.org")
    partners.accept(partners.propose(w.east, north, [Share.ALERTS], by=w.organizer), by=nora)
    return north


def test_an_alert_to_a_partners_members_always_waits(w: World, north: Committee) -> None:
    incident = _incident(w)
    page = _client(w.dispatcher).get(reverse("incident", args=[incident.pk])).content.decode()
    assert f'name="partners" value="{north.pk}"' in page
    _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]),
        {"state": "confirmed", "partners": [str(north.pk)]},
    )
    # East's own members hear at once; the partner's wait for a second person.
    assert _member_alerts(incident) == 8
    approval = Approval.objects.get()
    assert approval.reason == "partner"
    incidents.approve_alert(approval, by=w.organizer)
    north_members = Membership.objects.filter(committee=north).values("member_id")
    assert (
        Delivery.objects.filter(alert__incident=incident, member_id__in=north_members).count() == 3
    )
    assert _member_alerts(incident) == 11


def test_a_partner_that_does_not_share_alerts_cannot_be_chosen(w: World) -> None:
    north = committee("North", (34.0900, -118.2107), radius_m=1500)
    nora = member("Nora", north, Role.ORGANIZER)
    member("North 0", north, area=EAST, email="north0@example.org")
    partners.accept(partners.propose(w.east, north, [Share.REPORTS], by=w.organizer), by=nora)
    incident = _incident(w)
    _client(w.dispatcher).post(
        reverse("incident_state", args=[incident.pk]),
        {"state": "confirmed", "partners": [str(north.pk)]},
    )
    north_members = Membership.objects.filter(committee=north).values("member_id")
    assert not Delivery.objects.filter(member_id__in=north_members).exists()
    assert not Approval.objects.exists()


# --- overlapping committees decide for their own members --------------------------------


@pytest.fixture
def overlap(w: World) -> tuple[Committee, Member]:
    """Another approved committee over the same place, with its own members."""
    south = committee("Overlap", EAST, radius_m=1000)
    dispatcher = member("Sam", south, Role.DISPATCHER)
    for i in range(2):
        member(f"Overlap {i}", south, area=EAST, email=f"overlap{i}@example.org")
    return south, dispatcher


def test_each_overlapping_committee_alerts_and_closes_for_its_own_members(
    w: World, overlap: tuple[Committee, Member]
) -> None:
    south, sam = overlap
    incident = _incident(w)
    assert set(incident.committees.values_list("slug", flat=True)) == {"east", "overlap"}
    incidents.change_state(incident, State.CONFIRMED, actor=w.dispatcher, committees={w.east.pk})
    south_members = set(
        Membership.objects.filter(committee=south).values_list("member_id", flat=True)
    )
    assert not Delivery.objects.filter(member_id__in=south_members).exists()
    # Sam's desk offers to alert the Overlap committee's members.
    page = _client(sam).get(reverse("incident", args=[incident.pk])).content.decode()
    assert 'data-testid="alert-more"' in page
    _client(sam).post(
        reverse("incident_alert_more", args=[incident.pk]), {"committees": [south.pk]}
    )
    reached = set(
        Delivery.objects.filter(
            alert__purpose=Purpose.CONFIRMED, member_id__in=south_members
        ).values_list("member_id", flat=True)
    )
    assert reached == south_members - {sam.pk}
    # The worker sent them (members who heard must hear how it ended).
    Delivery.objects.update(status="sent", sent_at=timezone.now())
    # East resolves: East's members hear the all-clear; Overlap's wait for Sam.
    incidents.change_state(incident, State.RESOLVED, actor=w.dispatcher, committees={w.east.pk})
    all_clear = Delivery.objects.filter(alert__purpose=Purpose.ALL_CLEAR)
    assert not all_clear.filter(member_id__in=south_members).exists()
    assert all_clear.filter(member=w.member).exists()
    page = _client(sam).get(reverse("incident", args=[incident.pk])).content.decode()
    assert 'data-testid="follow-up"' in page
    _client(sam).post(reverse("incident_follow_up", args=[incident.pk]))
    assert (
        set(all_clear.filter(member_id__in=south_members).values_list("member_id", flat=True))
        == reached
    )
    # Nobody hears the all-clear twice.
    assert all_clear.count() == all_clear.values("endpoint").distinct().count()


# --- role grants and the export --------------------------------------------------------


def test_granting_a_staff_role_waits_for_a_second_person(w: World) -> None:
    mateo = Membership.objects.get(committee=w.east, member=w.member)
    _client(w.organizer).post(
        reverse("committee_role", args=[w.east.slug, mateo.pk]), {"role": "dispatcher"}
    )
    mateo.refresh_from_db()
    assert mateo.role == Role.MEMBER
    approval = Approval.objects.get(kind="role")
    # Olga cannot approve her own request; Diego can.
    _client(w.organizer).post(
        reverse("approval_decide", args=[approval.pk]), {"decision": "approve"}
    )
    mateo.refresh_from_db()
    assert mateo.role == Role.MEMBER
    _client(w.dispatcher).post(
        reverse("approval_decide", args=[approval.pk]), {"decision": "approve"}
    )
    mateo.refresh_from_db()
    assert mateo.role == Role.DISPATCHER


def test_lesser_roles_and_demotions_need_one_person(w: World) -> None:
    mateo = Membership.objects.get(committee=w.east, member=w.member)
    diego = Membership.objects.get(committee=w.east, member=w.dispatcher)
    client = _client(w.organizer)
    client.post(reverse("committee_role", args=[w.east.slug, mateo.pk]), {"role": "verifier"})
    client.post(reverse("committee_role", args=[w.east.slug, diego.pk]), {"role": "responder"})
    assert Membership.objects.get(pk=mateo.pk).role == Role.VERIFIER
    assert Membership.objects.get(pk=diego.pk).role == Role.RESPONDER
    assert not Approval.objects.exists()


def test_the_operator_can_be_the_second_person_for_a_role(w: World) -> None:
    mateo = Membership.objects.get(committee=w.east, member=w.member)
    approval = committee_services.set_role(mateo, Role.ORGANIZER, by=w.organizer)
    assert approval is not None
    out = io.StringIO()
    call_command("approvals", "list", stdout=out)
    assert f"{approval.pk}\teast\trole" in out.getvalue()
    call_command("approvals", "approve", str(approval.pk), stdout=io.StringIO())
    assert Membership.objects.get(pk=mateo.pk).role == Role.ORGANIZER


def test_the_member_list_is_exported_once_after_a_second_person_approves(w: World) -> None:
    olga = _client(w.organizer)
    assert olga.get(reverse("committee_export", args=[w.east.slug])).status_code == 404
    olga.post(reverse("committee_export_ask", args=[w.east.slug]))
    assert olga.get(reverse("committee_export", args=[w.east.slug])).status_code == 404
    approval = Approval.objects.get(kind="export")
    _client(w.dispatcher).post(
        reverse("approval_decide", args=[approval.pk]), {"decision": "approve"}
    )
    # Only the organizer who asked downloads it.
    assert (
        _client(w.dispatcher).get(reverse("committee_export", args=[w.east.slug])).status_code
        == 404
    )
    response = olga.get(reverse("committee_export", args=[w.east.slug]))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["display_name", "role", "joined", "vouched_by", "channels"]
    names = {r[0] for r in rows[1:]}
    assert {"Olga", "Diego", "Mateo"} <= names and "Walt" not in names
    assert "@" not in response.content.decode()
    assert olga.get(reverse("committee_export", args=[w.east.slug])).status_code == 404


def test_an_organizer_can_only_lower_the_threshold(w: World, settings: Any) -> None:
    settings.TWO_PERSON_THRESHOLD = 500
    client = _client(w.organizer)
    client.post(reverse("committee_threshold", args=[w.east.slug]), {"threshold": "100"})
    assert Committee.objects.get(pk=w.east.pk).two_person_threshold() == 100
    client.post(reverse("committee_threshold", args=[w.east.slug]), {"threshold": "100000"})
    assert Committee.objects.get(pk=w.east.pk).two_person_threshold() == 500


def test_approvals_list_only_the_members_committees(w: World) -> None:
    mateo = Membership.objects.get(committee=w.east, member=w.member)
    committee_services.set_role(mateo, Role.DISPATCHER, by=w.organizer)
    assert [a.kind for a in approvals.waiting_for(w.dispatcher)] == ["role"]
    assert approvals.waiting_for(w.west_dispatcher) == []
    assert approvals.waiting_for(w.member) == []


def test_an_organizer_locks_the_vault_once_a_second_person_approves(
    own_vault: Any, w: World
) -> None:
    from tocsin.vault import locking

    before = locking.generation()
    _client(w.organizer).post(reverse("committee_vault_lock", args=[w.east.slug]))
    assert locking.generation() == before
    approval = Approval.objects.get(kind="vault_lock")
    # The organizer who asked cannot lock it alone; another staff member's tap does.
    _client(w.organizer).post(
        reverse("approval_decide", args=[approval.pk]), {"decision": "approve"}
    )
    assert locking.generation() == before
    _client(w.dispatcher).post(
        reverse("approval_decide", args=[approval.pk]), {"decision": "approve"}
    )
    assert locking.generation() == before + 1
    assert Approval.objects.get(pk=approval.pk).decided_by == w.dispatcher
