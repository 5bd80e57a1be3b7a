"""Committees that grow in the open: asking to join a listed committee, and asking to start
one where there is none.

A person without an account gives one channel (sealed to the vault: web processes can
write it, only workers open it) and a name. Accepting a join request makes a single-use
invite vouched by the accepting organizer, so whoever joins through it hangs in the
vouching tree under that organizer; the link goes to the person's channel through the
request's own outbox row (tocsin.mobilize.join_notices). Starting a committee is the
operator's decision, under the same limits as a committee made at /committees/new/: it
starts unapproved (its area capped, no reports until approved).
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from tocsin import geo, vault
from tocsin.committees.models import (
    Committee,
    CommitteeRequest,
    Invite,
    JoinRequest,
    Role,
)
from tocsin.geo import zips
from tocsin.lib import phones
from tocsin.members.models import Member
from tocsin.transports import registry

# The area a started committee gets at first: a circle this wide around the ZIP's centre,
# never more than an unapproved committee may draw (TOCSIN_UNAPPROVED_AREA_M).
START_RADIUS_M = 2000
# Pages under /committees/ that a committee's public page (/committees/<slug>/) must not hide.
RESERVED_SLUGS = {"new", "start"}


def unique_slug(name: str) -> str:
    """Return a free committee address (/c/<slug>/) made from ``name``."""
    base = slugify(name)[:50] or "committee"
    slug, n = base, 2
    while slug in RESERVED_SLUGS or Committee.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _sealed(kind: str, address: str) -> tuple[str, bytes, str]:
    address = address.strip()
    if kind == "sms":
        address = phones.e164(address) or address
    return address, vault.seal({"address": address}), registry.blind_index(kind, address)


def ask(
    committee: Committee, *, display_name: str, kind: str, address: str, language: str
) -> JoinRequest | None:
    """Ask to join ``committee``; return the request, or None when this address already
    asked (the page answers the same either way: typing someone's address must not tell
    whether they asked)."""
    _address, sealed, index = _sealed(kind, address)
    if JoinRequest.objects.filter(committee=committee, blind_index=index).exists():
        return None
    try:
        with transaction.atomic():
            return JoinRequest.objects.create(
                committee=committee,
                display_name=display_name.strip(),
                kind=kind,
                sealed=sealed,
                blind_index=index,
                language=language,
            )
    except IntegrityError:  # the same address, a moment earlier
        return None


def waiting(committee: Committee) -> list[JoinRequest]:
    return list(committee.join_requests.waiting())


def accepted(committee: Committee) -> list[JoinRequest]:
    """Return the accepted requests still kept (until their link expires), newest first."""
    rows = committee.join_requests.filter(accepted_at__isnull=False).select_related("accepted_by")
    return list(rows.order_by("-accepted_at", "-pk")[:50])


def accept(request: JoinRequest, *, by: Member) -> Invite:
    """Accept as organizer ``by``: a single-use invite vouched by ``by``, its link queued
    to the person's channel now."""
    with transaction.atomic():
        locked = JoinRequest.objects.select_for_update().get(pk=request.pk)
        if locked.invite_id is not None:
            assert locked.invite is not None
            return locked.invite
        invite = Invite.objects.create(
            committee_id=locked.committee_id,
            created_by=by,
            role=Role.MEMBER,
            max_uses=1,
            personal=True,
        )
        now = timezone.now()
        locked.invite = invite
        locked.accepted_at = now
        locked.accepted_by = by
        locked.next_attempt_at = now
        # Kept until the link it carries stops working, then purged.
        locked.expires_at = invite.expires_at
        locked.save()
    return invite


def decline(request: JoinRequest) -> None:
    """Decline: the request and its sealed address are deleted now. Nothing is sent."""
    JoinRequest.objects.filter(pk=request.pk).delete()


def ask_to_start(
    *,
    name: str,
    kind: str,
    place: zips.Zip,
    display_name: str,
    channel: str,
    address: str,
    language: str,
) -> CommitteeRequest | None:
    """Ask the operator to start a committee around ``place``; None when this address
    already asked."""
    _address, sealed, index = _sealed(channel, address)
    try:
        with transaction.atomic():
            return CommitteeRequest.objects.create(
                name=name.strip(),
                kind=kind,
                cell=geo.cell_at(place.lat, place.lng, geo.PUBLIC_RESOLUTION),
                area_name=place.town,
                display_name=display_name.strip(),
                channel=channel,
                sealed=sealed,
                blind_index=index,
                language=language,
            )
    except IntegrityError:
        return None


def start(request: CommitteeRequest) -> Committee:
    """Start the committee ``request`` asks for (the operator's decision): unapproved,
    like any new committee, its area a circle around the rough place; the person gets a
    single-use organizer invite on their channel."""
    with transaction.atomic():
        locked = CommitteeRequest.objects.select_for_update().get(pk=request.pk)
        if locked.committee_id is not None:
            assert locked.committee is not None
            return locked.committee
        committee = Committee.objects.create(
            name=locked.name, kind=locked.kind, slug=unique_slug(locked.name)
        )
        lat, lng = geo.center(locked.cell)
        radius = min(START_RADIUS_M, settings.UNAPPROVED_AREA_M)
        committee.set_area(geo.cells_for_circle(lat, lng, radius, settings.AREA_RESOLUTION))
        invite = Invite.objects.create(
            committee=committee, created_by=None, role=Role.ORGANIZER, max_uses=1, personal=True
        )
        locked.committee = committee
        locked.invite = invite
        locked.next_attempt_at = timezone.now()
        locked.expires_at = invite.expires_at
        locked.save()
    return committee


def turn_down(request: CommitteeRequest) -> None:
    CommitteeRequest.objects.filter(pk=request.pk).delete()
