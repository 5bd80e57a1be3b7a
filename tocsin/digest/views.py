"""The digest's public pages: sign up with an email address, confirm, unsubscribe.

Confirming and unsubscribing are a button on the page the link opens, never the GET
itself, so a mail scanner that opens links changes nothing.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from tocsin.digest import service
from tocsin.digest.models import Subscription
from tocsin.lib import languages, ratelimit


class SubscribeForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=200,
        help_text=_("Sealed: nobody at the committees sees it. Used only for this email."),
    )


def _flooded(request: HttpRequest) -> bool:
    """Count a sign-up from the request's network; return whether it is past
    TOCSIN_DIGEST_PER_10MIN (counted per network, never per address)."""
    source = ratelimit.source_of(request)
    return source is not None and ratelimit.count("digest", source) > settings.DIGEST_PER_10MIN


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    form = SubscribeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _flooded(request):
            context = {"form": form, "flooded": True}
            return render(request, "digest/subscribe.html", context, status=429)
        language = (get_language() or settings.LANGUAGE_CODE)[:2]
        service.subscribe(form.cleaned_data["email"], language=language)
        return render(request, "digest/sent.html")
    return render(request, "digest/subscribe.html", {"form": form})


def _own(token: str) -> Subscription:
    subscription = service.for_link(token)
    if subscription is None:
        raise Http404
    return subscription


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    subscription = _own(token)
    languages.activate_for_link(request, subscription.language)
    if request.method == "POST":
        service.confirm(subscription)
        subscription.refresh_from_db()
    return render(
        request,
        "digest/confirm.html",
        {"subscription": subscription, "unsubscribe": service.link_token(subscription)},
    )


@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    subscription = _own(token)
    languages.activate_for_link(request, subscription.language)
    if request.method == "POST":
        service.unsubscribe(subscription)
        return render(request, "digest/unsubscribe.html", {"done": True})
    return render(request, "digest/unsubscribe.html", {"done": False})
