from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from tocsin import geo


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": _("Enter the 6 digits from the email.")},
    )


class JoinForm(forms.Form):
    display_name = forms.CharField(
        label=_("Display name"),
        max_length=60,
        help_text=_("What your committee calls you. Not your legal name."),
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    email = forms.EmailField(label=_("Email (optional)"), required=False, max_length=254)


class AreaForm(forms.Form):
    label = forms.CharField(label=_("Name (for you)"), max_length=40, required=False)
    lat = forms.FloatField(widget=forms.HiddenInput, required=False)
    lng = forms.FloatField(widget=forms.HiddenInput, required=False)
    ring = forms.TypedChoiceField(
        label=_("How far around"),
        coerce=int,
        choices=[
            (0, _("Just this spot")),
            (1, _("About 1 km")),
            (2, _("About 2 km")),
            (3, _("About 3 km")),
        ],
        initial=1,
    )

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        lat, lng = data.get("lat"), data.get("lng")
        if lat is None or lng is None or not geo.valid_latlng(lat, lng):
            raise forms.ValidationError(_("Tap the map to pick the place."))
        return data


class EmailForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)
