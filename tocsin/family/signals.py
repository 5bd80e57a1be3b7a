"""The seam to the legal module: sent after the trigger's transaction commits, with the
``trigger`` (tocsin.family.models.Trigger) as keyword argument."""

from django.dispatch import Signal

panic_triggered = Signal()
panic_cancelled = Signal()
