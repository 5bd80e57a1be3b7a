"""Panic triggers from the family plans open legal cases, and the plans' words the member
lets the legal team see are sealed to its key (tocsin.family never imports legal: legal
listens). Connected by tocsin.legal.apps once tocsin.family is installed."""

from __future__ import annotations

import logging
from typing import Any

from tocsin.family import plans, signals  # type: ignore[import-not-found, unused-ignore]
from tocsin.legal import cases, keys
from tocsin.members.models import Member

logger = logging.getLogger(__name__)


def on_trigger(sender: Any, trigger: Any, **kwargs: Any) -> None:
    member = Member.objects.filter(pk=trigger.member_id).first()
    tasks = list(plans.tasks_for(member)) if member is not None else []
    try:
        cases.open_from_trigger(trigger, tasks)
    except keys.LegalKeyMissing as e:
        # The contacts are alerted all the same (tocsin.family.sending); the operator is
        # told at start too (legal.I001).
        logger.warning("panic trigger %s: no legal case opened: %s", trigger.pk, e)


def seal_plan_words(sender: Any, value: dict[str, Any], **kwargs: Any) -> bytes:
    """Seal a family plan's words to the legal key (b"" without one: no copy is kept)."""
    try:
        return keys.seal(value)
    except keys.LegalKeyMissing:
        return b""


def on_cancel(sender: Any, trigger: Any, **kwargs: Any) -> None:
    cases.cancel_from_trigger(trigger)


def connect() -> None:
    signals.panic_triggered.connect(on_trigger, dispatch_uid="legal-open-case")
    signals.panic_cancelled.connect(on_cancel, dispatch_uid="legal-cancel-case")
    signals.seal_for_legal.connect(seal_plan_words, dispatch_uid="legal-seal-plan")
