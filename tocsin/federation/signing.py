"""HTTP Message Signatures (RFC 9421) for federation, through http-message-signatures:
Ed25519, covering @method, @target-uri, content-digest (SHA-256 of the body) and date,
with a nonce and the time it was made. The keyid is the signer's public key."""

from __future__ import annotations

import datetime as dt
import email.utils
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)

COVERED = ("@method", "@target-uri", "content-digest", "date")
LABEL = "tocsin"
TAG = "tocsin-federation"
# How far a partner's clock (its Date and the signature's created) may be from ours.
MAX_SKEW = dt.timedelta(minutes=5)

__all__ = ["InvalidSignature", "Request", "sign", "verify"]


@dataclass
class Request:
    """What the library reads of a request: its method, absolute URL and header fields."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class _Resolver(HTTPSignatureKeyResolver):
    def __init__(
        self,
        *,
        private: ed25519.Ed25519PrivateKey | None = None,
        public: Callable[[str], ed25519.Ed25519PublicKey | None] | None = None,
    ) -> None:
        self.private = private
        self.public = public

    def resolve_private_key(self, key_id: str) -> ed25519.Ed25519PrivateKey:
        assert self.private is not None
        return self.private

    def resolve_public_key(self, key_id: str) -> ed25519.Ed25519PublicKey | None:
        assert self.public is not None
        return self.public(key_id)


def sign(
    url: str,
    body: bytes,
    *,
    key: ed25519.Ed25519PrivateKey,
    key_id: str,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """Return the header fields that sign a POST of ``body`` to ``url``."""
    now = now or dt.datetime.now(dt.UTC)
    request = Request(
        "POST",
        url,
        {"Date": email.utils.format_datetime(now.astimezone(dt.UTC), usegmt=True)},
    )
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_Resolver(private=key)
    )
    signer.sign(
        request,
        key_id=key_id,
        created=now,
        nonce=secrets.token_urlsafe(16),
        label=LABEL,
        tag=TAG,
        covered_component_ids=COVERED,
        body=body,
    )
    return request.headers


class _Verifier(HTTPMessageVerifier):
    max_clock_skew = MAX_SKEW


def skewed(headers: Mapping[str, str], *, now: dt.datetime | None = None) -> bool:
    """Whether the request's Date is missing, unreadable or more than MAX_SKEW from now."""
    now = now or dt.datetime.now(dt.UTC)
    value = next((v for k, v in headers.items() if k.lower() == "date"), "")
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return True
    if when is None or when.tzinfo is None:
        return True
    return abs(now - when) > MAX_SKEW


@dataclass(frozen=True)
class Verified:
    key_id: str
    nonce: str


def verify(
    request: Request,
    body: bytes,
    *,
    public: Callable[[str], ed25519.Ed25519PublicKey | None],
) -> Verified:
    """Verify the request's signature and body digest against the key ``public`` returns
    for its keyid; return the keyid and nonce. Raises InvalidSignature."""
    verifier = _Verifier(
        signature_algorithm=algorithms.ED25519, key_resolver=_Resolver(public=public)
    )
    results = verifier.verify(
        request,
        max_age=MAX_SKEW,
        expect_tag=TAG,
        require_components=COVERED,
        body=body,
    )
    result = results[0]
    nonce = result.parameters.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise InvalidSignature("the signature has no nonce")
    return Verified(key_id=str(result.parameters["keyid"]), nonce=nonce)
