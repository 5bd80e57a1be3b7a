"""Panic triggers from the family plans open legal cases (tocsin.family never imports
legal: legal listens). Connected by tocsin.legal.apps once tocsin.family is installed."""

from __future__ import annotations

from typing import Any

from tocsin.family import plans, signals  # type: ignore[import-not-found, unused-ignore]
from tocsin.legal import cases
from tocsin.members.models import Member


def on_trigger(sender: Any, trigger: Any, **kwargs: Any) -> None:
    member = Member.objects.filter(pk=trigger.member_id).first()
    tasks = list(plans.tasks_for(member)) if member is not None else []
    cases.open_from_trigger(trigger, tasks)


def on_cancel(sender: Any, trigger: Any, **kwargs: Any) -> None:
    cases.cancel_from_trigger(trigger)


def connect() -> None:
    signals.panic_triggered.connect(on_trigger, dispatch_uid="legal-open-case")
    signals.panic_cancelled.connect(on_cancel, dispatch_uid="legal-cancel-case")
