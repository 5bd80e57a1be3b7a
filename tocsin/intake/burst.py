"""Burst detection for web reports: many new sources in one area at once look like a flood.

A source (tocsin.lib.ratelimit) is *new* while its first web report of the UTC day is
less than settings.BURST_NEW_SOURCE_MINUTES old: a flood's sources stay new for all of a
flood, not just for their first report (sources change every day, so at midnight every
source is new again; a burst is about minutes, so that costs little). When more than
settings.BURST_NEW_SOURCES reports from new sources reach one committee-area cell within
settings.BURST_MINUTES, the ones past the threshold are marked suspicious: the desk shows
them in a separate lane, where a dispatcher can still open or dismiss them. Everything
lives in the cache and expires.

The lane groups them: the suspicious reports of one network near one place (those past the
network's share, tocsin.lib.ratelimit, or part of a burst) carry one random group id,
so the desk reads "12 reports from one network near …" and releases or dismisses them in
one tap. The network stays in the cache, under its keyed hash, for as long as the group
keeps growing; the reports carry only the random id, which names no network.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time

from django.conf import settings
from django.core.cache import cache

from tocsin import geo

# A group stays open this long after its newest report: a pause longer than this, or a new
# UTC day (sources change), starts a new group.
GROUP_SECONDS = 30 * 60


def _seconds_to_midnight(now: float) -> int:
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    midnight = dt.datetime.combine(moment.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    return max(1, int((midnight - moment).total_seconds()) + 1)


def is_new(source: str, *, now: float) -> bool:
    """Return whether ``source`` first reported today less than BURST_NEW_SOURCE_MINUTES
    ago (remembering now as its first report if it had none)."""
    key = f"tocsin:burst:seen:{source}"
    cache.add(key, now, timeout=_seconds_to_midnight(now))
    first = cache.get(key, now)
    try:
        age = now - float(first)
    except (TypeError, ValueError):
        return True
    return age < settings.BURST_NEW_SOURCE_MINUTES * 60


def area_of(lat: float, lng: float) -> int:
    return geo.parent(geo.cell_at(lat, lng, geo.REPORT_RESOLUTION), settings.AREA_RESOLUTION)


def suspicious(source: str | None, lat: float, lng: float, *, now: float | None = None) -> bool:
    """Return whether a web report from ``source`` at (lat, lng) is part of a burst."""
    if source is None:
        return False
    now = time.time() if now is None else now
    if not is_new(source, now=now):
        return False
    window = settings.BURST_MINUTES * 60
    bucket = int(now // window)
    area = area_of(lat, lng)
    key = f"tocsin:burst:new:{area}:{bucket}"
    cache.add(key, 0, timeout=window * 2)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=window * 2)
        count = 1
    # This window and the one before, so a burst across a window's edge still counts.
    count += int(cache.get(f"tocsin:burst:new:{area}:{bucket - 1}", 0))
    return bool(count > settings.BURST_NEW_SOURCES)


def group(source: str | None, lat: float, lng: float) -> str:
    """Return the random id of the group of ``source``'s suspicious reports near
    (lat, lng), the same while its reports keep coming ("" for no source)."""
    if source is None:
        return ""
    key = f"tocsin:burst:group:{source}:{area_of(lat, lng)}"
    cache.add(key, secrets.token_hex(8), timeout=GROUP_SECONDS)
    value = cache.get(key)
    if value is None:  # expired between add and get
        value = secrets.token_hex(8)
        cache.set(key, value, timeout=GROUP_SECONDS)
    else:
        cache.touch(key, GROUP_SECONDS)
    return str(value)
