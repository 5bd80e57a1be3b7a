"""The organizing dashboard: members over time, invites, join requests, vouching depth,
turnout, shift coverage and response times, for a committee's organizers only.

Figures are checked against data made here; the page is checked from every side
(organizer, dispatcher of the same committee, member, outsider, another committee's
organizer), and for its number of queries, which must not grow with the data.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import World, member, session_for, world
from tocsin import geo
from tocsin.committees import dashboard as committee_figures
from tocsin.committees.models import Committee, Invite, Membership, Shift
from tocsin.incidents.models import Incident
from tocsin.intake.models import Channel, Report, ReportKind
from tocsin.mobilize import dashboard, rsvps
from tocsin.mobilize.models import Response
from tocsin.mobilize.planned import Mobilization, RsvpStatus
from tocsin.retention.purge import purge

LA = ZoneInfo("America/Los_Angeles")
# A Thursday noon, local time: its week started Monday 9 November 2026.
NOW = datetime(2026, 11, 12, 12, 0, tzinfo=LA)


@pytest.fixture
def w(db: None) -> World:
    return world()


def weeks_ago(n: int, *, hours: int = 0) -> datetime:
    return NOW - timedelta(weeks=n, hours=hours)


# --- weeks ----------------------------------------------------------------------------


def test_the_dashboard_reads_twelve_weeks_from_monday_local_time() -> None:
    starts = committee_figures.week_starts(NOW)
    assert len(starts) == 12
    assert starts[-1] == datetime(2026, 11, 9, tzinfo=LA)
    assert starts[0] == datetime(2026, 8, 24, tzinfo=LA)


# --- members and invites --------------------------------------------------------------


def test_members_over_time_counts_todays_members_by_when_they_joined(w: World) -> None:
    Membership.objects.filter(committee=w.east).update(joined_at=weeks_ago(20))
    for n, ago in enumerate([10, 10, 3, 0]):
        joined = member(f"New {n}", w.east)
        Membership.objects.filter(member=joined).update(joined_at=weeks_ago(ago))
    member("West new", w.west)  # another committee's member counts there only
    member("Later", w.east)  # joins after NOW (today): not in the figure of NOW
    weeks = committee_figures.members_over_time(w.east, NOW)
    assert [week.value for week in weeks] == [4, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 8]
    assert weeks[-1].start == NOW.date() - timedelta(days=3)


def test_invites_count_those_made_and_the_people_who_joined_by_them(w: World) -> None:
    Invite.objects.create(committee=w.east, created_at=weeks_ago(2), uses=5)
    Invite.objects.create(committee=w.east, created_at=weeks_ago(2), uses=1, personal=True)
    Invite.objects.create(committee=w.east, created_at=weeks_ago(0), uses=0)
    Invite.objects.create(committee=w.west, created_at=weeks_ago(0), uses=9)
    Invite.objects.create(committee=w.east, uses=7)  # made after NOW (today)
    weeks = committee_figures.invites(w.east, NOW)
    assert [(week.made, week.joined) for week in weeks[-3:]] == [(2, 6), (0, 0), (1, 0)]
    assert sum(week.made for week in weeks) == 3


def test_join_requests_waiting_count_only_the_committees_open_ones(w: World) -> None:
    from tocsin.committees import joining
    from tocsin.committees.models import JoinRequest

    assert committee_figures.join_requests_waiting(w.east) == 0
    for n, committee in enumerate([w.east, w.east, w.east, w.west]):
        joining.ask(
            committee,
            display_name=f"Ana {n}",
            kind="email",
            address=f"ana{n}@example.org",
            language="en",
        )
    expired = JoinRequest.objects.filter(committee=w.east).first()
    assert expired is not None
    JoinRequest.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    assert committee_figures.join_requests_waiting(w.east) == 2


# --- vouching depth -------------------------------------------------------------------


def test_depth_counts_each_member_at_its_distance_from_the_first_members() -> None:
    # 1 and 2 founded it; 1 vouched for 3, 3 for 4; 5's voucher (99) left.
    links = [(1, None), (2, None), (3, 1), (4, 3), (5, 99)]
    assert committee_figures.depths(links) == Counter({1: 3, 2: 1, 3: 1})


def test_a_vouching_loop_is_counted_once_per_member() -> None:
    assert sum(committee_figures.depths([(1, 2), (2, 1), (3, 1)]).values()) == 3


def test_vouching_depth_reads_the_committees_tree(w: World) -> None:
    ana = member("Ana", w.east)
    Membership.objects.filter(member=ana).update(vouched_by=w.member)
    ben = member("Ben", w.east)
    Membership.objects.filter(member=ben).update(vouched_by=ana)
    Membership.objects.filter(member=w.west_organizer).update(vouched_by=ben)  # West's
    assert committee_figures.vouching_depth(w.east) == Counter({1: 4, 2: 1, 3: 1})


# --- shift coverage -------------------------------------------------------------------


def test_overlapping_shifts_cover_an_hour_once() -> None:
    start = NOW
    shifts = [
        (start, start + timedelta(hours=4)),
        (start + timedelta(hours=2), start + timedelta(hours=6)),
        (start + timedelta(hours=10), start + timedelta(hours=11)),
        (start - timedelta(hours=5), start - timedelta(hours=1)),  # before the window
    ]
    assert committee_figures.covered_hours(shifts, start, start + timedelta(hours=24)) == 7


def test_shift_coverage_counts_the_last_and_the_next_seven_days(w: World) -> None:
    def shift(hours_from_now: int, hours: int, committee: Committee = w.east) -> None:
        starts = NOW + timedelta(hours=hours_from_now)
        Shift.objects.create(
            committee=committee,
            member=w.dispatcher,
            starts_at=starts,
            ends_at=starts + timedelta(hours=hours),
        )

    shift(-30, 8)
    shift(-2, 4)  # 2 hours before now, 2 after
    shift(48, 24)
    shift(24 * 9, 10)  # beyond the next 7 days
    shift(-10, 8, w.west)
    coverage = committee_figures.shift_coverage(w.east, NOW)
    assert (coverage.past_hours, coverage.next_hours, coverage.window_hours) == (10, 26, 168)
    assert len(coverage.days) == 14
    by_day = dict(coverage.days)
    assert by_day[NOW.date()] == 4
    assert by_day[NOW.date() + timedelta(days=2)] == 12
    assert by_day[NOW.date() + timedelta(days=3)] == 12


# --- turnout --------------------------------------------------------------------------


def mobilization(w: World, *, ended_weeks_ago: int, **fields: object) -> Mobilization:
    ends = weeks_ago(ended_weeks_ago)
    values: dict[str, object] = {
        "committee": w.east,
        "kind": "vigil",
        "title": f"Vigil {ended_weeks_ago}",
        "address": "Mariachi Plaza",
        "starts_at": ends - timedelta(hours=2),
        "ends_at": ends,
        **fields,
    }
    return Mobilization.objects.create(**values)


def test_turnout_counts_the_people_signed_up_and_those_who_came(w: World) -> None:
    m = mobilization(w, ended_weeks_ago=1)
    people = [
        rsvps.sign_up(m, contact=rsvps.Contact("email", f"p{n}@example.org")) for n in range(4)
    ]
    rsvps.sign_up(m, member=w.member)
    people[0].checked_in_at = people[1].checked_in_at = NOW
    people[0].save()
    people[1].save()
    people[2].status = RsvpStatus.CANCELLED
    people[2].save()
    people[3].status = RsvpStatus.WAITLIST
    people[3].save()
    mobilization(w, ended_weeks_ago=2, cancelled_at=NOW)  # cancelled: not shown
    mobilization(w, ended_weeks_ago=20)  # before the 12 weeks
    mobilization(w, ended_weeks_ago=-1)  # not over yet
    mobilization(w, ended_weeks_ago=1, committee=w.west)
    found = dashboard.turnout(w.east, NOW)
    assert [(t.mobilization.pk, t.going, t.checked_in) for t in found] == [(m.pk, 3, 2)]


def test_turnout_outlives_the_purge_of_the_sign_ups(w: World) -> None:
    now = timezone.now()
    m = mobilization(w, ended_weeks_ago=0, ends_at=now - timedelta(days=9))
    came = rsvps.sign_up(m, member=w.member)
    rsvps.sign_up(m, member=w.responder)
    came.checked_in_at = now - timedelta(days=9, hours=1)
    came.save()
    assert purge(now)["rsvps"] == 2
    assert not m.rsvps.exists()
    [found] = dashboard.turnout(w.east, now)
    assert (found.going, found.checked_in) == (2, 1)


def test_the_turnout_is_kept_once_for_the_mobilizations_that_ended(w: World) -> None:
    now = timezone.now()
    ended = mobilization(w, ended_weeks_ago=0, ends_at=now - timedelta(days=9))
    later = mobilization(w, ended_weeks_ago=0, ends_at=now - timedelta(days=1))
    for m in (ended, later):
        rsvps.sign_up(m, member=w.member)
    assert rsvps.keep_turnout(now - timedelta(days=7)) == 1
    rsvps.sign_up(ended, member=w.responder)
    assert rsvps.keep_turnout(now - timedelta(days=7)) == 0  # written once
    ended.refresh_from_db()
    later.refresh_from_db()
    assert (ended.kept_going, ended.kept_checked_in) == (1, 0)
    assert later.kept_going is None


# --- response times -------------------------------------------------------------------


def incident(
    w: World,
    *,
    confirmed: datetime,
    reported_minutes: float,
    answered_minutes: float | None = None,
    committee: Committee | None = None,
) -> Incident:
    cell = geo.cell_at(34.0339, -118.2107, 12)
    reported = confirmed - timedelta(minutes=reported_minutes)
    i = Incident.objects.create(
        kind=ReportKind.CHECKPOINT,
        state="confirmed",
        cell=cell,
        area_cell=cell,
        opened_at=reported,
        first_seen_at=reported,
        confirmed_at=confirmed,
    )
    i.committees.add(committee or w.east)
    Report.objects.create(
        channel=Channel.WEB,
        kind=ReportKind.CHECKPOINT,
        cell=cell,
        area_cell=cell,
        received_at=reported,
        incident=i,
    )
    if answered_minutes is not None:
        for n, later in enumerate([answered_minutes, answered_minutes + 30]):
            Response.objects.create(
                incident=i,
                member=w.responder if n == 0 else w.member,
                role="observer",
                created_at=confirmed + timedelta(minutes=later),
            )
    return i


def test_response_times_give_the_median_and_90th_percentile_per_week(w: World) -> None:
    for minutes in [2, 4, 6, 8, 10, 12, 14, 16, 18, 40]:
        incident(w, confirmed=weeks_ago(1), reported_minutes=minutes, answered_minutes=minutes / 2)
    incident(w, confirmed=weeks_ago(0, hours=1), reported_minutes=3)
    incident(w, confirmed=weeks_ago(1), reported_minutes=500, committee=w.west)
    incident(w, confirmed=weeks_ago(13), reported_minutes=500)
    to_confirm, to_answer = dashboard.response_times(w.east, NOW)
    last_week, this_week = to_confirm[-2], to_confirm[-1]
    assert (last_week.count, last_week.median, last_week.p90) == (10, 11, 18)
    assert (this_week.count, this_week.median, this_week.p90) == (1, 3, 3)
    assert to_confirm[0].count == 0 and to_confirm[0].median is None
    assert (to_answer[-2].count, to_answer[-2].median, to_answer[-2].p90) == (10, 5.5, 9)
    assert to_answer[-1].count == 0


def test_a_merged_incident_is_counted_in_the_one_it_joined(w: World) -> None:
    kept = incident(w, confirmed=weeks_ago(1), reported_minutes=5)
    merged = incident(w, confirmed=weeks_ago(1), reported_minutes=50)
    merged.merged_into = kept
    merged.save()
    to_confirm, _to_answer = dashboard.response_times(w.east, NOW)
    assert to_confirm[-2].count == 1


def test_someone_on_the_way_before_confirmation_counts_as_zero(w: World) -> None:
    incident(w, confirmed=weeks_ago(1), reported_minutes=10, answered_minutes=-5)
    _to_confirm, to_answer = dashboard.response_times(w.east, NOW)
    assert to_answer[-2].median == 0


def test_the_90th_percentile_is_the_nearest_rank() -> None:
    assert dashboard.percentile([5], 0.9) == 5
    assert dashboard.percentile(list(range(1, 11)), 0.9) == 9
    assert dashboard.percentile(list(range(1, 12)), 0.9) == 10


# --- the page -------------------------------------------------------------------------


def scene(w: World) -> None:
    """Some of everything, so every chart has something to draw."""
    member("Ana", w.east)
    Invite.objects.create(committee=w.east, uses=2)
    m = mobilization(w, ended_weeks_ago=0, ends_at=timezone.now() - timedelta(hours=1))
    rsvps.sign_up(m, member=w.member)
    confirmed = timezone.now() - timedelta(days=1)
    incident(w, confirmed=confirmed, reported_minutes=7, answered_minutes=3)


def test_the_organizer_sees_every_figure_as_a_chart_with_its_numbers(w: World) -> None:
    scene(w)
    response = session_for(w.organizer, strong=True).get(
        reverse("committee_dashboard", args=["east"])
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox') == 8
    assert body.count('<table class="chart-data">') == 8
    assert "<script" not in body.split("</main>")[0]
    assert '<li data-figure="join-requests"><strong>0</strong>' in body
    assert '<li data-figure="members"><strong>5</strong>' in body
    assert "Vigil 0" in body


def test_the_page_speaks_spanish(w: World) -> None:
    scene(w)
    w.organizer.language = "es"
    w.organizer.save()
    client = session_for(w.organizer, strong=True)
    client.cookies["django_language"] = "es"
    body = client.get(
        reverse("committee_dashboard", args=["east"]), HTTP_ACCEPT_LANGUAGE="es"
    ).content.decode()
    assert "Panel de organización" in body
    assert "Mediana" in body
    assert "Cobertura de turnos por área, próximos 7 días" in body
    assert "horas con todas las funciones cubiertas" in body


def test_the_committee_page_links_to_the_dashboard(w: World) -> None:
    body = (
        session_for(w.organizer, strong=True)
        .get(reverse("committee", args=["east"]))
        .content.decode()
    )
    assert reverse("committee_dashboard", args=["east"]) in body


@pytest.mark.parametrize(
    ("persona", "slug", "status"),
    [
        ("organizer", "east", 200),
        ("dispatcher", "east", 404),
        ("responder", "east", 404),
        ("member", "east", 404),
        ("outsider", "east", 404),
        ("west_organizer", "east", 404),
        ("west_dispatcher", "east", 404),
        ("organizer", "west", 404),
        ("organizer", "nowhere", 404),
    ],
)
def test_only_the_committees_organizers_open_it(
    w: World, persona: str, slug: str, status: int
) -> None:
    client = session_for(getattr(w, persona), strong=True)
    assert client.get(reverse("committee_dashboard", args=[slug])).status_code == status


def test_a_visitor_is_sent_to_log_in(w: World) -> None:
    response = Client().get(reverse("committee_dashboard", args=["east"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_number_of_queries_does_not_grow_with_the_data(w: World) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            dashboard.page(w.east)
        return len(captured)

    scene(w)
    # One shift already: the areas' coverage reads the alert areas of whoever is on
    # shift (one query, however many there are).
    Shift.objects.create(
        committee=w.east,
        member=w.responder,
        starts_at=timezone.now(),
        ends_at=timezone.now() + timedelta(hours=1),
    )
    few = queries()
    for n in range(10):
        someone = member(f"Person {n}", w.east)
        Membership.objects.filter(member=someone).update(vouched_by=w.member)
        Invite.objects.create(committee=w.east, uses=n)
        m = mobilization(w, ended_weeks_ago=n % 3, title=f"Rally {n}")
        rsvps.sign_up(m, member=someone)
        incident(w, confirmed=timezone.now() - timedelta(days=n), reported_minutes=n + 1)
        Shift.objects.create(
            committee=w.east,
            member=someone,
            starts_at=timezone.now() + timedelta(hours=n),
            ends_at=timezone.now() + timedelta(hours=n + 2),
        )
    assert queries() == few


def test_the_dashboard_names_the_areas_nobody_covers_now(w: World) -> None:
    from tocsin.committees.models import Duty, Shift
    from tocsin.places.models import Place, PlaceKind

    Place.objects.create(
        committee=w.east, name="Boyle Heights", kind=PlaceKind.AREA, lat=34.0339, lng=-118.2107
    )
    now = timezone.now()
    Shift.objects.create(
        committee=w.east,
        member=w.dispatcher,
        duty=Duty.DISPATCHER,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
    )
    body = (
        session_for(w.organizer, strong=True)
        .get(reverse("committee_dashboard", args=["east"]))
        .content.decode()
    )
    section = body.split('data-testid="coverage-areas"')[1].split("</section>")[0]
    assert "Boyle Heights" in section
    # A dispatcher is on; no verifier and no responder: the area is not covered now.
    assert "Verifier" in section and "Responder" in section


# --- shift coverage by area -----------------------------------------------------------


def two_areas(w: World) -> None:
    """Boyle Heights holds Rosa's (the responder's) alert area; the Flats, 2.5 km east,
    nobody's."""
    from tocsin.places.models import Place, PlaceKind

    for name, (lat, lng) in (("Boyle Heights", (34.0339, -118.2107)), ("Flats", (34.029, -118.19))):
        Place.objects.create(committee=w.east, name=name, kind=PlaceKind.AREA, lat=lat, lng=lng)


def duty_shift(
    committee: Committee, who: object, duty: str, start: datetime, hours: float
) -> Shift:
    return Shift.objects.create(
        committee=committee,
        member=who,
        duty=duty,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
    )


def test_coverage_by_area_counts_the_hours_each_duty_is_held_per_area(w: World) -> None:
    from tocsin.committees.models import Duty
    from tocsin.mobilize.coverage import coverage_by_area

    two_areas(w)
    # The organizer verifies from Boyle Heights too (her alert area is Rosa's).
    w.organizer.areas.create(cell=w.responder.areas.get().cell, ring=1)
    h = timedelta(hours=1)
    end = NOW + timedelta(days=7)
    # Across the start of the period: only the part from now counts (4 h of 6).
    duty_shift(w.east, w.responder, Duty.RESPONDER, NOW - 2 * h, 6)
    duty_shift(w.east, w.organizer, Duty.VERIFIER, NOW - h, 3)  # 2 h
    # Across its end: 3 h of 10.
    duty_shift(w.east, w.organizer, Duty.VERIFIER, end - 3 * h, 10)
    # A dispatcher covers every area; an overlapping second one counts once.
    duty_shift(w.east, w.dispatcher, Duty.DISPATCHER, NOW, 24)
    duty_shift(w.east, w.organizer, Duty.DISPATCHER, NOW + 20 * h, 2)
    # An open slot nobody took, one after the period, and another committee's shift.
    duty_shift(w.east, None, Duty.RESPONDER, NOW + 30 * h, 8)
    duty_shift(w.east, w.responder, Duty.RESPONDER, end + h, 8)
    duty_shift(w.west, w.west_dispatcher, Duty.DISPATCHER, NOW + 48 * h, 5)
    areas = coverage_by_area(w.east, NOW)
    # Cells no place names form the rest of the area.
    assert [a.name() for a in areas] == ["Boyle Heights", "Flats", ""]
    boyle, flats, _rest = areas
    hours = [
        (a.covered_hours("verifier"), a.covered_hours("dispatcher"), a.covered_hours("responder"))
        for a in areas
    ]
    assert hours == [(5, 24, 4), (0, 24, 0), (0, 24, 0)]
    # Every duty at once: the first 2 hours in Boyle Heights, never in the Flats.
    assert (boyle.fully_covered_hours(), flats.fully_covered_hours()) == (2, 0)

    chart = dashboard.area_chart(areas)
    assert chart.labels == ("Boyle Heights", "Flats", "Rest of the area")
    assert [(s.name, list(s.values)) for s in chart.series] == [
        ("Verifier", [5, 0, 0]),
        ("Dispatcher", [24, 24, 24]),
        ("Responder", [4, 0, 0]),
    ]
    assert chart.rows()[1] == ("Flats", ["0", "24", "0"])
    assert "every duty held: Flats, Rest of the area (0 h)" in chart.desc
    assert "out of 168" in chart.desc


def test_an_area_with_no_shift_is_charted_at_zero_and_the_rest_is_named(w: World) -> None:
    from tocsin.mobilize.coverage import coverage_by_area

    [area] = coverage_by_area(w.east, NOW)  # no named place: the whole area is "the rest"
    assert area.name() == ""
    assert area.fully_covered_hours() == 0
    chart = dashboard.area_chart([area])
    assert chart.labels == ("Rest of the area",)
    assert [list(s.values) for s in chart.series] == [[0], [0], [0]]
    assert dashboard.area_chart([]).labels == ()


def test_every_duty_held_all_week_covers_the_whole_period(w: World) -> None:
    from tocsin.committees.models import Duty
    from tocsin.mobilize.coverage import coverage_by_area

    two_areas(w)
    w.organizer.areas.create(cell=w.responder.areas.get().cell, ring=1)
    week = 24 * 8
    start = NOW - timedelta(hours=1)
    duty_shift(w.east, w.dispatcher, Duty.DISPATCHER, start, week)
    duty_shift(w.east, w.organizer, Duty.VERIFIER, start, week)
    duty_shift(w.east, w.responder, Duty.RESPONDER, start, week)
    boyle, flats, _rest = coverage_by_area(w.east, NOW)
    assert boyle.fully_covered_hours() == 168
    assert flats.fully_covered_hours() == 0


def test_long_area_names_are_cut_under_the_chart_and_whole_in_its_table() -> None:
    assert dashboard.short_label("Boyle Heights", 20) == "Boyle Heights"
    assert dashboard.short_label("Boyle Heights", 6) == "Boyle…"


def test_the_organizer_sees_coverage_by_area_and_nobody_else_does(w: World) -> None:
    from tocsin.committees.models import Duty

    two_areas(w)
    duty_shift(w.east, w.responder, Duty.RESPONDER, timezone.now(), 5)
    url = reverse("committee_dashboard", args=["east"])
    body = session_for(w.organizer, strong=True).get(url).content.decode()
    section = body.split('data-testid="coverage-by-area"')[1].split("</section>")[0]
    assert "Shift coverage by area, next 7 days" in section
    assert '<table class="chart-data">' in section
    assert '<th scope="row">Boyle Heights</th><td>0</td><td>0</td><td>5</td>' in section
    cards = body.split('data-testid="coverage-areas"')[1].split("</section>")[0]
    assert "0 of 168 hours with every duty held, next 7 days" in cards
    for persona in ("west_organizer", "dispatcher", "outsider"):
        response = session_for(getattr(w, persona), strong=True).get(url)
        assert response.status_code == 404
        assert "Boyle Heights" not in response.content.decode()
