"""Codes that confirm a phone channel: made by a worker, checked by the member's page."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tocsin.members.models import ContactEndpoint, EndpointVerification

CODE_MINUTES = 10


def hash_code(endpoint_id: int, code: str) -> str:
    message = f"endpoint-{endpoint_id}:{code.strip()}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def new_code(endpoint: ContactEndpoint) -> tuple[str, EndpointVerification]:
    """Return a fresh code and its stored hash, replacing any earlier code (worker side)."""
    code = f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic():
        EndpointVerification.objects.filter(endpoint=endpoint).delete()
        verification = EndpointVerification.objects.create(
            endpoint=endpoint,
            code_hash=hash_code(endpoint.pk, code),
            expires_at=timezone.now() + timedelta(minutes=CODE_MINUTES),
        )
    return code, verification
