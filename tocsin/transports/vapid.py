"""The VAPID key pair (RFC 8292): from TOCSIN_VAPID_PRIVATE_KEY, or made once in the data folder."""

from __future__ import annotations

import base64
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@cache
def _key() -> ec.EllipticCurvePrivateKey:
    raw = settings.VAPID_PRIVATE_KEY
    if raw:
        if "BEGIN" in raw:
            key = serialization.load_pem_private_key(raw.encode(), password=None)
        else:
            padded = raw + "=" * (-len(raw) % 4)
            value = int.from_bytes(base64.urlsafe_b64decode(padded), "big")
            key = ec.derive_private_key(value, ec.SECP256R1())
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = settings.DATA_DIR / "vapid_private_key.pem"
    if not path.exists():
        new = ec.generate_private_key(ec.SECP256R1())
        pem = new.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def private_key_b64() -> str:
    """Return the private key as a base64url raw scalar (the form py_vapid reads)."""
    number = _key().private_numbers().private_value
    return _b64(number.to_bytes(32, "big"))


@cache
def signer() -> Vapid:
    """Return the py_vapid signer, built once per process."""
    return Vapid.from_string(private_key=private_key_b64())


def application_server_key() -> str:
    """Return the public key a browser passes to pushManager.subscribe()."""
    point = (
        _key()
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return _b64(point)


def vapid_subject() -> str:
    return settings.VAPID_SUBJECT
