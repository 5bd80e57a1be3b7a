"""Account security: TOTP (RFC 6238, through pyotp), passkeys (WebAuthn via fido2),
strong sessions, and who may change a member's factors.

Dispatchers and organizers must prove a second factor (a passkey or an authenticator
app, never SMS) before they reach the desk or committee pages; a session that did is
"strong". Members log in with an emailed code or a passkey.

A stolen mailbox gives an emailed-code session, so factors change only from a session
that proved a factor, with two exceptions for a first factor: a plain member may add one
to protect their account (it is *unproven*: it never opens the desk), and a new
dispatcher or organizer may add one inside the window an organizer's role grant opens
(``open_enrollment``). Every change is told to the member and their organizers on their
other channels (tocsin.members.tasks.send_factor_notice).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pyotp
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestedCredentialData,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tocsin import vault
from tocsin.lib import live
from tocsin.members import staff
from tocsin.members.models import Member, SecondFactor
from tocsin.members.tasks import send_factor_notice

STRONG_KEY = "tocsin_strong_at"
# Set when the factor the session proved is unproven (a plain member's own): the session
# is strong for the member's own account, never for the desk.
MEMBER_PROOF_KEY = "tocsin_member_proof"
EPOCH_KEY = "tocsin_epoch"
LOGIN_AT_KEY = "tocsin_login_at"

# --- sessions -------------------------------------------------------------------------


def start_session(request: HttpRequest, member: Member, *, strong: bool = False) -> None:
    """Log ``member`` in (Django rotates the session id) and stamp the session."""
    login(request, member.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[EPOCH_KEY] = member.session_epoch
    request.session[LOGIN_AT_KEY] = int(time.time())
    if strong:
        mark_strong(request)


def mark_strong(request: HttpRequest, *, counts: bool = True) -> None:
    """Record that this session proved a factor; ``counts`` says whether that factor opens
    the desk (a session that already proved one that does keeps it)."""
    desk = counts or opens_desk(request)
    request.session[STRONG_KEY] = int(time.time())
    if desk:
        request.session.pop(MEMBER_PROOF_KEY, None)
    else:
        request.session[MEMBER_PROOF_KEY] = True
    request.session.cycle_key()


def is_strong(request: HttpRequest) -> bool:
    """Return whether this session proved a passkey or an authenticator app."""
    return bool(request.session.get(STRONG_KEY))


def opens_desk(request: HttpRequest) -> bool:
    """Return whether this session proved a factor that counts for dispatchers and
    organizers (not one a plain member added on their own)."""
    return is_strong(request) and not request.session.get(MEMBER_PROOF_KEY)


def needs_second_factor(member: Member) -> bool:
    """Return whether this member's role requires a passkey or TOTP session."""
    if not settings.STAFF_MFA:
        return False
    return staff.is_staff(member)


def end_all_sessions(member: Member) -> None:
    """End every session of ``member`` at their next request, and their live streams now
    (they reconnect and meet the login page)."""
    Member.objects.filter(pk=member.pk).update(session_epoch=member.session_epoch + 1)
    member.session_epoch += 1
    member_id = member.pk
    transaction.on_commit(lambda: live.publish_access("member", member_id))


# --- who may change factors -----------------------------------------------------------


def enrollment_open(member: Member) -> bool:
    """Return whether an organizer's enrollment window is open for ``member`` now."""
    until = member.factor_enrollment_until
    return until is not None and until > timezone.now()


def open_enrollment(member: Member, *, granted_by: Member | None) -> datetime:
    """Let ``member`` add one passkey or authenticator app from an emailed-code session,
    for the next TOCSIN_FACTOR_ENROLLMENT_HOURS; return when the window closes.

    The role grant calls this when it makes someone a dispatcher or an organizer
    (``granted_by`` is the organizer; None for the operator's shell). The factor added
    through it counts for the desk, and adding it closes the window.
    """
    until = timezone.now() + timedelta(hours=settings.FACTOR_ENROLLMENT_HOURS)
    Member.objects.filter(pk=member.pk).update(
        factor_enrollment_until=until, factor_enrollment_by=granted_by
    )
    member.factor_enrollment_until, member.factor_enrollment_by = until, granted_by
    return until


def _use_window(member: Member) -> bool:
    """Close ``member``'s open window; return False if it was not open (closed or
    used meanwhile). Conditional: two requests cannot both use one window."""
    used = Member.objects.filter(pk=member.pk, factor_enrollment_until__gt=timezone.now()).update(
        factor_enrollment_until=None, factor_enrollment_by=None
    )
    if used:
        member.factor_enrollment_until, member.factor_enrollment_by = None, None
    return bool(used)


def proved(request: HttpRequest, member: Member) -> bool:
    """Return whether this session proved enough to change ``member``'s factors: for
    staff a factor that counts for the desk, for a plain member any factor."""
    return opens_desk(request) if needs_second_factor(member) else is_strong(request)


@dataclass(frozen=True)
class Enrollment:
    """Whether this session may add a factor for its member, and what the factor is worth."""

    allowed: bool
    # The new factor opens the desk (SecondFactor.unproven is False).
    counts: bool = False
    # It uses the window an organizer opened (and closes it).
    window: bool = False


def enrollment(request: HttpRequest, member: Member) -> Enrollment:
    """Return whether, and how, this session may add a passkey or authenticator app."""
    if opens_desk(request):
        return Enrollment(True, counts=True)
    if enrollment_open(member):
        return Enrollment(True, counts=True, window=True)
    if proved(request, member):
        return Enrollment(True)
    if not needs_second_factor(member) and not member.factors.filter(confirmed=True).exists():
        # A plain member's first factor: it protects their account, not the desk.
        return Enrollment(True)
    return Enrollment(False)


def may_remove_factor(request: HttpRequest, member: Member) -> bool:
    return proved(request, member)


def needs_enrollment(member: Member) -> bool:
    """Return whether ``member`` is staff with no factor that opens the desk and no window:
    only an organizer's grant lets them in."""
    return (
        needs_second_factor(member)
        and not member.factors.filter(confirmed=True, unproven=False).exists()
        and not enrollment_open(member)
    )


def claim(member: Member, how: Enrollment) -> bool:
    """Use the enrollment window if ``how`` needs it; False if it closed meanwhile."""
    return _use_window(member) if how.window else True


def factor_added(
    request: HttpRequest, member: Member, factor: SecondFactor, how: Enrollment
) -> None:
    """Finish adding ``factor`` (confirmed, claimed): the session proved it, and the member
    and their organizers hear of it."""
    mark_strong(request, counts=how.counts)
    tell(member, "added", factor.kind)


def factor_removed(member: Member, factor: SecondFactor) -> None:
    tell(member, "removed", factor.kind)


def prove(request: HttpRequest, member: Member, factor: SecondFactor) -> None:
    """Mark this session strong: ``member`` just proved ``factor``.

    An unproven factor proved while an organizer's window is open now counts for the desk
    (a member who protected their account before being made a dispatcher); outside one it
    makes the session strong for the member's own account only.
    """
    counts = not factor.unproven
    if not counts and _use_window(member):
        SecondFactor.objects.filter(pk=factor.pk).update(unproven=False)
        counts = True
        tell(member, "confirmed", factor.kind)
    mark_strong(request, counts=counts)


def tell(member: Member, change: str, kind: str) -> None:
    """Queue the notice of a factor change (``added``, ``removed``, ``confirmed``) to the
    member's channels and their organizers', sent once this transaction commits."""
    at = timezone.now().isoformat()
    transaction.on_commit(lambda: send_factor_notice.enqueue(member.pk, change, kind, at))


# --- TOTP -----------------------------------------------------------------------------

TOTP_STEP = 30
TOTP_DIGITS = 6


def _fernet() -> MultiFernet:
    """Return the key of TOTP seeds: the vault's TOTP key (wrapped with the vault's
    passphrase in the data folder, or TOCSIN_TOTP_KEY), which seals; and the key older
    versions derived from SECRET_KEY, which only opens seeds not yet resealed."""
    old = hashlib.sha256(b"tocsin-totp\0" + settings.SECRET_KEY.encode()).digest()
    legacy = Fernet(base64.urlsafe_b64encode(old))
    key = vault.totp_key()
    return MultiFernet([Fernet(key), legacy] if key else [legacy])


def new_totp_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def seal_totp(secret: str) -> bytes:
    return _fernet().encrypt(secret.encode())


def open_totp(blob: bytes | memoryview) -> str | None:
    try:
        return _fernet().decrypt(bytes(blob)).decode()
    except InvalidToken:
        return None


def reseal_totp_seeds() -> int:
    """Seal again under the vault's TOTP key every seed still sealed with the key derived
    from SECRET_KEY (which lies in plain in the data folder); return how many. Run when
    the keys are unlocked at start."""
    key = vault.totp_key()
    if key is None:
        return 0
    current, fernet, count = Fernet(key), _fernet(), 0
    for factor in SecondFactor.objects.filter(totp_secret__isnull=False).only("totp_secret"):
        blob = bytes(factor.totp_secret or b"")
        try:
            current.decrypt(blob)
            continue
        except InvalidToken:
            pass
        try:
            resealed = fernet.rotate(blob)
        except InvalidToken:
            continue
        SecondFactor.objects.filter(pk=factor.pk).update(totp_secret=resealed)
        count += 1
    return count


def totp_at(secret: str, step: int) -> str:
    """Return the RFC 6238 code (HMAC-SHA1, 6 digits) for time step ``step``."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP).generate_otp(step)


def check_totp(
    secret: str, code: str, *, after_step: int = 0, now: float | None = None
) -> int | None:
    """Return the matching time step (one step of clock drift allowed), or None.

    A step at or before ``after_step`` is refused, so a code cannot be replayed. (pyotp's
    own ``verify`` says only yes or no; the step is what stops a replay.)
    """
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != TOTP_DIGITS:
        return None
    try:
        totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP)
    except ValueError:  # not a secret this server made
        return None
    current = int((time.time() if now is None else now) // TOTP_STEP)
    for step in (current - 1, current, current + 1):
        if step > after_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def totp_uri(secret: str, label: str) -> str:
    """Return the otpauth:// link an authenticator app scans to add ``secret``."""
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP)
    return totp.provisioning_uri(name=label, issuer_name="Tocsin")


def verify_member_totp(member: Member, code: str) -> SecondFactor | None:
    """Return the member's authenticator app that ``code`` is the current code of, or None."""
    for factor in member.factors.filter(kind=SecondFactor.Kind.TOTP, confirmed=True):
        secret = open_totp(factor.totp_secret or b"")
        if secret is None:
            continue
        step = check_totp(secret, code, after_step=factor.totp_last_step)
        if step is not None:
            # Conditional update: two requests with the same code cannot both pass.
            used = SecondFactor.objects.filter(pk=factor.pk, totp_last_step__lt=step).update(
                totp_last_step=step, last_used_at=timezone.now()
            )
            if used:
                return factor
    return None


# --- passkeys -------------------------------------------------------------------------


def _rp() -> PublicKeyCredentialRpEntity:
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return PublicKeyCredentialRpEntity(id=host, name="Tocsin")


def _site_origin() -> str:
    parts = urlsplit(settings.SITE_URL)
    return f"{parts.scheme}://{parts.netloc}"


def server() -> Fido2Server:
    # The origin must be exactly this site's (TOCSIN_SITE_URL), so a passkey made here
    # cannot be used through another site.
    return Fido2Server(_rp(), verify_origin=lambda origin: origin == _site_origin())


def passkey_register_begin(request: HttpRequest, member: Member) -> dict[str, Any]:
    existing = [
        AttestedCredentialData(bytes(f.credential_data))
        for f in member.factors.filter(kind=SecondFactor.Kind.PASSKEY)
        if f.credential_data
    ]
    options, state = server().register_begin(
        PublicKeyCredentialUserEntity(
            id=member.user.username.encode(),
            name=member.display_name,
            display_name=member.display_name,
        ),
        existing,
        resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    request.session["passkey_register_state"] = state
    return dict(options)


def passkey_register_complete(
    request: HttpRequest, member: Member, response: dict, name: str, *, how: Enrollment
) -> SecondFactor:
    """Verify a new passkey and store it as ``how`` allows; raises ValueError (or one of
    fido2's errors) for a bad response or an enrollment window that closed meanwhile."""
    state = request.session.pop("passkey_register_state", None)
    if state is None:
        raise ValueError("no registration in progress")
    auth_data = server().register_complete(state, response)
    credential = auth_data.credential_data
    assert credential is not None
    if not claim(member, how):
        raise ValueError("enrollment window closed")
    return SecondFactor.objects.create(
        member=member,
        kind=SecondFactor.Kind.PASSKEY,
        name=name[:40],
        credential_id=credential.credential_id,
        credential_data=bytes(credential),
        sign_count=auth_data.counter,
        confirmed=True,
        unproven=not how.counts,
    )


def passkey_login_begin(request: HttpRequest, member: Member | None = None) -> dict[str, Any]:
    """Start a passkey login: for anyone (discoverable credentials) or for one member."""
    credentials = None
    if member is not None:
        credentials = [
            AttestedCredentialData(bytes(f.credential_data))
            for f in member.factors.filter(kind=SecondFactor.Kind.PASSKEY)
            if f.credential_data
        ]
    options, state = server().authenticate_begin(
        credentials, user_verification=UserVerificationRequirement.PREFERRED
    )
    request.session["passkey_login_state"] = state
    return dict(options)


def passkey_login_complete(request: HttpRequest, response: dict) -> SecondFactor:
    """Verify a passkey assertion and return the passkey (with its member); raises
    ValueError."""
    state = request.session.pop("passkey_login_state", None)
    if state is None:
        raise ValueError("no login in progress")
    raw_id = response.get("rawId") or response.get("id") or ""
    try:
        credential_id = base64.urlsafe_b64decode(raw_id + "=" * (-len(raw_id) % 4))
    except (ValueError, TypeError):
        raise ValueError("bad credential id") from None
    factor = (
        SecondFactor.objects.select_related("member")
        .filter(kind=SecondFactor.Kind.PASSKEY, credential_id=credential_id)
        .first()
    )
    if factor is None or not factor.credential_data:
        raise ValueError("unknown passkey")
    credential = AttestedCredentialData(bytes(factor.credential_data))
    server().authenticate_complete(state, [credential], response)
    SecondFactor.objects.filter(pk=factor.pk).update(last_used_at=timezone.now())
    return factor
