"""How precisely, and how soon, each audience sees an incident: one pure function.

DESIGN.md section 3: verifiers and responders see the exact place at once; members see the
block once it is confirmed; the public sees a coarse cell, only confirmed or resolved
incidents, only after a delay, with the time rounded. Every public output (the map, the
list, the feeds, the API, federation) asks ``expose`` and shows nothing it did not return,
so none can be finer or earlier than this says.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings

from tocsin import geo
from tocsin.lib.incident_states import State


class Audience(StrEnum):
    RESPONDER = "responder"
    MEMBER = "member"
    PUBLIC = "public"


# What each audience may see of an incident at all.
SHOWN = {
    Audience.RESPONDER: frozenset(
        {State.REPORTED, State.VERIFYING, State.CONFIRMED, State.RESOLVED, State.UNFOUNDED}
    ),
    Audience.MEMBER: frozenset({State.CONFIRMED, State.RESOLVED, State.UNFOUNDED}),
    # A false alarm, an expired or merged incident never reaches the public.
    Audience.PUBLIC: frozenset({State.CONFIRMED, State.RESOLVED}),
}


@dataclass(frozen=True)
class Rules:
    """The operator's choices for the public (TOCSIN_PUBLIC_RESOLUTION, TOCSIN_PUBLIC_DELAY_
    MINUTES, TOCSIN_PUBLIC_TIME_STEP_MINUTES); members and responders do not vary."""

    public_resolution: int = geo.PUBLIC_RESOLUTION
    public_delay: dt.timedelta = dt.timedelta(minutes=30)
    public_time_step: dt.timedelta = dt.timedelta(minutes=15)

    def __post_init__(self) -> None:
        if not 0 <= self.public_resolution <= geo.BLOCK_RESOLUTION:
            raise ValueError("the public resolution cannot be finer than a member's block")
        if self.public_delay < dt.timedelta(0):
            raise ValueError("the public delay cannot be negative")
        if self.public_time_step <= dt.timedelta(0):
            raise ValueError("the public time step must be positive")


@dataclass(frozen=True)
class Exposed:
    """What an audience may see: a cell (at ``resolution``) and a time, no finer."""

    cell: int
    resolution: int
    at: dt.datetime
    state: str


# Public times are whole steps from this moment (for steps that divide a day: from midnight).
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _floor(moment: dt.datetime, step: dt.timedelta) -> dt.datetime:
    return moment - ((moment - EPOCH) % step)


def expose(
    audience: Audience,
    *,
    cell: int,
    state: str,
    opened_at: dt.datetime,
    confirmed_at: dt.datetime | None,
    now: dt.datetime,
    rules: Rules = Rules(),
) -> Exposed | None:
    """Return what ``audience`` may see of an incident now, or None when nothing yet.

    ``cell`` is where the incident is (any resolution: it is never made finer); the time
    shown is when it was opened for responders, when it was confirmed for everyone else.
    """
    if state not in SHOWN[audience]:
        return None
    finest = geo.resolution(cell)
    if audience is Audience.RESPONDER:
        return Exposed(cell, finest, opened_at, state)
    if confirmed_at is None:
        return None  # members and the public hear of confirmed incidents only
    if audience is Audience.MEMBER:
        resolution = min(finest, geo.BLOCK_RESOLUTION)
        at = confirmed_at.replace(second=0, microsecond=0)
        return Exposed(geo.parent(cell, resolution), resolution, at, state)
    if now < confirmed_at + rules.public_delay:
        return None
    resolution = min(finest, rules.public_resolution)
    return Exposed(
        geo.parent(cell, resolution),
        resolution,
        _floor(confirmed_at, rules.public_time_step),
        state,
    )


def rules() -> Rules:
    """Return the operator's rules for the public, from the settings."""
    return Rules(
        public_resolution=settings.PUBLIC_RESOLUTION,
        public_delay=dt.timedelta(minutes=settings.PUBLIC_DELAY_MINUTES),
        public_time_step=dt.timedelta(minutes=settings.PUBLIC_TIME_STEP_MINUTES),
    )


def public_cutoff(now: dt.datetime, rules: Rules = Rules()) -> dt.datetime:
    """Return the latest confirmation time the public may see now (for a query's filter)."""
    return now - rules.public_delay
