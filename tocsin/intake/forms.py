from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tocsin import geo
from tocsin.intake import pow
from tocsin.intake.models import Report, ReportKind
from tocsin.intake.photos import PhotoError, Scrubbed, scrub, too_big
from tocsin.places import search


class PhotoInput(forms.FileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Zero or more files from one ``<input type="file" multiple>``."""

    widget = PhotoInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = data if isinstance(data, list | tuple) else [data]
        return [super(PhotosField, self).clean(f, initial) for f in files if f]


class ReportForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What do you see?"), choices=ReportKind.choices, widget=forms.RadioSelect
    )
    lat = forms.FloatField(required=False, widget=forms.HiddenInput)
    lng = forms.FloatField(required=False, widget=forms.HiddenInput)
    # A place picked from a search without JavaScript (see choice_point): "p<id>" for a
    # committee's named place, "a<lat>,<lng>" for an address the geocoder found.
    place = forms.CharField(required=False, max_length=60, widget=forms.HiddenInput)
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
    photos = PhotosField(
        label=_("Add photos"),
        required=False,
        widget=PhotoInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        help_text=_(
            "Photos are optional. We remove location and camera data. "
            "Do not photograph people's faces if you can avoid it."
        ),
    )
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)
    # The proof of work (tocsin.intake.pow), filled in by static/js/pow.js. Never shown
    # back: a solution counts once, so the page solves a new challenge each time.
    altcha = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def __init__(self, *args: Any, body_bytes: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The request's size: over FILE_UPLOAD_MAX_MEMORY_SIZE the memory upload handler
        # drops its files (rather than spool them to disk), and this is how we know.
        self.body_bytes = body_bytes
        # The page script checks count and size before sending, in the server's own words.
        self.fields["photos"].widget.attrs.update(
            {
                "aria-describedby": "photos-help",
                "data-max-count": settings.REPORT_PHOTOS_MAX,
                "data-max-bytes": settings.UPLOAD_MAX_BYTES,
                "data-too-many": photos_too_many(),
                "data-too-big": too_big(settings.UPLOAD_MAX_BYTES).message,
            }
        )

    def clean_photos(self) -> list[Scrubbed]:
        """Return the photos re-encoded without metadata, or refuse them all."""
        return scrub_uploads(self.cleaned_data.get("photos") or [], body_bytes=self.body_bytes)

    def clean_altcha(self) -> pow.Solution:
        """Return the form's proof of work, checked but not yet used (see pow.redeem)."""
        try:
            return pow.verify(self.cleaned_data.get("altcha") or "")
        except pow.Refused as e:
            raise forms.ValidationError(pow_refused(e.code), code=f"pow_{e.code}") from None

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        picked = choice_point(data.get("place") or "")
        if picked is not None:
            data["lat"], data["lng"] = picked
        lat, lng = data.get("lat"), data.get("lng")
        if lat is None or lng is None or not geo.valid_latlng(lat, lng):
            raise forms.ValidationError(
                _("Pick the place on the map, search for it by name, or tap “Use my location”."),
                code="no_place",
            )
        return data


def place_id(value: str) -> int | None:
    """Return the named place's id in a choice ("p12"), or None."""
    digits = value[1:]
    # Ids are short: a 40-digit "id" must not reach the database (an integer overflow).
    if value.startswith("p") and digits.isascii() and digits.isdigit() and len(digits) <= 12:
        return int(digits)
    return None


def choice_point(value: str) -> tuple[float, float] | None:
    """Return the point of a place picked from a search: a named place of an active
    committee ("p12", at its point) or an address the geocoder found ("a34.03,-118.21")."""
    value = value.strip()
    pk = place_id(value)
    if pk is not None:
        place = search.chosen(pk)
        return (place.lat, place.lng) if place is not None else None
    if value.startswith("a"):
        try:
            lat, lng = (float(v) for v in value[1:].split(",", 1))
        except ValueError:
            return None
        return (lat, lng) if geo.valid_latlng(lat, lng) else None
    return None


def scrub_uploads(files: list[UploadedFile], *, body_bytes: int) -> list[Scrubbed]:
    """Return uploaded photos re-encoded without metadata, or raise a ValidationError
    that refuses them all (too many, too big, not a photo)."""
    if body_bytes > settings.FILE_UPLOAD_MAX_MEMORY_SIZE:
        raise forms.ValidationError(photos_too_big(), code="too_big")
    if len(files) > settings.REPORT_PHOTOS_MAX:
        raise forms.ValidationError(photos_too_many(), code="too_many")
    scrubbed: list[Scrubbed] = []
    errors: list[forms.ValidationError] = []
    for number, f in enumerate(files, start=1):
        try:
            if f.size is not None and f.size > settings.UPLOAD_MAX_BYTES:
                raise too_big(settings.UPLOAD_MAX_BYTES)
            scrubbed.append(scrub(f.read(), max_bytes=settings.UPLOAD_MAX_BYTES))
        except PhotoError as e:
            errors.append(
                forms.ValidationError(
                    _("Photo %(number)d: %(reason)s"),
                    code=e.code,
                    params={"number": number, "reason": e.message},
                )
            )
    if errors:
        raise forms.ValidationError(errors)
    return scrubbed


def photos_too_many() -> str:
    return _("You can send up to %(count)d photos.") % {"count": settings.REPORT_PHOTOS_MAX}


def photos_too_big() -> str:
    return _("The photos are too large together. Each must be %(mb)d MB or smaller.") % {
        "mb": settings.UPLOAD_MAX_MB
    }


def pow_refused(code: str) -> str:
    """Return what to tell a reporter whose anti-flood check did not count."""
    if code == "missing":
        return gettext(
            "This form needs JavaScript for its anti-flood check, which keeps fake reports "
            "out without asking who you are. Turn on JavaScript and send again: what you "
            "typed is kept below. Or call your hotline."
        )
    if code == "harder":
        return gettext(
            "Many reports came from your network in the last few minutes, so this one "
            "needs a longer anti-flood check. Wait until the page says “Ready to send”, "
            "then send again: what you typed is kept below."
        )
    return gettext(
        "The anti-flood check did not pass or has expired. Wait until the page says "
        "“Ready to send”, then send again: what you typed is kept below."
    )


def too_many_reports() -> str:
    return gettext(
        "Reports are coming from your network faster than people can type them, so we "
        "are holding this one back. Call a hotline now, or wait ten minutes and "
        "send again (what you typed is kept below)."
    )
