"""Forms of the desk: a verifier's answer, a hotline call, a reply to a reporter."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tocsin import geo
from tocsin.incidents.models import Agency, Answer
from tocsin.intake.forms import PhotoInput, PhotosField, scrub_uploads
from tocsin.intake.models import Report, ReportKind
from tocsin.intake.photos import Scrubbed
from tocsin.members.forms import clean_phone
from tocsin.transports import registry as transports


class VerifierAnswerForm(forms.Form):
    answer = forms.ChoiceField(choices=Answer.choices, widget=forms.RadioSelect)
    agency = forms.ChoiceField(
        label=_("Which agency?"), choices=[("", "—"), *Agency.choices], required=False
    )
    vehicles = forms.CharField(
        label=_("Vehicles (kind, colour, how many; no plates of private cars)"),
        max_length=200,
        required=False,
    )
    agents = forms.IntegerField(
        label=_("How many agents?"), min_value=0, max_value=999, required=False
    )
    details = forms.CharField(
        label=_("What is happening?"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 500}),
        help_text=_("No names, badge numbers or faces of anyone, officers included."),
    )
    photos = PhotosField(
        label=_("A photo, only if it is safe"),
        required=False,
        widget=PhotoInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    def __init__(self, *args: Any, body_bytes: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body_bytes = body_bytes

    def clean_photos(self) -> list[Scrubbed]:
        return scrub_uploads(self.cleaned_data.get("photos") or [], body_bytes=self.body_bytes)


# The channels whose transports say the desk may call a caller back on them.
CALLBACK_KINDS = [("", _("No callback")), *transports.callback_choices()]


class HotlineForm(forms.Form):
    """A call the dispatcher types in while on the phone: place, kind, notes, and where
    Tocsin can text the caller back (sealed at once; nobody can read it back)."""

    kind = forms.ChoiceField(
        label=_("What the caller sees"), choices=ReportKind.choices, widget=forms.RadioSelect
    )
    lat = forms.FloatField(required=False, widget=forms.HiddenInput)
    lng = forms.FloatField(required=False, widget=forms.HiddenInput)
    text = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=Report.TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": Report.TEXT_MAX}),
        help_text=_("What, where exactly, how many vehicles. No names of people."),
    )
    callback_kind = forms.ChoiceField(label=_("Callback"), choices=CALLBACK_KINDS, required=False)
    callback = forms.CharField(
        label=_("Caller's number or chat id"),
        max_length=64,
        required=False,
        help_text=_(
            "Sealed as soon as you send: Tocsin can text the caller back, but nobody, you "
            "included, can read it again. Deleted with the report."
        ),
    )
    language = forms.ChoiceField(
        label=_("Caller's language"), choices=[("en", "English"), ("es", "Español")]
    )
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    @property
    def can_call_back(self) -> bool:
        """Whether the form asks how to reach the caller (a channel here can)."""
        return "callback" in self.fields

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        lat, lng = data.get("lat"), data.get("lng")
        if lat is None or lng is None or not geo.valid_latlng(lat, lng):
            raise forms.ValidationError(
                _("Pick the place on the map, or search for the address."), code="no_place"
            )
        kind, address = data.get("callback_kind") or "", (data.get("callback") or "").strip()
        if kind and not address:
            self.add_error("callback", _("Type the number or chat id, or choose no callback."))
        elif address and not kind:
            self.add_error("callback_kind", _("Choose how to reach the caller."))
        elif transports.is_phone(kind):
            try:
                data["callback"] = clean_phone(address)
            except forms.ValidationError as e:
                self.add_error("callback", e)
        elif problem := transports.address_problem(kind, address):
            self.add_error("callback", problem)
        return data


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Message"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 1000}),
    )
