"""What the committee page shows about committee channels (templates/committees/_channels.html)."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def committee_channels_on() -> bool:
    """Whether this server posts to committee channels at all (TOCSIN_APPRISE_ENABLED)."""
    return bool(settings.APPRISE_ENABLED)
