"""Partner committees: cooperation by consent of both sides' organizers.

A partnership shares reports on the desk, verifiers, alerts to the other's members, or
any of these, both ways; either side ends it at any time. Nothing is shared by areas
that overlap: a workplace committee inside a neighborhood committee's area sees only
its own desk until both agree.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tocsin.committees.models import Committee, Membership, Partnership, Role, Share
from tocsin.members.models import Member

_FIELDS = {
    Share.REPORTS: "share_reports",
    Share.VERIFIERS: "share_verifiers",
    Share.ALERTS: "share_alerts",
}


class PartnershipError(ValueError):
    """The partnership cannot be proposed, accepted or ended (the message says why)."""


def partners(committee_ids: Iterable[int], share: str) -> set[int]:
    """Return the committees in a live partnership sharing ``share`` with any of
    ``committee_ids`` (not those committees themselves, unless they partner each other)."""
    ids = set(committee_ids)
    if not ids:
        return set()
    rows = (
        Partnership.objects.live()
        .involving(ids)
        .filter(**{_FIELDS[Share(share)]: True})
        .values_list("proposer_id", "partner_id")
    )
    found: set[int] = set()
    for a, b in rows:
        if a in ids:
            found.add(b)
        if b in ids:
            found.add(a)
    return found


def with_partners(committee_ids: Iterable[int], share: str) -> set[int]:
    """Return ``committee_ids`` and the partners that share ``share`` with them."""
    ids = set(committee_ids)
    return ids | partners(ids, share)


def between(a: Committee, b: Committee) -> Partnership | None:
    """Return the live or pending partnership of two committees, if any."""
    return (
        Partnership.objects.filter(ended_at__isnull=True)
        .filter(Q(proposer=a, partner=b) | Q(proposer=b, partner=a))
        .first()
    )


def propose(
    committee: Committee, other: Committee, shares: Iterable[str], *, by: Member
) -> Partnership:
    """Propose to ``other`` to share ``shares``; an organizer of ``other`` accepts it."""
    chosen = {Share(s) for s in shares}
    if not chosen:
        raise PartnershipError("choose what to share")
    if other.pk == committee.pk:
        raise PartnershipError("a committee cannot partner itself")
    if not committee.is_active or not other.is_active:
        raise PartnershipError("both committees must be approved by the operator")
    with transaction.atomic():
        if between(committee, other) is not None:
            raise PartnershipError("these committees already have a partnership or proposal")
        return Partnership.objects.create(
            proposer=committee,
            partner=other,
            proposed_by=by,
            **{field: share in chosen for share, field in _FIELDS.items()},
        )


def accept(partnership: Partnership, *, by: Member) -> Partnership:
    """Accept a proposal made to a committee ``by`` organizes."""
    if not _organizes(by, partnership.partner_id):
        raise PartnershipError("only an organizer of the invited committee accepts")
    updated = Partnership.objects.filter(
        pk=partnership.pk, accepted_at__isnull=True, ended_at__isnull=True
    ).update(accepted_by=by, accepted_at=timezone.now())
    if not updated:
        raise PartnershipError("the proposal is no longer open")
    transaction.on_commit(_changed)
    partnership.refresh_from_db()
    return partnership


def end(partnership: Partnership, *, by: Member) -> None:
    """End a partnership or a proposal from either side (declining is ending)."""
    if not (_organizes(by, partnership.proposer_id) or _organizes(by, partnership.partner_id)):
        raise PartnershipError("only an organizer of either committee ends it")
    Partnership.objects.filter(pk=partnership.pk, ended_at__isnull=True).update(
        ended_by=by, ended_at=timezone.now()
    )
    transaction.on_commit(_changed)


def of(committee: Committee) -> list[Partnership]:
    """Return the committee's live partnerships and open proposals, newest first."""
    return list(
        Partnership.objects.filter(ended_at__isnull=True)
        .involving([committee.pk])
        .select_related("proposer", "partner")
    )


def _organizes(member: Member, committee_id: int) -> bool:
    return (
        Membership.objects.filter(member=member, committee_id=committee_id)
        .at_least(Role.ORGANIZER)
        .exists()
    )


# The desks a report reaches, kept in the cache (every stored report asks, partnerships
# change seldom). A partnership accepted or ended here starts a new generation of keys;
# DESKS_CACHED_SECONDS bounds what another process without a shared cache still holds.
# The desks only learn to re-read: what they show is checked against the partnerships then.
DESKS_CACHED_SECONDS = 60
_GENERATION = "tocsin:partnerships:generation"


def desks(committee_ids: Iterable[int]) -> list[str]:
    """Return the live channels of the desks that see these committees' reports."""
    ids = sorted(set(committee_ids))
    key = f"tocsin:desks:{cache.get(_GENERATION, 0)}:{','.join(map(str, ids))}"
    channels: list[str] | None = cache.get(key)
    if channels is None:
        channels = [f"desk:{c}" for c in sorted(with_partners(ids, Share.REPORTS))]
        cache.set(key, channels, timeout=DESKS_CACHED_SECONDS)
    return channels


def _changed() -> None:
    """Forget the desks kept for reports: a partnership started or ended."""
    cache.add(_GENERATION, 0, timeout=None)
    try:
        cache.incr(_GENERATION)
    except ValueError:  # evicted between add and incr
        cache.set(_GENERATION, 1, timeout=None)
