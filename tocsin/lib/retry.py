"""One retry schedule for everything Tocsin sends: deliveries, committee posts, replies."""

from __future__ import annotations

import random


def backoff(attempts: int) -> float:
    """Return seconds to wait before attempt ``attempts + 1``: capped exponential with jitter.

    The jitter spreads a provider's outage recovery: deliveries that failed together do not
    all come back in the same second.
    """
    base = min(600.0, 5.0 * (2 ** max(0, attempts - 1)))
    return base / 2 + random.random() * base / 2
