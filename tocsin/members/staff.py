"""Who counts as staff, as the committees app says.

Members sit below committees (DESIGN section 4): a member's account, factors and notices
must not import the committees that give people roles. What members need to know of roles
is two questions, answered by tocsin.committees.staff once the app registry is ready
(tocsin.committees.apps):

- is this member a dispatcher or an organizer anywhere (staff must prove a second factor)?
- who are the organizers of the committees where they are staff, besides them (they are
  told when a staff member's login factors change)?
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from tocsin.members.models import Member

_is_staff: Callable[[Member], bool] | None = None
_organizers_of: Callable[[Member], list[Member]] | None = None


def provide(
    *, is_staff: Callable[[Member], bool], organizers_of: Callable[[Member], list[Member]]
) -> None:
    global _is_staff, _organizers_of
    _is_staff, _organizers_of = is_staff, organizers_of


def is_staff(member: Member) -> bool:
    if _is_staff is None:
        raise ImproperlyConfigured("tocsin.committees is not installed: nobody can be staff")
    return _is_staff(member)


def organizers_of(member: Member) -> list[Member]:
    if _organizers_of is None:
        raise ImproperlyConfigured("tocsin.committees is not installed: nobody can be staff")
    return _organizers_of(member)
