"""How a shift reads on the committee page and a verifier's page: "Wed 15 Jan, 09:00 –
13:00", and the end's day too when it is another day ("… – Thu 16 Jan, 09:00"), so a
24-hour or month-long shift never reads "09:00–09:00". Local time (TOCSIN_TIME_ZONE)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import dateformat, timezone

register = template.Library()

DAY_AND_TIME = "D j M, H:i"
TIME = "H:i"


@register.filter
def shift_end(ends_at: datetime, starts_at: datetime) -> str:
    """Return the end of a shift: its time if it ends the day it starts, else its day
    and time."""
    end, start = timezone.localtime(ends_at), timezone.localtime(starts_at)
    return dateformat.format(end, TIME if end.date() == start.date() else DAY_AND_TIME)


@register.filter
def shift_span(starts_at: datetime, ends_at: datetime) -> str:
    """Return "start day and time – end" (see shift_end)."""
    start = dateformat.format(timezone.localtime(starts_at), DAY_AND_TIME)
    return f"{start} – {shift_end(ends_at, starts_at)}"
