"""A small flood of anonymous web reports through the real server (bench/flood.py is the
full size): nobody is alerted, no incident opens by itself, the reports past each
network's share wait in the burst lane, and a trusted member's report reaches the
dispatcher's queue, outside that lane. No timing is asserted here."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from tests import flood_support as flood
from tests.browser_support import WAIT_S, LiveServer, wait_until
from tests.factories import EAST
from tocsin.alerts.models import Delivery
from tocsin.hooks import inbound
from tocsin.incidents.models import Incident
from tocsin.intake.models import Channel, Report

pytestmark = pytest.mark.django_db(transaction=True)

# Each /24 network is one source for the guards: 25 networks over 3 cells make about 8
# new sources a cell, past the burst threshold (5), and 400 reports (16 a network) pass
# their share (10) but stay under the refusal rate (200).
REPORTS, SOURCES, NETWORKS, CELLS = 400, 40, 25, 3


@pytest.fixture
def server(settings: Any) -> Iterator[LiveServer]:
    # Cheap proof of work: the test is about what the flood does, not about hashing. Past
    # its share a network still needs the harder one.
    settings.POW_MIN = settings.POW_MAX = 1000
    settings.POW_BURST = 2000
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    live = LiveServer().start()
    yield live
    live.stop()


def test_a_flood_alerts_nobody_and_a_members_report_reaches_the_desk(server: LiveServer) -> None:
    since = timezone.now()
    seeded = flood.seed(CELLS, EAST)
    work = flood.jobs(REPORTS, SOURCES, NETWORKS, seeded.points)
    result = flood.Result()
    sender = threading.Thread(
        target=lambda: result.__dict__.update(flood.run(server.url, work, threads=6).__dict__)
    )
    sender.start()
    # Midway through the flood a trusted member texts REPORT.
    wait_until(
        lambda: Report.objects.filter(channel=Channel.WEB).count() >= 40,
        "the flood to be under way",
        timeout=WAIT_S * 3,
    )
    reply = inbound.handle(
        inbound.Inbound("sms", flood.TRUSTED_PHONE, f"REPORT {flood.TRUSTED_TEXT}", "SMflood1")
    )
    assert reply is not None and "received" in reply
    trusted = Report.objects.get(channel=Channel.SMS)
    queue, lane = wait_until(
        lambda: (ids := flood.queue_report_ids(seeded.dispatcher_id))[0] >= {trusted.pk} and ids,
        "the member's report in the dispatcher's queue",
    )
    sender.join(timeout=WAIT_S * 6)
    assert not sender.is_alive()
    connections.close_all()

    outcomes = result.outcomes
    assert result.errors == []
    assert sum(outcomes.values()) == REPORTS
    # A report whose challenge was fetched just before its network went past its share
    # is sent back for the harder one (its page would solve it); none is refused.
    assert set(outcomes) <= {"accepted", "pow_refused"}, outcomes
    assert outcomes["accepted"] == Report.objects.filter(channel=Channel.WEB).count()
    # The guards engaged: reports past their network's share, and a burst of new
    # sources, wait in the lane, in groups of one network near one place.
    lane = Report.objects.filter(channel=Channel.WEB, suspicious=True)
    assert lane.count() > REPORTS // 2
    assert not lane.filter(burst_group="").exists()
    assert lane.values("burst_group").distinct().count() <= NETWORKS * CELLS

    assert trusted.pk in queue and trusted.pk not in lane
    assert not Report.objects.get(pk=trusted.pk).suspicious
    assert Delivery.objects.count() == 0
    assert not Incident.objects.filter(opened_at__gte=since).exists()
    assert flood.incidents_per_cell_per_window(since) <= 1


def test_past_its_share_a_network_waits_in_the_lane_and_past_the_cap_is_refused(
    server: LiveServer, settings: Any
) -> None:
    settings.REPORT_REFUSE_PER_10MIN = 12
    seeded = flood.seed(1, EAST)
    # Two networks, 15 reports each: 10 a network in the queue's share, 2 more taken into
    # the lane, 3 refused. One client, so each challenge is fetched just before its post.
    work = flood.jobs(30, 2, 2, seeded.points)
    started = time.monotonic()
    result = flood.run(server.url, work, threads=1)
    assert time.monotonic() - started < 600  # never a timing goal: only a hang guard
    assert result.outcomes == {"accepted": 24, "rate_limited": 6}, result.outcomes
    lane = Report.objects.filter(suspicious=True)
    assert lane.values("burst_group").distinct().count() == 2
