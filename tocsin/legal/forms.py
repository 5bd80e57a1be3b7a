from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tocsin.legal.models import LANGUAGES, State, TaskKind

# Said where a case would be opened on a server without the legal team's keys.
NO_KEY = _(
    "Legal cases are not set up on this server: the operator has not made the legal "
    "team's keys (tocsin manage legal_keys). Call the committee's legal line."
)


class CaseForm(forms.Form):
    who = forms.CharField(
        label=_("Who (as the family or the person gives it)"),
        max_length=200,
        # The browser refuses a blank or spaces-only name before sending, so what was
        # typed in the other fields is never lost to a round trip (the desk's form too).
        widget=forms.TextInput(attrs={"pattern": r".*\S.*", "title": _("Say who it is.")}),
    )
    a_number = forms.CharField(label=_("A-number"), max_length=20, required=False)
    country_of_birth = forms.CharField(label=_("Country of birth"), max_length=80, required=False)
    where = forms.CharField(label=_("Where detained"), max_length=200, required=False)
    when = forms.CharField(label=_("When detained"), max_length=80, required=False)
    language = forms.CharField(label=_("Language"), max_length=80, required=False)
    family_contact = forms.CharField(label=_("Family contact"), max_length=200, required=False)
    notes = forms.CharField(
        label=_("Notes"),
        max_length=4000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Up to 4,000 characters."),
    )
    consent = forms.BooleanField(
        label=_("The person or their family agreed to what the legal team keeps"), required=False
    )


class EditCaseForm(CaseForm):
    keep = forms.BooleanField(
        label=_("Keep this case after it closes (no automatic purge)"), required=False
    )


class StateForm(forms.Form):
    state = forms.ChoiceField(label=_("State"), choices=State.choices)


class TaskForm(forms.Form):
    kind = forms.ChoiceField(label=_("Task"), choices=TaskKind.choices)
    text = forms.CharField(label=_("Details"), max_length=300, required=False)
    due_at = forms.DateTimeField(
        label=_("Due"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M"],
    )
    owner = forms.TypedChoiceField(label=_("Owner"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, team=(), **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.TypedChoiceField)
        owner.choices = [("", _("Nobody yet")), *[(m.pk, m.display_name) for m in team]]


class FindInterpreterForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGES)


class LanguagesForm(forms.Form):
    languages = forms.MultipleChoiceField(
        label=_("Languages I speak"),
        choices=LANGUAGES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    interprets = forms.BooleanField(
        label=_("I can interpret in them for the committee"), required=False
    )
