"""The desk's burst lane, in groups: the suspicious reports of one network near one place.

Web reports past their network's share, or part of a burst of new networks in one area
(tocsin.intake.burst), wait here rather than in the queue. Each group carries a random id
(``Report.burst_group``), so the desk reads "12 reports from one network near …" and a
dispatcher releases the group into the queue, or dismisses it, in one tap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, F, Max, Min, Window
from django.db.models.functions import RowNumber

from tocsin.intake.models import Report, ReportQuerySet

# Groups shown on the desk (the newest first), and reports shown in each, to judge by.
GROUPS_SHOWN = 20
SAMPLES = 3


@dataclass
class BurstGroup:
    id: str
    count: int
    first: datetime
    last: datetime
    # The group's newest reports.
    reports: list[Report] = field(default_factory=list)

    @property
    def place(self) -> str:
        return describe_place(self.reports[0]) if self.reports else ""


def describe_place(report: Report) -> str:
    """Return where a group's reports are, in words for the desk.

    The name of the nearest place in the desk's gazetteers ("Car wash, Cesar Chavez &
    Soto") when the desk placed the report (``where``, tocsin.places.naming), else its
    coordinates.
    """
    where = getattr(report, "where", None)
    if where is not None:
        return where.name or where.coordinates
    return report.place


def groups(lane: ReportQuerySet, *, limit: int = GROUPS_SHOWN) -> list[BurstGroup]:
    """Return the groups of the suspicious reports in ``lane``, the newest first."""
    rows = (
        lane.exclude(burst_group="")
        .values("burst_group")
        .annotate(count=Count("pk"), first=Min("received_at"), last=Max("received_at"))
        .order_by("-last", "burst_group")[:limit]
    )
    found = {
        r["burst_group"]: BurstGroup(r["burst_group"], r["count"], r["first"], r["last"])
        for r in rows
    }
    # The newest few of every group shown, in one query (the desk renders on every event).
    newest = Window(
        RowNumber(),
        partition_by=F("burst_group"),
        order_by=[F("received_at").desc(), F("pk").desc()],
    )
    samples = (
        lane.filter(burst_group__in=list(found))
        .annotate(rank=newest)
        .filter(rank__lte=SAMPLES)
        .order_by("-received_at", "-pk")
        .with_photos()
    )
    for report in samples:
        found[report.burst_group].reports.append(report)
    return list(found.values())


def group_count(lane: ReportQuerySet) -> int:
    return lane.exclude(burst_group="").values("burst_group").distinct().count()
