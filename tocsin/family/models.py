"""A member's family plan, their emergency contacts, panic triggers and the messages sent.

Contacts' addresses are sealed to the vault like every contact endpoint (only workers
open them) with a blind index so the same address is added once. The PIN is hashed like
a password. Nothing here records where or why someone was detained: a trigger is only
"who pressed, how, when".
"""

from __future__ import annotations

import secrets

from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.committees.models import Committee
from tocsin.members.models import Member

MAX_CONTACTS = 15


class FamilyPlan(models.Model):
    """What a member wants to happen if they are detained."""

    member = models.OneToOneField(Member, models.CASCADE, related_name="family_plan")
    # The committee whose legal line the contacts are told to call.
    committee = models.ForeignKey(
        Committee, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    language = models.CharField(_("language"), max_length=8, default="en")
    children = models.TextField(_("who picks up the children"), max_length=500, blank=True)
    medication = models.TextField(_("medication"), max_length=500, blank=True)
    documents = models.TextField(_("documents to find"), max_length=500, blank=True)
    message = models.TextField(_("message to your family"), max_length=500, blank=True)
    # Consent: what the committee's legal team may know if a case is opened.
    legal_may_see_plan = models.BooleanField(
        _("the legal team may see these family tasks"), default=False
    )
    legal_may_call_contacts = models.BooleanField(
        _("the legal team may call my emergency contacts"), default=False
    )
    pin_hash = models.CharField(max_length=128, blank=True)
    # "Check on me if I have not checked in by ...": fired once by the worker.
    check_in_by = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def set_pin(self, pin: str) -> None:
        self.pin_hash = make_password(pin)

    def pin_matches(self, pin: str) -> bool:
        return bool(self.pin_hash) and check_password(pin, self.pin_hash)


class ContactQuerySet(models.QuerySet["EmergencyContact"]):
    def confirmed(self) -> ContactQuerySet:
        return self.filter(confirmed_at__isnull=False)


class EmergencyContact(models.Model):
    plan = models.ForeignKey(FamilyPlan, models.CASCADE, related_name="contacts")
    # How the member calls them ("Mom"): shown on the member's own page only.
    label = models.CharField(_("name"), max_length=40)
    kind = models.CharField(max_length=20)
    sealed = models.BinaryField()
    blind_index = models.CharField(max_length=64)
    language = models.CharField(_("language"), max_length=8, default="en")
    # The secret of the link the contact follows to agree.
    token = models.CharField(max_length=43, unique=True, default=secrets.token_urlsafe)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "kind", "blind_index"], name="contact_once")
        ]


class Trigger(models.Model):
    class Kind(models.TextChoices):
        BUTTON = "button", _("panic button")
        SMS = "sms", _("text message")
        HOTLINE = "hotline", _("hotline call")
        MISSED_CHECKIN = "missed_checkin", _("missed check-in")

    member = models.ForeignKey(Member, models.CASCADE, related_name="panic_triggers")
    committee = models.ForeignKey(Committee, models.SET_NULL, null=True, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    language = models.CharField(max_length=8, default="en")
    at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]


class ContactMessage(models.Model):
    """One message to one emergency contact: a request to agree, a call for help, or
    "it was a mistake". Written in the transaction that decides it; sent by a worker."""

    class Purpose(models.TextChoices):
        CONFIRM = "confirm", _("Asked to agree")
        PANIC = "panic", _("Call for help")
        MISTAKE = "mistake", _("It was a mistake")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed, retrying")
        DEAD = "dead", _("Failed")

    contact = models.ForeignKey(EmergencyContact, models.CASCADE, related_name="messages")
    trigger = models.ForeignKey(Trigger, models.CASCADE, null=True, related_name="messages")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="contact_msg_due")]
