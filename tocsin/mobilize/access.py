"""Who may see a planned mobilization: each helper returns it or raises Http404.

A mobilization for members or responders is the same 404 as one that does not exist to
anyone else, so ids reveal nothing.
"""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404, HttpRequest

from tocsin.committees import access
from tocsin.committees.models import Committee, Membership, Role
from tocsin.mobilize.planned import Mobilization, MobilizationQuerySet, Rsvp, Visibility

NEEDS = {Visibility.MEMBERS: Role.MEMBER, Visibility.RESPONDERS: Role.RESPONDER}


def can_see(request: HttpRequest, m: Mobilization) -> bool:
    if m.visibility == Visibility.PUBLIC:
        return True
    if not request.user.is_authenticated:
        return False
    member = getattr(request.user, "member", None)
    if member is None:
        return False
    return (
        Membership.objects.filter(member=member, committee_id=m.committee_id)
        .at_least(NEEDS[Visibility(m.visibility)])
        .exists()
    )


def not_public_for(request: HttpRequest) -> MobilizationQuerySet:
    """Return the mobilizations for members or responders that the person of
    ``request`` sees: those of their committees, by their role there."""
    member = getattr(request.user, "member", None) if request.user.is_authenticated else None
    if member is None:
        return Mobilization.objects.none()
    mine = Membership.objects.filter(member=member)
    return Mobilization.objects.filter(
        Q(visibility=Visibility.MEMBERS, committee__in=mine.values("committee"))
        | Q(
            visibility=Visibility.RESPONDERS,
            committee__in=mine.at_least(Role.RESPONDER).values("committee"),
        )
    )


def mobilization_for(request: HttpRequest, pk: int) -> Mobilization:
    """Return mobilization ``pk`` if the person of ``request`` may see it."""
    m = Mobilization.objects.select_related("committee", "place").filter(pk=pk).first()
    if m is None or not can_see(request, m):
        raise Http404
    return m


def mobilization_for_staff(
    request: HttpRequest, slug: str, pk: int | None = None
) -> tuple[Committee, Mobilization | None]:
    """Return the committee ``slug`` where the person is a dispatcher or organizer, and
    its mobilization ``pk``; another committee's is the same 404 as none."""
    committee, _membership = access.committee_for(request, slug, Role.DISPATCHER)
    if pk is None:
        return committee, None
    m = committee.mobilizations.filter(pk=pk).select_related("place").first()
    if m is None:
        raise Http404
    return committee, m


def rsvp_of(request: HttpRequest, m: Mobilization, pk: str) -> Rsvp:
    try:
        rsvp = m.rsvps.filter(pk=int(pk)).first()
    except ValueError:
        rsvp = None
    if rsvp is None:
        raise Http404
    return rsvp
