"""End live streams when access goes: a membership changed or removed, a session ended.

Each live stream is tagged with the access channels of the person who opened it
(tocsin.lib.sse); publishing one closes those streams, their browsers reconnect, and the
view checks access again. A role granted is harmless to re-check; a role taken away
(tocsin.committees.services.revoke, an organizer removing a member, the member leaving)
must not leave a desk streaming reports.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from tocsin.committees.models import Membership
from tocsin.lib import live


def _member_changed(sender: Any, instance: Membership, **kwargs: Any) -> None:
    member_id = instance.member_id
    transaction.on_commit(lambda: live.publish_access("member", member_id))


def _logged_out(sender: Any, request: Any, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        live.publish_access("session", session_key)


def connect() -> None:
    post_save.connect(_member_changed, sender=Membership, dispatch_uid="live-access-save")
    post_delete.connect(_member_changed, sender=Membership, dispatch_uid="live-access-delete")
    user_logged_out.connect(_logged_out, dispatch_uid="live-access-logout")
