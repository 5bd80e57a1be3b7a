"""What alerts read of the incident they are about.

Alerts sit below incidents (docs/architecture.md): they say what they read of an incident
here instead of importing its model. tocsin.incidents.models.Incident is one.
"""

from __future__ import annotations

from typing import Any, Protocol


class Incident(Protocol):
    @property
    def pk(self) -> Any: ...

    # The report's H3 cell (tocsin.geo.REPORT_RESOLUTION).
    @property
    def cell(self) -> int: ...

    # The committees that own it (a many-to-many manager).
    @property
    def committees(self) -> Any: ...

    # The alerts sent about it (the reverse manager of Alert.incident).
    @property
    def alerts(self) -> Any: ...

    # Its state (tocsin.lib.incident_states.State).
    @property
    def state(self) -> str: ...
