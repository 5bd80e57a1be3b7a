"""The next public mobilizations, for pages outside this app (the home page)."""

from __future__ import annotations

from django import template

from tocsin.mobilize.planned import Mobilization

register = template.Library()


@register.simple_tag
def upcoming_mobilizations(limit: int = 5) -> list[Mobilization]:
    """Return the next ``limit`` public mobilizations of active committees."""
    upcoming = Mobilization.objects.listed().upcoming().select_related("committee", "place")
    return list(upcoming[:limit])
