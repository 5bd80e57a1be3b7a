"""Planned mobilizations: a rally, a vigil, a court accompaniment, a training, a shift.

A committee's organizers (or dispatchers, for a rapid-response call) publish them; anyone
may sign up (RSVP) with one channel, sealed like every contact, or as a logged-in member.
Reminders go out as ``RsvpMessage`` rows, sent by the workers (tocsin.mobilize.notices).
Nothing here is public but the mobilization itself: RSVPs and the people in them never are.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from tocsin.committees.models import Committee


class MobilizationKind(models.TextChoices):
    RALLY = "rally", _("Rally")
    VIGIL = "vigil", _("Vigil")
    ACCOMPANIMENT = "accompaniment", _("Court or check-in accompaniment")
    KYR_TRAINING = "kyr_training", _("Know-your-rights training")
    MEETING = "meeting", _("Committee meeting")
    RESPONDER_TRAINING = "responder_training", _("Responder training")
    WATCH_SHIFT = "watch_shift", _("Watch shift")
    # Made from a confirmed incident by the escalation ladder (tocsin.mobilize.ladder).
    PUBLIC_CALL = "public_call", _("Public call to witness")


class Visibility(models.TextChoices):
    PUBLIC = "public", _("Public: anyone")
    MEMBERS = "members", _("Members of the committee")
    RESPONDERS = "responders", _("Responders of the committee")


class RoleKind(models.TextChoices):
    MARSHAL = "marshal", _("Marshal")
    LEGAL_OBSERVER = "legal_observer", _("Legal observer")
    INTERPRETER = "interpreter", _("Interpreter")
    MEDIC = "medic", _("Medic")
    DRIVER = "driver", _("Driver")
    CHILDCARE = "childcare", _("Childcare")


def _token() -> str:
    return secrets.token_urlsafe(12)


class MobilizationQuerySet(models.QuerySet["Mobilization"]):
    def public(self) -> MobilizationQuerySet:
        return self.filter(visibility=Visibility.PUBLIC)

    def listed(self) -> MobilizationQuerySet:
        """Return the public mobilizations of active committees: what the public lists,
        calendars and feeds show (a committee the operator has not approved, where
        approval is asked, is reached only by its own links)."""
        return self.public().filter(committee__in=Committee.objects.active())

    def upcoming(self, now: datetime | None = None) -> MobilizationQuerySet:
        """Return the mobilizations not over yet and not cancelled, soonest first."""
        now = now or timezone.now()
        return self.filter(ends_at__gt=now, cancelled_at__isnull=True).order_by("starts_at", "pk")

    def in_language(self, language: str) -> MobilizationQuerySet:
        """Return those written in ``language`` (a title in it)."""
        if language == "es":
            return self.exclude(title_es="")
        return self.exclude(title="")


def _shown_in(language: str | None, english: str, spanish: str) -> str:
    """Return the language a text written in ``english`` and ``spanish`` (either may be
    empty) is shown in to a reader of ``language`` (the active one): their own if it has
    one, else the other."""
    spanish_reader = (language or translation.get_language() or "en").startswith("es")
    own = spanish if spanish_reader else english
    return ("es" if spanish_reader else "en") if own else ("en" if spanish_reader else "es")


class Mobilization(models.Model):
    committee = models.ForeignKey(
        "committees.Committee", models.CASCADE, related_name="mobilizations"
    )
    kind = models.CharField(_("kind"), max_length=24, choices=MobilizationKind.choices)
    title = models.CharField(_("title in English"), max_length=120, blank=True)
    title_es = models.CharField(_("title in Spanish"), max_length=120, blank=True)
    description = models.TextField(_("description in English"), max_length=4000, blank=True)
    description_es = models.TextField(_("description in Spanish"), max_length=4000, blank=True)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    # A public place: one of the committee's gazetteer, or a point with the words people
    # read (an assembly point is exact). Never a member's home.
    place = models.ForeignKey(
        "places.Place", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    address = models.CharField(_("where, in words"), max_length=160, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    visibility = models.CharField(
        _("who sees it"), max_length=12, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    # People without a role; empty: no limit.
    capacity = models.PositiveIntegerField(_("people (empty: no limit)"), null=True, blank=True)
    # The secret of the check-in QR code shown on the organizer's phone.
    checkin_token = models.CharField(max_length=24, default=_token)
    # Bumped when the time or place changes: each change is one message per person.
    version = models.PositiveIntegerField(default=0)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # How many had a place and how many checked in, kept when the sign-ups are purged
    # (TOCSIN_RETAIN_RSVPS_DAYS after the end), so the organizers' dashboard still shows
    # the turnout: counts that name nobody. Empty while the sign-ups are there.
    kept_going = models.PositiveIntegerField(null=True, blank=True)
    kept_checked_in = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = MobilizationQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "pk"]
        indexes = [
            models.Index(fields=["visibility", "ends_at"], name="mobilization_upcoming"),
            models.Index(fields=["committee", "ends_at"], name="mobilization_committee"),
        ]

    def __str__(self) -> str:
        return self.title_in()

    def title_in(self, language: str | None = None) -> str:
        """Return the title in ``language`` (the active one), or the other if it has none."""
        language = language or translation.get_language() or "en"
        if language.startswith("es"):
            return self.title_es or self.title
        return self.title or self.title_es

    def description_in(self, language: str | None = None) -> str:
        language = language or translation.get_language() or "en"
        if language.startswith("es"):
            return self.description_es or self.description
        return self.description or self.description_es

    def title_language(self, language: str | None = None) -> str:
        """Return the language ``title_in`` shows the title in ("en" or "es")."""
        return _shown_in(language, self.title, self.title_es)

    def description_language(self, language: str | None = None) -> str:
        """Return the language ``description_in`` shows the description in."""
        return _shown_in(language, self.description, self.description_es)

    def languages(self) -> list[str]:
        return [code for code, title in (("en", self.title), ("es", self.title_es)) if title]

    def where(self) -> str:
        """Return the place in words, in the active language."""
        if self.place is not None:
            return self.place.said() if not self.address else self.address
        return self.address

    def point(self) -> tuple[float, float] | None:
        if self.place is not None:
            return self.place.lat, self.place.lng
        if self.lat is not None and self.lng is not None:
            return self.lat, self.lng
        return None

    def geo_uri(self) -> str:
        """Return the assembly point as a ``geo:`` URI (RFC 5870), which phones hand to their
        own maps app, or "" when there is none."""
        point = self.point()
        return f"geo:{point[0]:.5f},{point[1]:.5f}" if point else ""

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None


class MobilizationRole(models.Model):
    """A role people sign up for, with how many are needed."""

    mobilization = models.ForeignKey(Mobilization, models.CASCADE, related_name="roles")
    kind = models.CharField(_("role"), max_length=20, choices=RoleKind.choices)
    capacity = models.PositiveIntegerField(_("how many"), default=1)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["mobilization", "kind"], name="mobilization_role_once")
        ]

    def __str__(self) -> str:
        return str(self.get_kind_display())


class MobilizationShift(models.Model):
    """A part of a long mobilization (a watch from 6 to 9): people pick one."""

    mobilization = models.ForeignKey(Mobilization, models.CASCADE, related_name="shifts")
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))

    class Meta:
        ordering = ["starts_at", "pk"]


class RsvpStatus(models.TextChoices):
    GOING = "going", _("Going")
    WAITLIST = "waitlist", _("On the waiting list")
    # Said of the person, as "Going" is ("Viene" / "Canceló" in Spanish).
    CANCELLED = "cancelled", translation.pgettext_lazy("sign-up status", "Cancelled")


class RsvpQuerySet(models.QuerySet["Rsvp"]):
    def going(self) -> RsvpQuerySet:
        return self.filter(status=RsvpStatus.GOING)

    def active(self) -> RsvpQuerySet:
        return self.exclude(status=RsvpStatus.CANCELLED)


class Rsvp(models.Model):
    """One person signed up: a member, or someone with one sealed channel and no account."""

    mobilization = models.ForeignKey(Mobilization, models.CASCADE, related_name="rsvps")
    member = models.ForeignKey(
        "members.Member", models.CASCADE, null=True, blank=True, related_name="rsvps"
    )
    # Without an account: the channel ("email" or "sms") and its address, sealed to the
    # vault (only workers open it), and a keyed hash so the same address signs up once.
    kind = models.CharField(max_length=20, blank=True)
    sealed = models.BinaryField(null=True, blank=True)
    blind_index = models.CharField(max_length=64, blank=True)
    display_name = models.CharField(_("name (optional)"), max_length=60, blank=True)
    language = models.CharField(max_length=8, default="en")
    role = models.ForeignKey(
        MobilizationRole, models.SET_NULL, null=True, blank=True, related_name="rsvps"
    )
    shift = models.ForeignKey(
        MobilizationShift, models.SET_NULL, null=True, blank=True, related_name="rsvps"
    )
    status = models.CharField(max_length=10, choices=RsvpStatus.choices, default=RsvpStatus.GOING)
    # The secret of the person's own links (cancel, confirm, check in).
    token = models.CharField(max_length=24, unique=True, default=_token)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = RsvpQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["mobilization", "status"], name="rsvp_status")]


class RsvpMessage(models.Model):
    """One message to one person signed up: written when it is decided (sign-up, a change),
    due at its time, claimed and sent by a worker on the person's channel."""

    class Purpose(models.TextChoices):
        CONFIRMATION = "confirmation", _("Confirmation")
        WAITLISTED = "waitlisted", _("On the waiting list")
        PROMOTED = "promoted", _("A place opened")
        DAY_BEFORE = "day_before", _("Reminder, the day before")
        MORNING_OF = "morning_of", _("Reminder, the morning of")
        SOON = "soon", _("Reminder, 30 minutes before")
        THANKS = "thanks", _("Thank you")
        CHANGED = "changed", _("Time or place changed")
        CANCELLED = "cancelled", _("Mobilization cancelled")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed, retrying")
        DEAD = "dead", _("Failed")
        CANCELLED = "cancelled", _("Not needed any more")

    rsvp = models.ForeignKey(Rsvp, models.CASCADE, related_name="messages")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    # The mobilization's version it was written for (one change message per change).
    version = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    error = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["rsvp", "purpose", "version"], name="rsvp_message_once")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["queued", "failed"]),
                name="rsvp_message_due",
            )
        ]
