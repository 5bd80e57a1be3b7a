"""Prometheus metrics: how the alarm is doing, in counts, ages and seconds.

Read from the database at each scrape (deliveries, reports, heartbeats are rows every
process shares), except the live viewers, which each app process counts for itself: scrape
every app process. No label ever names a person, a place (not even a committee) or an
address: the only labels are a channel and a delivery state, each from a fixed list, and a
histogram's buckets (tests/test_metrics.py checks every label value against that list).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.intake.models import Channel, Report
from tocsin.lib import sse
from tocsin.ops import heartbeat
from tocsin.transports.registry import CHANNELS

# Every value a label may take. Anything else in a row (a channel this version does not
# know) is counted under "other", never passed through.
CHANNEL_VALUES = frozenset({*CHANNELS, *Channel.values, "other"})
STATE_VALUES = frozenset(DeliveryStatus.values)
# Seconds from an alert's delivery row being written to its send.
LATENCY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# The latency histogram covers deliveries sent within this window, recomputed each scrape.
LATENCY_WINDOW = timedelta(hours=1)
REPORT_WINDOW = timedelta(hours=1)


def _channel(value: str) -> str:
    return value if value in CHANNEL_VALUES else "other"


class TocsinCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from self._deliveries()
        yield self._oldest_waiting(now)
        yield self._latency(now)
        yield self._reports(now)
        yield from self._workers(now)
        live = GaugeMetricFamily(
            "tocsin_live_viewers", "Live pages (Server-Sent Event streams) open on this process"
        )
        live.add_metric([], sse.counts()[0])
        yield live

    def _deliveries(self) -> Iterator[Metric]:
        states = GaugeMetricFamily(
            "tocsin_deliveries",
            "Delivery rows kept (TOCSIN_RETAIN_DELIVERIES_DAYS), by channel and state",
            labels=["channel", "state"],
        )
        dead = GaugeMetricFamily(
            "tocsin_deliveries_dead",
            "Deliveries that failed for good, by channel",
            labels=["channel"],
        )
        retries = GaugeMetricFamily(
            "tocsin_delivery_retries",
            "Send attempts beyond the first, over the deliveries kept, by channel",
            labels=["channel"],
        )
        by_state: dict[tuple[str, str], int] = {}
        by_retry: dict[str, int] = {}
        rows = Delivery.objects.values("kind", "status").annotate(
            n=Count("id"),
            again=Sum("attempts", filter=Q(attempts__gt=1)) - Count("id", filter=Q(attempts__gt=1)),
        )
        for row in rows:
            channel = _channel(row["kind"])
            state = row["status"] if row["status"] in STATE_VALUES else None
            if state is not None:
                by_state[channel, state] = by_state.get((channel, state), 0) + row["n"]
            by_retry[channel] = by_retry.get(channel, 0) + (row["again"] or 0)
        for (channel, state), n in sorted(by_state.items()):
            states.add_metric([channel, state], n)
            if state == DeliveryStatus.DEAD:
                dead.add_metric([channel], n)
        for channel, n in sorted(by_retry.items()):
            retries.add_metric([channel], n)
        yield states
        yield dead
        yield retries

    def _oldest_waiting(self, now: datetime) -> Metric:
        oldest = Delivery.objects.filter(
            status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED]
        ).aggregate(oldest=Min("created_at"))["oldest"]
        gauge = GaugeMetricFamily(
            "tocsin_delivery_oldest_waiting_seconds",
            "Age of the oldest delivery still queued or retrying (0: none waits)",
        )
        gauge.add_metric([], 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()))
        return gauge

    def _latency(self, now: datetime) -> Metric:
        elapsed = ExpressionWrapper(F("sent_at") - F("created_at"), output_field=DurationField())
        sent = Delivery.objects.filter(sent_at__gte=now - LATENCY_WINDOW)
        counts = sent.aggregate(
            total=Count("id"),
            seconds=Sum(elapsed),
            **{
                f"le{i}": Count(
                    "id", filter=Q(sent_at__lte=F("created_at") + timedelta(seconds=bound))
                )
                for i, bound in enumerate(LATENCY_BUCKETS)
            },
        )
        buckets = [
            (floatToGoString(bound), counts[f"le{i}"]) for i, bound in enumerate(LATENCY_BUCKETS)
        ]
        buckets.append(("+Inf", counts["total"]))
        total = counts["seconds"]
        family = HistogramMetricFamily(
            "tocsin_delivery_send_latency_seconds",
            "Seconds from a delivery's row to its send, over deliveries sent in the last hour "
            "(recomputed each scrape: read with histogram_quantile, not rate)",
        )
        family.add_metric(
            [], buckets, sum_value=total.total_seconds() if total is not None else 0.0
        )
        return family

    def _reports(self, now: datetime) -> Metric:
        gauge = GaugeMetricFamily(
            "tocsin_reports_last_hour",
            "Reports received in the last hour, by channel",
            labels=["channel"],
        )
        found: dict[str, int] = {}
        rows = (
            Report.objects.filter(received_at__gte=now - REPORT_WINDOW)
            .values("channel")
            .annotate(n=Count("id"))
        )
        for row in rows:
            channel = _channel(row["channel"])
            found[channel] = found.get(channel, 0) + row["n"]
        for channel, n in sorted(found.items()):
            gauge.add_metric([channel], n)
        return gauge

    def _workers(self, now: datetime) -> Iterator[Metric]:
        seen = heartbeat.workers(within=settings.READY_WORKER_SECONDS, now=now)
        alive = GaugeMetricFamily(
            "tocsin_workers_alive",
            "Workers whose heartbeat came within TOCSIN_READY_WORKER_SECONDS",
        )
        alive.add_metric([], seen.alive)
        unlocked = GaugeMetricFamily(
            "tocsin_workers_unlocked", "Live workers that hold the vault's key (can send)"
        )
        unlocked.add_metric([], seen.unlocked)
        age = GaugeMetricFamily(
            "tocsin_worker_heartbeat_age_seconds",
            "Seconds since the newest worker heartbeat (absent: no worker ever ran)",
        )
        if seen.newest_age is not None:
            age.add_metric([], seen.newest_age)
        yield alive
        yield unlocked
        yield age


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(TocsinCollector())
# The process's own CPU, memory and open files: no labels.
ProcessCollector(registry=REGISTRY)
