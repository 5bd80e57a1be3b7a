"""Who sent a report, as far as a quorum needs to know: "the same person as before", and
"trusted by committee N" (tocsin.incidents.reports.trusted_in). Never who.

A member's report carries ``source_tag = HMAC(key, member id)`` where the key is random,
lives only in the cache (Redis, or the process's memory) and is replaced every UTC day;
each key is kept one more day so a report just after midnight still matches one just
before it. Once a key is gone, no one (the operator, a subpoena, a seized disk) can tell
whose tags those were: the key was never in the database, a file or a setting. The
retention purge empties the tags too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.core.cache import cache

# Today's key and yesterday's are kept; a key lives two days plus a margin.
KEY_SECONDS = 2 * 86400 + 3600


def _key(day: dt.date) -> bytes:
    name = f"tocsin:source-key:{day.isoformat()}"
    value = cache.get(name)
    if value is None:
        cache.add(name, secrets.token_hex(32), KEY_SECONDS)
        value = cache.get(name)
    return bytes.fromhex(value)


def tags(member_id: int, *, today: dt.date | None = None) -> tuple[str, str]:
    """Return the member's tag under today's key and under yesterday's."""
    today = today or dt.datetime.now(dt.UTC).date()
    message = str(member_id).encode()
    return tuple(  # type: ignore[return-value]
        hmac.new(_key(day), message, hashlib.sha256).hexdigest()[:32]
        for day in (today, today - dt.timedelta(days=1))
    )


def tag(member_id: int) -> str:
    """Return the tag a report from ``member_id`` carries now."""
    return tags(member_id)[0]
