"""The language of a page opened from a signed link (an alert, a request to verify, an
unsubscribe link), where no login says who is reading."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation


def chosen(request: HttpRequest) -> str | None:
    """Return the language picked with the language switch in this browser, if any."""
    language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    return language if language in dict(settings.LANGUAGES) else None


def activate_for_link(request: HttpRequest, stored: str) -> str:
    """Activate and return the language of a signed page: the choice made in this
    browser with the language switch wins (a phone handed to a neighbour, a member who
    reads the other language better), else the language stored for the person the link
    is for, the one their messages come in."""
    language = chosen(request) or stored
    translation.activate(language)
    request.LANGUAGE_CODE = language
    return language


def requested(request: HttpRequest) -> str:
    """Return the language a public feed or the API answers in: ``?lang=`` when it names
    one of ours, else the one Django picked (language switch, Accept-Language)."""
    asked = request.GET.get("lang", "")
    if asked in dict(settings.LANGUAGES):
        return asked
    active = translation.get_language() or settings.LANGUAGE_CODE
    return active if active in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
