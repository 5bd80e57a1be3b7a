"""Which incident a new report belongs to: a pure rule, whatever the report's channel.

A report joins an open incident when they are close in space (their H3 cells at
resolution CLUSTER_RESOLUTION, about 170 m across, are at most ``ring`` steps apart),
close in time (the report came at most ``window`` after the incident's newest report,
and not long before its first), and describe compatible things (``COMPATIBLE``: a
checkpoint and agents seen may be one operation; a checkpoint and a home arrest are
kept apart). Among several fitting incidents it joins the nearest, then the most
recently active. Dispatchers can merge and split when the rule guesses wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin import geo
from tocsin.intake.models import ReportKind

CLUSTER_RESOLUTION = 9

_K = ReportKind
# Kinds that may describe one operation seen by different people.
COMPATIBLE: dict[str, frozenset[str]] = {
    _K.CHECKPOINT: frozenset({_K.CHECKPOINT, _K.AGENTS_SEEN, _K.DETENTION}),
    _K.WORKPLACE_RAID: frozenset({_K.WORKPLACE_RAID, _K.AGENTS_SEEN, _K.DETENTION}),
    _K.HOME_ARREST: frozenset({_K.HOME_ARREST, _K.AGENTS_SEEN, _K.DETENTION}),
    _K.AGENTS_SEEN: frozenset(
        {_K.AGENTS_SEEN, _K.CHECKPOINT, _K.WORKPLACE_RAID, _K.HOME_ARREST, _K.DETENTION}
    ),
    _K.DETENTION: frozenset(
        {_K.DETENTION, _K.CHECKPOINT, _K.WORKPLACE_RAID, _K.HOME_ARREST, _K.AGENTS_SEEN}
    ),
}


@dataclass(frozen=True)
class Rule:
    ring: int = 2
    window: timedelta = timedelta(minutes=90)
    # A report may describe what started a little before the incident's first report.
    lead: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Seen:
    """What the rule knows of a report or an incident."""

    id: int
    cell: int  # at any resolution >= CLUSTER_RESOLUTION
    kind: str
    first: datetime
    last: datetime


def compatible(a: str, b: str) -> bool:
    return b in COMPATIBLE.get(a, frozenset({a})) or a in COMPATIBLE.get(b, frozenset({b}))


def steps(a: int, b: int) -> int | None:
    """Grid steps between two cells at the cluster resolution (None: not comparable)."""
    return geo.distance(_coarse(a), _coarse(b))


def _coarse(cell: int) -> int:
    if geo.resolution(cell) > CLUSTER_RESOLUTION:
        return geo.parent(cell, CLUSTER_RESOLUTION)
    return cell


DEFAULT = Rule()


def fits(report: Seen, incident: Seen, rule: Rule = DEFAULT) -> bool:
    """True if ``report`` describes the same operation as ``incident``."""
    if not compatible(report.kind, incident.kind):
        return False
    if report.first > incident.last + rule.window or report.first < incident.first - rule.lead:
        return False
    d = steps(report.cell, incident.cell)
    return d is not None and d <= rule.ring


def choose(report: Seen, incidents: Iterable[Seen], rule: Rule = DEFAULT) -> int | None:
    """Return the id of the incident ``report`` joins, or None for a new one."""
    best: tuple[int, float, int] | None = None
    for incident in incidents:
        if not fits(report, incident, rule):
            continue
        d = steps(report.cell, incident.cell)
        assert d is not None
        key = (d, -incident.last.timestamp(), incident.id)
        if best is None or key < best:
            best = key
    return best[2] if best is not None else None
