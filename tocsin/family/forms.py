from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from tocsin import vault
from tocsin.family.models import TEXT_MAX, TEXTS, FamilyPlan
from tocsin.lib import untrusted
from tocsin.members.forms import clean_phone
from tocsin.members.models import Member
from tocsin.transports import registry as transports

PIN = forms.RegexField(
    label=_("PIN"),
    regex=r"^\s*\d{4,8}\s*$",
    error_messages={"invalid": _("Enter 4 to 8 digits.")},
    widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
)


def _words(label: Any) -> forms.CharField:
    return forms.CharField(
        label=capfirst(label),
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class PlanForm(forms.ModelForm):
    # The plan's words are sealed (FamilyPlan.texts), not columns: the form opens them.
    children = _words(_("who picks up the children"))
    medication = _words(_("medication"))
    documents = _words(_("documents to find"))
    message = _words(_("message to your family"))

    class Meta:
        model = FamilyPlan
        fields = [
            "committee",
            "language",
            "children",
            "medication",
            "documents",
            "message",
            "legal_may_see_plan",
            "legal_may_call_contacts",
        ]
        labels = {"committee": _("Committee whose legal line your contacts call")}

    def __init__(self, *args: Any, member: Member, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        committees = self.fields["committee"]
        committees.queryset = committees.queryset.filter(memberships__member=member)  # type: ignore[attr-defined]
        self.fields["language"] = forms.ChoiceField(
            label=_("Language of the card and your messages"), choices=settings.LANGUAGES
        )
        try:
            texts = self.instance.texts()
        except vault.VaultError:
            # This process cannot open the words now (the vault is locked, or it holds
            # only the public key): they are shown as unreadable and kept as they are.
            self.sealed_away = True
            for name in TEXTS:
                self.fields[name].disabled = True
                self.fields[name].help_text = _(
                    "Sealed: it cannot be opened right now, and stays as it is."
                )
        else:
            self.sealed_away = False
            for name in TEXTS:
                self.initial.setdefault(name, texts[name])

    def save(self, commit: bool = True) -> FamilyPlan:
        if not self.sealed_away:
            self.instance.set_texts(**{name: self.cleaned_data[name] for name in TEXTS})
        plan: FamilyPlan = super().save(commit)
        return plan


def contact_kinds() -> list[tuple[str, Any]]:
    """Channels a contact can be reached on here (push needs a device, not an address)."""
    return [(k, transports.label(k)) for k in transports.registry() if k != "webpush"]


class ContactForm(forms.Form):
    label = untrusted.NameField(label=_("Name"), max_length=40)
    kind = forms.ChoiceField(label=_("Channel"))
    address = forms.CharField(label=_("Phone number or address"), max_length=200)
    # Not "language": the plan's form on the same page has one (ids must be unique).
    contact_language = forms.ChoiceField(label=_("Their language"), choices=settings.LANGUAGES)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = contact_kinds()
        self.fields["kind"].choices = kinds  # type: ignore[attr-defined]
        if not any(transports.is_phone(kind) for kind, _label in kinds):
            # Nothing asks for a number the form would then refuse.
            self.fields["address"].label = _("Email address")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, address = data.get("kind"), data.get("address")
        if kind and address:
            if transports.is_phone(kind):
                try:
                    data["address"] = clean_phone(address)
                except forms.ValidationError as e:
                    self.add_error("address", e)
            elif kind == "email":
                try:
                    forms.EmailField().clean(address)
                except forms.ValidationError:
                    self.add_error("address", _("Enter a valid email address."))
        return data


class PinForm(forms.Form):
    pin = PIN
    again = forms.CharField(
        label=_("PIN again"), widget=forms.PasswordInput(attrs={"inputmode": "numeric"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("pin") and data["pin"].strip() != (data.get("again") or "").strip():
            self.add_error("again", _("The two PINs are not the same."))
        return data


class CancelForm(forms.Form):
    pin = PIN


class CheckInForm(forms.Form):
    at = forms.TimeField(
        label=_("Check on me if I have not checked in by"),
        widget=forms.TimeInput(attrs={"type": "time"}),
    )


class HotlinePanicForm(forms.Form):
    phone = forms.CharField(label=_("Caller's phone number"), max_length=32)
    pin = PIN

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data["phone"])
