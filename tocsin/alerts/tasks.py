"""Background tasks of the delivery engine (run by `tocsin worker`).

The task is defined beside what it runs (tocsin.alerts.outbox.draining); this name, and
tocsin.alerts.outbox.deliver_outbox, stay so task rows queued before it moved still find
it.
"""

from __future__ import annotations

from tocsin.alerts.outbox import deliver_outbox

__all__ = ["deliver_outbox"]
