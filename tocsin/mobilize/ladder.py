"""The escalation ladder of a confirmed incident.

Confirming alerts the members of the committee whose areas meet the alert area
(responders among them), and the unverified notice before it reached the responders
nearby. The ladder goes further, one tap per rung, each reaching only people nobody has
alerted about the incident yet:

1. responders further out: the committee's responders whose areas meet an area
   RESPONDER_REACH times wider (they travel to a raid);
2. every member of the committee, wherever their areas;
3. a public call: a public mobilization at an assembly point the dispatcher picks,
   with copy that says observe, document, support, do not interfere.

Nothing unverified reaches members: only a confirmed incident climbs. A rung beyond the
committee's single-person reach, past the broadcast breaker, or about an incident that
rests only on a partner network's reports waits for a second staff
member (tocsin.committees.approvals), and a public call always does: it reaches anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tocsin import geo
from tocsin.alerts import outbox, targeting
from tocsin.alerts.models import Alert, Certainty, Delivery, Purpose
from tocsin.committees import approvals
from tocsin.committees.models import Approval, Committee, Membership, Role
from tocsin.incidents import twoperson
from tocsin.incidents.models import Incident, IncidentEvent, State, coded
from tocsin.lib import live
from tocsin.members.models import ContactEndpoint, Member
from tocsin.mobilize import quorum
from tocsin.mobilize.escalation import LadderStep, Step
from tocsin.mobilize.models import ResponseState
from tocsin.mobilize.planned import Mobilization, MobilizationKind, Visibility
from tocsin.places.models import Place

LADDER = (Step.RESPONDERS, Step.MEMBERS, Step.PUBLIC)
# Responders travel to a raid: the first rung reaches this many times the alert area.
RESPONDER_REACH = 3
# How long a public call's page says it lasts.
PUBLIC_CALL_HOURS = 3


class LadderError(ValueError):
    """The rung cannot be taken now (the message says why, for the log)."""


@dataclass(frozen=True)
class Rung:
    step: Step
    # People it would reach now (None: the public, anyone).
    reach: int | None
    taken: LadderStep | None
    # Taking it now waits for a second person.
    needs_second: bool
    is_next: bool

    @property
    def done(self) -> bool:
        return self.taken is not None and self.taken.done_at is not None

    @property
    def waiting(self) -> bool:
        return self.taken is not None and self.taken.done_at is None


def _reached_by(incident: Incident, step: str, committee_ids: set[int]) -> QuerySet:
    """Return the ids (a query, never a list in memory: a committee may have many
    members) of the members rung ``step`` would alert now: of ``committee_ids``, with a
    working channel, and not alerted about ``incident`` yet."""
    if step == Step.RESPONDERS:
        disk = targeting.alert_disk(incident.cell)
        wider = geo.Disk(disk.cell, max(1, disk.ring) * RESPONDER_REACH)
        # Responders are few: their ids travel as a list.
        people: Any = targeting.responders(wider, committee_ids)
    elif step == Step.MEMBERS:
        people = Membership.objects.filter(committee_id__in=committee_ids).values("member_id")
    else:
        return ContactEndpoint.objects.none().values_list("member_id", flat=True)
    alerted = Delivery.objects.filter(
        alert__incident=incident, alert__purpose=Purpose.CONFIRMED
    ).values("member_id")
    return (
        ContactEndpoint.objects.filter(
            member_id__in=people, verified_at__isnull=False, disabled_at__isnull=True
        )
        .exclude(member_id__in=alerted)
        .values_list("member_id", flat=True)
        .distinct()
    )


def reach(incident: Incident, step: str, committee_ids: set[int]) -> int:
    """Return how many people rung ``step`` would alert now."""
    return _reached_by(incident, step, committee_ids).count()


def audience(incident: Incident, step: str, committee_ids: set[int]) -> set[int]:
    """Return the ids of the members rung ``step`` would alert now."""
    return set(_reached_by(incident, step, committee_ids))


def deciding(committee_ids: set[int]) -> int:
    """Return the committee whose ladder a dispatcher acting for ``committee_ids`` (not
    empty) climbs: each committee climbs its own, for its own people; one acting for
    several, the first."""
    return min(committee_ids)


def _steps(incident: Incident, committee_ids: set[int]) -> dict[str, LadderStep]:
    """Return the rungs taken or asked for, by step. One whose approval was declined
    or ran out is asked again."""
    found: dict[str, LadderStep] = {}
    if not committee_ids:
        return found
    rows = LadderStep.objects.filter(incident=incident, committee_id=deciding(committee_ids))
    for s in rows.select_related("approval"):
        if s.done_at is None and (s.approval is None or not _still_waits(s.approval)):
            continue
        found[s.step] = s
    return found


def _still_waits(approval: Approval) -> bool:
    return approval.status == Approval.Status.WAITING and approval.expires_at > timezone.now()


def _waiting_alert(incident: Incident) -> bool:
    """Whether an alert about ``incident`` waits for a second person (the
    confirmation's, or a rung's): one waits at a time, so each is approved as asked."""
    return (
        Approval.objects.waiting().filter(kind=Approval.Kind.ALERT, object_id=incident.pk).exists()
    )


def _threshold(committee_ids: set[int]) -> int:
    return min(c.two_person_threshold() for c in Committee.objects.filter(pk__in=committee_ids))


def _reason(incident: Incident, step: str, n: int, committee_ids: set[int]) -> str | None:
    if step == Step.PUBLIC:
        return Approval.Reason.PUBLIC
    return twoperson.reason_for(
        reach=n,
        threshold=_threshold(committee_ids),
        partner=False,
        network=twoperson.rests_on_network(incident),
        recent=twoperson.recent_alerts(committee_ids),
        per_hour=settings.ALERTS_PER_HOUR,
    )


def rungs(incident: Incident, committee_ids: set[int]) -> list[Rung]:
    """Return the ladder as the dispatcher sees it: each rung, how many it reaches now,
    whether it was taken or waits, and which one is next."""
    taken = _steps(incident, committee_ids)
    found = []
    next_seen = False
    climbing = incident.state == State.CONFIRMED and bool(committee_ids)
    for step in LADDER:
        t = taken.get(step)
        done = t is not None and t.done_at is not None
        if done:
            n: int | None = t.reached if t is not None else 0
        else:
            n = None if step == Step.PUBLIC else reach(incident, step, committee_ids)
        is_next = climbing and not done and not next_seen
        if not done:
            next_seen = True
        found.append(
            Rung(
                step=step,
                reach=n,
                taken=t,
                needs_second=bool(committee_ids)
                and not done
                and _reason(incident, step, n or 0, committee_ids) is not None,
                is_next=is_next,
            )
        )
    return found


def take(
    incident: Incident,
    step: str,
    *,
    actor: Member,
    committee_ids: set[int],
    place: Place | None = None,
) -> LadderStep:
    """Take rung ``step`` for ``committee_ids`` (the dispatcher's, owning the incident):
    now, or as an Approval a second staff member gives. Raises LadderError."""
    if step not in LADDER:
        raise LadderError("no such rung")
    if not committee_ids:
        raise LadderError("no committee to act for")
    if step == Step.PUBLIC and (place is None or place.committee_id not in committee_ids):
        raise LadderError("a public call needs an assembly point of the committee")
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.state != State.CONFIRMED:
            raise LadderError("only a confirmed incident climbs the ladder")
        taken = _steps(incident, committee_ids)
        for earlier in LADDER[: LADDER.index(Step(step))]:
            if earlier not in taken or taken[earlier].done_at is None:
                raise LadderError("take the rungs in order")
        if step in taken:
            raise LadderError("this rung was taken")
        if _waiting_alert(incident):
            raise LadderError("an alert about this incident waits for a second person")
        committee = Committee.objects.get(pk=deciding(committee_ids))
        n = reach(incident, step, committee_ids)
        reason = _reason(incident, step, n, committee_ids)
        # A rung asked before and declined (or run out) is asked again on the same row.
        existing = LadderStep.objects.filter(
            incident=incident, committee=committee, step=step
        ).first() or LadderStep(incident=incident, committee=committee, step=step)
        existing.approval = None
        existing.place = place
        existing.taken_by = actor
        existing.taken_at = timezone.now()
        if reason is not None:
            existing.approval = approvals.ask(
                committee,
                Approval.Kind.ALERT,
                reason,
                by=actor,
                object_id=incident.pk,
                options={
                    "ladder": str(step),
                    "committees": sorted(committee_ids),
                    "targets": [],
                    "reach": n,
                },
            )
            existing.save()
            IncidentEvent.objects.create(
                incident=incident,
                actor=actor,
                action="escalation_waiting",
                detail=coded("approval", reason, n),
            )
            _tell_staff(incident, existing.approval, actor=actor)
        else:
            existing.save()
            _carry_out(incident, existing, actor=actor, committee_ids=committee_ids)
        _publish(incident)
    return existing


def approve(approval: Approval, *, by: Member) -> LadderStep:
    """Approve a waiting rung as the second person and take it. Raises
    approvals.ApprovalError (also when the incident is no longer confirmed)."""
    with transaction.atomic():
        approval = approvals.approve(approval, by=by)
        incident = Incident.objects.select_for_update().get(pk=approval.object_id or 0)
        if incident.state != State.CONFIRMED:
            raise approvals.ApprovalError("the incident is no longer confirmed")
        step = LadderStep.objects.select_for_update().filter(approval=approval).first()
        if step is None or step.done_at is not None:
            raise approvals.ApprovalError("nothing waits for this approval")
        committee_ids = {int(c) for c in approval.options.get("committees", [])}
        _carry_out(incident, step, actor=by, committee_ids=committee_ids)
        _publish(incident)
    return step


def is_rung(approval: Approval) -> bool:
    """Whether ``approval`` waits for a rung of the ladder (not a confirmation's alert)."""
    return approval.kind == Approval.Kind.ALERT and bool(approval.options.get("ladder"))


def _carry_out(
    incident: Incident, step: LadderStep, *, actor: Member, committee_ids: set[int]
) -> None:
    now = timezone.now()
    if step.step == Step.PUBLIC:
        step.mobilization = public_call(incident, step, actor=actor)
        action, detail = "public_call", f"#{step.mobilization.pk}"
    else:
        ids = audience(incident, step.step, committee_ids)
        if ids:
            alert = outbox.issue_direct(incident, Purpose.CONFIRMED, ids)
            # A confirmed alert the committee decided: it counts for the breaker, and
            # its members hear how the incident ended like everyone alerted.
            Alert.objects.filter(pk=alert.pk).update(
                certainty=Certainty.OBSERVED,
                committee_id=step.committee_id,
                by_committee_id=step.committee_id,
            )
            step.alert = alert
            step.reached = alert.targeted
        action, detail = "escalated", coded("notice", Purpose.CONFIRMED, step.reached)
    step.done_at = now
    step.save()
    IncidentEvent.objects.create(incident=incident, actor=actor, action=action, detail=detail)


def call_words(incident: Incident, place: Place) -> tuple[str, str]:
    """Return the title and text of a public call at ``place``, in the active language."""
    kind = incident.get_kind_display().lower()
    where = place.said()
    return (
        _("Public call: gather at %(place)s") % {"place": where},
        _(
            "Confirmed nearby: %(kind)s. Come to %(place)s to witness: observe, "
            "document, support. Do not interfere, and keep a safe distance."
        )
        % {"kind": kind, "place": where},
    )


def public_call(incident: Incident, step: LadderStep, *, actor: Member) -> Mobilization:
    """Create the public mobilization of a public call, in English and Spanish."""
    place = step.place
    assert place is not None
    texts = {}
    for language in ("en", "es"):
        with translation.override(language):
            texts[language] = call_words(incident, place)
    now = timezone.now()
    return Mobilization.objects.create(
        committee_id=step.committee_id,
        kind=MobilizationKind.PUBLIC_CALL,
        title=texts["en"][0][:120],
        title_es=texts["es"][0][:120],
        description=texts["en"][1],
        description_es=texts["es"][1],
        starts_at=now,
        ends_at=now + timedelta(hours=PUBLIC_CALL_HOURS),
        place=place,
        visibility=Visibility.PUBLIC,
        created_by=actor,
    )


def waiting_call(approval: Approval) -> tuple[str, str] | None:
    """Return the title and text of the public call ``approval`` waits for, in the
    active language (what the second person approves), or None if it waits for no call."""
    if approval.kind != Approval.Kind.ALERT or approval.options.get("ladder") != Step.PUBLIC:
        return None
    step = (
        LadderStep.objects.filter(approval=approval, step=Step.PUBLIC)
        .select_related("place", "incident")
        .first()
    )
    if step is None or step.place is None:
        return None
    return call_words(step.incident, step.place)


def call_for(m: Mobilization) -> LadderStep | None:
    """Return the rung that made ``m`` a public call, if one did."""
    return (
        LadderStep.objects.filter(mobilization=m, step=Step.PUBLIC)
        .select_related("incident")
        .first()
    )


def public_headcount(m: Mobilization) -> dict[str, int] | None:
    """Return how many are on their way and there for a public call's incident, counts
    only (no roles, no one), or None when ``m`` is not a public call."""
    call = call_for(m)
    if call is None:
        return None
    counts = quorum.tally(call.incident)
    return {
        "on_my_way": sum(n for (_r, s), n in counts.items() if s == ResponseState.ON_MY_WAY),
        "arrived": sum(n for (_r, s), n in counts.items() if s == ResponseState.ARRIVED),
    }


def _tell_staff(incident: Incident, approval: Approval, *, actor: Member) -> None:
    """Tell the committee's other staff that a rung waits for them."""
    staff = set(
        Membership.objects.filter(committee_id__in=approvals.committee_ids(approval))
        .at_least(Role.DISPATCHER)
        .values_list("member_id", flat=True)
    )
    staff.discard(actor.pk)
    if staff:
        outbox.issue_direct(incident, Purpose.APPROVAL, staff)


def _publish(incident: Incident) -> None:
    channels = [f"incident:{incident.pk}"]
    transaction.on_commit(lambda: live.publish(*channels))
