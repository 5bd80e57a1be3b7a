"""What a waiting public call would say, for the approval cards of pages outside this
app (the desk, the committee page): ``{% waiting_call approval as call %}``."""

from __future__ import annotations

from django import template

from tocsin.committees.models import Approval
from tocsin.mobilize import ladder

register = template.Library()


@register.simple_tag
def waiting_call(approval: Approval) -> tuple[str, str] | None:
    """Return the (title, text) of the public call ``approval`` waits for, or None."""
    return ladder.waiting_call(approval)
