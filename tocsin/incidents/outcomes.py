"""What a reporter by text hears when their report's incident changes: "being checked",
"confirmed", "false alarm, thank you", "resolved", in their language, on their own channel
(queued as a ReportMessage; the worker sends it with the sealed address, see
tocsin.incidents.replies). A reporter who sent STOP has no contact left and hears nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from tocsin.incidents.models import State
from tocsin.intake.models import Report, ReportMessage
from tocsin.transports import registry as transports

# The channels a reporter by text uses, and is answered on (their transports say so).
TEXT_CHANNELS = tuple(transports.report_kinds())


def outcome(state: str, receipt: str) -> str:
    """The message a reporter by text gets when their report's incident changes."""
    messages = {
        State.VERIFYING: _("Tocsin: report %(receipt)s is being checked. Thank you."),
        State.CONFIRMED: _(
            "Tocsin: report %(receipt)s confirmed. Members are alerted. Observe, document, "
            "support. Do not interfere."
        ),
        State.UNFOUNDED: _(
            "Tocsin: report %(receipt)s was a false alarm. Thank you for telling us."
        ),
        State.RESOLVED: _("Tocsin: report %(receipt)s resolved. Thank you."),
    }
    message = messages.get(State(state)) if state in State.values else None
    return message % {"receipt": receipt} if message else ""


def tell_reporters(incident_id: int, state: str) -> int:
    """Queue, for each text reporter of the incident who can still be reached, what
    happened, in their language; the worker sends it on their channel. Return how many."""
    reports = Report.objects.filter(
        incident_id=incident_id, channel__in=TEXT_CHANNELS, contact__isnull=False
    ).only("pk", "receipt", "language")
    queued = 0
    for report in reports:
        with translation.override(report.language or settings.LANGUAGE_CODE):
            body = outcome(state, report.receipt)
        if not body:
            continue
        ReportMessage.objects.create(
            report=report,
            direction=ReportMessage.Direction.TO_REPORTER,
            kind=ReportMessage.Kind.OUTCOME,
            body=body,
            status=ReportMessage.Status.QUEUED,
        )
        queued += 1
    return queued
