"""Reports of enforcement activity, from any channel, from anyone.

A report holds what, where (an H3 cell of the operation, never of the reporter's home) and
when. It holds nothing about who sent it.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage
from django.db import connection, models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.lib.screening import reason_labels
from tocsin.transports import registry as transports

if TYPE_CHECKING:
    from tocsin.intake.photos import Scrubbed


class ReportKind(models.TextChoices):
    CHECKPOINT = "checkpoint", _("Checkpoint")
    WORKPLACE_RAID = "workplace_raid", _("Workplace raid")
    HOME_ARREST = "home_arrest", _("Arrest at a home")
    AGENTS_SEEN = "agents_seen", _("Agents or vehicles seen")
    DETENTION = "detention", _("Someone detained")


# Where a report came from: the web form, each channel whose transport takes reports by
# text (Channel.SMS is "sms": a new one is its migration, and nothing here), a hotline
# call the desk typed in, and what a verifier sent from the spot (their checklist, a
# photo): evidence on the incident, counted by the verifier rule, never toward the
# members' quorum; and a partner network's alert, which the desk confirms like any report.
Channel = models.TextChoices(  # type: ignore[call-overload]
    "Channel",
    [
        ("WEB", ("web", _("Web"))),
        *[(kind.upper(), (kind, label)) for kind, label in transports.report_choices()],
        ("HOTLINE", ("hotline", _("Hotline"))),
        ("VERIFIER", ("verifier", _("Verifier"))),
        # A partner network's signed CAP alert (tocsin.federation.inbox).
        ("PARTNER", ("partner", _("Partner network"))),
    ],
)


class PartnerCertainty(models.TextChoices):
    """How sure a partner network says it is of what it sent (its CAP 1.2 certainty)."""

    OBSERVED = "Observed", _("seen on the ground, says the partner network")
    LIKELY = "Likely", _("likely, says the partner network")
    POSSIBLE = "Possible", _("possible, says the partner network")
    UNLIKELY = "Unlikely", _("unlikely, says the partner network")
    UNKNOWN = "Unknown", _("the partner network does not say how sure it is")


# Unambiguous characters only: a receipt is read aloud and typed on phones.
RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
RECEIPT_LENGTH = 8
assert len(RECEIPT_ALPHABET) == 32  # new_receipt() picks with five bits


def new_receipt() -> str:
    # One read of the system's randomness, not one per character (secrets.choice reads
    # it each time: 8 system calls, a tenth of a stored report's CPU). The alphabet has
    # 32 characters, so a byte's low five bits pick one without bias.
    return "".join(RECEIPT_ALPHABET[b & 31] for b in secrets.token_bytes(RECEIPT_LENGTH))


class ReportQuerySet(models.QuerySet["Report"]):
    def for_committees(self, committee_ids: set[int] | list[int]) -> ReportQuerySet:
        """Return the reports that reached any of these committees' desks."""
        through = Report.committees.through
        return self.filter(
            models.Exists(
                through.objects.filter(
                    report_id=models.OuterRef("pk"), committee_id__in=committee_ids
                )
            )
        )

    def unassigned(self) -> ReportQuerySet:
        return self.filter(incident__isnull=True, dismissed=False)

    def with_photos(self) -> ReportQuerySet:
        return self.prefetch_related("photos")

    def trusted(self) -> ReportQuerySet:
        return self.exclude(trusted_in="")

    def suspicious(self) -> ReportQuerySet:
        return self.filter(suspicious=True)

    def not_suspicious(self) -> ReportQuerySet:
        return self.filter(suspicious=False)

    def in_burst_group(self, group: str) -> ReportQuerySet:
        """Return the reports of one group of the burst lane, still waiting there."""
        return self.unassigned().suspicious().filter(burst_group=group)


class Report(models.Model):
    TEXT_MAX = 1000

    channel = models.CharField(max_length=20, choices=Channel.choices)
    kind = models.CharField(_("what you see"), max_length=30, choices=ReportKind.choices)
    text = models.TextField(_("details"), blank=True, max_length=TEXT_MAX)
    # The operation's place at about 25 m, and its committee-area cell for routing.
    cell = models.BigIntegerField()
    area_cell = models.BigIntegerField(db_index=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    receipt = models.CharField(max_length=12, unique=True, default=new_receipt)
    # A random value the form carries, so a double submit returns the first receipt.
    nonce = models.CharField(max_length=64, unique=True, null=True, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident", models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    dismissed = models.BooleanField(default=False)
    # For the desk's information only (a partner network trusted "desk only"): an incident
    # that rests on such reports alone is never confirmed (tocsin.incidents.services).
    for_information = models.BooleanField(default=False)
    # A partner network's report: how sure the partner says it is (its CAP certainty).
    partner_certainty = models.CharField(
        max_length=10, choices=PartnerCertainty.choices, blank=True, default=""
    )
    # Why the text is held from every alert and public page (tocsin.lib.screening):
    # reason codes, "officer_name,badge_number"; empty when the text passed.
    held_reasons = models.CharField(max_length=200, blank=True, default="")
    # Part of a burst of web reports from new sources in one area (tocsin.intake.burst):
    # the desk shows it in a separate lane.
    suspicious = models.BooleanField(default=False)
    # Its group in that lane: the suspicious reports of one network near one place share
    # this random id, so a dispatcher releases or dismisses them in one tap. It names no
    # network (which network a group stands for lives only in the cache, for minutes) and
    # is emptied once a dispatcher releases or dismisses the report.
    burst_group = models.CharField(max_length=16, blank=True, default="", db_index=True)
    # From a member (their linked phone or chat, or the web form while logged in): a
    # keyed hash of the member under a key that lives only in the cache for two days
    # (tocsin.intake.sources), so repeat reports from one person count once toward a
    # quorum and, once the key is gone, nothing links the report to anyone. Empty for
    # anonymous reports; emptied by the retention purge.
    source_tag = models.CharField(max_length=64, blank=True, default="")
    # Ids of the committees in which the reporting member was trusted when they sent it
    # (",3,7,"): who exactly is never kept.
    trusted_in = models.CharField(max_length=200, blank=True, default="")
    # The language to answer the reporter in.
    language = models.CharField(max_length=8, default="en")
    # The committees whose desks it reached: those covering the place when it came in.
    # A committee that draws its area later does not see it.
    committees = models.ManyToManyField(
        "committees.Committee", related_name="+", blank=True, db_table="intake_report_committee"
    )
    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]

    def link_committees(self, committee_ids: list[int]) -> None:
        """Link a new report to the committees whose desks it reaches, in one INSERT:
        without add()'s query for the links already there (a new report has none) and
        without the ORM compiling it each time, which cost as much as the insert."""
        through = Report.committees.through._meta
        quote = connection.ops.quote_name
        column = {f.name: quote(str(f.column)) for f in through.local_fields}
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {quote(through.db_table)} "  # noqa: S608  (names, not values)
                f"({column['report']}, {column['committee']}) VALUES (%s, %s)",
                [(self.pk, c) for c in committee_ids],
            )

    @property
    def place(self) -> str:
        """The operation's place (its ~25 m cell centre) as "lat, lng", for dispatchers."""
        from tocsin import geo

        lat, lng = geo.center(self.cell)
        return f"{lat:.5f}, {lng:.5f}"

    @property
    def held_labels(self) -> list[str]:
        """Return why the text is held, in words, in the active language (empty: not held)."""
        return reason_labels(self.held_reasons)

    @property
    def is_trusted(self) -> bool:
        return bool(self.trusted_in)


class ReportContact(models.Model):
    """Where to answer a reporter who is not on the web (SMS, Signal, Telegram, or the
    callback number a hotline caller gave): sealed to the vault like every contact, with
    no blind index (nobody can test whether a number sent a report). Deleted with the
    report's raw text, and sooner: see the retention purge."""

    report = models.OneToOneField(Report, models.CASCADE, related_name="contact")
    kind = models.CharField(max_length=20)
    sealed = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)


class ReportMessage(models.Model):
    """A message between the desk and a reporter: a dispatcher's reply (sent on the
    reporter's own channel, or shown on the web receipt page) or the reporter's answer."""

    class Direction(models.TextChoices):
        TO_REPORTER = "out", _("To the reporter")
        FROM_REPORTER = "in", _("From the reporter")

    class Status(models.TextChoices):
        SHOWN = "shown", _("On the receipt page")
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed, retrying")
        DEAD = "dead", _("Failed")

    class Kind(models.TextChoices):
        REPLY = "reply", _("A dispatcher's reply")
        OUTCOME = "outcome", _("What happened to the report")

    report = models.ForeignKey(Report, models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    # What the message is: it decides how the reporter's copy is framed.
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REPLY)
    body = models.TextField(max_length=1000)
    author = models.ForeignKey(
        "members.Member", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SHOWN)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "id"]


# No location given: the storage follows settings.MEDIA_ROOT, also when tests change it.
# Photos are readable by the service's user only; nothing serves the folder (no MEDIA_URL).
_photo_storage = FileSystemStorage(file_permissions_mode=0o600, directory_permissions_mode=0o700)


def photo_storage() -> Storage:
    return _photo_storage


def photo_name(instance: ReportPhoto, filename: str) -> str:
    """Return a random name: the name the reporter's file had is never kept."""
    return f"photos/{secrets.token_hex(16)}.jpg"


class ReportPhoto(models.Model):
    """A photo attached to a report, as re-encoded by tocsin.intake.photos.scrub.

    Only dispatchers of a committee whose area holds the report see it; it is never public
    and never in an alert. ``sha256`` is the digest of the stored file, for the chain of
    custody: anyone holding a copy can show it is the file Tocsin received.
    """

    report = models.ForeignKey(Report, models.CASCADE, related_name="photos")
    file = models.FileField(upload_to=photo_name, storage=photo_storage)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    @classmethod
    def store(cls, report: Report, photo: Scrubbed) -> ReportPhoto:
        """Write ``photo`` under a random name and return its saved row."""
        obj = cls(
            report=report,
            sha256=hashlib.sha256(photo.data).hexdigest(),
            width=photo.width,
            height=photo.height,
            size_bytes=len(photo.data),
        )
        obj.file.save("photo.jpg", ContentFile(photo.data), save=False)
        try:
            obj.save()
        except BaseException:
            if obj.file.name:
                obj.file.storage.delete(obj.file.name)
            raise
        return obj


@receiver(post_delete, sender=ReportPhoto)
def _delete_photo_file(sender: type[ReportPhoto], instance: ReportPhoto, **kwargs: object) -> None:
    # When the row goes (a retention purge, a report deleted), the file goes too; only
    # once the deletion commits, so a rolled-back delete keeps its file.
    name, storage = instance.file.name, instance.file.storage
    if name:
        transaction.on_commit(lambda: storage.delete(name))


class TextConversation(models.Model):
    """A report being made by text (SMS, Signal, Telegram), by anyone: the questions asked
    so far and the answers, for up to TEXT_CONVERSATION_MINUTES after the last message.

    The sender is found again only by the blind index of their address (tocsin.vault), to
    continue this conversation, end it with STOP, or tell them what happened; their
    address is sealed, for the replies. The row goes with its report (or, if the report
    was never made, once the conversation has run out: tocsin.incidents.texting).
    """

    class Step(models.TextChoices):
        WHERE = "where", _("Asked where")
        CHOOSE = "choose", _("Asked which place")
        WHAT = "what", _("Asked what they see")
        DONE = "done", _("Done")

    channel = models.CharField(max_length=20, choices=Channel.choices)
    sender = models.CharField(max_length=64, db_index=True)
    sealed = models.BinaryField()
    language = models.CharField(max_length=8, default="en")
    step = models.CharField(max_length=10, choices=Step.choices)
    # What the reporter said so far, kept for the report made once it is placed.
    text = models.TextField(blank=True, default="", max_length=Report.TEXT_MAX)
    kind = models.CharField(max_length=30, choices=ReportKind.choices, blank=True, default="")
    # The places offered ("Did you mean 1) … 2) …"): public names and points only.
    choices = models.JSONField(default=list, blank=True)
    report = models.ForeignKey(
        Report, models.CASCADE, null=True, blank=True, related_name="conversations"
    )
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
