"""No public output is finer or earlier than the exposure rules (issue 17: "a test proves no
public output (page, feed, API, federation) is finer or earlier").

One confirmed incident, an arrest at a home, seen through every public output: the map
page, its GeoJSON, the live list's render, the Atom feed, the JSON API (list and detail),
the CAP feed and alert, the payload federation would send a partner, the Telegram channel's
post and the email digest. Before the delay none carries it; after, every coordinate any
of them carries is the public cell's centre or a corner of its outline (at
TOCSIN_PUBLIC_RESOLUTION), never the report's exact point or the member's block; every
time is the confirmation rounded down to the public time step; the kind is the public one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from tests.factories import EAST, World, confirmed_incident, world
from tocsin import geo
from tocsin.digest import service as digest
from tocsin.digest.models import DigestMessage, Issue, Subscription
from tocsin.federation import keys, outgoing
from tocsin.federation.models import Partner
from tocsin.incidents.models import Incident
from tocsin.lib import exposure
from tocsin.public import broadcast, cap, incident_map, views
from tocsin.public.incidents import PublicIncident, public_id, published

pytestmark = pytest.mark.django_db

# A decimal with four or more places: a latitude or longitude as any output writes one
# (a CAP circle's radius in km has three; seconds after a colon are a time).
COORDINATE = re.compile(r"(?<![\d:.])-?\d{1,3}\.\d{4,}")
EXACT_KIND = ("Arrest at a home", "home_arrest", "Arresto en una casa", "a home", "una casa")


@pytest.fixture
def w(settings: Any) -> World:
    settings.FEDERATION_KEY = keys.generate()
    found = world()
    Partner.objects.create(
        name="Eastside network",
        base_url="http://127.0.0.1:9",
        public_key=keys.public_of(keys.generate()),
        cells=geo.to_str(geo.cell_at(*EAST, 6)),
    )
    return found


def _outputs(incident: Incident, now: dt.datetime) -> dict[str, str]:
    """Return what each public output says now, as text."""
    pid = public_id(incident.pk)
    client = Client()
    out = {
        "page": client.get(reverse("public_map") + "?window=30d").content.decode(),
        "geojson": client.get(reverse("public_map_geojson") + "?window=30d").content.decode(),
        "atom": client.get(reverse("public_feed")).content.decode(),
        "api_list": client.get(reverse("api:api_incidents")).content.decode(),
        "cap_feed": client.get(reverse("public_cap_feed")).content.decode(),
    }
    # The live list renders this partial, with this context, for every viewer.
    with translation.override("en"):
        out["live"] = render_to_string(
            "public/_map_list.html", views._map_list(incident_map.Filter(window="30d"))
        )
    detail = client.get(reverse("api:api_incident", args=[pid]))
    out["api_detail"] = detail.content.decode() if detail.status_code == 200 else ""
    alert = client.get(reverse("public_cap", args=[pid]))
    out["cap_alert"] = alert.content.decode() if alert.status_code == 200 else ""
    public = published(now)
    # Federation: what each partner is owed now, the view kept and the alert it is sent as
    # (read only: nothing recorded, nothing sent).
    owed = outgoing.due(now)
    out["federation"] = "\n".join(
        json.dumps(d.view) + cap.alert(PublicIncident(**{**d.view, "at": _at(d.view)})).decode()
        for d in owed
    )
    out["telegram"] = "\n".join(broadcast.render(p, p.state).text for p in public)
    subscription = Subscription(language="es")
    issue = Issue(day=timezone.localdate(now), incident_ids=[incident.pk])
    mail = digest.render(
        DigestMessage(subscription=subscription, issue=issue), {p.id: p for p in public}
    )
    out["digest"] = mail.text if mail is not None else ""
    return out


def _at(view: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(view["at"])


def _allowed(cell: int) -> list[float]:
    """Return every number a coordinate of ``cell`` may be written as: its centre's and
    its corners' latitudes and longitudes."""
    points = [geo.center(cell), *geo.boundary(cell)]
    return [v for point in points for v in point]


def _written_as(value: str, allowed: list[float]) -> bool:
    places = len(value.split(".")[1])
    return any(abs(round(v, places) - float(value)) <= 1.5 * 10**-places for v in allowed)


def _odd_moment(minutes_ago: int) -> dt.datetime:
    """Return a moment about ``minutes_ago`` ago that is not on a time step: 7 min 13 s
    past a quarter hour (so the exact time and the rounded one differ)."""
    back = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return back.replace(minute=back.minute // 15 * 15 + 7, second=13, microsecond=0)


def test_no_public_output_shows_it_before_the_delay(w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=0, kind="home_arrest")
    now = timezone.now()
    Incident.objects.filter(pk=incident.pk).update(confirmed_at=now - dt.timedelta(minutes=1))
    outputs = _outputs(incident, now)
    pid = public_id(incident.pk)
    for name, text in outputs.items():
        assert pid not in text, name
        assert COORDINATE.search(text) is None, name
    assert outputs["api_detail"] == outputs["cap_alert"] == ""
    assert outputs["federation"] == outputs["telegram"] == outputs["digest"] == ""


@pytest.mark.parametrize("resolution", [7, 8])
def test_after_the_delay_every_output_is_the_public_cell_at_a_rounded_time(
    w: World, settings: Any, resolution: int
) -> None:
    settings.PUBLIC_RESOLUTION = resolution
    incident = confirmed_incident(w.dispatcher, minutes_ago=0, kind="home_arrest")
    exact = _odd_moment(settings.PUBLIC_DELAY_MINUTES + 30)
    Incident.objects.filter(pk=incident.pk).update(confirmed_at=exact, opened_at=exact)
    now = timezone.now()
    outputs = _outputs(incident, now)

    public_cell = geo.parent(incident.cell, resolution)
    [seen] = published(now)
    assert (seen.cell, seen.resolution) == (public_cell, resolution)
    allowed = _allowed(public_cell)
    report_point = geo.center(incident.cell)
    block_point = exposure.block_point(incident.cell)
    rounded = exact.replace(minute=exact.minute // 15 * 15, second=0)
    assert seen.at == rounded
    local_exact = timezone.localtime(exact)
    pid = public_id(incident.pk)

    for name, text in outputs.items():
        assert pid in text or name in ("telegram", "digest"), name
        assert text, name
        written = COORDINATE.findall(text)
        assert written or name in ("page", "live", "atom", "cap_feed", "telegram", "digest"), name
        for value in written:
            assert _written_as(value, allowed), (name, value)
        for finer in (report_point, block_point):
            for places in (4, 5, 6):
                for v in finer:
                    if not _written_as(f"{v:.{places}f}", allowed):
                        assert f"{v:.{places}f}" not in text, (name, v)
        # No exact time in any form: ISO, CAP's, or the local clock's minute.
        assert exact.isoformat() not in text, name
        assert exact.strftime("%Y-%m-%dT%H:%M:%S") not in text, name
        assert local_exact.strftime("%H:%M") not in text, name
        assert exact.strftime("%H:%M") not in text, name
        # The public kind, never the exact one.
        for word in EXACT_KIND:
            assert word not in text, (name, word)
    assert "Enforcement activity" in outputs["page"]
    assert "Operativo de inmigración" in outputs["digest"]
    assert "value>enforcement<" in outputs["cap_alert"].replace(" ", "")
    # Rounded times are what they carry.
    assert rounded.isoformat() in outputs["page"]
    assert timezone.localtime(rounded).strftime("%H:%M") in outputs["telegram"]


def test_the_resolution_reaches_no_public_output_before_its_delay(w: World) -> None:
    incident = confirmed_incident(w.dispatcher, minutes_ago=0)
    exact = _odd_moment(3 * settings.PUBLIC_DELAY_MINUTES)
    Incident.objects.filter(pk=incident.pk).update(confirmed_at=exact, opened_at=exact)
    from tocsin.incidents.services import change_state

    change_state(incident, "resolved", actor=w.dispatcher)
    outputs = _outputs(incident, timezone.now())
    for name in ("page", "live", "atom", "telegram"):
        assert "Resolved" not in outputs[name] and "Over:" not in outputs[name], name
    for name in ("geojson", "api_list", "api_detail"):
        assert '"resolved"' not in outputs[name], name
    assert "<msgType>Cancel</msgType>" not in outputs["cap_alert"]
    assert "<msgType>Cancel</msgType>" not in outputs["federation"]
