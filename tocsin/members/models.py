"""Members, their sealed contact endpoints and their alert areas.

A member is a display name and a language; nothing here says who they are. Contact
addresses are sealed (see tocsin.vault); areas are H3 cells, never addresses.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import User
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin import vault
from tocsin.lib import phones, untrusted
from tocsin.transports import registry as transports


class Member(models.Model):
    user = models.OneToOneField(User, models.CASCADE, related_name="member")
    display_name = models.CharField(_("display name"), max_length=60)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Sessions carry the epoch they were made in; bumping it ends every session at once
    # ("log out everywhere", or an organizer revoking the member).
    session_epoch = models.PositiveIntegerField(default=0)
    # Until then, a session that proved no factor may add one factor that counts for staff:
    # opened by an organizer's role grant (tocsin.members.security.open_enrollment), closed
    # once a factor is added through it.
    factor_enrollment_until = models.DateTimeField(null=True, blank=True)
    factor_enrollment_by = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return self.display_name

    @classmethod
    def create(cls, *, display_name: str, language: str) -> Member:
        # The auth user exists only to carry sessions: a random name, no email, no password.
        user = User.objects.create_user(username=f"m-{secrets.token_hex(8)}")
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return cls.objects.create(
            user=user, display_name=untrusted.name(display_name), language=language
        )

    def committee_role(self, committee_id: int) -> str | None:
        m = self.memberships.filter(committee_id=committee_id).first()
        return m.role if m else None


# One per channel in the registry, named by its transport (EndpointKind.WEBPUSH is
# "webpush"): a new channel's kind is its migration, and nothing here.
EndpointKind = models.TextChoices(  # type: ignore[call-overload]
    "EndpointKind",
    [(kind.upper(), (kind, label)) for kind, label in transports.endpoint_choices()],
)


class EndpointQuerySet(models.QuerySet["ContactEndpoint"]):
    def usable(self) -> EndpointQuerySet:
        return self.filter(verified_at__isnull=False, disabled_at__isnull=True)


class ContactEndpoint(models.Model):
    member = models.ForeignKey(Member, models.CASCADE, related_name="endpoints")
    kind = models.CharField(max_length=20, choices=EndpointKind.choices)
    # The address (email, push subscription) sealed to the vault: web processes cannot read it.
    sealed = models.BinaryField()
    # HMAC of the address, for lookups by a person who types it (login, inbound messages).
    blind_index = models.CharField(max_length=64, db_index=True)
    label = models.CharField(_("label"), max_length=40, blank=True)
    priority = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind", "blind_index"], name="endpoint_unique"
            )
        ]

    @classmethod
    def create(
        cls,
        member: Member,
        kind: str,
        address: str,
        *,
        data: dict | None = None,
        verified: bool = False,
    ) -> ContactEndpoint:
        """Seal ``address`` (and any extra ``data``, such as push keys) and store it; a
        phone number in its E.164 form, however it was written."""
        if transports.is_phone(kind):
            address = phones.e164(address) or address
        payload = {"address": address, **(data or {})}
        priority = member.endpoints.count()
        endpoint, _created = cls.objects.update_or_create(
            member=member,
            kind=kind,
            blind_index=transports.blind_index(kind, address),
            defaults={
                "sealed": vault.seal(payload),
                "priority": priority,
                "disabled_at": None,
                "verified_at": timezone.now() if verified else None,
            },
        )
        return endpoint

    def open(self) -> dict:
        """Return the sealed payload; only processes holding the vault private key can."""
        return vault.unseal(bytes(self.sealed))


class AlertArea(models.Model):
    """A place a member cares about: an H3 cell and a ring of neighbours, never an address."""

    member = models.ForeignKey(Member, models.CASCADE, related_name="areas")
    label = models.CharField(_("label"), max_length=40, blank=True)
    cell = models.BigIntegerField()
    ring = models.PositiveSmallIntegerField(default=1, validators=[MaxValueValidator(3)])
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(ring__lte=3), name="area_ring_max_3"),
        ]
        # Targeting asks "cell in (...) and ring >= k": both from the index.
        indexes = [models.Index(fields=["cell", "ring", "member"], name="area_cell_ring")]


class AreaChange(models.Model):
    """A member whose areas changed: workers' in-memory targeting indexes read these to
    stay exact (tocsin.alerts.cellindex). Purged after a day."""

    # Not a foreign key: the change of a deleted member must outlive the member.
    member_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)


class AreaLog(models.Model):
    """One row. Every transaction that changes areas updates it first, so such
    transactions commit one after another and AreaChange ids grow in commit order: an
    index that read up to id N has seen every change at or below N."""

    floor = models.BigIntegerField(default=0)  # AreaChange ids at or below were purged
    generation = models.BigIntegerField(default=0)  # bumped by bulk loads: rebuild


class LoginCode(models.Model):
    """A one-time code emailed to log in. Only its hash is kept."""

    member = models.ForeignKey(Member, models.CASCADE, related_name="login_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used = models.BooleanField(default=False)


class EndpointVerification(models.Model):
    """A one-time code sent over a new phone channel (SMS, Signal) to prove it is the
    member's. Only its hash is kept; a new code replaces the old one."""

    endpoint = models.ForeignKey(ContactEndpoint, models.CASCADE, related_name="verifications")
    code_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)


class SecondFactor(models.Model):
    """A passkey or an authenticator app (TOTP) that proves it is really this member."""

    class Kind(models.TextChoices):
        PASSKEY = "passkey", _("Passkey")
        TOTP = "totp", _("Authenticator app")

    member = models.ForeignKey(Member, models.CASCADE, related_name="factors")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=40, blank=True)
    # Passkeys: the credential id (for lookup) and fido2's attested credential data.
    credential_id = models.BinaryField(null=True, blank=True)
    credential_data = models.BinaryField(null=True, blank=True)
    sign_count = models.PositiveBigIntegerField(default=0)
    # TOTP: the shared secret, encrypted with a key derived from the server secret.
    totp_secret = models.BinaryField(null=True, blank=True)
    # The last TOTP time step used, so a code works only once.
    totp_last_step = models.PositiveBigIntegerField(default=0)
    confirmed = models.BooleanField(default=False)
    # Added by a plain member from a session that proved no factor, outside an enrollment
    # window: it protects their account, but never opens the desk until it is proved
    # inside a window an organizer opened (tocsin.members.security.prove).
    unproven = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
