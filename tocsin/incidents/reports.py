"""A report arriving: stored through intake, then clustered into an incident and
evaluated by the committees' rules. Every channel (the web form, the hotline form, SMS,
Signal and Telegram keywords) comes in through ``receive_report``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from tocsin.committees import trust
from tocsin.committees.models import Committee, Membership
from tocsin.incidents import services
from tocsin.incidents.models import Incident
from tocsin.incidents.verify import accuracy_for, evaluate, rules_for
from tocsin.intake.models import Report
from tocsin.intake.photos import Scrubbed
from tocsin.intake.services import OutsideEveryArea, store_report
from tocsin.members.models import Member

__all__ = ["OutsideEveryArea", "receive_report", "trusted_in"]


def receive_report(
    *,
    channel: str,
    kind: str,
    lat: float,
    lng: float,
    text: str = "",
    nonce: str | None = None,
    photos: Sequence[Scrubbed] = (),
    suspicious: bool = False,
    burst_group: str = "",
    member: Member | None = None,
    language: str = "",
    reply_to: tuple[str, str] | None = None,
    within: set[int] | None = None,
    for_information: bool = False,
    partner_certainty: str = "",
) -> Report:
    """Store a report through intake (tocsin.intake.services.store_report, which documents
    the arguments), then, in the same transaction, join it to the incident it is about.

    A report from a member carries the committees that trust them; if it joins no incident
    it opens one (never broadcast: members hear only of confirmed incidents), and the
    committees' rules then evaluate it once the transaction commits.
    """
    return store_report(
        channel=channel,
        kind=kind,
        lat=lat,
        lng=lng,
        text=text,
        nonce=nonce,
        photos=photos,
        suspicious=suspicious,
        burst_group=burst_group,
        member=member,
        language=language,
        reply_to=reply_to,
        within=within,
        for_information=for_information,
        partner_certainty=partner_certainty,
        trust=trusted_in,
        then=_cluster,
    )


def _cluster(report: Report, tags: tuple[str, str] | None) -> None:
    # A report about an operation already on the desk joins its incident.
    incident = services.cluster_report(report)
    if incident is None and report.trusted_in:
        incident = services.open_incident(report, actor=None)
    if incident is not None and tags:
        # The same person just before midnight carried yesterday's tag.
        if Report.objects.filter(incident=incident, source_tag=tags[1]).exists():
            Report.objects.filter(pk=report.pk).update(source_tag=tags[1])
            report.source_tag = tags[1]
        if report.trusted_in:
            incident_id = incident.pk
            transaction.on_commit(lambda: _evaluate(incident_id))


def _evaluate(incident_id: int) -> None:
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is not None:
        evaluate(incident)


def trusted_in(member: Member, committees: list[Committee] | list[int]) -> str:
    """Return the ",id,id," list of the given committees in which ``member`` is trusted
    (their trust score reaches the committee's threshold), or "" for none."""
    ids = [c if isinstance(c, int) else c.pk for c in committees]
    member_of = set(
        Membership.objects.filter(member=member, committee_id__in=ids).values_list(
            "committee_id", flat=True
        )
    )
    trusted = []
    for committee in Committee.objects.filter(pk__in=member_of).order_by("pk"):
        score = trust.trust(member, committee, accuracy=accuracy_for(member, committee)).score
        if score >= rules_for(committee).trusted_score:
            trusted.append(committee.pk)
    return f",{','.join(map(str, trusted))}," if trusted else ""
