"""Counts on public pages: ``{{ n|publish_count }}`` hides those below
TOCSIN_PUBLIC_MIN_COUNT (tocsin.lib.counts)."""

from __future__ import annotations

from django import template

from tocsin.lib.counts import PublicCount
from tocsin.lib.counts import publish_count as _publish_count

register = template.Library()


@register.filter
def publish_count(n: int) -> PublicCount:
    """Return ``n`` as the public may read it (``.hidden``, ``.n``, ``.threshold``)."""
    return _publish_count(n)
