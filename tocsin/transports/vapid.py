"""The VAPID key pair (RFC 8292): from TOCSIN_VAPID_PRIVATE_KEY, or made once in the data folder.

Browsers subscribe with the public key (the applicationServerKey) and push services only
accept pushes signed with the key a subscription was made for, so the key is kept: `tocsin
manage vapid show` prints it, `tocsin manage vapid rotate` replaces it.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid

# A token is valid for 12 hours (RFC 8292 allows at most 24) and reused until an hour
# before it ends: one ES256 signature per push service every 11 hours instead of one per
# push, and a push service whose clock runs ahead still sees a live token.
TOKEN_SECONDS = 12 * 3600
TOKEN_MARGIN = 3600
# Push services are a handful of origins (FCM, Mozilla, Apple, ...); the bound only keeps
# hand-made subscriptions on odd origins from growing the cache.
MAX_TOKENS = 256


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_path() -> Path:
    """Return where the embedded setup keeps the private key (when not set in the env)."""
    return settings.DATA_DIR / "vapid_private_key.pem"


def from_environment() -> bool:
    """Return whether the key comes from TOCSIN_VAPID_PRIVATE_KEY instead of the file."""
    return bool(settings.VAPID_PRIVATE_KEY)


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes, *, replace: bool) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte, all at once.

    Without ``replace`` an existing file wins (FileExistsError): two processes starting
    together must not end up signing with two different keys.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


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
    path = key_path()
    if not path.exists():
        try:
            _write_private(path, _pem(ec.generate_private_key(ec.SECP256R1())), replace=False)
        except FileExistsError:
            pass  # another process made it first: use theirs
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def rotate() -> str:
    """Replace the key in the data folder with a new one; return the new public key.

    Every push subscription made for the old key stops working: push services refuse
    pushes signed with another key. Processes that already loaded the old key keep it
    until they restart.
    """
    if from_environment():
        raise RuntimeError("the VAPID key comes from TOCSIN_VAPID_PRIVATE_KEY")
    _write_private(key_path(), _pem(ec.generate_private_key(ec.SECP256R1())), replace=True)
    reset_caches()
    return application_server_key()


def reset_caches() -> None:
    """Forget the loaded key and every signed token (after a rotation, in tests)."""
    _key.cache_clear()
    signer.cache_clear()
    application_server_key.cache_clear()
    with _tokens_lock:
        _tokens.clear()


def private_key_b64() -> str:
    """Return the private key as a base64url raw scalar (the form py_vapid reads)."""
    number = _key().private_numbers().private_value
    return _b64(number.to_bytes(32, "big"))


@cache
def signer() -> Vapid:
    """Return the py_vapid signer, built once per process."""
    return Vapid.from_string(private_key=private_key_b64())


@cache
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


# (origin, subject) -> (expiry, Authorization header value)
_tokens: dict[tuple[str, str], tuple[int, str]] = {}
_tokens_lock = threading.Lock()


def authorization(origin: str, *, now: float | None = None) -> str:
    """Return the ``Authorization`` header for a push to the push service at ``origin``
    (``scheme://host[:port]``): ``vapid t=<ES256 JWT>,k=<public key>``.

    The token is signed once and reused until TOKEN_MARGIN before it expires. Raises
    py_vapid.VapidException when the subject or the origin is not acceptable.
    """
    subject = vapid_subject()
    now = time.time() if now is None else now
    # A dict read is atomic: the lock only keeps writers from racing each other.
    cached = _tokens.get((origin, subject))
    if cached is not None and cached[0] - TOKEN_MARGIN > now:
        return cached[1]
    expires = int(now) + TOKEN_SECONDS
    header = signer().sign({"aud": origin, "sub": subject, "exp": expires})["Authorization"]
    with _tokens_lock:
        if len(_tokens) >= MAX_TOKENS:
            _tokens.clear()
        _tokens[(origin, subject)] = (expires, header)
    return header


def forget(origin: str) -> None:
    """Drop the tokens for ``origin``: its push service refused one, sign afresh next time."""
    with _tokens_lock:
        for key in [k for k in _tokens if k[0] == origin]:
            del _tokens[key]
