"""Taking a report in: validation and routing, the same for every channel."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation

from tocsin import geo, vault
from tocsin.committees import partners
from tocsin.committees.models import covering_ids
from tocsin.intake import sources
from tocsin.intake.models import Report, ReportContact, ReportPhoto
from tocsin.intake.photos import Scrubbed
from tocsin.lib import live, screening
from tocsin.members.models import Member


class OutsideEveryArea(ValueError):
    """No committee covers the place: nobody could act on the report."""


def store_report(
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
    trust: Callable[[Member, list[int]], str] | None = None,
    then: Callable[[Report, tuple[str, str] | None], None] | None = None,
) -> Report:
    """Store a report (with its scrubbed ``photos``) and tell the desks of the committees
    that cover it. Reports reach incidents through tocsin.incidents.reports.receive_report,
    which calls this.

    A repeated ``nonce`` (a double submit) returns the first report instead of a second.
    A ``suspicious`` report (a web burst or a network past its share, tocsin.intake.burst)
    goes to the desk's separate lane, in its ``burst_group``. A report from a ``member``
    carries their source tag and the committees that trust them (tocsin.intake.sources),
    never who they are; if it joins no incident it opens one (never broadcast: members
    hear only of confirmed incidents), and the committees' rules may then confirm it.
    ``reply_to`` (kind, address) is where the desk can answer the reporter, stored sealed.
    ``within`` (a dispatcher typing in a call): the place must be covered by one of these
    committees, else OutsideEveryArea. ``trust`` returns the ",id,id," list of the given
    committees that trust the member; ``for_information``: the report may not back a
    confirmation on its own (a partner network's, trusted "desk only");
    ``partner_certainty``: how sure a partner network says it is (PartnerCertainty);
    ``then`` runs in the report's transaction once it is stored, with the member's source
    tags (today's and yesterday's): if it raises, nothing of the report stays.
    """
    # A repeated nonce is found by its unique index when the insert fails (below), not
    # looked up first: a double submit is rare, a query before every report is not.
    cell = geo.cell_at(lat, lng, geo.REPORT_RESOLUTION)
    area_cell = geo.parent(cell, settings.AREA_RESOLUTION)
    committees = covering_ids(area_cell)
    if not committees or (within is not None and not within.intersection(committees)):
        if nonce and (first := Report.objects.filter(nonce=nonce).first()) is not None:
            return first  # the area changed since the first was taken
        raise OutsideEveryArea
    tags: tuple[str, str] | None = None
    trusted_in = ""
    if member is not None:
        tags = sources.tags(member.pk)
        trusted_in = trust(member, committees) if trust is not None else ""
    stored: list[ReportPhoto] = []
    try:
        with transaction.atomic():
            report = Report.objects.create(
                channel=channel,
                kind=kind,
                text=text.strip(),
                held_reasons=screening.screen(text).codes,
                cell=cell,
                area_cell=area_cell,
                nonce=nonce or None,
                suspicious=suspicious,
                burst_group=burst_group if suspicious else "",
                source_tag=tags[0] if tags else "",
                trusted_in=trusted_in,
                language=language or translation.get_language() or settings.LANGUAGE_CODE,
                for_information=for_information,
                partner_certainty=partner_certainty,
            )
            report.link_committees(committees)
            for photo in photos:
                stored.append(ReportPhoto.store(report, photo))
            if reply_to is not None:
                ReportContact.objects.create(
                    report=report, kind=reply_to[0], sealed=vault.seal({"address": reply_to[1]})
                )
            if then is not None:
                then(report, tags)
    except BaseException as e:
        # Nothing of a rolled-back report stays on disk.
        _discard(stored)
        if isinstance(e, IntegrityError) and nonce:
            first = Report.objects.filter(nonce=nonce).first()
            if first is not None:
                return first
        raise
    transaction.on_commit(lambda: live.publish(*partners.desks(committees)))
    return report


def _discard(photos: list[ReportPhoto]) -> None:
    """Delete the files of photos whose rows were rolled back."""
    for photo in photos:
        if photo.file.name:
            photo.file.storage.delete(photo.file.name)
