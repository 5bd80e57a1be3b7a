"""A member's family plan, their emergency contacts, panic triggers and the messages sent.

Contacts' addresses are sealed to the vault like every contact endpoint (only workers
open them) with a blind index so the same address is added once. The plan's own words
(who picks up the children, medication, documents, the message to the family) are sealed
to the vault too: the member reads them back on a process that holds the vault's private
key. When the member lets the legal team see them, each is also sealed to the legal
team's key as the task a panic case gets (the web process that opens the case holds
neither private key). The PIN is hashed like a password. Nothing here records where or
why someone was detained: a trigger is only "who pressed, how, when".
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tocsin import vault
from tocsin.committees.models import Committee
from tocsin.family import signals
from tocsin.members.models import Member
from tocsin.transports import registry as transports

MAX_CONTACTS = 15
# The plan's words, sealed together; each is a task of its kind when a case opens.
TEXTS = ("children", "medication", "documents", "message")
TEXT_MAX = 500
TASK_KINDS = {
    "children": "childcare",
    "medication": "medication",
    "documents": "documents",
    "message": "message",
}


def _task_label(name: str) -> str:
    return {
        "children": gettext("Pick up the children"),
        "medication": gettext("Medication"),
        "documents": gettext("Documents to find"),
        "message": gettext("Message to the family"),
    }[name]


def seal_texts(texts: dict[str, str]) -> bytes:
    """Return the plan's words sealed to the vault (b"" when all are empty)."""
    kept = {name: str(texts.get(name) or "")[:TEXT_MAX] for name in TEXTS}
    return vault.seal(kept) if any(v.strip() for v in kept.values()) else b""


def seal_for_legal(texts: dict[str, str], language: str) -> list[list[str]]:
    """Return the plan's words as the legal team's tasks: [kind, sealed box in base64],
    each box ``{"text": "Label: words"}`` sealed to the legal key by whoever answers
    ``signals.seal_for_legal`` (tocsin.legal). Empty without a legal key."""
    tasks = []
    with translation.override(language):
        for name in TEXTS:
            text = str(texts.get(name) or "").strip()[:TEXT_MAX]
            if not text:
                continue
            value = {"text": f"{_task_label(name)}: {text}"}
            answers: list[Any] = [a for _r, a in signals.seal_for_legal.send(None, value=value)]
            sealed = next((a for a in answers if isinstance(a, bytes) and a), b"")
            if sealed:
                tasks.append([TASK_KINDS[name], base64.b64encode(sealed).decode()])
    return tasks


class FamilyPlan(models.Model):
    """What a member wants to happen if they are detained."""

    member = models.OneToOneField(Member, models.CASCADE, related_name="family_plan")
    # The committee whose legal line the contacts are told to call.
    committee = models.ForeignKey(
        Committee, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    language = models.CharField(_("language"), max_length=8, default="en")
    # TEXTS, sealed to the vault (seal_texts): only the member reads them back.
    sealed = models.BinaryField(default=b"", blank=True)
    # TEXTS as the legal team's tasks, sealed to the legal key (seal_for_legal); empty
    # unless legal_may_see_plan.
    legal_tasks = models.JSONField(default=list, blank=True)
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Words given since the plan was loaded: save() seals them.
        self._texts: dict[str, str] | None = None

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Seal words given by set_texts, and keep the legal team's copy in step with the
        member's consent and the plan's language."""
        fields = kwargs.get("update_fields")
        fields = None if fields is None else set(fields)
        consent_or_language = fields is not None and {"legal_may_see_plan", "language"} & fields
        if self._texts is not None or fields is None or consent_or_language:
            self.legal_tasks = self._legal_copy()
            if self._texts is not None:
                self.sealed = seal_texts(self._texts)
            if fields is not None:
                kwargs["update_fields"] = fields | {"sealed", "legal_tasks"}
        super().save(*args, **kwargs)
        self._texts = None

    def texts(self) -> dict[str, str]:
        """Return the plan's words (TEXTS); raises vault.VaultError in a process without
        the vault's private key (VaultLocked while it is locked)."""
        if self._texts is not None:
            return dict(self._texts)
        opened = vault.unseal(bytes(self.sealed)) if self.sealed else {}
        return {name: str(opened.get(name) or "") for name in TEXTS}

    def set_texts(self, **texts: str) -> None:
        """Give the plan's words (any of TEXTS; the others keep theirs); save() seals them."""
        unknown = set(texts) - set(TEXTS)
        if unknown:
            raise TypeError(f"not a family plan text: {sorted(unknown)}")
        current = self._texts if self._texts is not None else None
        if current is None:
            current = self.texts() if len(texts) < len(TEXTS) else {}
        self._texts = {name: str(texts.get(name, current.get(name, ""))) for name in TEXTS}

    def _legal_copy(self) -> list[list[str]]:
        if not self.legal_may_see_plan:
            return []
        try:
            texts = self.texts()
        except vault.VaultError:
            # This process cannot open the words (a web process without the private key):
            # the copy made when they were written stays.
            return list(self.legal_tasks)
        return seal_for_legal(texts, self.language)

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

    @property
    def channel_label(self) -> str:
        """The channel as people call it, in the reader's language ("Email")."""
        return str(transports.label(self.kind))


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
