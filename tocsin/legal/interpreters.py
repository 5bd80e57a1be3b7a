"""The interpreter roster: members say which languages they speak and whether they
interpret; interpreters take on-call shifts (duty "interpreter"). The desk and the legal
team find who is on call for a language in one step and send them the call or the
dispatch; the case or the incident records that an interpreter was needed and who came.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from tocsin.committees.models import Committee, Duty, Shift
from tocsin.incidents.models import Incident
from tocsin.legal.models import Case, Event, InterpreterCall, Notice, SpokenLanguage
from tocsin.members.models import Member


def languages_of(member: Member) -> list[str]:
    return list(member.spoken_languages.values_list("language", flat=True))


@transaction.atomic
def set_languages(member: Member, languages: list[str], *, interprets: bool) -> None:
    SpokenLanguage.objects.filter(member=member).exclude(language__in=languages).delete()
    for code in languages:
        SpokenLanguage.objects.update_or_create(
            member=member, language=code, defaults={"interprets": interprets}
        )


def on_call(committee: Committee, language: str, at: datetime | None = None) -> list[Member]:
    """Return the interpreters on call now for ``committee`` who speak ``language``."""
    ids = (
        Shift.objects.on_duty(at)
        .filter(committee=committee, duty=Duty.INTERPRETER)
        .values_list("member_id", flat=True)
    )
    return list(
        Member.objects.filter(
            pk__in=ids,
            memberships__committee=committee,
            spoken_languages__language=language,
            spoken_languages__interprets=True,
        ).distinct()
    )


def roster(committee: Committee, language: str) -> list[Member]:
    """Every interpreter of ``committee`` for ``language``, on call or not."""
    return list(
        Member.objects.filter(
            memberships__committee=committee,
            spoken_languages__language=language,
            spoken_languages__interprets=True,
        ).distinct()
    )


@transaction.atomic
def send(
    committee: Committee,
    language: str,
    interpreter: Member,
    *,
    by: Member,
    case: Case | None = None,
    incident: Incident | None = None,
) -> InterpreterCall:
    """Record that an interpreter is needed and send ``interpreter`` the call."""
    call = InterpreterCall.objects.create(
        committee=committee,
        language=language,
        case=case,
        incident=incident,
        interpreter=interpreter,
        asked_by=by,
    )
    Notice.objects.create(purpose=Notice.Purpose.INTERPRETER, call=call, member=interpreter)
    if case is not None:
        Event.objects.create(case=case, kind=Event.Kind.INTERPRETER, value=language, actor=by)
    return call


def came(call: InterpreterCall, *, by: Member) -> None:
    if call.came_at is not None:
        return
    call.came_at = timezone.now()
    call.save(update_fields=["came_at"])
    if call.case_id is not None:
        Event.objects.create(
            case_id=call.case_id, kind=Event.Kind.INTERPRETER_CAME, value=call.language, actor=by
        )
