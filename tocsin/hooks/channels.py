"""Each channel's inbound hook, found by its kind: ``tocsin/hooks/<kind>.py``.

A hook module may hold ``urlpatterns`` (the provider calls Tocsin: included under
``hooks/<kind>/`` by tocsin.hooks.urls) and ``run(stop_event)`` (Tocsin asks the provider,
as for Signal: a loop the worker starts while the channel is on). A channel's hook is
found by its name, as Django finds an app's ``urls`` or ``admin`` module, so adding one
is adding its module: no table to edit here, in tocsin/urls.py or in the worker.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable
from types import ModuleType

from tocsin.transports import registry as transports

Poller = Callable[[threading.Event], None]


def hooks() -> dict[str, ModuleType]:
    """Return the hook module of every channel in the registry that has one, by kind."""
    found = {}
    for kind in transports.CHANNELS:
        name = f"{__package__}.{kind}"
        if importlib.util.find_spec(name) is not None:
            found[kind] = importlib.import_module(name)
    return found


def webhooks() -> dict[str, ModuleType]:
    """Return the hook modules that providers call (those with ``urlpatterns``)."""
    return {kind: m for kind, m in hooks().items() if hasattr(m, "urlpatterns")}


def pollers() -> dict[str, Poller]:
    """Return the loops that fetch what people sent, by kind (``run(stop_event)``)."""
    return {kind: m.run for kind, m in hooks().items() if callable(getattr(m, "run", None))}
