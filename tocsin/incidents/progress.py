"""What became of a report, as its reporter may know it: a few words, never more.

The receipt page (tocsin.incidents.report_views.report_done) shows one of these states, in the
reader's language. It says nothing a reporter could not see on the street: not the other
reports, not who checks or confirms, not places beyond their own, and not that a report
waits in the desk's burst lane (that is "received", like any other).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tocsin.incidents.models import Incident, IncidentEvent, State
from tocsin.intake.models import Report

# Merges chain: an incident merged into one merged into another. A loop cannot happen, but
# the walk stops anyway.
MAX_MERGES = 20

RECEIVED = "received"
CHECKING = "checking"
CONFIRMED = "confirmed"
FALSE_ALARM = "false_alarm"
RESOLVED = "resolved"
CLOSED = "closed"
NOT_VERIFIED = "not_verified"


@dataclass(frozen=True)
class Progress:
    code: str
    title: Promise
    explanation: Promise
    # The steps of the usual path, and how far along it this is (-1: off the path).
    step: int


STEPS = (_("Received"), _("Being checked"), _("Confirmed"), _("Resolved"))

_PROGRESS = {
    RECEIVED: Progress(
        RECEIVED,
        _("Received"),
        _("A dispatcher has your report and decides whether to send someone to check it."),
        0,
    ),
    CHECKING: Progress(
        CHECKING,
        _("Being checked"),
        _(
            "Someone is checking what is happening there. Members nearby are alerted only "
            "if it is confirmed."
        ),
        1,
    ),
    CONFIRMED: Progress(
        CONFIRMED,
        _("Confirmed"),
        _(
            "It was confirmed. Members nearby were alerted so they can come to observe, "
            "document and support."
        ),
        2,
    ),
    RESOLVED: Progress(
        RESOLVED,
        _("Resolved"),
        _("It is over: the people who were alerted got the all-clear. Thank you for reporting."),
        3,
    ),
    FALSE_ALARM: Progress(
        FALSE_ALARM,
        _("False alarm"),
        _(
            "The dispatchers marked it a false alarm, so nobody was alerted, or those who "
            "were got a correction. If you still see it, send a new report or call the "
            "hotline."
        ),
        -1,
    ),
    NOT_VERIFIED: Progress(
        NOT_VERIFIED,
        _("Not confirmed"),
        _(
            "It could not be confirmed in time, so nobody was alerted, or those who "
            "heard of it were told. If it is still happening, send a new report or call "
            "the hotline."
        ),
        -1,
    ),
    CLOSED: Progress(
        CLOSED,
        _("Closed"),
        _(
            "The dispatchers closed your report without confirming it. If it is still "
            "happening, send a new report or call the hotline."
        ),
        -1,
    ),
}


def final_incident(incident: Incident | None) -> Incident | None:
    """Return the incident ``incident`` ended up in, following merges."""
    for _hop in range(MAX_MERGES):
        if incident is None or incident.state != State.MERGED or incident.merged_into_id is None:
            return incident
        incident = Incident.objects.filter(pk=incident.merged_into_id).first()
    return incident


def of(report: Report) -> Progress:
    """Return what became of ``report``, in words its reporter understands."""
    incident = final_incident(report.incident)
    if incident is None:
        return _PROGRESS[CLOSED if report.dismissed else RECEIVED]
    state = incident.state
    if state == State.REPORTED:
        return _PROGRESS[RECEIVED]
    if state == State.VERIFYING:
        return _PROGRESS[CHECKING]
    if state == State.CONFIRMED:
        return _PROGRESS[CONFIRMED]
    if state == State.RESOLVED:
        return _PROGRESS[RESOLVED]
    if state == State.UNFOUNDED:
        return _PROGRESS[FALSE_ALARM]
    if state == State.EXPIRED:
        return _PROGRESS[NOT_VERIFIED]
    return _PROGRESS[CLOSED]


def path(report: Report, now: Progress) -> tuple[tuple[Promise, ...], Progress]:
    """Return the steps to show for ``report`` and ``now`` placed on them. A report
    confirmed or resolved without anyone checking it first does not tick "Being checked"."""
    if now.step < 2:  # received, or being checked
        return STEPS, now
    incident = final_incident(report.incident)
    checked = incident is not None and (
        incident.verifications.exists()
        or IncidentEvent.objects.filter(incident=incident, action=State.VERIFYING).exists()
    )
    if checked:
        return STEPS, now
    return (STEPS[0], *STEPS[2:]), replace(now, step=now.step - 1)
