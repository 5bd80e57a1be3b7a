"""Proof of work for the web form, in the ALTCHA protocol, served by Tocsin itself.

The server makes a challenge: a random salt carrying its expiry, a secret number below
``maxnumber``, ``challenge = sha256(salt + number)`` and ``signature = HMAC(key, challenge)``.
The browser (static/js/pow.js) tries numbers until it finds the one whose hash is the
challenge and sends back base64(JSON {algorithm, challenge, number, salt, signature}). The
server needs no memory of the challenges it gave out, only of the ones already used (in the
cache, until they expire). No cookie, nothing about the person.

Difficulty follows load: the more web reports arrived in the last minutes, the larger
``maxnumber``, from settings.POW_MIN to settings.POW_MAX. The salt carries the challenge's
``maxnumber`` too (the signature covers it), so a challenge fetched while it was quiet
stops counting once the load has made new ones more than STALE_FACTOR times harder: a
flooder cannot stockpile cheap challenges for later. A person whose form was open through
that change gets the form back with what they typed, and the page solves a new one.

A network past its share of reports (tocsin.lib.ratelimit) gets challenges of
settings.POW_BURST, harder than any the load asks for, and its reports count only with
one: its reports are never refused for being many, but a flood from one network pays for
each one past its share.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac

from tocsin.lib import untrusted

ALGORITHM = "SHA-256"
# Long enough to fill in the form on a slow phone; the page fetches a new one before then.
EXPIRES_SECONDS = 30 * 60
# Web reports a minute at which the difficulty reaches settings.POW_MAX.
FULL_LOAD_PER_MINUTE = 30
# A solution counts while its challenge is at least 1/STALE_FACTOR as hard as a new one.
STALE_FACTOR = 4


class Refused(ValueError):
    """A solution that does not count: ``code`` is missing, malformed, expired, stale (too
    easy for the load now), harder (too easy for a network past its share), wrong or
    reused."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Solution:
    challenge: str
    expires: int
    # The challenge's maxnumber, as signed: how much work it took.
    hardness: int = 0


def _key() -> bytes:
    return salted_hmac("tocsin.intake.pow", "signature", algorithm="sha256").digest()


def _sign(challenge: str) -> str:
    return hmac.new(_key(), challenge.encode(), hashlib.sha256).hexdigest()


def _hash(salt: str, number: int) -> str:
    return hashlib.sha256(f"{salt}{number}".encode()).hexdigest()


def _minute(now: float) -> int:
    return int(now // 60)


def record_load(*, now: float | None = None) -> None:
    """Count one web report towards the current minute's load."""
    key = f"tocsin:pow:load:{_minute(time.time() if now is None else now)}"
    cache.add(key, 0, timeout=180)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=180)


def load(*, now: float | None = None) -> int:
    """Return the web reports of this minute and the one before."""
    minute = _minute(time.time() if now is None else now)
    counts = cache.get_many([f"tocsin:pow:load:{minute}", f"tocsin:pow:load:{minute - 1}"])
    return sum(int(v) for v in counts.values())


def difficulty(*, now: float | None = None) -> int:
    """Return the ``maxnumber`` for a new challenge: the floor when quiet, rising linearly
    with load to the ceiling at FULL_LOAD_PER_MINUTE reports a minute."""
    low, high = settings.POW_MIN, settings.POW_MAX
    share = min(1.0, load(now=now) / (2 * FULL_LOAD_PER_MINUTE))
    return int(low + (high - low) * share)


def burst_difficulty(*, now: float | None = None) -> int:
    """Return the ``maxnumber`` for a network past its share of reports
    (tocsin.lib.ratelimit): settings.POW_BURST, or more if the load asks for more."""
    return max(settings.POW_BURST, difficulty(now=now))


def hard_enough(solution: Solution) -> None:
    """Raise Refused("harder") unless ``solution`` solved a challenge as hard as a network
    past its share must: one fetched before the network went past it does not count."""
    if solution.hardness < settings.POW_BURST:
        raise Refused("harder")


def make_challenge(*, now: float | None = None, maxnumber: int | None = None) -> dict[str, Any]:
    """Return a new challenge in the ALTCHA format."""
    now = time.time() if now is None else now
    maxnumber = maxnumber or difficulty(now=now)
    salt = f"{secrets.token_hex(12)}?expires={int(now) + EXPIRES_SECONDS}&max={maxnumber}"
    number = secrets.randbelow(maxnumber + 1)
    challenge = _hash(salt, number)
    return {
        "algorithm": ALGORITHM,
        "challenge": challenge,
        "maxnumber": maxnumber,
        "salt": salt,
        "signature": _sign(challenge),
    }


def verify(payload: str, *, now: float | None = None) -> Solution:
    """Return the solution in ``payload`` if it solves a challenge we signed and that has
    not expired; raise Refused otherwise. Does not check reuse: see redeem()."""
    now = time.time() if now is None else now
    if not payload:
        raise Refused("missing")
    try:
        data = untrusted.load_json(base64.b64decode(payload, validate=True))
        algorithm, challenge = str(data["algorithm"]), str(data["challenge"])
        salt, signature = str(data["salt"]), str(data["signature"])
        number = int(data["number"])
        params = parse_qs(salt.partition("?")[2])
        expires = int(params["expires"][0])
        # A salt without it is from before challenges carried it: too old to count.
        hardness = int(params.get("max", ["0"])[0])
    except (binascii.Error, ValueError, TypeError, KeyError, IndexError):
        raise Refused("malformed") from None
    if algorithm != ALGORITHM or number < 0:
        raise Refused("malformed")
    # Bytes: compare_digest refuses str with anything but ASCII in it.
    if not hmac.compare_digest(_sign(challenge).encode(), signature.encode()):
        raise Refused("wrong")
    if not hmac.compare_digest(_hash(salt, number).encode(), challenge.encode()):
        raise Refused("wrong")
    if expires <= now:
        raise Refused("expired")
    if hardness * STALE_FACTOR < difficulty(now=now):
        raise Refused("stale")
    return Solution(challenge=challenge, expires=expires, hardness=hardness)


def redeem(solution: Solution, *, now: float | None = None) -> None:
    """Mark ``solution`` used, or raise Refused("reused") if it was already."""
    now = time.time() if now is None else now
    remaining = max(1, int(solution.expires - now) + 1)
    if not cache.add(f"tocsin:pow:used:{solution.challenge}", 1, timeout=remaining):
        raise Refused("reused")
