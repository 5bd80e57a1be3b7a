"""Verifier shifts as people read them: the committee page lists each shift with the day
and time it starts and ends (in the committee's local time), marks those running now, and
a verifier's own page says until when they are on duty."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from tests.factories import EAST, World, member, session_for
from tocsin.committees.models import Membership, Role, Shift
from tocsin.members.models import Member
from tocsin.mobilize.templatetags.shifts import shift_end, shift_span

pytestmark = pytest.mark.django_db


@pytest.fixture
def vero(w: World) -> Member:
    m = member("Vero", area=EAST, email="vero@example.org")
    Membership.objects.create(committee=w.east, member=m, role=Role.VERIFIER)
    return m


def shifts_listed(w: World) -> list[str]:
    """Return the text of each shift on East's committee page, as the organizer sees it."""
    html = session_for(w.organizer, strong=True).get(reverse("committee", args=["east"]))
    found = re.findall(r'<li data-shift="\d+"[^>]*>(.*?)<form', html.content.decode(), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", s).split()) for s in found]


def local(at: datetime, fmt: str) -> str:
    return timezone.localtime(at).strftime(fmt)


def test_a_24_hour_duty_shows_the_day_it_ends(w: World, vero: Member) -> None:
    client = session_for(vero)
    client.post(reverse("committee_duty", args=["east"]), {"hours": "24"})
    shift = Shift.objects.get()
    [listed] = shifts_listed(w)
    start, end = timezone.localtime(shift.starts_at), timezone.localtime(shift.ends_at)
    assert start.strftime("%H:%M") == end.strftime("%H:%M")
    assert f"{end.day} {end.strftime('%b')}, {end.strftime('%H:%M')}" in listed
    assert f"{start.strftime('%H:%M')}–{end.strftime('%H:%M')}" not in listed


def test_a_month_long_shift_shows_the_date_it_ends(w: World, vero: Member) -> None:
    now = timezone.now()
    Shift.objects.create(committee=w.east, member=vero, starts_at=now, ends_at=now + timedelta(30))
    [listed] = shifts_listed(w)
    end = timezone.localtime(now + timedelta(30))
    assert f"{end.day} {end.strftime('%b')}" in listed


def test_a_shift_within_one_day_shows_its_day_and_both_times(w: World, vero: Member) -> None:
    starts = datetime(2031, 1, 15, 17, 0, tzinfo=UTC)  # 09:00 in Los Angeles
    Shift.objects.create(
        committee=w.east, member=vero, starts_at=starts, ends_at=starts + timedelta(hours=4)
    )
    [listed] = shifts_listed(w)
    assert "Wed 15 Jan, 09:00 – 13:00" in listed


def test_shift_times_are_the_committees_local_time(w: World, vero: Member) -> None:
    # An organizer in Los Angeles types 14:00 for a shift.
    client = session_for(w.organizer, strong=True)
    client.post(
        reverse("committee_shift", args=["east"]),
        {"member": vero.pk, "starts_at": "2031-01-15T14:00", "hours": 4},
    )
    shift = Shift.objects.get()
    assert shift.starts_at == datetime(2031, 1, 15, 22, 0, tzinfo=UTC)
    [listed] = shifts_listed(w)
    assert "Wed 15 Jan, 14:00 – 18:00" in listed


def test_a_running_shift_says_on_duty_now_and_a_later_one_does_not(w: World, vero: Member) -> None:
    now = timezone.now()
    Shift.objects.create(
        committee=w.east,
        member=vero,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    Shift.objects.create(
        committee=w.east,
        member=vero,
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, hours=4),
    )
    running, later = shifts_listed(w)
    assert "on duty now" in running
    assert "on duty now" not in later


def test_my_page_says_until_which_day_i_am_on_duty(w: World, vero: Member) -> None:
    client = session_for(vero)
    client.post(reverse("committee_duty", args=["east"]), {"hours": "24"})
    end = timezone.localtime(Shift.objects.get().ends_at)
    html = client.get(reverse("me")).content.decode()
    duty = html[html.index('data-testid="duty"') :]
    assert f"on duty until {end.strftime('%a')} {end.day} {end.strftime('%b')}, {end:%H:%M}" in duty


def test_a_shift_end_gives_the_day_only_when_it_is_another_day() -> None:
    starts = datetime(2031, 1, 15, 17, 0, tzinfo=UTC)  # 09:00 in Los Angeles
    assert shift_end(starts + timedelta(hours=4), starts) == "13:00"
    # 16:00 UTC on the 16th is still the 16th's 08:00 in Los Angeles: another day.
    assert shift_end(starts + timedelta(hours=23), starts) == "Thu 16 Jan, 08:00"
    # 07:30 UTC on the 16th is 23:30 on the 15th in Los Angeles: the same day.
    assert shift_end(starts + timedelta(hours=14, minutes=30), starts) == "23:30"


def test_a_shift_reads_in_spanish_for_a_spanish_speaker() -> None:
    starts = datetime(2031, 1, 15, 17, 0, tzinfo=UTC)
    with translation.override("es"):
        span = shift_span(starts, starts + timedelta(days=1))
    assert span == "mié 15 Ene, 09:00 – jue 16 Ene, 09:00"
