"""On-call coverage: shifts for dispatchers, verifiers and responders; open slots members
sign up for; swaps (offer, take, the one who gave it up is told); a reminder before each
shift, exactly once, on the holder's own channel and language; and the coverage page by
named area (who is on now, gaps in the next 7 days) for the committee's staff only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.factories import EAST, WEST, World, own_incident, session_for
from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin import geo
from tocsin.committees.models import Duty, Membership, Shift
from tocsin.geo.describe import Named
from tocsin.incidents import verify
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, ReportKind
from tocsin.members.models import Member
from tocsin.mobilize import coverage, oncall, shift_notices
from tocsin.mobilize.coverage import Cover, assess, coverage_by_area, gaps, group_cells
from tocsin.mobilize.oncall import ShiftNotice
from tocsin.places.models import Place, PlaceKind

pytestmark = pytest.mark.django_db

T0 = datetime(2031, 1, 15, 17, 0, tzinfo=UTC)
H = timedelta(hours=1)
# Two neighbourhoods inside East's area, about 2.5 km apart.
BOYLE = (34.0339, -118.2107)
FLATS = (34.0290, -118.1900)


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        settings.DEFAULT_FROM_EMAIL = "Tocsin <alerts@tocsin.example>"
        settings.DELIVERY_RATE = {**settings.DELIVERY_RATE, "email": 0}
        yield peer


def shift(w: World, who: Member | None, duty: str, start: datetime, hours: int = 4) -> Shift:
    return Shift.objects.create(
        committee=w.east, member=who, duty=duty, starts_at=start, ends_at=start + hours * H
    )


# --- the pure parts ------------------------------------------------------------------


def test_gaps_are_the_parts_no_shift_covers() -> None:
    spans = [(T0 + 2 * H, T0 + 4 * H), (T0 + 3 * H, T0 + 5 * H), (T0 + 8 * H, T0 + 12 * H)]
    assert gaps(spans, T0, T0 + 10 * H) == [
        (T0, T0 + 2 * H),
        (T0 + 5 * H, T0 + 8 * H),
    ]


def test_a_window_covered_end_to_end_has_no_gap() -> None:
    assert gaps([(T0 - H, T0 + 2 * H), (T0 + 2 * H, T0 + 9 * H)], T0, T0 + 8 * H) == []
    assert gaps([], T0, T0 + H) == [(T0, T0 + H)]


def test_cells_go_to_the_nearest_neighbourhood_and_the_rest_stays_unnamed() -> None:
    boyle = Named("Boyle Heights", *BOYLE, area=True)
    flats = Named("Flats", *FLATS, area=True)
    store = Named("Corner store", *FLATS)  # a spot: areas name cells first
    near_boyle = geo.cell_at(*BOYLE, 8)
    near_flats = geo.cell_at(*FLATS, 8)
    far = geo.cell_at(*WEST, 8)
    grouped = group_cells([near_boyle, near_flats, far], [store, flats, boyle])
    assert grouped == [(boyle, [near_boyle]), (flats, [near_flats]), (None, [far])]


def test_a_dispatcher_covers_every_area_and_a_responder_only_theirs() -> None:
    a, b = Named("A", 0, 0, area=True), Named("B", 0, 0, area=True)
    covers = [
        Cover(Duty.DISPATCHER, T0 - H, T0 + H, None),
        Cover(Duty.RESPONDER, T0 - H, T0 + H, frozenset({1})),
        Cover(Duty.VERIFIER, T0 - H, T0 + 2 * H, frozenset({1, 2})),
    ]
    first, second = assess([(a, [1]), (b, [2])], covers, T0, horizon=4 * H)
    assert first.now == {Duty.VERIFIER: 1, Duty.DISPATCHER: 1, Duty.RESPONDER: 1}
    assert first.covered_now
    assert second.missing_now == [Duty.RESPONDER]
    assert second.gaps[Duty.RESPONDER] == [(T0, T0 + 4 * H)]
    assert second.gaps[Duty.DISPATCHER] == [(T0 + H, T0 + 4 * H)]


# --- the migration -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_shifts_from_before_duties_stay_verifier_shifts() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("committees", "0006_shift"), ("mobilize", "0004_planned_mobilizations")])
    old_apps = MigrationExecutor(connection).loader.project_state(("committees", "0006_shift")).apps
    committee = old_apps.get_model("committees", "Committee").objects.create(
        name="Old", slug="old", kind="neighborhood"
    )
    user = old_apps.get_model("auth", "User").objects.create(username="vieja")
    someone = old_apps.get_model("members", "Member").objects.create(
        user=user, display_name="Vieja"
    )
    old_apps.get_model("committees", "Shift").objects.create(
        committee=committee, member=someone, starts_at=T0, ends_at=T0 + H
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Shift.objects.get().duty == Duty.VERIFIER


# --- organizer: open slots and assignments --------------------------------------------


def test_an_organizer_plans_an_open_dispatcher_slot(w: World) -> None:
    session_for(w.organizer, strong=True).post(
        reverse("committee_shift", args=["east"]),
        {"duty": "dispatcher", "member": "", "starts_at": "2031-01-15T14:00", "hours": 4},
    )
    slot = Shift.objects.get()
    assert (slot.duty, slot.member) == (Duty.DISPATCHER, None)


def test_an_organizer_cannot_give_a_dispatcher_shift_to_a_responder(w: World) -> None:
    session_for(w.organizer, strong=True).post(
        reverse("committee_shift", args=["east"]),
        {
            "duty": "dispatcher",
            "member": w.responder.pk,
            "starts_at": "2031-01-15T14:00",
            "hours": 4,
        },
    )
    assert not Shift.objects.exists()


def test_an_organizer_assigns_a_responder_shift(w: World) -> None:
    session_for(w.organizer, strong=True).post(
        reverse("committee_shift", args=["east"]),
        {
            "duty": "responder",
            "member": w.responder.pk,
            "starts_at": "2031-01-15T14:00",
            "hours": 4,
        },
    )
    assert Shift.objects.get().member == w.responder


# --- members: sign-up and swaps -------------------------------------------------------


def test_a_responder_signs_up_for_an_open_responder_slot(w: World) -> None:
    slot = shift(w, None, Duty.RESPONDER, timezone.now() + 24 * H)
    client = session_for(w.responder)
    assert f'data-slot="{slot.pk}"' in client.get(reverse("committee_oncall", args=["east"])).text
    client.post(reverse("committee_shift_sign_up", args=["east", slot.pk]))
    slot.refresh_from_db()
    assert slot.member == w.responder


def test_a_responder_does_not_see_or_get_a_dispatcher_slot(w: World) -> None:
    slot = shift(w, None, Duty.DISPATCHER, timezone.now() + 24 * H)
    client = session_for(w.responder)
    assert (
        f'data-slot="{slot.pk}"' not in client.get(reverse("committee_oncall", args=["east"])).text
    )
    response = client.post(reverse("committee_shift_sign_up", args=["east", slot.pk]))
    assert response.status_code == 404
    slot.refresh_from_db()
    assert slot.member is None


def test_a_slot_someone_took_first_stays_theirs(w: World) -> None:
    slot = shift(w, w.dispatcher, Duty.RESPONDER, timezone.now() + 24 * H)
    session_for(w.responder).post(reverse("committee_shift_sign_up", args=["east", slot.pk]))
    slot.refresh_from_db()
    assert slot.member == w.dispatcher


def test_a_plain_member_has_no_on_call_page(w: World) -> None:
    assert session_for(w.member).get(reverse("committee_oncall", args=["east"])).status_code == 404


def test_a_swap_moves_the_shift_and_tells_the_one_who_gave_it_up(w: World, smtp: SMTPPeer) -> None:
    held = shift(w, w.dispatcher, Duty.RESPONDER, timezone.now() + 24 * H)
    session_for(w.dispatcher, strong=True).post(
        reverse("committee_shift_offer", args=["east", held.pk])
    )
    rosa = session_for(w.responder)
    assert f'data-offered="{held.pk}"' in rosa.get(reverse("committee_oncall", args=["east"])).text
    rosa.post(reverse("committee_shift_take", args=["east", held.pk]))
    held.refresh_from_db()
    assert (held.member, held.swapped_from, held.offered_at) == (w.responder, w.dispatcher, None)
    # The organizer sees it on the coverage page.
    page = session_for(w.organizer, strong=True).get(reverse("committee_coverage", args=["east"]))
    assert "Rosa took over Diego" in page.text
    assert shift_notices.send_due() == 1
    [told] = smtp.to("diego@example.org")
    assert told["Subject"].startswith("Your shift was taken over")
    assert "you are off duty for it" in told.get_content()


def test_a_shift_not_offered_cannot_be_taken(w: World) -> None:
    held = shift(w, w.dispatcher, Duty.RESPONDER, timezone.now() + 24 * H)
    session_for(w.responder).post(reverse("committee_shift_take", args=["east", held.pk]))
    held.refresh_from_db()
    assert held.member == w.dispatcher
    assert not ShiftNotice.objects.exists()


def test_only_the_holder_offers_a_shift(w: World) -> None:
    held = shift(w, w.dispatcher, Duty.RESPONDER, timezone.now() + 24 * H)
    response = session_for(w.responder).post(
        reverse("committee_shift_offer", args=["east", held.pk])
    )
    assert response.status_code == 404
    held.refresh_from_db()
    assert held.offered_at is None


def test_another_committees_shift_is_404_like_a_missing_one(w: World) -> None:
    theirs = Shift.objects.create(
        committee=w.west,
        member=None,
        duty=Duty.RESPONDER,
        starts_at=timezone.now() + H,
        ends_at=timezone.now() + 2 * H,
    )
    client = session_for(w.responder)
    for pk in (theirs.pk, 987654):
        assert client.post(reverse("committee_shift_sign_up", args=["east", pk])).status_code == 404
    assert (
        client.post(reverse("committee_shift_sign_up", args=["west", theirs.pk])).status_code == 404
    )


# --- reminders --------------------------------------------------------------------------


def test_a_holder_is_reminded_once_before_the_shift_in_their_language(
    w: World, smtp: SMTPPeer
) -> None:
    start = timezone.now() + 5 * H
    held = shift(w, w.responder, Duty.RESPONDER, start)
    assert shift_notices.send_due() == 0  # not due yet
    soon = start - oncall.REMIND_BEFORE + timedelta(minutes=1)
    assert shift_notices.send_due(now=soon) == 1
    assert shift_notices.send_due(now=soon + timedelta(minutes=5)) == 0
    [message] = smtp.to("rosa@example.org")
    assert message["Subject"].startswith("Su turno empieza pronto")
    assert "brigadista" in message.get_content()
    assert ShiftNotice.objects.get().shift == held


def test_whoever_holds_the_shift_after_a_swap_gets_the_reminder(w: World, smtp: SMTPPeer) -> None:
    start = timezone.now() + 5 * H
    held = shift(w, w.dispatcher, Duty.RESPONDER, start)
    soon = start - timedelta(minutes=30)
    oncall.queue_reminders(soon)
    oncall.offer(held, w.dispatcher)
    held.refresh_from_db()
    assert oncall.take(held, oncall_membership(w, w.responder), now=soon)
    shift_notices.send_due(now=soon)
    assert smtp.to("diego@example.org")[0]["Subject"].startswith("Your shift was taken over")
    assert len(smtp.to("diego@example.org")) == 1  # his reminder was dropped
    assert len(smtp.to("rosa@example.org")) == 1


def oncall_membership(w: World, m: Member) -> Membership:
    return w.east.memberships.get(member=m)


# --- the coverage page ------------------------------------------------------------------


def named_areas(w: World) -> None:
    for name, (lat, lng) in (("Boyle Heights", BOYLE), ("Flats", FLATS)):
        Place.objects.create(committee=w.east, name=name, kind=PlaceKind.AREA, lat=lat, lng=lng)


def test_coverage_names_the_areas_and_says_which_is_covered_now(w: World) -> None:
    named_areas(w)
    now = timezone.now()
    shift(w, w.dispatcher, Duty.DISPATCHER, now - H)
    shift(w, w.organizer, Duty.VERIFIER, now - H)
    # Rosa's alert area is in Boyle Heights: her shift covers it, not the Flats.
    shift(w, w.responder, Duty.RESPONDER, now - H)
    w.organizer.areas.create(cell=w.responder.areas.get().cell, ring=1)
    by_name = {a.name(): a for a in coverage_by_area(w.east, now)}
    assert by_name["Boyle Heights"].covered_now
    assert by_name["Flats"].missing_now == [Duty.VERIFIER, Duty.RESPONDER]
    page = session_for(w.dispatcher, strong=True).get(reverse("committee_coverage", args=["east"]))
    text = page.text
    assert "Boyle Heights" in text and "Flats" in text
    assert "Not covered now" in text and "Covered now" in text


def test_coverage_shows_the_gap_in_the_next_days(w: World) -> None:
    now = timezone.now()
    shift(w, w.dispatcher, Duty.DISPATCHER, now - H, hours=24 * 8)
    shift(w, w.dispatcher, Duty.DISPATCHER, now - H, hours=1)  # overlapping, harmless
    [area] = coverage_by_area(w.east, now)
    assert area.gaps[Duty.DISPATCHER] == []
    assert area.gaps[Duty.VERIFIER] == [(now, now + coverage.HORIZON)]


def test_the_coverage_page_speaks_spanish(w: World) -> None:
    client = session_for(w.dispatcher, strong=True)
    client.post(reverse("set_language"), {"language": "es", "next": "/"})
    page = client.get(reverse("committee_coverage", args=["east"]))
    assert "Cobertura: East" in page.text
    assert "Sin cubrir ahora" in page.text


def test_coverage_is_for_the_committees_staff_only(w: World) -> None:
    url = reverse("committee_coverage", args=["east"])
    assert session_for(w.dispatcher, strong=True).get(url).status_code == 200
    for persona in (w.responder, w.member, w.outsider):
        assert session_for(persona).get(url).status_code == 404
    assert session_for(w.west_dispatcher, strong=True).get(url).status_code == 404


def test_the_map_is_offered_only_where_tiles_exist(w: World, settings: Settings) -> None:
    url = reverse("committee_coverage", args=["east"])
    client = session_for(w.dispatcher, strong=True)
    assert 'id="map-open"' not in client.get(url).text
    settings.TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    settings.TILE_KIND = "raster"
    page = client.get(url).text
    assert 'id="map-open"' in page and 'id="coverage-features"' in page


def test_the_desk_suggests_verifiers_on_a_verifier_shift_first(w: World) -> None:
    # A dispatcher shift is not a verifier shift: it does not make its holder "on duty"
    # to the desk's verifier suggestions.
    now = timezone.now()
    shift(w, w.dispatcher, Duty.DISPATCHER, now - H)
    shift(w, w.organizer, Duty.VERIFIER, now - H)
    report = receive_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1]
    )
    incident = own_incident(report, w.dispatcher)
    on = {c.member.pk: c.on_duty for c in verify.suggest(incident)}
    assert on[w.organizer.pk] and not on[w.dispatcher.pk]


def test_my_page_links_to_my_on_call_shifts_and_staff_to_coverage(w: World) -> None:
    oncall_url = reverse("committee_oncall", args=["east"])
    coverage_url = reverse("committee_coverage", args=["east"])
    rosa = session_for(w.responder).get(reverse("me")).text
    assert oncall_url in rosa and coverage_url not in rosa
    diego = session_for(w.dispatcher, strong=True).get(reverse("me")).text
    assert oncall_url in diego and coverage_url in diego
    assert oncall_url not in session_for(w.member).get(reverse("me")).text


def test_a_reminder_is_queued_once_however_often_workers_look(w: World) -> None:
    start = timezone.now() + H
    shift(w, w.responder, Duty.RESPONDER, start)
    shift(w, None, Duty.RESPONDER, start)  # an open slot: nobody to remind
    assert oncall.queue_reminders() == 1
    assert oncall.queue_reminders() == 0
    assert ShiftNotice.objects.count() == 1
