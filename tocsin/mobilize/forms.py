"""Forms of planned mobilizations: the organizer's, and the sign-up anyone fills in."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.committees.models import Committee
from tocsin.lib import phones, untrusted
from tocsin.lib.screening import screen
from tocsin.mobilize.planned import (
    Mobilization,
    MobilizationRole,
    MobilizationShift,
    RoleKind,
)
from tocsin.places.models import Place
from tocsin.transports import registry as transports
from tocsin.transports import webpush

LOCAL_INPUT = "%Y-%m-%dT%H:%M"
SHIFT_LINE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format=LOCAL_INPUT, **kwargs)


class PlaceChoiceField(forms.ModelChoiceField):
    """A committee's place, named as people say it in the reader's language."""

    def label_from_instance(self, obj: Place) -> str:
        return obj.said()


class MobilizationForm(forms.ModelForm):
    """A mobilization, its roles (how many of each are needed) and optional shifts."""

    shifts_text = forms.CharField(
        label=_("Shifts (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line, on the day it starts, in local time: 18:00-21:00"),
    )

    class Meta:
        model = Mobilization
        fields = [
            "kind",
            "title",
            "title_es",
            "description",
            "description_es",
            "starts_at",
            "ends_at",
            "place",
            "address",
            "lat",
            "lng",
            "visibility",
            "capacity",
        ]
        widgets = {
            "starts_at": LocalDateTimeInput(),
            "ends_at": LocalDateTimeInput(),
            "description": forms.Textarea(attrs={"rows": 4}),
            "description_es": forms.Textarea(attrs={"rows": 4}),
            "lat": forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
            "lng": forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        }
        field_classes = {"place": PlaceChoiceField}

    def __init__(self, *args: Any, committee: Committee, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.committee = committee
        place = self.fields["place"]
        assert isinstance(place, forms.ModelChoiceField)
        place.queryset = Place.objects.filter(committee=committee)
        place.label = _("A place of the committee's list")
        place.required = False
        for name in ("starts_at", "ends_at"):
            field = self.fields[name]
            assert isinstance(field, forms.DateTimeField)
            field.input_formats = [LOCAL_INPUT]
        self.fields["address"].help_text = _(
            "A public assembly point, as people say it. Never a member's home."
        )
        existing = (
            {r.kind: r.capacity for r in self.instance.roles.all()} if self.instance.pk else {}
        )
        for kind, label in RoleKind.choices:
            self.fields[f"role_{kind}"] = forms.IntegerField(
                label=label, min_value=0, max_value=999, required=False, initial=existing.get(kind)
            )
        if self.instance.pk and not self.is_bound:
            tz = timezone.get_current_timezone()
            self.initial["shifts_text"] = "\n".join(
                f"{s.starts_at.astimezone(tz):%H:%M}-{s.ends_at.astimezone(tz):%H:%M}"
                for s in self.instance.shifts.all()
            )

    def role_fields(self) -> list[forms.BoundField]:
        return [self[f"role_{kind}"] for kind in RoleKind.values]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("title") or data.get("title_es")):
            self.add_error(None, _("Give it a title in English or in Spanish."))
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("It must end after it starts."))
        if not data.get("place") and not data.get("address"):
            self.add_error("address", _("Say where: pick a place or write the assembly point."))
        if (data.get("lat") is None) != (data.get("lng") is None):
            self.add_error("lng", _("Give both coordinates, or neither."))
        for name in ("title", "title_es", "description", "description_es", "address"):
            # Public copy: never officers' names or a call to interfere.
            if data.get(name) and screen(data[name]).held:
                self.add_error(
                    name,
                    _(
                        "This cannot be published: it seems to name officers or call to "
                        "interfere. Observe, document, support."
                    ),
                )
        return data

    def clean_shifts_text(self) -> list[tuple[int, int, int, int]]:
        lines = [ln for ln in self.cleaned_data["shifts_text"].splitlines() if ln.strip()]
        shifts = []
        for line in lines[:12]:
            match = SHIFT_LINE.match(line)
            if not match:
                raise forms.ValidationError(_("Write each shift as 18:00-21:00."))
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
                raise forms.ValidationError(_("Write each shift as 18:00-21:00."))
            shifts.append((h1, m1, h2, m2))
        return shifts

    def shift_times(self, starts_at: datetime) -> list[tuple[datetime, datetime]]:
        """Return the shifts as instants, on the local day the mobilization starts."""
        tz = timezone.get_current_timezone()
        day = starts_at.astimezone(tz).date()
        out = []
        for h1, m1, h2, m2 in self.cleaned_data.get("shifts_text") or []:
            start = datetime(day.year, day.month, day.day, h1, m1, tzinfo=tz)
            end = datetime(day.year, day.month, day.day, 0, 0, tzinfo=tz) + timedelta(
                hours=h2, minutes=m2
            )
            if end <= start:
                end += timedelta(days=1)
            out.append((start, end))
        return out

    def save_roles_and_shifts(self, m: Mobilization) -> None:
        wanted: dict[str, int] = {
            kind: int(self.cleaned_data[f"role_{kind}"])
            for kind in RoleKind.values
            if self.cleaned_data.get(f"role_{kind}")
        }
        for role in m.roles.all():
            if role.kind not in wanted:
                role.delete()
        for kind, capacity in wanted.items():
            MobilizationRole.objects.update_or_create(
                mobilization=m, kind=kind, defaults={"capacity": capacity}
            )
        times = self.shift_times(m.starts_at)
        shifts = list(m.shifts.order_by("starts_at", "pk"))
        # Shift by shift in order: moved to another day or hour, each keeps the people
        # signed up for it; only shifts no longer listed go, with their sign-ups' shift.
        for shift, (start, end) in zip(shifts, times, strict=False):
            if (shift.starts_at, shift.ends_at) != (start, end):
                shift.starts_at, shift.ends_at = start, end
                shift.save(update_fields=["starts_at", "ends_at"])
        for gone in shifts[len(times) :]:
            gone.delete()
        MobilizationShift.objects.bulk_create(
            MobilizationShift(mobilization=m, starts_at=s, ends_at=e)
            for s, e in times[len(shifts) :]
        )


class RsvpForm(forms.Form):
    """Sign up: a role and shift if there are any, and, without an account, one channel."""

    CHANNELS = [("email", _("Email")), ("sms", _("Text message (SMS)"))]
    # Offered by the page's script only where the browser can subscribe to push.
    PUSH = ("webpush", _("Push on this device"))

    channel = forms.ChoiceField(label=_("Remind me by"), choices=CHANNELS, initial="email")
    address = forms.CharField(
        label=_("Email address or mobile number"),
        max_length=200,
        required=False,
        help_text=_("Sealed: organizers never see it. Used only for this mobilization."),
    )
    # This device's push subscription, as the page's script writes it (JSON).
    subscription = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    display_name = untrusted.NameField(
        label=_("Your name (optional)"), max_length=60, required=False
    )
    role = forms.ChoiceField(label=_("I can help as"), required=False)
    shift = forms.ChoiceField(label=_("Shift"), required=False)

    def __init__(self, *args: Any, mobilization: Mobilization, member: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mobilization = mobilization
        roles = list(mobilization.roles.all())
        shifts = list(mobilization.shifts.all())
        tz = timezone.get_current_timezone()
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)
        role_field.choices = [
            ("", _("Attending")),
            *((str(r.pk), r.get_kind_display()) for r in roles),
        ]
        shift_field = self.fields["shift"]
        assert isinstance(shift_field, forms.ChoiceField)
        shift_field.choices = [
            (str(s.pk), f"{s.starts_at.astimezone(tz):%H:%M}–{s.ends_at.astimezone(tz):%H:%M}")
            for s in shifts
        ]
        if not roles:
            del self.fields["role"]
        if shifts:
            shift_field.required = True
        else:
            del self.fields["shift"]
        channel = self.fields["channel"]
        assert isinstance(channel, forms.ChoiceField)
        # Only the channels this server sends on (SMS is off until configured).
        channel.choices = [c for c in [*self.CHANNELS, self.PUSH] if c[0] in transports.registry()]
        # Listed without push: a page without JavaScript cannot subscribe.
        channel.widget.choices = [c for c in channel.choices if c[0] != "webpush"]
        if "sms" not in transports.registry():
            # Nothing asks for a number the form would then refuse.
            self.fields["address"].label = _("Email address")
        self.push_keys: dict[str, str] = {}
        if member:
            del self.fields["channel"], self.fields["address"], self.fields["display_name"]
            del self.fields["subscription"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        address = (data.get("address") or "").strip()
        if "address" in self.fields and data.get("channel") == "webpush":
            self._clean_push(data)
        elif "address" in self.fields and not address:
            self.add_error("address", _("This field is required."))
        elif "address" in self.fields:
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

    def _clean_push(self, data: dict[str, Any]) -> None:
        """Read this device's push subscription into the address and keys."""
        refused = _("This browser could not turn on push. Choose email or SMS.")
        try:
            sub = untrusted.load_json(data.get("subscription", "").encode())
            endpoint = str(sub["endpoint"])
            keys = {"p256dh": str(sub["keys"]["p256dh"]), "auth": str(sub["keys"]["auth"])}
        except (ValueError, KeyError, TypeError):
            self.add_error("channel", refused)
            return
        try:
            if len(endpoint) > 1000:
                raise ValueError(endpoint[:20])
            webpush.check_endpoint(endpoint)
        except (webpush.NotAllowed, ValueError):
            self.add_error(
                "channel",
                _("This server does not send to this browser's push service. Choose email or SMS."),
            )
            return
        data["address"] = endpoint
        self.push_keys = keys

    def chosen_role(self) -> MobilizationRole | None:
        pk = self.cleaned_data.get("role")
        return self.mobilization.roles.filter(pk=pk).first() if pk else None

    def chosen_shift(self) -> MobilizationShift | None:
        pk = self.cleaned_data.get("shift")
        return self.mobilization.shifts.filter(pk=pk).first() if pk else None
