"""Calendar links on public pages: ``{% subscribe_url path %}`` (webcal://) and
``{% add_links m as links %}`` (Google Calendar, Outlook: plain links, nothing loaded
from them)."""

from __future__ import annotations

from django import template
from django.utils.translation import get_language

from tocsin.mobilize import calendar
from tocsin.mobilize.planned import Mobilization

register = template.Library()


@register.simple_tag
def subscribe_url(path: str) -> str:
    return calendar.subscribe_url(path)


@register.simple_tag
def add_links(m: Mobilization) -> dict[str, str]:
    return calendar.add_links(m, language=(get_language() or "en")[:2])
