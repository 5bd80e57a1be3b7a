"""The scheduled purge: delete what the retention rules say is old enough, then reclaim space.

Workers run ``purge()`` once at start and then every ``TOCSIN_PURGE_INTERVAL_MINUTES``;
operators can run ``tocsin manage purge [--dry-run]``. Running it twice, or on several
workers at once, is harmless: every step is "delete what is due".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import models, transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tocsin.alerts import cellindex
from tocsin.alerts.models import Delivery
from tocsin.committees.models import CommitteeRequest, JoinRequest, Shift
from tocsin.demo.models import DemoMessage
from tocsin.family.models import Trigger
from tocsin.federation.models import Received
from tocsin.incidents.models import Incident, VerificationRequest
from tocsin.intake.models import Report, ReportPhoto
from tocsin.legal.models import Case, InterpreterCall
from tocsin.members.models import AreaChange, EndpointVerification, LoginCode
from tocsin.mobilize import rsvps
from tocsin.mobilize.models import Response, Rsvp
from tocsin.transports.models import CommitteePost
from tocsin.vault import retention as r
from tocsin.vault.space import reclaim_space, zero_freed_pages

logger = logging.getLogger(__name__)

# Rows deleted per transaction: bounds memory and how long the SQLite write lock is held,
# so reports and deliveries keep flowing while a large backlog is purged.
BATCH = 500


def _photos_of(reports: models.QuerySet[Report]) -> models.QuerySet[ReportPhoto]:
    return ReportPhoto.objects.filter(report__in=reports.values("pk"))


def _closed_reports(c: dict[str, datetime]) -> models.QuerySet[Report]:
    incidents = Incident.objects.closed_before(c[r.REPORTS]).filter(keep_as_evidence=False)
    return Report.objects.filter(incident__in=incidents.values("pk"))


def _unattached_reports(c: dict[str, datetime]) -> models.QuerySet[Report]:
    return Report.objects.filter(incident__isnull=True, received_at__lte=c[r.UNATTACHED_REPORTS])


def _summaries(c: dict[str, datetime]) -> models.QuerySet[Incident]:
    return (
        Incident.objects.closed_before(c[r.INCIDENT_SUMMARIES])
        .filter(keep_as_evidence=False)
        .exclude(summary="")
    )


def _verifier_notes(c: dict[str, datetime]) -> models.QuerySet[VerificationRequest]:
    incidents = Incident.objects.closed_before(c[r.VERIFIER_NOTES]).filter(keep_as_evidence=False)
    return VerificationRequest.objects.filter(incident__in=incidents.values("pk")).exclude(
        vehicles="", details=""
    )


def _due_reports(c: dict[str, datetime]) -> models.QuerySet[Report]:
    return _closed_reports(c) | _unattached_reports(c)


@dataclass(frozen=True)
class Step:
    """One class: the rows due under the cutoffs, and whether they are deleted or blanked."""

    name: str
    rows: Callable[[dict[str, datetime]], models.QuerySet[Any]]
    blank: dict[str, Any] | None = None


STEPS: tuple[Step, ...] = (
    # Photos before their reports, so they are counted (their files go with the rows).
    Step(r.REPORT_PHOTOS, lambda c: _photos_of(_due_reports(c))),
    Step(r.REPORTS, _closed_reports),
    Step(r.UNATTACHED_REPORTS, _unattached_reports),
    Step(r.INCIDENT_SUMMARIES, _summaries, blank={"summary": ""}),
    Step(r.DELIVERIES, lambda c: Delivery.objects.filter(alert__sent_at__lte=c[r.DELIVERIES])),
    Step(
        r.RESPONSES,
        lambda c: Response.objects.filter(
            incident__in=Incident.objects.closed_before(c[r.RESPONSES]).values("pk")
        ),
    ),
    Step(r.LOGIN_CODES, lambda c: LoginCode.objects.filter(expires_at__lte=c[r.LOGIN_CODES])),
    Step(r.SESSIONS, lambda c: Session.objects.filter(expire_date__lte=c[r.SESSIONS])),
    Step(
        r.TASK_RESULTS,
        lambda c: DBTaskResult.objects.finished().filter(finished_at__lte=c[r.TASK_RESULTS]),
    ),
    Step(r.DEMO_MESSAGES, lambda c: DemoMessage.objects.filter(created_at__lte=c[r.DEMO_MESSAGES])),
    Step(r.VERIFIER_NOTES, _verifier_notes, blank={"vehicles": "", "details": ""}),
    Step(
        r.COMMITTEE_POSTS,
        lambda c: CommitteePost.objects.filter(alert__sent_at__lte=c[r.COMMITTEE_POSTS]),
    ),
    Step(r.SHIFTS, lambda c: Shift.objects.filter(ends_at__lte=c[r.SHIFTS])),
    Step(
        r.SOURCE_TAGS,
        lambda c: Report.objects.filter(received_at__lte=c[r.SOURCE_TAGS]).exclude(source_tag=""),
        blank={"source_tag": ""},
    ),
    # Their messages go with them.
    Step(r.RSVPS, lambda c: Rsvp.objects.filter(mobilization__ends_at__lte=c[r.RSVPS])),
    Step(
        r.JOIN_REQUESTS,
        lambda c: JoinRequest.objects.filter(expires_at__lte=c[r.JOIN_REQUESTS]),
    ),
    Step(
        r.COMMITTEE_REQUESTS,
        lambda c: CommitteeRequest.objects.filter(expires_at__lte=c[r.COMMITTEE_REQUESTS]),
    ),
    Step(
        r.PARTNER_ALERTS,
        lambda c: Received.objects.filter(received_at__lte=c[r.PARTNER_ALERTS]),
    ),
    # Their tasks, timeline, notices and interpreter calls go with them.
    Step(
        r.LEGAL_CASES,
        lambda c: Case.objects.filter(state="closed", closed_at__lte=c[r.LEGAL_CASES], keep=False),
    ),
    Step(
        r.INTERPRETER_CALLS,
        lambda c: InterpreterCall.objects.filter(
            case__isnull=True, asked_at__lte=c[r.INTERPRETER_CALLS]
        ),
    ),
    # Their messages to the emergency contacts go with them.
    Step(r.PANIC_TRIGGERS, lambda c: Trigger.objects.filter(at__lte=c[r.PANIC_TRIGGERS])),
)
assert tuple(s.name for s in STEPS) == r.CLASSES


def _delete_batch(qs: models.QuerySet[Any]) -> int:
    """Delete up to BATCH rows of ``qs`` and return how many went.

    Deleting through the ORM sends post_delete, so a report photo's file is removed once
    the batch commits (tocsin.intake.models).
    """
    manager = qs.model._default_manager
    with transaction.atomic():
        pks = list(qs.values_list("pk", flat=True)[:BATCH])
        if not pks:
            return 0
        _total, per_model = manager.filter(pk__in=pks).delete()
    return per_model.get(qs.model._meta.label, 0)


def _blank_batch(qs: models.QuerySet[Any], values: dict[str, Any]) -> int:
    with transaction.atomic():
        pks = list(qs.values_list("pk", flat=True)[:BATCH])
        return qs.model._default_manager.filter(pk__in=pks).update(**values)


def _run(step: Step, cut: dict[str, datetime]) -> tuple[int, set[str]]:
    qs = step.rows(cut)
    count = 0
    while True:
        n = _delete_batch(qs) if step.blank is None else _blank_batch(qs, step.blank)
        count += n
        if n < BATCH:
            break
    return count, {qs.model._meta.db_table} if count else set()


def purge(now: datetime | None = None, *, dry_run: bool = False) -> dict[str, int]:
    """Delete (or blank) every row the retention rules say is due; return counts per class.

    With ``dry_run`` nothing changes and the counts say what would go. After deleting,
    the database gets its space back so deleted text does not linger in free pages.
    """
    now = now or timezone.now()
    cut = r.cutoffs(now, settings)
    counts: dict[str, int] = {}
    if dry_run:
        for step in STEPS:
            counts[step.name] = step.rows(cut).count()
        return counts
    zero_freed_pages()
    touched: set[str] = set()
    # The turnout of mobilizations whose sign-ups go now stays, as counts that name nobody.
    rsvps.keep_turnout(cut[r.RSVPS])
    for step in STEPS:
        counts[step.name], tables = _run(step, cut)
        touched |= tables
    if cellindex.purge_changes():
        touched.add(AreaChange._meta.db_table)
    # Codes to confirm a phone number that nobody typed in time.
    if EndpointVerification.objects.filter(expires_at__lte=now).delete()[0]:
        touched.add(EndpointVerification._meta.db_table)
    reclaim_space(touched)
    if any(counts.values()):
        logger.info("purge: %s", ", ".join(f"{k}={v}" for k, v in counts.items() if v))
    return counts
