"""Limits on the codes people type: per account and per network, kept only in the cache.

Every code typed on the site (an emailed login code, an authenticator app's code at login
or at setup, an SMS or Signal code that confirms a number) is counted in a window of
TOCSIN_CODE_TRIES_MINUTES against two budgets: the network's (the request's *source*,
the keyed hash of its /24 or /48 that the report form's limit uses,
tocsin.lib.ratelimit; no address is kept) and the account's. Once either is spent,
the code is not checked at all, so a right code gets the same answer as a wrong one
until the window ends.

A six-digit code with one step of clock drift has 3 chances in a million per try: at
the default 10 tries per 15 minutes an account gives about a thousand tries a day, years
of guessing on average, where an unlimited endpoint took under an hour.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac
from django.utils.translation import ngettext

from tocsin.transports import registry as transports


def _window() -> int:
    return settings.CODE_TRIES_MINUTES * 60


def _count(key: str, limit: int, now: float) -> bool:
    """Count one try under ``key`` in the current window; False once past ``limit``."""
    window = _window()
    key = f"tocsin:tries:{key}:{int(now // window)}"
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key) <= limit
    except ValueError:  # the window ran out between add and incr
        cache.add(key, 1, timeout=window)
        return True


def take(kind: str, account: str, source: str | None, *, now: float | None = None) -> bool:
    """Count one typed code of ``kind`` for ``account`` from the network ``source``;
    return whether it may be checked.

    The network is counted first, and an account only for tries its network allowed: a
    flood from one network then cannot use up the account's tries of the person it
    targets from elsewhere.
    """
    now = time.time() if now is None else now
    if source is not None and not _count(
        f"{kind}:net:{source}", settings.CODE_TRIES_PER_NETWORK, now
    ):
        return False
    return _count(f"{kind}:acct:{account}", settings.CODE_TRIES_PER_ACCOUNT, now)


def member_account(member_id: int) -> str:
    return f"m{member_id}"


def address_account(email: str) -> str:
    """Return the account key of a login by ``email``: the same for a known address and
    an unknown one, so the limit tells nobody which addresses belong to members.

    It is kept in the login's session: a keyed hash of the address's blind index, not the
    blind index itself, so the session row names no address.
    """
    index = transports.blind_index("email", email)
    return salted_hmac("tocsin.members.attempts", index, algorithm="sha256").hexdigest()[:32]


def refusal() -> str:
    """Return what a person sees once a budget is spent (in the active language)."""
    minutes = settings.CODE_TRIES_MINUTES
    return ngettext(
        "Too many tries. Wait %(minutes)d minute, then try again.",
        "Too many tries. Wait %(minutes)d minutes, then try again.",
        minutes,
    ) % {"minutes": minutes}
