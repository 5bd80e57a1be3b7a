from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from tocsin.members.security import EPOCH_KEY, LOGIN_AT_KEY


class MemberLanguageMiddleware:
    """Show a logged-in member pages in the language they chose."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        member = getattr(request.user, "member", None) if request.user.is_authenticated else None
        if member is not None:
            translation.activate(member.language)
            request.LANGUAGE_CODE = member.language
        return self.get_response(request)


class SessionGuardMiddleware:
    """End sessions that are too old or that "log out everywhere" or a revocation ended."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            member = getattr(request.user, "member", None)
            # A session made outside the login views (an admin's shell, a test) is
            # stamped when first seen; one from before an epoch bump is ended.
            login_at = request.session.setdefault(LOGIN_AT_KEY, int(time.time()))
            too_old = time.time() - login_at > settings.SESSION_ABSOLUTE_DAYS * 86400
            ended = member is None or request.session.get(EPOCH_KEY, 0) != member.session_epoch
            if too_old or ended:
                logout(request)
        return self.get_response(request)
