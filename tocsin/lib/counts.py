"""Counts shown in public: below a threshold they read "fewer than 5", never the number.

A small number on a public page can point at people (two people signed up for a vigil
at a workplace: which two?). Organizer-only pages show exact counts; every figure a
stranger can read goes through ``publish_count`` (TOCSIN_PUBLIC_MIN_COUNT, default 5).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext

DEFAULT_MIN_COUNT = 5


def min_count() -> int:
    """Return the smallest count shown in public (TOCSIN_PUBLIC_MIN_COUNT)."""
    return int(getattr(settings, "PUBLIC_MIN_COUNT", DEFAULT_MIN_COUNT))


@dataclass(frozen=True)
class PublicCount:
    """A count as the public may read it: ``n`` is None when it is hidden."""

    n: int | None
    threshold: int

    @property
    def hidden(self) -> bool:
        return self.n is None

    def __str__(self) -> str:
        if self.n is None:
            return gettext("fewer than %(n)s") % {"n": self.threshold}
        return number_format(self.n)


def publish_count(n: int, threshold: int | None = None) -> PublicCount:
    """Return ``n`` as the public may read it: hidden when below ``threshold``
    (TOCSIN_PUBLIC_MIN_COUNT when None); zero is hidden too, so "none yet" and "two"
    read the same."""
    limit = min_count() if threshold is None else threshold
    return PublicCount(None if n < limit else n, limit)
