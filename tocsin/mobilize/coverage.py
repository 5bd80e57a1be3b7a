"""Shift coverage by area: for each part of a committee's area, as people name it, who is
on duty now (a dispatcher, a verifier, responders) and when in the next days nobody is.

A committee's area cells are grouped by the nearest of its named places (neighbourhoods
first, then spots; ``group_cells``); cells no name reaches form "the rest of the area".
A dispatcher works from the desk, so a dispatcher's shift covers every area; a verifier's
or a responder's covers the areas their own alert areas touch (a member with no area
covers none: a gap shown is safer than a cover that is not there).

``assess`` and ``gaps`` are pure functions of their inputs; ``coverage_by_area`` reads
them from the database (the organizing dashboard calls it for "shift coverage by area").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tocsin import geo
from tocsin.committees.models import AREA_DUTIES, Committee, Duty, Shift
from tocsin.geo.describe import Named, metres
from tocsin.members.models import AlertArea
from tocsin.places.naming import Gazetteer

HORIZON = timedelta(days=7)
# A place farther than this from a cell does not name it.
NAME_LIMIT_M = 2500

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Cover:
    """One held shift, as coverage needs it: ``cells`` None covers every area."""

    duty: str
    starts_at: datetime
    ends_at: datetime
    cells: frozenset[int] | None


@dataclass
class AreaCoverage:
    """One part of the committee's area: its place (None: the rest of the area), its
    cells, how many of each duty are on now, and the gaps per duty until the horizon."""

    place: Named | None
    cells: list[int]
    now: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, list[Span]] = field(default_factory=dict)
    horizon: timedelta = HORIZON

    @property
    def covered_now(self) -> bool:
        return all(self.now.get(d, 0) > 0 for d in AREA_DUTIES)

    @property
    def missing_now(self) -> list[str]:
        """Return the duties nobody holds now in this area."""
        return [d for d in AREA_DUTIES if not self.now.get(d, 0)]

    def name(self, language: str | None = None) -> str:
        return self.place.said(language) if self.place else ""

    def covered_hours(self, duty: str) -> float:
        """Return the hours until the horizon with someone on ``duty`` here."""
        return _hours(self.horizon - _length(self.gaps[duty]))

    def fully_covered_hours(self) -> float:
        """Return the hours until the horizon with every duty held here: those in no
        duty's gap."""
        spans = [span for d in AREA_DUTIES for span in self.gaps[d]]
        if not spans:
            return _hours(self.horizon)
        start = min(s for s, _e in spans)
        missing = _length(gaps(spans, start, max(e for _s, e in spans)))
        return _hours(self.horizon - (max(e for _s, e in spans) - start - missing))


def _length(spans: Iterable[Span]) -> timedelta:
    return sum((e - s for s, e in spans), timedelta())


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def gaps(spans: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    """Return the parts of [start, end) that no span covers, in order."""
    found: list[Span] = []
    cursor = start
    for s, e in sorted(spans):
        if e <= cursor:
            continue
        if s > cursor:
            found.append((cursor, min(s, end)))
        cursor = max(cursor, e)
        if cursor >= end:
            break
    if cursor < end:
        found.append((cursor, end))
    return [(s, e) for s, e in found if s < e]


def group_cells(cells: Iterable[int], places: list[Named]) -> list[tuple[Named | None, list[int]]]:
    """Return the cells grouped by the nearest named place (areas before spots), named
    groups in name order, then the cells no place names."""
    areas = [n for n in places if n.area] or list(places)
    groups: dict[Named | None, list[int]] = {}
    for cell in sorted(cells):
        point = geo.center(cell)
        best, best_m = None, float(NAME_LIMIT_M)
        for n in areas:
            d = metres(point, (n.lat, n.lng))
            if d <= best_m:
                best, best_m = n, d
        groups.setdefault(best, []).append(cell)
    named = sorted((p for p in groups if p is not None), key=lambda p: p.name.lower())
    order: list[Named | None] = [*named, *([None] if None in groups else [])]
    return [(p, groups[p]) for p in order]


def assess(
    areas: list[tuple[Named | None, list[int]]],
    covers: list[Cover],
    at: datetime,
    horizon: timedelta = HORIZON,
) -> list[AreaCoverage]:
    """Return, for each area, who is on duty at ``at`` and the gaps until ``at + horizon``."""
    result = []
    for place, cells in areas:
        cellset = set(cells)
        area = AreaCoverage(place=place, cells=cells, horizon=horizon)
        for duty in AREA_DUTIES:
            mine = [c for c in covers if c.duty == duty and (c.cells is None or c.cells & cellset)]
            area.now[duty] = sum(1 for c in mine if c.starts_at <= at < c.ends_at)
            area.gaps[duty] = gaps(((c.starts_at, c.ends_at) for c in mine), at, at + horizon)
        result.append(area)
    return result


def _member_cells(member_ids: set[int]) -> dict[int, frozenset[int]]:
    """Return the area cells (at the committees' resolution) each member's areas touch."""
    cells: dict[int, set[int]] = {m: set() for m in member_ids}
    for member_id, cell, ring in AlertArea.objects.filter(member_id__in=member_ids).values_list(
        "member_id", "cell", "ring"
    ):
        cells[member_id] |= geo.disk(cell, ring)
    return {m: frozenset(c) for m, c in cells.items()}


def _to_resolution(cells: Iterable[int], resolution: int) -> frozenset[int]:
    out = set()
    for c in cells:
        r = geo.resolution(c)
        out.add(geo.parent(c, resolution) if r > resolution else c)
    return frozenset(out)


def coverage_by_area(
    committee: Committee, at: datetime, *, horizon: timedelta = HORIZON
) -> list[AreaCoverage]:
    """Return ``committee``'s coverage by area at ``at`` and its gaps until the horizon."""
    area_cells = committee.cells()
    areas = group_cells(area_cells, Gazetteer([committee.pk]).named())
    shifts = list(
        Shift.objects.filter(
            committee=committee, member__isnull=False, ends_at__gt=at, starts_at__lt=at + horizon
        ).values_list("duty", "starts_at", "ends_at", "member_id")
    )
    resolution = geo.resolution(next(iter(area_cells))) if area_cells else 0
    touched = {
        m: _to_resolution(cells, resolution)
        for m, cells in _member_cells({s[3] for s in shifts if s[0] != Duty.DISPATCHER}).items()
    }
    covers = [
        Cover(
            duty=duty,
            starts_at=starts,
            ends_at=ends,
            cells=None if duty == Duty.DISPATCHER else touched.get(member_id, frozenset()),
        )
        for duty, starts, ends, member_id in shifts
    ]
    return assess(areas, covers, at, horizon)
