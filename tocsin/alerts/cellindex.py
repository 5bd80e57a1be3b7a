"""An in-memory index of member areas, so targeting a metro takes milliseconds.

The database stays the source of truth. The index is a snapshot of every AlertArea
(cell -> member ids, by ring) plus an overlay of members whose areas changed since,
read back from the database. Every change to an area is logged (AreaChange) by the
signals below, in the transaction that makes it; AreaLog serializes those
transactions so AreaChange ids grow in commit order. Before answering, the index
applies the changes after the last id it saw: a member who joins, moves or removes an
area is targeted correctly from the next alert on. Bulk loads that bypass signals call
``areas_replaced()``, which makes every index rebuild.

A process starts the index with ``start()`` (the web server and the worker do): it is
built in a background thread, and until it is ready targeting asks the database, with
the same exact answer. Tests build it lazily on first use.
"""

from __future__ import annotations

import logging
import threading
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import close_old_connections, connection
from django.db.models import F, Max
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tocsin.members.models import AlertArea, AreaChange, AreaLog

logger = logging.getLogger(__name__)

MAX_RING = 3
# Past this many changed members, the overlay is folded into a new snapshot.
OVERLAY_LIMIT = 20_000


def _lock_log() -> None:
    """Take AreaLog's row lock for this transaction (creating the row if missing)."""
    if not AreaLog.objects.filter(pk=1).update(floor=F("floor")):
        AreaLog.objects.get_or_create(pk=1)
        AreaLog.objects.filter(pk=1).update(floor=F("floor"))


def record_changes(member_ids: Iterable[int]) -> None:
    """Log that these members' areas changed; call inside the changing transaction."""
    ids = sorted(set(member_ids))
    if not ids:
        return
    _lock_log()
    AreaChange.objects.bulk_create([AreaChange(member_id=m) for m in ids], batch_size=1000)


def areas_replaced() -> None:
    """Say that areas were loaded in bulk (no signals): every index rebuilds."""
    _lock_log()
    AreaLog.objects.filter(pk=1).update(generation=F("generation") + 1)


@receiver(post_save, sender=AlertArea)
@receiver(post_delete, sender=AlertArea)
def _area_changed(sender: type, instance: AlertArea, **kwargs: object) -> None:
    record_changes([instance.member_id])


def purge_changes(keep_seconds: int = 86400) -> int:
    """Delete change records older than ``keep_seconds``; indexes older than that rebuild."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    cutoff = timezone.now() - timedelta(seconds=keep_seconds)
    with transaction.atomic():
        top = AreaChange.objects.filter(created_at__lt=cutoff).aggregate(m=Max("id"))["m"]
        if top is None:
            return 0
        _lock_log()
        AreaLog.objects.filter(pk=1).update(floor=top)
        deleted, _ = AreaChange.objects.filter(id__lte=top).delete()
    return deleted


@dataclass(frozen=True)
class Match:
    """Members an alert reaches, as the index holds them: ``ids`` from the snapshot (a
    member with two matching areas appears twice; no set is built, which is most of
    the cost at a metro's size), minus every member in ``stale`` (changed since the
    snapshot), plus ``add`` (changed members who match now)."""

    ids: array[int]
    stale: frozenset[int] = frozenset()
    add: set[int] = field(default_factory=set)

    def members(self) -> set[int]:
        found = set(self.ids)
        found.difference_update(self.stale)
        found |= self.add
        return found


class CellIndex:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        # cell -> (member ids sorted by ring, largest first; how many have ring >= k).
        self._cells: dict[int, tuple[array[int], tuple[int, ...]]] = {}
        # member -> their areas now, for members changed since the snapshot.
        self._overlay: dict[int, list[tuple[int, int]]] = {}
        self._watermark = 0
        self._generation = -1
        self._floor = 0
        self.ready = False
        self.lazy = False
        self.areas = 0

    # --- building and refreshing ---

    def build(self) -> None:
        """Load a new snapshot of every area from the database."""
        started = time.perf_counter()
        state = AreaLog.objects.filter(pk=1).values_list("floor", "generation").first()
        watermark = AreaChange.objects.aggregate(m=Max("id"))["m"] or 0
        qs = AlertArea.objects.order_by().values_list("cell", "ring", "member_id")
        with self._lock:
            self.load(qs.iterator(chunk_size=20_000))
            self._watermark = watermark
            self._floor, self._generation = state or (0, 0)
        logger.info(
            "targeting index built: %d areas in %d cells, %.1f s",
            self.areas,
            len(self._cells),
            time.perf_counter() - started,
        )

    def load(self, areas: Iterable[tuple[int, int, int]]) -> None:
        """Replace the snapshot with ``areas``, (cell, ring, member id) each."""
        rows: dict[int, list[tuple[int, int]]] = {}
        count = 0
        for cell, ring, member_id in areas:
            rows.setdefault(cell, []).append((ring, member_id))
            count += 1
        cells: dict[int, tuple[array[int], tuple[int, ...]]] = {}
        for cell, entries in rows.items():
            entries.sort(reverse=True)
            ids = array("q", (m for _, m in entries))
            bounds = tuple(sum(1 for r, _ in entries if r >= k) for k in range(MAX_RING + 1))
            cells[cell] = (ids, bounds)
        with self._lock:
            self._cells = cells
            self._overlay = {}
            self.areas = count
            self.ready = True

    def refresh(self) -> None:
        """Apply area changes committed since the last refresh (a query or two)."""
        with self._lock:
            state = AreaLog.objects.filter(pk=1).values_list("floor", "generation").first()
            floor, generation = state or (0, 0)
            if generation != self._generation or floor > self._watermark:
                self.build()
                return
            changes = list(
                AreaChange.objects.filter(id__gt=self._watermark)
                .order_by("id")
                .values_list("id", "member_id")
            )
            if not changes:
                return
            members = {m for _, m in changes}
            current: dict[int, list[tuple[int, int]]] = {m: [] for m in members}
            for member_id, cell, ring in AlertArea.objects.filter(
                member_id__in=members
            ).values_list("member_id", "cell", "ring"):
                current[member_id].append((cell, ring))
            self._overlay.update(current)
            self._watermark = changes[-1][0]
            if len(self._overlay) > OVERLAY_LIMIT:
                self.build()

    def reset(self, *, lazy: bool = False) -> None:
        """Forget everything; with ``lazy``, build on first use (tests)."""
        with self._lock:
            self._cells, self._overlay = {}, {}
            self._watermark, self._generation, self._floor = 0, -1, 0
            self.ready = False
            self.lazy = lazy

    # --- answering ---

    def members(self, by_reach: dict[int, set[int]]) -> Match | None:
        """Return members with an area intersecting the alert whose candidate cells are
        ``by_reach`` (see targeting.cells_by_reach), or None if the index is not ready."""
        with self._lock:
            if not self.ready:
                if not self.lazy:
                    return None
                self.build()
            self.refresh()
            return self.lookup(by_reach)

    def lookup(self, by_reach: dict[int, set[int]]) -> Match:
        """Answer from memory alone, without reading changes first."""
        with self._lock:
            ids: array[int] = array("q")
            for k, cells in by_reach.items():
                for cell in cells:
                    entry = self._cells.get(cell)
                    if entry is not None:
                        found, bounds = entry
                        n = bounds[k] if k < len(bounds) else 0
                        if n == len(found):
                            ids.extend(found)
                        elif n:
                            ids.frombytes(memoryview(found)[:n].tobytes())
            add: set[int] = set()
            if self._overlay:
                reach = {cell: k for k, cells in by_reach.items() for cell in cells}
                for member_id, areas in self._overlay.items():
                    for cell, ring in areas:
                        need = reach.get(cell)
                        if need is not None and ring >= need:
                            add.add(member_id)
                            break
            return Match(ids, frozenset(self._overlay), add)

    # --- running in a process ---

    def run(self, stop: threading.Event, interval: float = 5.0) -> None:
        """Build, then refresh every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                close_old_connections()
                if not self.ready:
                    self.build()
                else:
                    self.refresh()
            except Exception:
                logger.exception("targeting index refresh failed; targeting uses the database")
                stop.wait(5)
            finally:
                connection.close()
            stop.wait(interval)


INDEX = CellIndex()
_started = threading.Lock()
_stop = threading.Event()
_thread: threading.Thread | None = None


def start() -> None:
    """Build the index in a background thread and keep it fresh (once per process)."""
    global _thread
    with _started:
        if _thread is not None:
            return
        _thread = threading.Thread(target=INDEX.run, args=(_stop,), name="cell-index", daemon=True)
        _thread.start()
