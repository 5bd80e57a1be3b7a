"""When an incident counts as verified, and when an unverified one expires: pure rules.

A committee's rules (tocsin.committees.models.VerificationRules) say:

- a trusted verifier's "Confirmed" confirms (``verifier_confirms``);
- ``quorum`` reports from distinct trusted members, within ``quorum_meters`` and
  ``quorum_minutes`` of the first of them, confirm;
- anonymous reports, and a second report from the same source, never count;
- an incident nobody verified expires ``expire_minutes`` after its last activity.

Everything here is a function of plain values; tocsin.incidents.verify reads the database
and acts on the decision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Rules:
    trusted_score: int = 60
    verifier_confirms: bool = True
    quorum: int = 3
    quorum_meters: int = 500
    quorum_minutes: int = 30
    expire_minutes: int = 120


DEFAULT = Rules()


@dataclass(frozen=True)
class Sighting:
    """A report as the rules see it: when, where (the cell centre), from which source
    (None: anonymous) and whether that source is trusted by the committee."""

    at: datetime
    lat: float
    lng: float
    source: str | None
    trusted: bool


@dataclass(frozen=True)
class VerifierAnswer:
    answer: str  # tocsin.incidents.models.Answer
    trusted: bool


@dataclass(frozen=True)
class Decision:
    """Confirm, and why: ``reason`` is "verifier" or "quorum"; ``sources`` is how many
    distinct trusted members made the quorum."""

    reason: str
    sources: int = 0


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the great-circle distance between two (lat, lng) points in metres."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(h)))


def quorum_size(sightings: Iterable[Sighting], rules: Rules) -> int:
    """Return the most distinct trusted sources whose reports fall within the quorum's
    reach (``quorum_meters``) and time (``quorum_minutes`` after the earliest of them),
    anchored at any one of their reports."""
    counted = sorted(
        (s for s in sightings if s.trusted and s.source), key=lambda s: (s.at, s.source)
    )
    window = timedelta(minutes=rules.quorum_minutes)
    best = 0
    for anchor in counted:
        sources = {
            s.source
            for s in counted
            if anchor.at <= s.at <= anchor.at + window
            and metres((anchor.lat, anchor.lng), (s.lat, s.lng)) <= rules.quorum_meters
        }
        best = max(best, len(sources))
    return best


def decide(
    sightings: Sequence[Sighting], answers: Sequence[VerifierAnswer], rules: Rules
) -> Decision | None:
    """Return the decision to confirm, or None when the rules do not (yet) confirm."""
    if rules.verifier_confirms and any(a.trusted and a.answer == "confirmed" for a in answers):
        return Decision("verifier")
    if rules.quorum > 0:
        size = quorum_size(sightings, rules)
        if size >= rules.quorum:
            return Decision("quorum", sources=size)
    return None


def expires_at(last_activity: datetime, rules: Iterable[Rules]) -> datetime | None:
    """Return when an unverified incident expires under every committee's rules that
    cover it (the latest of them), or None if any committee never lets one expire."""
    minutes = []
    for r in rules:
        if r.expire_minutes <= 0:
            return None
        minutes.append(r.expire_minutes)
    if not minutes:
        return None
    return last_activity + timedelta(minutes=max(minutes))
