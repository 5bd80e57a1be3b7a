"""Partner committees: cooperation by consent of both organizers, revocable by either side,
and the operator's approval of new committees."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import EAST, WEST, World, committee, member
from tocsin.committees import partners
from tocsin.committees.models import Committee, Partnership, Role, Share
from tocsin.incidents import services as incidents
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel

pytestmark = pytest.mark.django_db


def _client(m: object) -> Client:
    c = Client()
    c.force_login(m.user)  # type: ignore[attr-defined]
    return c


def _propose(w: World, shares: list[str]) -> Partnership:
    response = _client(w.organizer).post(
        reverse("committee_partner_propose", args=[w.east.slug]),
        {"other": w.west.slug, "shares": shares},
    )
    assert response.status_code == 302
    return Partnership.objects.get()


def test_a_proposal_shares_nothing_until_the_other_side_accepts(w: World) -> None:
    _propose(w, [Share.REPORTS])
    report = receive_report(channel=Channel.WEB, kind="checkpoint", lat=EAST[0], lng=EAST[1])
    assert report.receipt not in _client(w.west_dispatcher).get(reverse("desk")).content.decode()
    assert partners.partners({w.east.pk}, Share.REPORTS) == set()


def test_once_accepted_each_desk_sees_the_others_reports(w: World) -> None:
    proposal = _propose(w, [Share.REPORTS])
    page = _client(w.west_organizer).get(reverse("committee", args=[w.west.slug])).content.decode()
    assert f'data-partnership="{proposal.pk}"' in page and "East" in page
    response = _client(w.west_organizer).post(
        reverse("committee_partner_accept", args=[w.west.slug, proposal.pk])
    )
    assert response.status_code == 302
    east = receive_report(channel=Channel.WEB, kind="checkpoint", lat=EAST[0], lng=EAST[1])
    west = receive_report(channel=Channel.WEB, kind="checkpoint", lat=WEST[0], lng=WEST[1])
    assert east.receipt in _client(w.west_dispatcher).get(reverse("desk")).content.decode()
    assert west.receipt in _client(w.dispatcher).get(reverse("desk")).content.decode()
    # Members are not shared: West's dispatcher cannot see East's member pages or verifiers.
    incident = incidents.open_incident(east, actor=w.dispatcher)
    assert (
        _client(w.west_dispatcher).get(reverse("incident", args=[incident.pk])).status_code == 200
    )
    verifier = member("Vera", w.east, Role.VERIFIER, email="vera@example.org")
    response = _client(w.west_dispatcher).post(
        reverse("incident_verify", args=[incident.pk]), {"verifier": verifier.pk}
    )
    assert response.status_code == 404


def test_a_report_reaches_the_partners_desk_live_from_the_moment_it_accepts(
    w: World, django_capture_on_commit_callbacks: Any
) -> None:
    """The desks a report pings are kept in the cache; accepting or ending a partnership
    changes them at once."""
    proposal = _propose(w, [Share.REPORTS])
    both = [f"desk:{pk}" for pk in sorted((w.east.pk, w.west.pk))]
    assert partners.desks([w.east.pk]) == [f"desk:{w.east.pk}"]
    with django_capture_on_commit_callbacks(execute=True):
        _client(w.west_organizer).post(
            reverse("committee_partner_accept", args=[w.west.slug, proposal.pk])
        )
    assert partners.desks([w.east.pk]) == both
    with django_capture_on_commit_callbacks(execute=True):
        _client(w.organizer).post(reverse("committee_partner_end", args=[w.east.slug, proposal.pk]))
    assert partners.desks([w.east.pk]) == [f"desk:{w.east.pk}"]


def test_the_proposer_cannot_accept_its_own_proposal(w: World) -> None:
    proposal = _propose(w, [Share.REPORTS])
    response = _client(w.organizer).post(
        reverse("committee_partner_accept", args=[w.east.slug, proposal.pk])
    )
    assert response.status_code == 404
    assert Partnership.objects.get().accepted_at is None


def test_either_side_ends_it_and_then_nothing_is_shared(w: World) -> None:
    proposal = _propose(w, [Share.REPORTS, Share.VERIFIERS])
    _client(w.west_organizer).post(
        reverse("committee_partner_accept", args=[w.west.slug, proposal.pk])
    )
    _client(w.west_organizer).post(
        reverse("committee_partner_end", args=[w.west.slug, proposal.pk])
    )
    report = receive_report(channel=Channel.WEB, kind="checkpoint", lat=EAST[0], lng=EAST[1])
    assert report.receipt not in _client(w.west_dispatcher).get(reverse("desk")).content.decode()
    assert Partnership.objects.get().ended_by == w.west_organizer


def test_only_organizers_of_either_side_act_on_a_partnership(w: World) -> None:
    proposal = _propose(w, [Share.REPORTS])
    third = committee("Third", (34.0900, -118.2107), radius_m=500)
    third_organizer = member("Tess", third, Role.ORGANIZER)
    for who, slug in (
        (w.dispatcher, w.east.slug),
        (w.west_dispatcher, w.west.slug),
        (third_organizer, third.slug),
    ):
        client = _client(who)
        assert (
            client.post(reverse("committee_partner_end", args=[slug, proposal.pk])).status_code
            == 404
        )
        assert (
            client.post(reverse("committee_partner_accept", args=[slug, proposal.pk])).status_code
            == 404
        )
    assert Partnership.objects.get().ended_at is None


def test_a_committee_the_operator_has_not_approved_cannot_partner(w: World) -> None:
    Committee.objects.filter(pk=w.west.pk).update(approved_at=None)
    response = _client(w.organizer).post(
        reverse("committee_partner_propose", args=[w.east.slug]),
        {"other": w.west.slug, "shares": [Share.REPORTS]},
        follow=True,
    )
    assert not Partnership.objects.exists()
    assert "No proposal was made." in response.content.decode()


def test_a_proposal_needs_something_to_share_and_a_real_committee(w: World) -> None:
    client = _client(w.organizer)
    client.post(reverse("committee_partner_propose", args=[w.east.slug]), {"other": w.west.slug})
    client.post(
        reverse("committee_partner_propose", args=[w.east.slug]),
        {"other": "nowhere", "shares": [Share.REPORTS]},
    )
    client.post(
        reverse("committee_partner_propose", args=[w.east.slug]),
        {"other": w.east.slug, "shares": [Share.REPORTS]},
    )
    assert not Partnership.objects.exists()


def test_the_proposal_page_speaks_spanish(w: World) -> None:
    client = _client(w.organizer)
    client.post(reverse("set_language"), {"language": "es"})
    page = client.get(reverse("committee", args=[w.east.slug])).content.decode()
    assert "Comités aliados" in page and "Regla de dos personas" in page


# --- the operator ----------------------------------------------------------------------


def test_the_operator_lists_and_approves_a_waiting_committee(w: World) -> None:
    pending = Committee.objects.create(name="New", slug="new", kind="workplace")
    out = io.StringIO()
    call_command("committees", "list", "--pending", stdout=out)
    assert out.getvalue().startswith("new\tPENDING")
    assert "east" not in out.getvalue()
    call_command("committees", "approve", "new", stdout=io.StringIO())
    assert Committee.objects.get(pk=pending.pk).approved_at is not None
    call_command("committees", "unapprove", "new", stdout=io.StringIO())
    assert Committee.objects.get(pk=pending.pk).approved_at is None


def test_without_required_approval_a_new_committee_works_at_once_with_a_capped_area(
    w: World, settings: object
) -> None:
    settings.COMMITTEES_NEED_APPROVAL = False  # type: ignore[attr-defined]
    fresh = Committee.objects.create(name="Fresh", slug="fresh", kind="workplace")
    assert fresh.is_active and not fresh.is_approved
    assert fresh.max_radius_m() == 3000
    Committee.objects.filter(pk=fresh.pk).update(approved_at=timezone.now())
    fresh.refresh_from_db()
    assert fresh.max_radius_m() == 30000
