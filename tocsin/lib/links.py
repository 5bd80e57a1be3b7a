"""Signed, expiring links to one incident for one member: the alert page and a
verifier's answer page. The tokens name ids only; nothing about a person or a place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing

LINK_SALT = "tocsin.alert-link"
# A verifier's link to answer a request (tocsin.incidents.answer_views).
VERIFY_SALT = "tocsin.verify-link"


class SignedAt(signing.TimestampSigner):
    """Signs with a given time instead of now: every attempt at one alert carries the
    same link, so a provider that checks a repeated idempotency key sees the same text."""

    def __init__(self, at: datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.at = at

    def timestamp(self) -> str:
        return signing.b62_encode(int(self.at.timestamp()))


def alert_link_token(*, member_id: int, incident_id: int, at: datetime | None = None) -> str:
    """Return a signed token that lets one member open one incident's alert page. Its
    lifetime counts from ``at`` (the alert's time), or from now."""
    if at is None:
        return signing.dumps([member_id, incident_id], salt=LINK_SALT, compress=True)
    return SignedAt(at, salt=LINK_SALT).sign_object([member_id, incident_id], compress=True)


def read_alert_link_token(token: str) -> tuple[int, int]:
    """Return (member_id, incident_id); raises signing.BadSignature when invalid or expired."""
    value = signing.loads(token, salt=LINK_SALT, max_age=settings.ALERT_LINK_HOURS * 3600)
    member_id, incident_id = value
    return int(member_id), int(incident_id)


def verify_link_token(*, member_id: int, incident_id: int, at: datetime | None = None) -> str:
    """Return the signed token of a verifier's answer page for one incident."""
    if at is None:
        return signing.dumps([member_id, incident_id], salt=VERIFY_SALT, compress=True)
    return SignedAt(at, salt=VERIFY_SALT).sign_object([member_id, incident_id], compress=True)


def read_verify_link_token(token: str) -> tuple[int, int]:
    """Return (member_id, incident_id); raises signing.BadSignature when invalid or expired."""
    member_id, incident_id = signing.loads(
        token, salt=VERIFY_SALT, max_age=settings.VERIFY_LINK_HOURS * 3600
    )
    return int(member_id), int(incident_id)
