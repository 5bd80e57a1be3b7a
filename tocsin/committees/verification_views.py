"""Organizer pages for verification: the committee's rules and its verifiers' shifts;
and a verifier's own "I'm on duty" switch."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tocsin.committees import access
from tocsin.committees.models import (
    DUTY_ONLY_ROLE,
    DUTY_ROLE,
    Committee,
    Duty,
    Membership,
    Role,
    Shift,
    VerificationRules,
)
from tocsin.members.models import Member

MAX_SHIFT_HOURS = 24


class RulesForm(forms.ModelForm):
    class Meta:
        model = VerificationRules
        fields = [
            "verifier_confirms",
            "quorum",
            "quorum_meters",
            "quorum_minutes",
            "trusted_score",
            "expire_minutes",
        ]

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        limits = {
            "quorum": (0, 20),
            "quorum_meters": (50, 5000),
            "quorum_minutes": (5, 240),
            "trusted_score": (0, 100),
            "expire_minutes": (0, 24 * 60),
        }
        for name, (low, high) in limits.items():
            field = self.fields[name]
            field.validators += [MinValueValidator(low), MaxValueValidator(high)]
            field.widget.attrs.update({"min": low, "max": high})
        self.fields["quorum"].help_text = gettext_lazy("0 turns the quorum off.")
        self.fields["expire_minutes"].help_text = gettext_lazy(
            "0: unverified incidents stay open until a dispatcher closes them."
        )


def rules_form(committee: Committee, data: dict | None = None) -> RulesForm:
    instance = VerificationRules.objects.filter(committee=committee).first()
    return RulesForm(data, instance=instance or VerificationRules(committee=committee))


class ShiftForm(forms.Form):
    duty = forms.ChoiceField(
        label=gettext_lazy("Duty"), choices=Duty.choices, initial=Duty.VERIFIER, required=False
    )
    # Empty: an open slot that an eligible member signs up for.
    member = forms.TypedChoiceField(
        label=gettext_lazy("Who"), coerce=int, required=False, empty_value=None
    )
    starts_at = forms.DateTimeField(
        label=gettext_lazy("Starts"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    hours = forms.IntegerField(
        label=gettext_lazy("Hours"), min_value=1, max_value=MAX_SHIFT_HOURS, initial=4
    )

    def __init__(self, committee: Committee, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.committee = committee
        self.fields["member"].choices = [  # type: ignore[attr-defined]
            ("", gettext_lazy("Open slot: someone signs up")),
            *((m.member_id, m.member.display_name) for m in responders(committee)),
        ]

    def clean(self) -> dict:
        data = super().clean() or {}
        data["duty"] = data.get("duty") or Duty.VERIFIER
        member_id = data.get("member")
        if member_id is not None and not may_hold(self.committee, member_id, data["duty"]):
            self.add_error("member", gettext_lazy("This person does not have the role for it."))
        return data


def may_hold(committee: Committee, member_id: int, duty: str) -> bool:
    """Return whether the member holds the role a shift of ``duty`` needs."""
    mine = committee.memberships.filter(member_id=member_id)
    if duty in DUTY_ONLY_ROLE:
        return mine.filter(role=DUTY_ONLY_ROLE[Duty(duty)]).exists()
    return mine.at_least(DUTY_ROLE[Duty(duty)]).exists()


def responders(committee: Committee) -> list[Membership]:
    """Return the memberships that can hold some shift (responders and above)."""
    return list(
        committee.memberships.at_least(Role.RESPONDER)
        .select_related("member")
        .order_by("member__display_name")
    )


@access.staff_view
@require_POST
def set_rules(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    form = rules_form(committee, request.POST)
    if form.is_valid():
        form.save()
        messages.success(request, _("Verification rules saved."))
    else:
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for e in errors:
                messages.error(request, f"{label}: {e}" if label else str(e))
    return redirect("committee", slug=slug)


@access.staff_view
@require_POST
def add_shift(request: HttpRequest, slug: str) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    form = ShiftForm(committee, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        Shift.objects.create(
            committee=committee,
            duty=data["duty"],
            member_id=data["member"],
            starts_at=data["starts_at"],
            ends_at=data["starts_at"] + timedelta(hours=data["hours"]),
            created_by=mine.member,
        )
        messages.success(request, _("Shift added."))
    else:
        messages.error(
            request,
            _("Pick a duty, who (or an open slot), a start and a number of hours (1-24)."),
        )
    return redirect("committee", slug=slug)


@access.staff_view
@require_POST
def end_shift(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    shift = Shift.objects.filter(pk=pk, committee=committee).first()
    if shift is None:
        raise Http404
    _end(shift)
    messages.success(request, _("Shift ended."))
    return redirect("committee", slug=slug)


def _end(shift: Shift) -> None:
    now = timezone.now()
    if shift.starts_at > now:
        shift.delete()
    else:
        Shift.objects.filter(pk=shift.pk, ends_at__gt=now).update(ends_at=now)


def my_duty(member: Member) -> list[dict]:
    """Return, per committee where ``member`` verifies, whether they are on duty now."""
    now = timezone.now()
    rows = []
    for m in (
        Membership.objects.filter(member=member)
        .at_least(Role.VERIFIER)
        .select_related("committee")
        .order_by("committee__name")
    ):
        shift = (
            Shift.objects.on_duty(now)
            .filter(committee=m.committee, member=member, duty=Duty.VERIFIER)
            .first()
        )
        rows.append({"committee": m.committee, "shift": shift})
    return rows


@access.staff_view
@require_POST
def duty(request: HttpRequest, slug: str) -> HttpResponse:
    """A verifier starts ("hours") or ends their own shift."""
    committee, mine = access.committee_for(request, slug, Role.VERIFIER)
    now = timezone.now()
    current = Shift.objects.on_duty(now).filter(
        committee=committee, member=mine.member, duty=Duty.VERIFIER
    )
    if request.POST.get("end"):
        for shift in current:
            _end(shift)
        messages.success(request, _("You are off duty for %(name)s.") % {"name": committee.name})
        return redirect("me")
    try:
        hours = max(1, min(MAX_SHIFT_HOURS, int(request.POST.get("hours", "4"))))
    except ValueError:
        hours = 4
    for shift in current:
        _end(shift)
    Shift.objects.create(
        committee=committee,
        member=mine.member,
        starts_at=now,
        ends_at=now + timedelta(hours=hours),
        created_by=mine.member,
    )
    messages.success(
        request,
        _("You are on duty for %(name)s for %(hours)d hours.")
        % {"name": committee.name, "hours": hours},
    )
    return redirect("me")
