from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tocsin import geo
from tocsin.intake.models import Report, ReportKind


class ReportForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What do you see?"), choices=ReportKind.choices, widget=forms.RadioSelect
    )
    lat = forms.FloatField(required=False, widget=forms.HiddenInput)
    lng = forms.FloatField(required=False, widget=forms.HiddenInput)
    text = forms.CharField(
        label=_("Details (optional)"),
        required=False,
        max_length=Report.TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": Report.TEXT_MAX}),
        help_text=_("What, where exactly, how many vehicles. No names or photos of people."),
        error_messages={
            "max_length": _(
                "Please keep details under %(limit_value)d characters (you wrote %(show_value)d)."
            )
        },
    )
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        lat, lng = data.get("lat"), data.get("lng")
        if lat is None or lng is None or not geo.valid_latlng(lat, lng):
            raise forms.ValidationError(
                _("Pick the place on the map, or tap “Use my location”."), code="no_place"
            )
        return data
