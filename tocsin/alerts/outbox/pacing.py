"""Pacing each channel: its rate, a pause when its provider answers Retry-After, its
pool of send threads, and how much of it one claim takes.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings


class RateLimiter:
    """Messages per second for one channel in this process, and a pause for the whole
    channel when its provider answers 429 with Retry-After."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = 0.0
        self._paused_until = 0.0

    def paused_for(self) -> float:
        """Seconds the channel stays paused (0 if it is not)."""
        return max(0.0, self._paused_until - time.monotonic())

    def acquire(self) -> float:
        """Wait for this send's turn. Return 0, or, if the channel is paused for longer
        than a moment, the seconds left without waiting (the send is put back)."""
        if not self.rate and not self._paused_until:
            return 0.0  # no rate, never paused: nothing to wait for, no lock to take
        with self._lock:
            now = time.monotonic()
            if self._paused_until - now > 1.0:
                return self._paused_until - now
            at = max(now, self._paused_until)
            if self.rate:
                at = max(at, self._next)
                self._next = at + 1.0 / self.rate
        if at > now:
            time.sleep(at - now)
        return 0.0

    def pause(self, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + min(seconds, MAX_PAUSE)
            self._paused_until = max(self._paused_until, until)


# A provider asking for a longer pause is asked again after this long.
MAX_PAUSE = 900.0


_limiters: dict[str, RateLimiter] = {}
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
# The send pools' threads are named after this and their channel.
SEND_THREAD_PREFIX = "send-"


def reset_pacing() -> None:
    """Forget rates, pauses and thread pools (tests change the settings)."""
    with _pools_lock:
        _limiters.clear()
        for pool in _pools.values():
            pool.shutdown(wait=False)
        _pools.clear()


def limiter(kind: str) -> RateLimiter:
    with _pools_lock:
        if kind not in _limiters:
            _limiters[kind] = RateLimiter(settings.DELIVERY_RATE.get(kind, 0))
        return _limiters[kind]


def _pool_size(kind: str) -> int:
    return int(settings.DELIVERY_CONCURRENCY.get(kind, 4))


def _pool(kind: str) -> ThreadPoolExecutor | None:
    size = _pool_size(kind)
    if size <= 0:
        return None
    with _pools_lock:
        if kind not in _pools:
            _pools[kind] = ThreadPoolExecutor(
                max_workers=size, thread_name_prefix=f"{SEND_THREAD_PREFIX}{kind}"
            )
        return _pools[kind]


def batch_limit(kind: str) -> int:
    """Claim no more than the channel can send in a quarter of the lease."""
    rate = settings.DELIVERY_RATE.get(kind, 0)
    if not rate:
        return settings.DELIVERY_BATCH
    return max(1, min(settings.DELIVERY_BATCH, int(rate * settings.DELIVERY_LEASE_SECONDS / 4)))
