"""Committee changes that reach beyond one row."""

from __future__ import annotations

from django.db import transaction

from tocsin.alerts.models import Delivery, DeliveryStatus
from tocsin.committees.models import Invite, Membership
from tocsin.members.models import ContactEndpoint, EndpointKind
from tocsin.members.security import end_all_sessions


def revoke(membership: Membership) -> None:
    """Remove a member from a committee and cut them off now.

    Their sessions end at their next request, their push subscriptions are deleted (a
    device of someone who should not hear alerts stops hearing them), the invites they made
    for this committee stop working (nobody joins on their word any more), and alerts still
    queued for them are cancelled. They keep any other committee, but must log in again.
    """
    member = membership.member
    with transaction.atomic():
        membership.delete()
        Invite.objects.filter(committee_id=membership.committee_id, created_by=member).update(
            revoked=True
        )
        end_all_sessions(member)
        ContactEndpoint.objects.filter(member=member, kind=EndpointKind.WEBPUSH).delete()
        if not member.memberships.exists():
            Delivery.objects.filter(
                member=member, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED]
            ).update(status=DeliveryStatus.CANCELLED, error="revoked")
