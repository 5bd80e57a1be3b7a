"""The seam to the legal module (tocsin.family never imports it).

``panic_triggered`` and ``panic_cancelled`` are sent after the trigger's transaction
commits, with the ``trigger`` (tocsin.family.models.Trigger) as keyword argument.
``seal_for_legal`` is sent with a JSON-serialisable ``value`` when a plan's words are
saved with the member's leave: a receiver returns them sealed to the legal team's key
(bytes), or b"" when it holds no key to seal with.
"""

from django.dispatch import Signal

panic_triggered = Signal()
panic_cancelled = Signal()
seal_for_legal = Signal()
