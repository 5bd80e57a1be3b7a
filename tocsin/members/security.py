"""Account security: TOTP (RFC 6238), passkeys (WebAuthn via fido2), strong sessions.

Dispatchers and organizers must prove a second factor (a passkey or an authenticator
app, never SMS) before they reach the desk or committee pages; a session that did is
"strong". Members log in with an emailed code or a passkey.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.contrib.auth import login
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
from tocsin.committees.models import Membership, Role
from tocsin.members.models import Member, SecondFactor

STRONG_KEY = "tocsin_strong_at"
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


def mark_strong(request: HttpRequest) -> None:
    request.session[STRONG_KEY] = int(time.time())
    request.session.cycle_key()


def is_strong(request: HttpRequest) -> bool:
    return bool(request.session.get(STRONG_KEY))


def needs_second_factor(member: Member) -> bool:
    """Return whether this member's role requires a passkey or TOTP session."""
    if not settings.STAFF_MFA:
        return False
    return Membership.objects.filter(member=member).at_least(Role.DISPATCHER).exists()


def end_all_sessions(member: Member) -> None:
    """End every session of ``member`` at their next request."""
    Member.objects.filter(pk=member.pk).update(session_epoch=member.session_epoch + 1)
    member.session_epoch += 1


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
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**TOTP_DIGITS:0{TOTP_DIGITS}d}"


def check_totp(
    secret: str, code: str, *, after_step: int = 0, now: float | None = None
) -> int | None:
    """Return the matching time step (one step of clock drift allowed), or None.

    A step at or before ``after_step`` is refused, so a code cannot be replayed.
    """
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != TOTP_DIGITS:
        return None
    current = int((time.time() if now is None else now) // TOTP_STEP)
    for step in (current - 1, current, current + 1):
        if step > after_step and hmac.compare_digest(totp_at(secret, step), code):
            return step
    return None


def totp_uri(secret: str, label: str) -> str:
    return f"otpauth://totp/Tocsin:{quote(label)}?secret={secret}&issuer=Tocsin&digits=6&period=30"


def verify_member_totp(member: Member, code: str) -> bool:
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
                return True
    return False


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
    request: HttpRequest, member: Member, response: dict, name: str
) -> SecondFactor:
    state = request.session.pop("passkey_register_state", None)
    if state is None:
        raise ValueError("no registration in progress")
    auth_data = server().register_complete(state, response)
    credential = auth_data.credential_data
    assert credential is not None
    return SecondFactor.objects.create(
        member=member,
        kind=SecondFactor.Kind.PASSKEY,
        name=name[:40],
        credential_id=credential.credential_id,
        credential_data=bytes(credential),
        sign_count=auth_data.counter,
        confirmed=True,
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


def passkey_login_complete(request: HttpRequest, response: dict) -> Member:
    """Verify a passkey assertion and return its member; raises ValueError."""
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
    return factor.member
