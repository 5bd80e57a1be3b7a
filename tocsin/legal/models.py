"""Legal cases, their tasks and timeline, the lawyer's notices, and the interpreter roster.

What identifies the detained person and their family is sealed to the legal team's own
key pair (tocsin.legal.keys): who, A-number, country of birth, where and when detained,
language, family contact, notes, and each task's details. The rest is plain so the
worker, retention and the desk can do their part without opening anything: the
committee, the state, the times, the lawyer assigned, whether consent was recorded.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tocsin.committees.models import Committee
from tocsin.members.models import Member


class State(models.TextChoices):
    OPEN = "open", pgettext_lazy("a legal case's state", "Open")
    LOCATED = "located", _("Located")
    REPRESENTED = "represented", _("Represented")
    BOND = "bond", _("Bond")
    RELEASED = "released", _("Released")
    TRANSFERRED = "transferred", _("Transferred")
    REMOVED = "removed", _("Removed")
    CLOSED = "closed", _("Closed")


class Source(models.TextChoices):
    PANIC = "panic", _("Panic button")
    INCIDENT = "incident", _("From an incident")
    CALL = "call", _("From a call")


class CaseQuerySet(models.QuerySet["Case"]):
    def active(self) -> CaseQuerySet:
        return self.exclude(state=State.CLOSED)


class Case(models.Model):
    committee = models.ForeignKey(Committee, models.CASCADE, related_name="legal_cases")
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.OPEN)
    source = models.CharField(max_length=20, choices=Source.choices)
    # Who, A-number, country of birth, where and when, language, family contact, notes.
    sealed = models.BinaryField()
    incident = models.ForeignKey(
        "incidents.Incident", models.SET_NULL, null=True, blank=True, related_name="legal_cases"
    )
    # The family plan's panic trigger that opened it (tocsin.family), one case per trigger.
    trigger_id = models.BigIntegerField(null=True, blank=True, unique=True)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.ForeignKey(Member, models.SET_NULL, null=True, blank=True, related_name="+")
    lawyer = models.ForeignKey(Member, models.SET_NULL, null=True, blank=True, related_name="+")
    consent = models.BooleanField(default=False)
    consent_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Kept past TOCSIN_RETAIN_CASES_DAYS after closing (the legal team decides).
    keep = models.BooleanField(default=False)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["committee", "state"], name="case_committee_state")]

    def __str__(self) -> str:
        return self.ref

    @property
    def ref(self) -> str:
        return f"L-{self.pk}"


class TaskKind(models.TextChoices):
    LOCATOR = "locator", _("Locator check")
    LAWYER = "lawyer", _("Lawyer contact")
    CHILDCARE = "childcare", _("Childcare")
    SCHOOL = "school", _("School pickup")
    MEDICATION = "medication", _("Medication")
    DOCUMENTS = "documents", _("Documents")
    BOND = "bond", _("Bond fund")
    TRANSLATION = "translation", _("Translation")
    PROPERTY = "property", _("Property")
    COURT = "court", _("Court date")
    CHECKIN = "checkin", _("Check-in accompaniment")
    OTHER = "other", _("Other task")


# Tasks that can become an accompaniment mobilization.
ACCOMPANIED = (TaskKind.COURT, TaskKind.CHECKIN)


class Task(models.Model):
    case = models.ForeignKey(Case, models.CASCADE, related_name="tasks")
    kind = models.CharField(_("task"), max_length=20, choices=TaskKind.choices)
    # What the task is about, in the words of the family or the team: sealed.
    sealed = models.BinaryField(blank=True, default=b"")
    owner = models.ForeignKey(Member, models.SET_NULL, null=True, blank=True, related_name="+")
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(Member, models.SET_NULL, null=True, blank=True, related_name="+")
    mobilization = models.ForeignKey(
        "mobilize.Mobilization", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["done_at", "due_at", "id"]

    @property
    def overdue(self) -> bool:
        return self.done_at is None and self.due_at is not None and self.due_at < timezone.now()


class Event(models.Model):
    """One line of a case's timeline: what happened, by whom, never the sealed details."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("Case opened")
        STATE = "state", _("State changed")
        LAWYER = "lawyer", _("Lawyer assigned")
        NOTIFIED = "notified", _("Lawyer notified")
        TASK_ADDED = "task_added", _("Task added")
        TASK_DONE = "task_done", _("Task done")
        LOCATOR_AGAIN = "locator_again", _("Not in the locator yet: checking again")
        MOBILIZED = "mobilized", _("Accompaniment mobilization made")
        DETAILS = "details", _("Details updated")
        CONSENT = "consent", _("Consent recorded")
        INTERPRETER = "interpreter", _("Interpreter sent")
        INTERPRETER_CAME = "interpreter_came", _("Interpreter came")
        EXPORT_ASKED = "export_asked", _("Export asked")
        EXPORTED = "exported", _("Exported")
        CANCELLED = "cancelled", _("Trigger cancelled: a mistake")

    case = models.ForeignKey(Case, models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # A state, a task kind, a language code: never a detail of the case.
    value = models.CharField(max_length=40, blank=True)
    actor = models.ForeignKey(Member, models.SET_NULL, null=True, blank=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def value_label(self) -> str:
        if self.kind == self.Kind.STATE and self.value in State.values:
            return str(State(self.value).label)
        tasks = (self.Kind.TASK_ADDED, self.Kind.TASK_DONE, self.Kind.MOBILIZED)
        if self.kind in tasks and self.value in TaskKind.values:
            return str(TaskKind(self.value).label)
        if self.kind in (self.Kind.INTERPRETER, self.Kind.INTERPRETER_CAME):
            return language_name(self.value)
        return ""


# The interpreter roster's languages: the region's Indigenous languages first.
LANGUAGES = [
    ("mam", _("Mam")),
    ("quc", _("K'iche'")),
    ("kjb", _("Q'anjob'al")),
    ("mix", _("Mixteco")),
    ("zap", _("Zapoteco")),
    ("trs", _("Triqui")),
    ("tsz", _("Purépecha")),
    ("es", _("Spanish")),
    ("en", _("English")),
    ("pt", _("Portuguese")),
    ("ht", _("Haitian Creole")),
    ("zh", _("Chinese")),
]
LANGUAGE_CODES = [code for code, _label in LANGUAGES]


def language_name(code: str) -> str:
    return str(dict(LANGUAGES).get(code, code))


class SpokenLanguage(models.Model):
    """A language a member says they speak (on /me/languages/): the interpreter roster."""

    member = models.ForeignKey(Member, models.CASCADE, related_name="spoken_languages")
    language = models.CharField(max_length=8, choices=LANGUAGES)
    interprets = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "language"], name="spoken_language_unique")
        ]


class InterpreterCall(models.Model):
    """An interpreter needed for a case or an incident: who was sent, and whether they came."""

    committee = models.ForeignKey(Committee, models.CASCADE, related_name="+")
    language = models.CharField(max_length=8, choices=LANGUAGES)
    case = models.ForeignKey(
        Case, models.CASCADE, null=True, blank=True, related_name="interpreter_calls"
    )
    incident = models.ForeignKey(
        "incidents.Incident", models.CASCADE, null=True, blank=True, related_name="+"
    )
    interpreter = models.ForeignKey(Member, models.SET_NULL, null=True, related_name="+")
    asked_by = models.ForeignKey(Member, models.SET_NULL, null=True, related_name="+")
    asked_at = models.DateTimeField(default=timezone.now)
    came_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-asked_at", "-id"]


class Notice(models.Model):
    """A message to the lawyer on call (a new case) or to an interpreter (a call): it
    says only that someone needs help, and links to the page behind the login."""

    class Purpose(models.TextChoices):
        CASE = "case", _("New case")
        INTERPRETER = "interpreter", _("Interpreter needed")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed, will retry")
        DEAD = "dead", _("Failed for good")

    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    case = models.ForeignKey(Case, models.CASCADE, null=True, blank=True, related_name="notices")
    call = models.ForeignKey(
        InterpreterCall, models.CASCADE, null=True, blank=True, related_name="notices"
    )
    member = models.ForeignKey(Member, models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="legal_notice_due")]
