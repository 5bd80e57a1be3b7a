"""Access helpers: each returns the object a person may see, or raises Http404.

Objects of another committee get the same 404 as objects that do not exist, so ids
reveal nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from tocsin.committees import approvals, partners
from tocsin.committees.models import Approval, Committee, Membership, Role, Share
from tocsin.members.models import Member


def member_of(request: HttpRequest) -> Member:
    user = request.user
    if not user.is_authenticated:
        raise Http404
    try:
        return user.member  # type: ignore[union-attr]
    except Member.DoesNotExist:
        raise Http404 from None


def committee_for(request: HttpRequest, slug: str, role: str) -> tuple[Committee, Membership]:
    member = member_of(request)
    membership = (
        Membership.objects.select_related("committee")
        .filter(member=member, committee__slug=slug)
        .at_least(role)
        .first()
    )
    if membership is None:
        raise Http404
    return membership.committee, membership


def staff_committee_ids(member: Member, role: str = Role.DISPATCHER) -> set[int]:
    """Return the committees where ``member`` holds ``role`` or above."""
    return set(
        Membership.objects.filter(member=member)
        .at_least(role)
        .values_list("committee_id", flat=True)
    )


def dispatcher_committees(member: Member) -> list[Committee]:
    return list(Committee.objects.filter(id__in=staff_committee_ids(member)).order_by("name"))


def desk_committee_ids(member: Member) -> set[int]:
    """Return the committees whose reports and incidents ``member``'s desk shows: those
    they dispatch for, and the partners that share reports with those."""
    own = set(Committee.objects.active().filter(pk__in=staff_committee_ids(member)).ids())
    return partners.with_partners(own, Share.REPORTS)


def is_dispatcher(member: Member) -> bool:
    return Membership.objects.filter(member=member).at_least(Role.DISPATCHER).exists()


def staff_view(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require login and, for dispatchers and organizers, a passkey or TOTP session.

    Someone who is not staff passes through (the view's own access helper answers 404);
    staff whose session proved no factor that counts for the desk (an emailed code, or a
    factor they added as a plain member) go to the second-factor page first.
    """
    from tocsin.members import security

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}")
        member = getattr(request.user, "member", None)
        if (
            member is not None
            and security.needs_second_factor(member)
            and not security.opens_desk(request)
        ):
            if request.headers.get("accept") == "text/event-stream":
                return HttpResponse(status=403)
            return redirect(
                f"{reverse('login_verify')}?{urlencode({'next': request.get_full_path()})}"
            )
        return view(request, *args, **kwargs)

    return wrapper


def approval_for(request: HttpRequest, pk: int) -> Approval:
    """Return a waiting approval of a committee where the user is staff, or raise 404."""
    member = member_of(request)
    # The legal team's own approvals (a case export) are decided on the case page only.
    waiting = Approval.objects.waiting().exclude(kind__in=approvals.LEGAL_KINDS)
    approval = waiting.filter(pk=pk).first()
    if approval is None or not staff_committee_ids(member) & approvals.committee_ids(approval):
        raise Http404
    return approval
