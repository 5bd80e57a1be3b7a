"""The organizing dashboard: turnout per mobilization, shift coverage by area (from
tocsin.mobilize.coverage) and response times, beside the committee figures of
tocsin.committees.dashboard, drawn as charts (tocsin.lib.charts).

Exact counts: only the committee's organizers see this page. Each figure is one query
with SQL aggregates; medians and 90th percentiles are taken in Python from one row per
incident. Figures reach back only as far as the data is kept (TOCSIN_RETAIN_*): responses
are purged after TOCSIN_RETAIN_RESPONSES_DAYS, so older weeks show no "on my way" times.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _

from tocsin.committees import dashboard as committee_figures
from tocsin.committees.models import AREA_DUTIES, Committee, Duty
from tocsin.incidents.models import Incident
from tocsin.lib.charts import LEFT, RIGHT, WIDTH, Chart, Series, bar_chart, line_chart
from tocsin.lib.charts import number as charts_number
from tocsin.mobilize.coverage import HORIZON, AreaCoverage, coverage_by_area
from tocsin.mobilize.planned import Mobilization, RsvpStatus

# Turnout shows this many mobilizations, the latest.
TURNOUT_SHOWN = 12


@dataclass(frozen=True)
class Turnout:
    mobilization: Mobilization
    going: int
    checked_in: int


def turnout(committee: Committee, now: datetime | None = None) -> list[Turnout]:
    """Return the people signed up and those who came, for the committee's mobilizations
    that ended in the last WEEKS weeks (not cancelled), oldest first."""
    now = now or timezone.now()
    since = committee_figures.week_starts(now)[0]
    going = Q(rsvps__status=RsvpStatus.GOING)
    found = (
        Mobilization.objects.filter(
            committee=committee, cancelled_at__isnull=True, ends_at__gte=since, ends_at__lte=now
        )
        .annotate(
            n_going=Count("rsvps", filter=going),
            n_came=Count("rsvps", filter=going & Q(rsvps__checked_in_at__isnull=False)),
        )
        .order_by("-starts_at", "-pk")[:TURNOUT_SHOWN]
    )
    # Once the sign-ups are purged (TOCSIN_RETAIN_RSVPS_DAYS), the counts kept then.
    return [
        Turnout(
            m,
            m.kept_going if m.kept_going is not None else m.n_going,
            m.kept_checked_in if m.kept_checked_in is not None else m.n_came,
        )
        for m in reversed(found)
    ]


@dataclass(frozen=True)
class Times:
    """Minutes, in one week: the median and 90th percentile, or None with no incident."""

    start: date
    count: int
    median: float | None
    p90: float | None


def percentile(values: Sequence[float], share: float) -> float:
    """Return the nearest-rank percentile (``share`` 0.9: the value 90% stay at or under)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _summarise(starts: list[datetime], samples: list[tuple[datetime, float]]) -> list[Times]:
    weeks: list[list[float]] = [[] for _start in starts]
    for at, minutes in samples:
        for i in range(len(starts) - 1, -1, -1):
            if at >= starts[i]:
                weeks[i].append(minutes)
                break
    return [
        Times(
            timezone.localtime(start).date(),
            len(values),
            round(statistics.median(values), 1) if values else None,
            round(percentile(values, 0.9), 1) if values else None,
        )
        for start, values in zip(starts, weeks, strict=True)
    ]


def response_times(
    committee: Committee, now: datetime | None = None
) -> tuple[list[Times], list[Times]]:
    """Return, per week of confirmation over the last WEEKS weeks, the minutes from the
    first report to confirmation, and from confirmation to the first "on my way" (one
    already on the way when it was confirmed counts as 0)."""
    now = now or timezone.now()
    starts = committee_figures.week_starts(now)
    rows = (
        Incident.objects.for_committees([committee.pk])
        .filter(confirmed_at__gte=starts[0], confirmed_at__lte=now, merged_into__isnull=True)
        .annotate(
            first_report=Min("reports__received_at"), first_answer=Min("responses__created_at")
        )
        .values_list("confirmed_at", "first_seen_at", "first_report", "first_answer")
    )
    to_confirm: list[tuple[datetime, float]] = []
    to_answer: list[tuple[datetime, float]] = []
    for confirmed, first_seen, first_report, first_answer in rows:
        if confirmed is None:  # pragma: no cover (filtered on confirmed_at above)
            continue
        # Reports are purged after TOCSIN_RETAIN_REPORTS_HOURS; the incident keeps when
        # its first one came.
        reported = min(t for t in (first_seen, first_report) if t is not None)
        to_confirm.append((confirmed, _minutes(confirmed - reported)))
        if first_answer is not None:
            to_answer.append((confirmed, _minutes(first_answer - confirmed)))
    return _summarise(starts, to_confirm), _summarise(starts, to_answer)


def _minutes(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds() / 60)


def _area_name(area: AreaCoverage) -> str:
    return area.name() or _("Rest of the area")


def short_label(text: str, chars: int) -> str:
    """Return ``text`` cut to ``chars`` characters (an ellipsis marks the cut), for a label
    under a chart: the table under it keeps the whole name."""
    return text if len(text) <= chars else text[: max(chars - 1, 1)].rstrip() + "…"


def area_chart(areas: list[AreaCoverage]) -> Chart:
    """Return the hours in the next days (HORIZON) with someone on each duty, per area:
    where an organizer has to recruit. Its description names the areas with the fewest
    hours with every duty held."""
    names = [_area_name(a) for a in areas]
    duties = [(duty, label) for duty, label in Duty.choices if duty in AREA_DUTIES]
    total = round(HORIZON.total_seconds() / 3600)
    if areas:
        least = min(a.fully_covered_hours() for a in areas)
        weakest = [
            name for name, a in zip(names, areas, strict=True) if a.fully_covered_hours() == least
        ]
        desc = _(
            "Hours with someone on each duty in the next %(days)d days, out of %(total)d, "
            "per area. Fewest hours with every duty held: %(areas)s (%(hours)s h)."
        ) % {
            "days": HORIZON.days,
            "total": total,
            "areas": ", ".join(weakest),
            "hours": charts_number(least),
        }
    else:
        desc = _("This committee has no area yet.")
    # About 6 px a character at the chart's font size, in each area's share of the width.
    chars = max(3, int((WIDTH - LEFT - RIGHT) / max(len(areas), 1) / 6.5))
    return bar_chart(
        _("Shift coverage by area, next %(days)d days") % {"days": HORIZON.days},
        names,
        [Series(str(label), [a.covered_hours(duty) for a in areas]) for duty, label in duties],
        axis=_("Area"),
        unit=_("h"),
        desc=desc,
        ticks=[short_label(n, chars) for n in names],
    )


def _week(day: date) -> str:
    return dateformat.format(day, "j M")


def page(committee: Committee, now: datetime | None = None) -> dict[str, Any]:
    """Return the dashboard's figures and charts, in the active language."""
    now = now or timezone.now()
    members = committee_figures.members_over_time(committee, now)
    invites = committee_figures.invites(committee, now)
    depth = committee_figures.vouching_depth(committee)
    coverage = committee_figures.shift_coverage(committee, now)
    areas = coverage_by_area(committee, now)
    turnouts = turnout(committee, now)
    to_confirm, to_answer = response_times(committee, now)
    weeks = [_week(w.start) for w in members]
    week_of = _("Week of")
    charts = {
        "members": line_chart(
            _("Members"),
            weeks,
            [Series(_("Members"), [w.value for w in members])],
            axis=week_of,
        ),
        "invites": bar_chart(
            _("Invites"),
            weeks,
            [
                Series(_("Invites made"), [w.made for w in invites]),
                Series(_("People who joined by them"), [w.joined for w in invites]),
            ],
            axis=week_of,
        ),
        "depth": bar_chart(
            _("Vouching depth"),
            [str(level) for level in sorted(depth)],
            [Series(_("Members"), [depth[level] for level in sorted(depth)])],
            axis=_("Steps from the first members"),
        ),
        "turnout": bar_chart(
            _("Turnout per mobilization"),
            [
                f"{_week(timezone.localtime(t.mobilization.starts_at).date())} "
                f"{t.mobilization.title_in()}"
                for t in turnouts
            ],
            [
                Series(_("People signed up"), [t.going for t in turnouts]),
                Series(_("Came (checked in)"), [t.checked_in for t in turnouts]),
            ],
            axis=_("Mobilization"),
            ticks=[_week(timezone.localtime(t.mobilization.starts_at).date()) for t in turnouts],
        ),
        "coverage": bar_chart(
            _("Shift coverage"),
            [dateformat.format(day, "D j") for day, _hours in coverage.days],
            [Series(_("Hours with someone on shift"), [hours for _day, hours in coverage.days])],
            axis=_("Day"),
            unit=_("h"),
        ),
        "areas": area_chart(areas),
        "to_confirm": _times_chart(_("From the first report to confirmed"), weeks, to_confirm),
        "to_answer": _times_chart(_("From confirmed to the first “on my way”"), weeks, to_answer),
    }
    return {
        "committee": committee,
        "charts": charts,
        "members_now": members[-1].value if members else 0,
        "join_requests": committee_figures.join_requests_waiting(committee),
        "deepest": max(depth, default=0),
        "coverage": coverage,
        "areas": [
            {
                "name": area.name(),
                "covered": area.covered_now,
                "full_hours": area.fully_covered_hours(),
                "duties": [
                    (str(label), area.now.get(duty, 0))
                    for duty, label in Duty.choices
                    if duty in AREA_DUTIES
                ],
            }
            for area in areas
        ],
        "horizon_hours": round(HORIZON.total_seconds() / 3600),
        "confirmed": sum(t.count for t in to_confirm),
        "weeks": committee_figures.WEEKS,
    }


def _times_chart(title: str, weeks: list[str], times: list[Times]) -> Chart:
    return line_chart(
        title,
        weeks,
        [
            Series(_("Median"), [t.median for t in times]),
            Series(_("90th percentile"), [t.p90 for t in times]),
        ],
        axis=_("Week of"),
        unit=_("min"),
    )
