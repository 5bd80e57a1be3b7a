"""Legal cases: opened by a panic trigger, by a dispatcher from an incident, or by the
legal team from a call; the on-call lawyer assigned and told; tasks tracked to closure;
a timeline; an export only with a second person's approval; purged after closing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.core import signing
from django.db import transaction
from django.utils import timezone

from tocsin.committees import approvals
from tocsin.committees.models import Approval, Committee, Duty, Membership, Role, Shift
from tocsin.incidents.models import Incident
from tocsin.legal import keys
from tocsin.legal.models import (
    ACCOMPANIED,
    Case,
    Event,
    Notice,
    Source,
    State,
    Task,
    TaskKind,
)
from tocsin.members.models import Member
from tocsin.mobilize.planned import Mobilization, MobilizationKind, Visibility

# The ICE Online Detainee Locator: the locator task links there; Tocsin never scrapes it.
LOCATOR_URL = "https://locator.ice.gov/odls/"
# A locator check that does not find the person comes back this much later.
LOCATOR_EVERY = timedelta(hours=4)
# First tasks of every case, and when they are due after it opens.
FIRST_TASKS = ((TaskKind.LAWYER, timedelta(hours=1)), (TaskKind.LOCATOR, timedelta(hours=2)))
# Family plan tasks (tocsin.family.plans.tasks_for) are due this soon.
FAMILY_DUE = timedelta(hours=3)
# The sealed fields of a case, in the order pages show them.
FIELDS = (
    "who",
    "a_number",
    "country_of_birth",
    "where",
    "when",
    "language",
    "family_contact",
    "notes",
)
LINK_SALT = "tocsin.legal.case-link"
LINK_MAX_AGE = 7 * 24 * 3600
# An approved export can be downloaded by the one who asked, this soon after.
EXPORT_MINUTES = 60


class Trigger(Protocol):
    """A family plan's panic trigger (tocsin.family.Trigger), as legal reads it."""

    pk: int
    member_id: int
    committee_id: int
    kind: str
    language: str
    at: datetime


@dataclass
class CaseError(Exception):
    message: str


# The longest a detail may be (the notes; the form keeps the others shorter).
MAX_DETAIL = 4000


def clean_details(details: dict[str, Any]) -> dict[str, str]:
    return {f: str(details.get(f) or "").strip()[:MAX_DETAIL] for f in FIELDS}


def details(case: Case) -> dict[str, str]:
    """Return the case's sealed details; raises keys.LegalKeyMissing without the key."""
    return clean_details(keys.unseal(bytes(case.sealed)))


def task_detail(task: Task) -> str:
    return str(keys.unseal(bytes(task.sealed)).get("text", "")) if task.sealed else ""


def on_call_lawyer(committee: Committee, at: datetime | None = None) -> Member | None:
    shift = (
        Shift.objects.on_duty(at)
        .filter(committee=committee, duty=Duty.LAWYER, member__memberships__role=Role.LEGAL)
        .filter(member__memberships__committee=committee)
        .select_related("member")
        .order_by("starts_at", "pk")
        .first()
    )
    return shift.member if shift else None


def legal_team(committee: Committee) -> list[Member]:
    return list(
        Member.objects.filter(memberships__committee=committee, memberships__role=Role.LEGAL)
    )


def is_legal(member: Member, committee_id: int) -> bool:
    return Membership.objects.filter(
        member=member, committee_id=committee_id, role=Role.LEGAL
    ).exists()


def _event(case: Case, kind: str, value: str = "", by: Member | None = None) -> Event:
    return Event.objects.create(case=case, kind=kind, value=value, actor=by)


@transaction.atomic
def open_case(
    committee: Committee,
    *,
    source: str,
    details: dict[str, Any],
    by: Member | None = None,
    incident: Incident | None = None,
    trigger_id: int | None = None,
    tasks: Sequence[tuple[str, str | bytes]] | None = None,
    consent: bool = False,
) -> Case:
    """Open a case, add its first tasks (and the family plan's), assign the on-call
    lawyer and queue their notice, in one transaction."""
    now = timezone.now()
    case = Case.objects.create(
        committee=committee,
        source=Source(source),
        sealed=keys.seal(clean_details(details)),
        incident=incident,
        trigger_id=trigger_id,
        opened_by=by,
        opened_at=now,
        consent=consent,
        consent_at=now if consent else None,
    )
    _event(case, Event.Kind.OPENED, source, by)
    for kind, after in FIRST_TASKS:
        Task.objects.create(case=case, kind=kind, due_at=now + after)
    for given, text in tasks or []:
        # Bytes are a family plan's task already sealed to the legal key.
        sealed = text if isinstance(text, bytes) else keys.seal({"text": text}) if text else b""
        Task.objects.create(
            case=case,
            kind=given if given in TaskKind.values else TaskKind.OTHER,
            sealed=sealed,
            due_at=now + FAMILY_DUE,
        )
    lawyer = on_call_lawyer(committee, now)
    if lawyer is not None:
        case.lawyer = lawyer
        case.save(update_fields=["lawyer"])
        _event(case, Event.Kind.LAWYER, "", None)
    # The lawyer on call hears; with nobody on call, the whole legal team does.
    for person in [lawyer] if lawyer else legal_team(committee):
        Notice.objects.create(purpose=Notice.Purpose.CASE, case=case, member=person)
    return case


def open_from_trigger(
    trigger: Trigger, tasks: Sequence[tuple[str, str | bytes]] | None = None
) -> Case:
    """Open the case for a family plan's panic trigger (once per trigger)."""
    existing = Case.objects.filter(trigger_id=trigger.pk).first()
    if existing is not None:
        return existing
    member = Member.objects.filter(pk=trigger.member_id).first()
    committee = Committee.objects.get(pk=trigger.committee_id)
    return open_case(
        committee,
        source=Source.PANIC,
        details={
            "who": member.display_name if member else "",
            "when": timezone.localtime(trigger.at).strftime("%Y-%m-%d %H:%M"),
            "language": trigger.language,
        },
        trigger_id=trigger.pk,
        tasks=tasks,
        # The member agreed in their family plan that the legal team may know.
        consent=True,
    )


@transaction.atomic
def cancel_from_trigger(trigger: Trigger) -> Case | None:
    """The member cancelled a wrong trigger: note it and close the case as a mistake."""
    case = Case.objects.select_for_update().filter(trigger_id=trigger.pk).first()
    if case is None:
        return None
    _event(case, Event.Kind.CANCELLED)
    _close(case, None)
    return case


def open_from_incident(
    incident: Incident, committee: Committee, *, by: Member, details: dict[str, Any]
) -> Case:
    """A dispatcher of ``committee`` opens a case from an incident: someone was detained."""
    return open_case(committee, source=Source.INCIDENT, details=details, by=by, incident=incident)


def _close(case: Case, by: Member | None) -> None:
    case.state = State.CLOSED
    case.closed_at = timezone.now()
    case.save(update_fields=["state", "closed_at"])
    _event(case, Event.Kind.STATE, State.CLOSED, by)


@transaction.atomic
def set_state(case: Case, state: str, *, by: Member) -> None:
    state = State(state)
    if state == case.state:
        return
    if state == State.CLOSED:
        _close(case, by)
        return
    case.state = state
    case.closed_at = None
    case.save(update_fields=["state", "closed_at"])
    _event(case, Event.Kind.STATE, state, by)


@transaction.atomic
def update_details(
    case: Case, new: dict[str, Any], *, by: Member, consent: bool, keep: bool
) -> None:
    case.sealed = keys.seal(clean_details(new))
    fields = ["sealed", "keep"]
    case.keep = keep
    if consent and not case.consent:
        case.consent, case.consent_at = True, timezone.now()
        fields += ["consent", "consent_at"]
        _event(case, Event.Kind.CONSENT, "", by)
    case.save(update_fields=fields)
    _event(case, Event.Kind.DETAILS, "", by)


def add_task(
    case: Case,
    kind: str,
    *,
    by: Member,
    text: str = "",
    due_at: datetime | None = None,
    owner: Member | None = None,
) -> Task:
    task = Task.objects.create(
        case=case,
        kind=TaskKind(kind),
        sealed=keys.seal({"text": text}) if text else b"",
        due_at=due_at,
        owner=owner,
    )
    _event(case, Event.Kind.TASK_ADDED, task.kind, by)
    return task


@transaction.atomic
def complete_task(task: Task, *, by: Member, found: bool = True) -> Task | None:
    """Mark ``task`` done. A locator check that did not find the person comes back
    (returned) LOCATOR_EVERY later; one that did moves an open case to located."""
    now = timezone.now()
    done = Task.objects.filter(pk=task.pk, done_at__isnull=True).update(done_at=now, done_by=by)
    if not done:
        return None
    case = task.case
    if task.kind == TaskKind.LOCATOR and not found:
        _event(case, Event.Kind.LOCATOR_AGAIN, "", by)
        return Task.objects.create(
            case=case, kind=TaskKind.LOCATOR, owner=task.owner, due_at=now + LOCATOR_EVERY
        )
    _event(case, Event.Kind.TASK_DONE, task.kind, by)
    if task.kind == TaskKind.LOCATOR and case.state == State.OPEN:
        set_state(case, State.LOCATED, by=by)
    return None


@transaction.atomic
def mobilize(task: Task, *, by: Member, where: str) -> Mobilization:
    """Make a court date or a check-in into an accompaniment for the committee's members
    (the public never sees it; no detail of the case goes into it)."""
    if task.kind not in ACCOMPANIED or task.due_at is None:
        raise CaseError("only a court date or a check-in with a time")
    if task.mobilization_id is not None:
        return task.mobilization  # type: ignore[return-value]
    if not where.strip():
        raise CaseError("say where to meet")
    m = Mobilization.objects.create(
        committee=task.case.committee,
        kind=MobilizationKind.ACCOMPANIMENT,
        title="Accompaniment",
        title_es="Acompañamiento",
        address=where[:160],
        starts_at=task.due_at - timedelta(minutes=30),
        ends_at=task.due_at + timedelta(hours=3),
        visibility=Visibility.MEMBERS,
        created_by=by,
    )
    Task.objects.filter(pk=task.pk).update(mobilization=m)
    _event(task.case, Event.Kind.MOBILIZED, task.kind, by)
    return m


def overdue(committee_ids: set[int], now: datetime | None = None) -> list[Task]:
    """The open tasks past their due time in these committees' open cases, oldest first."""
    now = now or timezone.now()
    return list(
        Task.objects.filter(
            case__committee_id__in=committee_ids,
            done_at__isnull=True,
            due_at__lt=now,
        )
        .exclude(case__state=State.CLOSED)
        .select_related("case", "owner")
        .order_by("due_at", "pk")
    )


# --- the signed link in the lawyer's message -------------------------------------------------


def link_token(case: Case, member: Member) -> str:
    return signing.dumps({"c": case.pk, "m": member.pk}, salt=LINK_SALT, compress=True)


def read_link(token: str) -> tuple[int, int] | None:
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE)
    except signing.BadSignature:
        return None
    return int(data["c"]), int(data["m"])


# --- export, with a second person's approval -------------------------------------------------


def ask_export(case: Case, *, by: Member) -> Approval:
    approval = approvals.ask(
        case.committee,
        Approval.Kind.CASE_EXPORT,
        Approval.Reason.CASE,
        by=by,
        object_id=case.pk,
    )
    _event(case, Event.Kind.EXPORT_ASKED, "", by)
    return approval


def waiting_export(case: Case) -> Approval | None:
    return (
        Approval.objects.waiting()
        .filter(committee=case.committee, kind=Approval.Kind.CASE_EXPORT, object_id=case.pk)
        .first()
    )


def approved_export(case: Case, member: Member) -> Approval | None:
    """The export ``member`` asked for and another approved, within EXPORT_MINUTES."""
    return (
        Approval.objects.filter(
            committee=case.committee,
            kind=Approval.Kind.CASE_EXPORT,
            object_id=case.pk,
            status=Approval.Status.DONE,
            requested_by=member,
            decided_at__gt=timezone.now() - timedelta(minutes=EXPORT_MINUTES),
        )
        .order_by("-decided_at")
        .first()
    )


def export(case: Case, *, by: Member) -> str:
    """Return the case as JSON (details, tasks, timeline) for the one who asked."""
    _event(case, Event.Kind.EXPORTED, "", by)
    data = {
        "case": case.ref,
        "committee": case.committee.name,
        "state": case.state,
        "opened_at": case.opened_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "consent_at": case.consent_at.isoformat() if case.consent_at else None,
        "details": details(case),
        "tasks": [
            {
                "kind": t.kind,
                "text": task_detail(t),
                "due_at": t.due_at.isoformat() if t.due_at else None,
                "done_at": t.done_at.isoformat() if t.done_at else None,
            }
            for t in case.tasks.all()
        ],
        "timeline": [
            {"at": e.at.isoformat(), "kind": e.kind, "value": e.value} for e in case.events.all()
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def notified(case_id: int, member_id: int) -> None:
    """The timeline notes that the lawyer's notice went out."""
    Event.objects.create(case_id=case_id, kind=Event.Kind.NOTIFIED, actor_id=member_id)
