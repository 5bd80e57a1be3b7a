"""Finding a report by its receipt code, for the reporter who holds it.

The code is the only key to a report's receipt page (its state, the dispatcher's answers,
a box to write back): eight characters from a 32-letter alphabet, about 10^12 codes. A
code looked up without a match counts against its network's budget
(settings.RECEIPT_MISSES_PER_10MIN, the private limiter of tocsin.lib.ratelimit: a keyed
hash of the /24 or /48, in the cache only); past it no code is checked at all, so a right
code gets the same answer as a wrong one until the budget comes back. A code found costs
nothing: a reporter reloading their page never runs out. A code that cannot be one (wrong
length, a letter the alphabet leaves out) is refused before any lookup, and costs nothing.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.translation import gettext as _

from tocsin.intake.models import RECEIPT_ALPHABET, RECEIPT_LENGTH, Report
from tocsin.lib import ratelimit

_SEPARATORS = re.compile(r"[\s\-_.·]+")
_CODE = re.compile(f"[{RECEIPT_ALPHABET}]{{{RECEIPT_LENGTH}}}")

MALFORMED = "malformed"
UNKNOWN = "unknown"
LIMITED = "limited"


class NotFound(LookupError):
    """No report for the code typed: ``code`` says why (MALFORMED, UNKNOWN, LIMITED)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def normalize(typed: str) -> str | None:
    """Return the receipt code in ``typed`` as stored (upper case, no spaces or dashes),
    or None when no receipt can be written that way."""
    code = _SEPARATORS.sub("", typed or "").upper()
    return code if _CODE.fullmatch(code) else None


def find(typed: str, source: str | None, *, now: float | None = None) -> Report:
    """Return the report whose receipt code is ``typed``, looked up from the network
    ``source``; raise NotFound otherwise."""
    code = normalize(typed)
    if code is None:
        raise NotFound(MALFORMED)
    if source is not None:
        # Counted first, taken back on a match: concurrent guesses cannot all slip in.
        misses = ratelimit.count("receipt", source, now=now)
        if misses > settings.RECEIPT_MISSES_PER_10MIN:
            ratelimit.uncount("receipt", source, now=now)
            raise NotFound(LIMITED)
    report = Report.objects.filter(receipt=code).first()
    if report is None:
        raise NotFound(UNKNOWN)
    if source is not None:
        ratelimit.uncount("receipt", source, now=now)
    return report


def problem(code: str) -> str:
    """Return what to tell a reporter whose code found nothing (in the active language)."""
    if code == MALFORMED:
        return _(
            "A receipt code has 8 letters and digits, like 7KQ2M9XA (no O, I, 0 or 1). "
            "Check what you typed."
        )
    if code == LIMITED:
        return _(
            "Too many receipt codes were tried from your network in the last few minutes. "
            "Wait ten minutes, then try again, or call your hotline."
        )
    return _(
        "No report has that receipt code. Check each letter and digit, and try again. "
        "Reports are deleted a few days after they are closed."
    )
