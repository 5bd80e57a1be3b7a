"""Verification on the ground: suggesting and dispatching verifiers, recording their
answers, and applying each committee's rules (tocsin.incidents.verification).

Trust comes from vouching (tocsin.committees.trust) and, for verifiers, from how their
past answers turned out. Reporters' accuracy is not kept: that would need to know who
reported what, which Tocsin never stores.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from tocsin import geo
from tocsin.alerts import outbox
from tocsin.alerts.models import Delivery, DeliveryStatus, Purpose
from tocsin.committees import partners, trust
from tocsin.committees.models import (
    Committee,
    Duty,
    Membership,
    Role,
    Share,
    Shift,
    VerificationRules,
)
from tocsin.incidents import services, verification
from tocsin.incidents.models import (
    UNVERIFIED_STATES,
    Answer,
    Incident,
    IncidentEvent,
    State,
    VerificationRequest,
    coded,
)
from tocsin.intake.models import Channel, Report, ReportPhoto
from tocsin.intake.photos import Scrubbed
from tocsin.lib import screening
from tocsin.members.models import AlertArea, ContactEndpoint, Member

logger = logging.getLogger(__name__)


# --- rules and trust ---


def rules_for(committee: Committee | int) -> verification.Rules:
    """Return the committee's verification rules (the defaults if it set none)."""
    committee_id = committee if isinstance(committee, int) else committee.pk
    row = VerificationRules.objects.filter(committee_id=committee_id).first()
    if row is None:
        return verification.DEFAULT
    return verification.Rules(
        trusted_score=row.trusted_score,
        verifier_confirms=row.verifier_confirms,
        quorum=row.quorum,
        quorum_meters=row.quorum_meters,
        quorum_minutes=row.quorum_minutes,
        expire_minutes=row.expire_minutes,
    )


def answer_held(answer: str, final_state: str) -> bool | None:
    """Return whether a verifier's answer matched how the incident ended (None: the end
    says nothing, such as a merge or an expiry)."""
    if final_state in (State.CONFIRMED, State.RESOLVED):
        return answer == Answer.CONFIRMED
    if final_state == State.UNFOUNDED:
        return answer in (Answer.POLICE, Answer.NOTHING)
    return None


def accuracies(member_ids: Sequence[int] | None = None) -> dict[int, trust.Accuracy]:
    """Return the verifiers' track records, keyed by member id (all, or those given)."""
    rows = VerificationRequest.objects.answered().filter(
        incident__state__in=[State.CONFIRMED, State.RESOLVED, State.UNFOUNDED]
    )
    if member_ids is not None:
        rows = rows.filter(verifier_id__in=member_ids)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for verifier_id, answer, state in rows.values_list("verifier_id", "answer", "incident__state"):
        held = answer_held(answer, state)
        if held is not None:
            counts[verifier_id][0 if held else 1] += 1
    return {m: trust.Accuracy(confirmed=c, refuted=r) for m, (c, r) in counts.items()}


def accuracy_for(member: Member, committee: Committee | None = None) -> trust.Accuracy | None:
    """Return ``member``'s record as a verifier, or None if they have none."""
    return accuracies([member.pk]).get(member.pk)


def trust_scores(committee: Committee) -> dict[int, int]:
    """Return every member's trust score in ``committee`` (vouching and accuracy)."""
    tree = trust.score_tree(trust.committee_nodes(committee), accuracy=accuracies())
    return {m: t.score for m, t in tree.items()}


# --- suggesting and dispatching verifiers ---


@dataclass(frozen=True)
class Candidate:
    member: Member
    committee: Committee
    on_duty: bool
    # Metres from the centre of the verifier's nearest area to the place; None: no area.
    distance_m: float | None
    trust: int
    reachable: bool
    asked: bool


def verifier_committees(incident: Incident) -> set[int]:
    """Return the committees whose verifiers may check ``incident``: those it belongs to
    and partners sharing verifiers with them (a desk narrows this to its own,
    tocsin.incidents.access.verifier_committee_ids)."""
    return partners.with_partners(services.owners(incident), Share.VERIFIERS)


def suggest(
    incident: Incident, committee_ids: set[int] | None = None, *, limit: int = 6
) -> list[Candidate]:
    """Return the verifiers to send, best first: on duty, then nearest, then most trusted.

    Verifiers are members with the verifier role (or above) in ``committee_ids`` (the
    committees whose verifiers the dispatcher may send; None: verifier_committees); a
    verifier with no working channel is listed but cannot be sent."""
    if committee_ids is None:
        committee_ids = verifier_committees(incident)
    memberships = list(
        Membership.objects.filter(committee_id__in=committee_ids)
        .at_least(Role.VERIFIER)
        .select_related("member", "committee")
    )
    if not memberships:
        return []
    ids = {m.member_id for m in memberships}
    now = timezone.now()
    on_duty = set(
        Shift.objects.on_duty(now)
        .filter(committee_id__in=committee_ids, member_id__in=ids, duty=Duty.VERIFIER)
        .values_list("member_id", flat=True)
    )
    place = geo.center(incident.cell)
    nearest: dict[int, float] = {}
    for member_id, cell in AlertArea.objects.filter(member_id__in=ids).values_list(
        "member_id", "cell"
    ):
        d = verification.metres(place, geo.center(cell))
        nearest[member_id] = min(d, nearest.get(member_id, d))
    reachable = set(
        ContactEndpoint.objects.usable()
        .filter(member_id__in=ids)
        .values_list("member_id", flat=True)
    )
    asked = set(incident.verifications.values_list("verifier_id", flat=True))
    scores: dict[int, dict[int, int]] = {}
    best: dict[int, Candidate] = {}
    for m in memberships:
        if m.committee_id not in scores:
            scores[m.committee_id] = trust_scores(m.committee)
        candidate = Candidate(
            member=m.member,
            committee=m.committee,
            on_duty=m.member_id in on_duty,
            distance_m=nearest.get(m.member_id),
            trust=scores[m.committee_id].get(m.member_id, 0),
            reachable=m.member_id in reachable,
            asked=m.member_id in asked,
        )
        kept = best.get(m.member_id)
        if kept is None or candidate.trust > kept.trust:
            best[m.member_id] = candidate

    def order(c: Candidate) -> tuple:
        return (
            not c.reachable,
            not c.on_duty,
            c.distance_m is None,
            c.distance_m or 0,
            -c.trust,
            c.member.pk,
        )

    return sorted(best.values(), key=order)[:limit]


class NotAVerifier(ValueError):
    """The member is not a verifier of a committee covering the incident."""


def request(
    incident: Incident,
    verifier: Member,
    *,
    actor: Member,
    committee_ids: set[int] | None = None,
) -> VerificationRequest:
    """Send ``verifier`` (a verifier of one of ``committee_ids``; None:
    verifier_committees) to check ``incident``:
    the message (with the exact place, the evidence checklist and a signed link to
    answer) goes through the outbox in this transaction. A reported incident moves to
    verifying. Asking the same verifier again sends the message again."""
    if committee_ids is None:
        committee_ids = verifier_committees(incident)
    if (
        not Membership.objects.filter(member=verifier, committee_id__in=committee_ids)
        .at_least(Role.VERIFIER)
        .exists()
    ):
        raise NotAVerifier(verifier.pk)
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        services.hold(locked, actor)
        locked.save(update_fields=["held_by", "held_until"])
        if locked.state not in UNVERIFIED_STATES:
            raise services.states.TransitionError("only an unverified incident is verified")
        if locked.state == State.REPORTED:
            services.change_state(locked, State.VERIFYING, actor=actor, committees=committee_ids)
        alert = outbox.issue_direct(locked, Purpose.VERIFY, {verifier.pk})
        # A verifier nearby was just told "being verified" like any responder: the
        # request says more, so the general notice to them is dropped if still queued.
        Delivery.objects.filter(
            alert__incident=locked,
            alert__purpose=Purpose.POSSIBLE,
            member=verifier,
            status=DeliveryStatus.QUEUED,
        ).update(status=DeliveryStatus.CANCELLED, error="superseded by a request to verify")
        req, _created = VerificationRequest.objects.update_or_create(
            incident=locked,
            verifier=verifier,
            defaults={"requested_by": actor, "alert": alert, "requested_at": timezone.now()},
        )
        IncidentEvent.objects.create(
            incident=locked,
            actor=actor,
            action="verifier_sent",
            detail=coded("sent", verifier.pk, alert.targeted),
        )
        services._publish(locked)
    return req


# --- answers ---


def record_answer(
    req: VerificationRequest,
    answer: str,
    *,
    channel: str,
    agency: str = "",
    vehicles: str = "",
    agents: int | None = None,
    details: str = "",
    photos: Sequence[Scrubbed] = (),
) -> VerificationRequest:
    """Store a verifier's answer and checklist, then apply the committee's rules.

    The details are screened like every report (held text never reaches an alert);
    photos become a verifier's report on the incident, scrubbed like every upload."""
    if answer not in Answer.values:
        raise ValueError(answer)
    details = details.strip()[:500]
    with transaction.atomic():
        req = VerificationRequest.objects.select_for_update().get(pk=req.pk)
        req.answer = answer
        req.answered_at = timezone.now()
        req.answer_channel = channel
        req.agency = agency
        req.vehicles = vehicles.strip()[:200]
        req.agents = agents
        req.details = details
        req.held_reasons = screening.screen(f"{details}\n{req.vehicles}").codes
        req.save()
        incident = req.incident
        if photos or details:
            report = Report.objects.create(
                channel=Channel.VERIFIER,
                kind=incident.kind,
                text=details,
                held_reasons=screening.screen(details).codes,
                cell=incident.cell,
                area_cell=incident.area_cell,
                incident=incident,
                language=req.verifier.language,
            )
            for photo in photos:
                ReportPhoto.store(report, photo)
        IncidentEvent.objects.create(
            incident=incident,
            actor=req.verifier,
            action="verifier_answered",
            detail=coded("answer", answer, channel),
        )
        services._publish(incident)
    transaction.on_commit(lambda: evaluate(req.incident))
    return req


def latest_request(member: Member) -> VerificationRequest | None:
    """Return the verifier's newest request still unanswered on an unverified incident
    (what a reply by SMS, Signal or Telegram answers)."""
    return (
        VerificationRequest.objects.waiting()
        .filter(
            verifier=member,
            requested_at__gte=timezone.now() - timedelta(hours=settings.VERIFY_LINK_HOURS),
            incident__state__in=UNVERIFIED_STATES,
        )
        .select_related("incident")
        .order_by("-requested_at")
        .first()
    )


# --- applying the rules ---


def _sightings(incident: Incident, committee_id: int) -> list[verification.Sighting]:
    rows = Report.objects.filter(incident=incident).exclude(channel=Channel.VERIFIER)
    out = []
    for at, cell, tag, trusted_in in rows.values_list(
        "received_at", "cell", "source_tag", "trusted_in"
    ):
        lat, lng = geo.center(cell)
        out.append(
            verification.Sighting(
                at=at,
                lat=lat,
                lng=lng,
                source=tag or None,
                trusted=f",{committee_id}," in trusted_in,
            )
        )
    return out


def decide(incident: Incident) -> tuple[Committee, verification.Decision] | None:
    """Return the first committee ``incident`` belongs to whose rules confirm it, and why."""
    committees = Committee.objects.filter(pk__in=services.owners(incident))
    answers = list(incident.verifications.answered().values_list("verifier_id", "answer"))
    for committee in committees.order_by("pk"):
        rules = rules_for(committee)
        scores = trust_scores(committee) if answers else {}
        decision = verification.decide(
            _sightings(incident, committee.pk),
            [
                verification.VerifierAnswer(
                    answer=a, trusted=scores.get(v, 0) >= rules.trusted_score
                )
                for v, a in answers
            ],
            rules,
        )
        if decision is not None:
            return committee, decision
    return None


def evaluate(incident: Incident) -> Incident:
    """Confirm ``incident`` if a covering committee's rules say so (no dispatcher needed);
    return it as it is now."""
    incident = Incident.objects.get(pk=incident.pk)
    if incident.state not in UNVERIFIED_STATES:
        return incident
    found = decide(incident)
    if found is None:
        return incident
    committee, decision = found
    name = committee.name[:80]
    if decision.reason == "verifier":
        note = coded("rule_verifier", name)
    else:
        note = coded("rule_quorum", name, decision.sources)
    try:
        return services.change_state(
            incident, State.CONFIRMED, actor=None, committees={committee.pk}, note=note
        )
    except services.states.TransitionError:  # confirmed meanwhile by a dispatcher
        return Incident.objects.get(pk=incident.pk)


def last_activity(incident: Incident) -> datetime:
    asked = incident.verifications.aggregate(at=Max("requested_at"))["at"]
    moments = [incident.opened_at, incident.last_seen_at, incident.updated_at]
    return max(m for m in [*moments, asked] if m is not None)


def expire_stale(now: datetime | None = None) -> int:
    """Close the unverified incidents whose committees' rules let them expire and that
    saw nothing for that long; return how many. Whoever heard of one (responders told
    it was being verified) gets a correction."""
    now = now or timezone.now()
    done = 0
    for incident in Incident.objects.filter(state__in=UNVERIFIED_STATES).order_by("pk"):
        committees = services.owners(incident)
        until = verification.expires_at(last_activity(incident), [rules_for(c) for c in committees])
        if until is None or until > now:
            continue
        minutes = int((now - last_activity(incident)).total_seconds() // 60)
        try:
            services.change_state(
                incident,
                State.EXPIRED,
                actor=None,
                note=coded("expired", minutes),
            )
        except services.states.TransitionError:
            continue
        done += 1
    return done
