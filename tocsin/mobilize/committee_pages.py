"""Committees in the open: find the committee near you by ZIP code, each listed committee's
public page (its coarse area, its upcoming public mobilizations, "ask to join"), and
asking to start a committee where there is none.

Only committees the operator approved and their organizers listed are shown. Who asked
to join is never shown to anyone but the committee's organizers; the page answers the
same whether an address asked before or not.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from tocsin.committees import joining, listing
from tocsin.committees.models import Committee
from tocsin.geo import zips
from tocsin.lib import phones, ratelimit, untrusted
from tocsin.mobilize.planned import Mobilization
from tocsin.transports import registry as transports

CHANNELS = [("email", _("Email")), ("sms", _("Text message (SMS)"))]


class ContactForm(forms.Form):
    """A name and one channel, for someone without an account."""

    display_name = untrusted.NameField(label=_("Your name"), max_length=60)
    channel = forms.ChoiceField(label=_("Reach me by"), choices=CHANNELS, initial="email")
    address = forms.CharField(
        label=_("Email address or mobile number"),
        max_length=200,
        help_text=_("Sealed: only used to send you the link. Nobody can read it on the site."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        channel = self.fields["channel"]
        assert isinstance(channel, forms.ChoiceField)
        # Only the channels this server sends on (SMS is off until configured).
        channel.choices = [c for c in CHANNELS if c[0] in transports.registry()]
        if "sms" not in transports.registry():
            # Nothing asks for a number the form would then refuse.
            self.fields["address"].label = _("Email address")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        address = (data.get("address") or "").strip()
        if not address:
            return data
        if data.get("channel") == "sms":
            number = phones.e164(address)
            if number is None:
                self.add_error("address", _("Enter a mobile number, like (213) 555-0142."))
            else:
                data["address"] = number
        else:
            try:
                validate_email(address)
            except forms.ValidationError:
                self.add_error("address", _("Enter an email address."))
        return data


class StartForm(ContactForm):
    name = forms.CharField(label=_("Name of the committee"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=Committee.Kind.choices)
    zip_code = forms.CharField(
        label=_("ZIP code of its area"),
        max_length=10,
        help_text=_("The committee's area starts around this ZIP code; you can redraw it."),
    )
    field_order = ["name", "kind", "zip_code", "display_name", "channel", "address"]

    def clean_zip_code(self) -> zips.Zip:
        found = zips.find(self.cleaned_data["zip_code"])
        if found is None:
            raise forms.ValidationError(_("Enter a US ZIP code, like 90033."))
        return found


def _language() -> str:
    return (get_language() or settings.LANGUAGE_CODE)[:2]


def _flooded(request: HttpRequest) -> bool:
    """Count a request from the request's network; return whether the network is past
    TOCSIN_RSVP_PER_10MIN (the same share as sign-ups: counted per network, never per
    address)."""
    source = ratelimit.source_of(request)
    return source is not None and ratelimit.count("join", source) > settings.RSVP_PER_10MIN


@require_GET
def find(request: HttpRequest) -> HttpResponse:
    typed = request.GET.get("zip", "").strip()
    place = zips.find(typed) if typed else None
    context: dict[str, Any] = {"typed": typed, "place": place, "map_center": settings.MAP_CENTER}
    if place is not None:
        context["near"] = listing.near(place)
    elif typed:
        context["unknown"] = True
    else:
        context["listed"] = Committee.objects.public().order_by("name")[:200]
    return render(request, "mobilize/committees_find.html", context)


@require_GET
def areas(request: HttpRequest) -> JsonResponse:
    """Return the listed committees' coarse areas for the find page's map."""
    found = listing.areas_geojson(lambda c: reverse("committee_public", args=[c.slug]))
    return JsonResponse(found, json_dumps_params={"separators": (",", ":")})


@require_http_methods(["GET", "POST"])
def page(request: HttpRequest, slug: str) -> HttpResponse:
    committee = get_object_or_404(Committee.objects.public(), slug=slug)
    form = ContactForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if _flooded(request):
            return render(
                request, "mobilize/committee_busy.html", {"committee": committee}, status=429
            )
        data = form.cleaned_data
        joining.ask(
            committee,
            display_name=data["display_name"],
            kind=data["channel"],
            address=data["address"],
            language=_language(),
        )
        return render(
            request,
            "mobilize/committee_asked.html",
            {"committee": committee, "kind": data["channel"]},
        )
    upcoming = (
        Mobilization.objects.listed().upcoming().filter(committee=committee).select_related("place")
    )
    return render(
        request,
        "mobilize/committee_page.html",
        {
            "committee": committee,
            "towns": listing.area_towns(committee),
            "mobilizations": list(upcoming[:20]),
            "form": form,
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    form = StartForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if _flooded(request):
            return render(request, "mobilize/committee_busy.html", {}, status=429)
        data = form.cleaned_data
        joining.ask_to_start(
            name=data["name"],
            kind=data["kind"],
            place=data["zip_code"],
            display_name=data["display_name"],
            channel=data["channel"],
            address=data["address"],
            language=_language(),
        )
        return render(request, "mobilize/committee_start_asked.html", {"kind": data["channel"]})
    return render(
        request,
        "mobilize/committee_start.html",
        {"form": form},
        status=400 if form.errors else 200,
    )
