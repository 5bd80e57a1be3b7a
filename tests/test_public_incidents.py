"""What the public may see of incidents (tocsin/public/incidents.py): confirmed or
resolved ones, coarse and late, named by an area, labelled by how they were verified."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import EAST, World, confirmed_incident, world
from tocsin import geo
from tocsin.incidents.models import ConfirmedBy, Incident
from tocsin.incidents.services import change_state
from tocsin.intake.models import Channel
from tocsin.places.models import Place, PlaceKind
from tocsin.public.incidents import published

pytestmark = pytest.mark.django_db


@pytest.fixture
def w() -> World:
    return world()


def test_a_confirmed_incident_is_public_only_after_the_delay(w: World) -> None:
    fresh = confirmed_incident(w.dispatcher, minutes_ago=5)
    old = confirmed_incident(w.dispatcher, (34.0500, -118.2000), minutes_ago=45)
    assert [p.id for p in published()] == [old.id]
    assert fresh.confirmed_by == ConfirmedBy.DISPATCHER


def test_the_public_sees_the_coarse_cell_and_a_rounded_time(w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=47)
    [seen] = published()
    assert seen.resolution == geo.PUBLIC_RESOLUTION
    assert seen.cell == geo.parent(incident.cell, geo.PUBLIC_RESOLUTION)
    assert seen.at <= incident.confirmed_at
    assert seen.at.minute % 15 == 0 and seen.at.second == 0


@pytest.mark.parametrize("end", ["unfounded", "resolved"])
def test_a_false_alarm_never_appears_and_a_resolved_one_stays(w: World, end: str) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=120, end=end)
    shown = [p.state for p in published()]
    assert shown == ([] if end == "unfounded" else ["resolved"])


def test_the_place_is_a_named_area_never_a_store_near_it(w: World) -> None:
    Place.objects.create(
        committee=w.east, name="Food 4 Less, Soto", kind=PlaceKind.STORE, lat=EAST[0], lng=EAST[1]
    )
    Place.objects.create(
        committee=w.east,
        name="Boyle Heights",
        kind=PlaceKind.AREA,
        lat=EAST[0] + 0.002,
        lng=EAST[1],
    )
    confirmed_incident(w.dispatcher, minutes_ago=60)
    [seen] = published()
    assert seen.place == "Boyle Heights"
    assert "Food 4 Less" not in seen.place_text


def test_it_says_how_it_was_verified(w: World) -> None:
    confirmed_incident(w.dispatcher, minutes_ago=60)
    [seen] = published()
    assert seen.verification == "confirmed by the committee's dispatcher"


def test_no_public_output_carries_the_incidents_database_number(w: World) -> None:
    # Counting database numbers would tell how many incidents the public never sees (false
    # alarms, unverified reports): every public output names an incident by an opaque id.
    from django.test import Client
    from django.urls import reverse

    hidden = [confirmed_incident(w.dispatcher, minutes_ago=90, end="unfounded") for _ in range(3)]
    shown = confirmed_incident(w.dispatcher, (34.0500, -118.2000), minutes_ago=60)
    [seen] = published()
    assert seen.public_id and seen.public_id != str(shown.pk)
    assert seen.public_id == published()[0].public_id  # stable
    client = Client()
    pages = {
        "map": client.get(reverse("public_map")).content.decode(),
        "geojson": client.get(reverse("public_map_geojson")).content.decode(),
        "api": client.get(reverse("api:api_incidents")).content.decode(),
        "cap_feed": client.get(reverse("public_cap_feed")).content.decode(),
        "atom": client.get(reverse("public_feed")).content.decode(),
    }
    for name, body in pages.items():
        assert seen.public_id in body, name
        # Whole numbers only: "id": 4 must not match a feature's "id": 41.
        for marker in (
            rf'"id": {shown.pk}(?!\d)',
            rf"incident\.{shown.pk}\.",
            rf"/incidents/{shown.pk}(?!\d)",
        ):
            assert not re.search(marker, body), (name, marker)
        assert f'data-incident="{shown.pk}"' not in body, name
    one = client.get(reverse("api:api_incident", args=[seen.public_id]))
    assert one.status_code == 200
    assert client.get(reverse("public_cap", args=[seen.public_id])).status_code == 200
    # An unfounded incident's id gives the same 404 as a made-up one.
    assert client.get(reverse("public_cap", args=["nothing0000"])).status_code == 404
    assert len(hidden) == 3


def test_since_compares_with_the_public_time_not_the_confirmation(w: World) -> None:
    # Asking with ever closer ``since`` values must not tell the minute of confirmation.
    incident = confirmed_incident(w.dispatcher, minutes_ago=60)
    [seen] = published()
    assert seen.at <= incident.confirmed_at
    just_before_confirmation = incident.confirmed_at - dt.timedelta(seconds=1)
    if seen.at <= just_before_confirmation:
        assert published(since=just_before_confirmation) == []
    assert [p.id for p in published(since=seen.at - dt.timedelta(seconds=1))] == [incident.pk]


# --- how it was verified, in every public output -----------------------------------------


def _by_quorum(w: World, django_capture_on_commit_callbacks: Any) -> Incident:
    """Three trusted members report the same checkpoint, one of them twice: the rules
    confirm it; four reports, three members."""
    from tests.factories import member
    from tocsin.committees.models import Membership
    from tocsin.incidents.reports import receive_report

    reporters = [member(n, w.east, area=EAST) for n in ("Ana", "Beto", "Caro")]
    Membership.objects.filter(member__in=reporters).update(vouched_by=w.organizer)
    with django_capture_on_commit_callbacks(execute=True):
        for m in [reporters[0], *reporters]:
            receive_report(
                channel=Channel.SMS, kind="checkpoint", lat=EAST[0], lng=EAST[1], member=m
            )
    incident = Incident.objects.get()
    assert incident.state == "confirmed" and incident.reports.count() == 4
    return incident


def _by_verifier(w: World) -> Incident:
    """A verifier on the spot says "Confirmed"; the dispatcher confirms."""
    from tests.factories import member
    from tocsin.committees.models import Role
    from tocsin.incidents import verify
    from tocsin.incidents.models import Answer

    nora = member("Nora", w.east, Role.VERIFIER, area=EAST, email="nora@example.org")
    incident = confirmed_incident(w.dispatcher, minutes_ago=0, end="")
    Incident.objects.filter(pk=incident.pk).update(state="verifying", confirmed_at=None)
    req = verify.request(incident, nora, actor=w.dispatcher)
    verify.record_answer(req, Answer.CONFIRMED, channel="web")
    incident.refresh_from_db()
    if incident.state != "confirmed":
        change_state(incident, "confirmed", actor=w.dispatcher)
    return Incident.objects.get(pk=incident.pk)


def _public_labels(language: str) -> dict[str, str]:
    """Return the verification label each public output gives its one incident."""
    from django.test import Client
    from django.urls import reverse

    client = Client(headers={"accept-language": language})
    client.cookies["django_language"] = language
    page = client.get(reverse("public_map")).content.decode()
    [label] = re.findall(r'<span class="muted">([^<]*)</span></li>', page)
    [feature] = client.get(reverse("public_map_geojson")).json()["features"]
    [item] = client.get(reverse("api:api_incidents") + f"?lang={language}").json()
    return {
        "page": html.unescape(label),
        "geojson": feature["properties"]["verification"],
        "api": item["verification"],
    }


LABELS = {
    "verifier": {
        "en": "confirmed by a verifier on the ground",
        "es": "confirmado por un verificador en el lugar",
    },
    "quorum": {
        "en": "confirmed by 3 trusted members",
        "es": "confirmado por 3 miembros de confianza",
    },
    "dispatcher": {
        "en": "confirmed by the committee's dispatcher",
        "es": "confirmado por el despachador del comité",
    },
}


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("how", ["verifier", "quorum", "dispatcher"])
def test_every_public_output_says_how_it_was_verified(
    w: World, django_capture_on_commit_callbacks: Any, how: str, language: str
) -> None:
    if how == "quorum":
        incident = _by_quorum(w, django_capture_on_commit_callbacks)
    elif how == "verifier":
        incident = _by_verifier(w)
    else:
        incident = confirmed_incident(w.dispatcher, minutes_ago=0)
    assert incident.confirmed_by == how
    back = timezone.now() - dt.timedelta(hours=2)
    Incident.objects.filter(pk=incident.pk).update(confirmed_at=back)
    expected = LABELS[how][language]
    assert _public_labels(language) == {"page": expected, "geojson": expected, "api": expected}


def test_the_quorum_counts_members_not_reports(
    w: World, django_capture_on_commit_callbacks: Any
) -> None:
    incident = _by_quorum(w, django_capture_on_commit_callbacks)
    assert incident.confirmed_sources == 3
    Incident.objects.filter(pk=incident.pk).update(
        confirmed_at=timezone.now() - dt.timedelta(hours=2)
    )
    [seen] = published()
    assert seen.verification == "confirmed by 3 trusted members"
    assert "report" not in seen.verification


# --- one incident, however old -----------------------------------------------------------


def test_an_incident_past_the_list_limit_keeps_its_alert_and_its_detail(w: World) -> None:
    from django.test import Client
    from django.urls import reverse

    from tocsin.public.incidents import LIMIT, public_id

    cell = geo.cell_at(*EAST, geo.REPORT_RESOLUTION)
    start = timezone.now() - dt.timedelta(hours=2)
    Incident.objects.bulk_create(
        Incident(
            kind="checkpoint",
            state="confirmed",
            cell=cell,
            area_cell=geo.parent(cell, 6),
            opened_at=start - dt.timedelta(minutes=i),
            confirmed_at=start - dt.timedelta(minutes=i),
            confirmed_by=ConfirmedBy.DISPATCHER,
        )
        for i in range(LIMIT + 1)
    )
    oldest = Incident.objects.order_by("confirmed_at").first()
    assert oldest is not None
    assert public_id(oldest.pk) not in {p.public_id for p in published()}
    client = Client()
    detail = client.get(reverse("api:api_incident", args=[public_id(oldest.pk)]))
    assert detail.status_code == 200 and detail.json()["id"] == public_id(oldest.pk)
    assert client.get(reverse("public_cap", args=[public_id(oldest.pk)])).status_code == 200
    # The API's list pages on: the next page holds it.
    first = client.get(reverse("api:api_incidents") + "?limit=150").json()
    rest = client.get(reverse("api:api_incidents") + "?limit=150&offset=150").json()
    assert len(first) == 150 and len(rest) == LIMIT + 1 - 150
    assert rest[-1]["id"] == public_id(oldest.pk)
    assert not {i["id"] for i in first} & {i["id"] for i in rest}
    assert client.get(reverse("api:api_incidents") + "?limit=500").status_code == 422


def test_a_lookup_by_public_id_finds_nothing_the_public_may_not_see(w: World) -> None:
    from tocsin.public.incidents import public_id, published_one

    fresh = confirmed_incident(w.dispatcher, minutes_ago=5)
    unfounded = confirmed_incident(w.dispatcher, minutes_ago=90, end="unfounded")
    shown = confirmed_incident(w.dispatcher, (34.05, -118.2), minutes_ago=90)
    assert published_one(public_id(fresh.pk)) is None
    assert published_one(public_id(unfounded.pk)) is None
    assert published_one("nothing0000") is None
    found = published_one(public_id(shown.pk))
    assert found is not None and found == published()[0]
