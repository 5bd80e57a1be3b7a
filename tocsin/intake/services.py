"""Taking a report in: validation and routing, the same for every channel."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, transaction

from tocsin import geo
from tocsin.committees.models import CommitteeCell
from tocsin.intake import screening
from tocsin.intake.models import Report, ReportPhoto
from tocsin.intake.photos import Scrubbed
from tocsin.lib import live


class OutsideEveryArea(ValueError):
    """No committee covers the place: nobody could act on the report."""


def committees_for_cell(area_cell: int) -> list[int]:
    return list(CommitteeCell.objects.filter(cell=area_cell).values_list("committee_id", flat=True))


def submit_report(
    *,
    channel: str,
    kind: str,
    lat: float,
    lng: float,
    text: str = "",
    nonce: str | None = None,
    photos: Sequence[Scrubbed] = (),
    suspicious: bool = False,
) -> Report:
    """Store a report (with its scrubbed ``photos``) and tell the desks of the committees
    that cover it.

    A repeated ``nonce`` (a double submit) returns the first report instead of a second.
    A ``suspicious`` report (a web burst, tocsin.intake.burst) goes to the desk's separate lane.
    """
    if nonce:
        existing = Report.objects.filter(nonce=nonce).first()
        if existing is not None:
            return existing
    cell = geo.cell_at(lat, lng, geo.REPORT_RESOLUTION)
    area_cell = geo.parent(cell, settings.AREA_RESOLUTION)
    committees = committees_for_cell(area_cell)
    if not committees:
        raise OutsideEveryArea
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
            )
            for photo in photos:
                stored.append(ReportPhoto.store(report, photo))
            # A report about an operation already on the desk joins its incident.
            from tocsin.incidents.services import cluster_report

            cluster_report(report)
    except BaseException as e:
        # Nothing of a rolled-back report stays on disk.
        _discard(stored)
        if isinstance(e, IntegrityError) and nonce:
            return Report.objects.get(nonce=nonce)
        raise
    transaction.on_commit(lambda: live.publish(*(f"desk:{c}" for c in committees)))
    return report


def _discard(photos: list[ReportPhoto]) -> None:
    """Delete the files of photos whose rows were rolled back."""
    for photo in photos:
        if photo.file.name:
            photo.file.storage.delete(photo.file.name)
