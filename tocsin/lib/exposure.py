"""How precisely, and how soon, each audience sees an incident: one pure function.

DESIGN.md section 3: verifiers and responders see the exact place at once; members see the
block once it is confirmed; the public sees a coarse cell, only confirmed or resolved
incidents, only after a delay, with the time rounded and the kind coarsened to a public
kind. Every public output (the map, the list, the feeds, the API, federation, the Telegram
channel, the digest) asks ``expose`` and shows nothing it did not return, so none can be
finer or earlier than this says; a member's block (``block_point``, the alerts' and the
member pages' place) is ``coarsen``'s too, the one place that says how fine each audience
sees.

The public learns of a change no sooner than the rounded time of the change plus the
delay: a confirmation shows once ``ceil(confirmed_at) + delay`` has passed, a resolution
once ``ceil(closed_at) + delay`` has (until then the public still sees it confirmed), so
watching the map tells the step a change fell in, never its minute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

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


class PublicKind(models.TextChoices):
    """What the public is told an incident was: a coarse grouping of report kinds.

    An arrest at a home, a workplace raid and a detention are all "enforcement
    activity": the exact kind would say more than the public needs (that a home was
    raided, inside the public cell: a handful of houses in a small town)."""

    CHECKPOINT = "checkpoint", _("Checkpoint")
    ENFORCEMENT = "enforcement", _("Enforcement activity")
    AGENTS_SEEN = "agents_seen", _("Agents or vehicles seen")


# Report kinds (tocsin.intake.models.ReportKind values) to the public kind; a kind not
# listed (a new one, a partner's) is ENFORCEMENT, the one that says least.
PUBLIC_KINDS = {
    "checkpoint": PublicKind.CHECKPOINT,
    "workplace_raid": PublicKind.ENFORCEMENT,
    "home_arrest": PublicKind.ENFORCEMENT,
    "detention": PublicKind.ENFORCEMENT,
    "agents_seen": PublicKind.AGENTS_SEEN,
}


def public_kind(kind: str) -> str:
    """Return the public kind of a report kind (a public kind stays itself)."""
    if kind in PublicKind.values:
        return kind
    return str(PUBLIC_KINDS.get(kind, PublicKind.ENFORCEMENT))


def public_kind_label(kind: str) -> str:
    """Return the public kind of a report kind (or a public kind), in the active language."""
    return str(PublicKind(public_kind(kind)).label)


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
    """What an audience may see: a cell (at ``resolution``), a time, a state and a kind,
    no finer (for the public, ``kind`` is a PublicKind value)."""

    cell: int
    resolution: int
    at: dt.datetime
    state: str
    kind: str = ""


# Public times are whole steps from this moment (for steps that divide a day: from midnight).
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _floor(moment: dt.datetime, step: dt.timedelta) -> dt.datetime:
    return moment - ((moment - EPOCH) % step)


def _ceil(moment: dt.datetime, step: dt.timedelta) -> dt.datetime:
    return moment + ((EPOCH - moment) % step)


def public_from(moment: dt.datetime, rules: Rules = Rules()) -> dt.datetime:
    """Return when the public may learn of a change made at ``moment``: the end of its
    time step, plus the delay."""
    return _ceil(moment, rules.public_time_step) + rules.public_delay


def coarsen(audience: Audience, cell: int, rules: Rules = Rules()) -> tuple[int, int]:
    """Return the cell ``audience`` may see of ``cell``, and its resolution: the cell
    itself for responders, its block for members, the public cell for the public (never
    finer than ``cell``)."""
    finest = geo.resolution(cell)
    if audience is Audience.RESPONDER:
        return cell, finest
    limit = geo.BLOCK_RESOLUTION if audience is Audience.MEMBER else rules.public_resolution
    resolution = min(finest, limit)
    return geo.parent(cell, resolution), resolution


def block_point(cell: int) -> tuple[float, float]:
    """Return the centre of the block a member may see of ``cell``, rounded for display
    (where members' alerts and pages describe a place from)."""
    block, _resolution = coarsen(Audience.MEMBER, cell)
    lat, lng = geo.center(block)
    return round(lat, 4), round(lng, 4)


def expose(
    audience: Audience,
    *,
    cell: int,
    state: str,
    opened_at: dt.datetime,
    confirmed_at: dt.datetime | None,
    now: dt.datetime,
    rules: Rules = Rules(),
    kind: str = "",
    closed_at: dt.datetime | None = None,
) -> Exposed | None:
    """Return what ``audience`` may see of an incident now, or None when nothing yet.

    ``cell`` is where the incident is (any resolution: it is never made finer); the time
    shown is when it was opened for responders, when it was confirmed for everyone else.
    ``kind`` is the report kind: the public is told its public kind. ``closed_at`` is
    when it was resolved: the public sees it resolved only from ``public_from(closed_at)``
    on (confirmed until then).
    """
    if state not in SHOWN[audience]:
        return None
    shown_cell, resolution = coarsen(audience, cell, rules)
    if audience is Audience.RESPONDER:
        return Exposed(shown_cell, resolution, opened_at, state, kind)
    if confirmed_at is None:
        return None  # members and the public hear of confirmed incidents only
    if audience is Audience.MEMBER:
        at = confirmed_at.replace(second=0, microsecond=0)
        return Exposed(shown_cell, resolution, at, state, kind)
    if now < public_from(confirmed_at, rules):
        return None
    if state == State.RESOLVED and closed_at is not None and now < public_from(closed_at, rules):
        state = State.CONFIRMED  # its end, like its start, reaches the public late
    return Exposed(
        shown_cell,
        resolution,
        _floor(confirmed_at, rules.public_time_step),
        state,
        public_kind(kind),
    )


def rules() -> Rules:
    """Return the operator's rules for the public, from the settings."""
    return Rules(
        public_resolution=settings.PUBLIC_RESOLUTION,
        public_delay=dt.timedelta(minutes=settings.PUBLIC_DELAY_MINUTES),
        public_time_step=dt.timedelta(minutes=settings.PUBLIC_TIME_STEP_MINUTES),
    )


def public_cutoff(now: dt.datetime, rules: Rules = Rules()) -> dt.datetime:
    """Return the latest confirmation time the public may see now (for a query's filter:
    ``expose`` then holds back those whose time step has not ended ``delay`` ago)."""
    return now - rules.public_delay
