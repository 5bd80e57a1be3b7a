from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from tocsin import geo
from tocsin.lib import phones, untrusted
from tocsin.transports import registry as transports


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": _("Enter the 6 digits from the email.")},
    )


class JoinForm(forms.Form):
    display_name = untrusted.NameField(
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


PHONE_ERRORS = {
    phones.LETTERS: _("A phone number has only digits: check what you wrote."),
    phones.NOT_A_NUMBER: _("That is not a phone number."),
    phones.TOO_SHORT: _(
        "That number is too short: write it with its area code, and a number from another "
        "country with + and its country code."
    ),
    phones.TOO_LONG: _("That number is too long: check it."),
    phones.BAD_COUNTRY: _("No country has that code: check the digits after the +."),
    phones.INVALID: _("No phone can have that number: check it and its country code."),
}


def clean_phone(typed: str) -> str:
    """Return the E.164 form of a number a person typed, or raise a ValidationError that
    says, in their language, why no phone can have it."""
    try:
        return phones.parse(typed)
    except phones.PhoneError as e:
        raise forms.ValidationError(PHONE_ERRORS[e.code], code=e.code) from None


def phone_help() -> str:
    return _(
        "Like %(example)s; a number from another country starts with + and its country "
        "code, like +52 55 1234 5678."
    ) % {"example": phones.example()}


class PhoneForm(forms.Form):
    """A phone number for SMS or Signal, on the channels this server has turned on."""

    kind = forms.ChoiceField(label=_("Channel"))
    number = forms.CharField(label=_("Phone number"), max_length=32)
    label = forms.CharField(label=_("Name (for you)"), max_length=40, required=False)

    def __init__(self, *args: Any, kinds: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, transports.label(k)) for k in kinds]  # type: ignore[attr-defined]
        self.fields["number"].help_text = phone_help()

    def clean_number(self) -> str:
        return clean_phone(self.cleaned_data["number"])


class ChannelCodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": _("Enter the 6 digits from the message.")},
    )
