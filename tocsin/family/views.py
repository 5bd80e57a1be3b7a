"""A member's family plan and panic button (/me/family/), and a contact agreeing."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tocsin.committees import access, hotlines
from tocsin.family import panic
from tocsin.family.forms import CancelForm, CheckInForm, ContactForm, PinForm, PlanForm
from tocsin.family.models import MAX_CONTACTS, ContactMessage, EmergencyContact, FamilyPlan
from tocsin.members.models import Member


def _page(request: HttpRequest, member: Member, plan: FamilyPlan, **forms: object) -> HttpResponse:
    context = {
        "plan": plan,
        "contacts": plan.contacts.all(),
        # Contacts whose request to agree could not be delivered: the address is wrong.
        "unreachable": set(
            ContactMessage.objects.filter(
                contact__plan=plan,
                contact__confirmed_at__isnull=True,
                purpose=ContactMessage.Purpose.CONFIRM,
                status=ContactMessage.Status.DEAD,
            ).values_list("contact_id", flat=True)
        ),
        "max_contacts": MAX_CONTACTS,
        "plan_form": PlanForm(instance=plan, member=member),
        "contact_form": ContactForm(initial={"contact_language": plan.language}),
        "pin_form": PinForm(),
        "check_in_form": CheckInForm(),
        "open_trigger": panic.open_trigger(member),
    }
    context.update(forms)
    status = 400 if forms else 200
    return render(request, "family/plan.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def plan(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    plan = panic.plan_for(member)
    if request.method == "GET":
        return _page(request, member, plan)
    form = PlanForm(request.POST, instance=plan, member=member)
    if not form.is_valid():
        return _page(request, member, plan, plan_form=form)
    form.instance.updated_at = timezone.now()
    form.save()
    messages.success(request, _("Your family plan is saved."))
    return redirect("family_plan")


@login_required
@require_POST
def add_contact(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    plan = panic.plan_for(member)
    form = ContactForm(request.POST)
    if not form.is_valid():
        return _page(request, member, plan, contact_form=form)
    data = form.cleaned_data
    try:
        panic.add_contact(
            plan,
            label=data["label"],
            kind=data["kind"],
            address=data["address"],
            language=data["contact_language"],
        )
    except panic.TooManyContacts:
        form.add_error(None, _("You have %(n)s contacts already.") % {"n": MAX_CONTACTS})
        return _page(request, member, plan, contact_form=form)
    except panic.AlreadyAContact:
        form.add_error("address", _("This contact is on your list already."))
        return _page(request, member, plan, contact_form=form)
    messages.success(
        request, _("We asked %(name)s to agree to be your contact.") % {"name": data["label"]}
    )
    return redirect("family_plan")


@login_required
@require_POST
def delete_contact(request: HttpRequest, pk: int) -> HttpResponse:
    member = access.member_of(request)
    get_object_or_404(EmergencyContact, pk=pk, plan__member=member).delete()
    messages.success(request, _("Contact removed."))
    return redirect("family_plan")


@login_required
@require_POST
def set_pin(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    plan = panic.plan_for(member)
    form = PinForm(request.POST)
    if not form.is_valid():
        return _page(request, member, plan, pin_form=form)
    plan.set_pin(form.cleaned_data["pin"].strip())
    plan.save(update_fields=["pin_hash"])
    messages.success(request, _("Your PIN is set."))
    return redirect("family_plan")


def _next(at: datetime) -> datetime:
    now = timezone.localtime()
    when = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return when if when > now else when + timedelta(days=1)


@login_required
@require_POST
def check_in(request: HttpRequest) -> HttpResponse:
    """Set the time to check on the member, or ("I am fine") clear it."""
    member = access.member_of(request)
    plan = panic.plan_for(member)
    if "fine" in request.POST:
        panic.check_in(plan, None)
        messages.success(request, _("Checked in. Nobody will be alerted."))
        return redirect("family_plan")
    form = CheckInForm(request.POST)
    if not form.is_valid():
        return _page(request, member, plan, check_in_form=form)
    panic.check_in(plan, _next(form.cleaned_data["at"]))
    messages.success(request, _("If you have not checked in by then, your contacts are alerted."))
    return redirect("family_plan")


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_http_methods(["GET", "POST"])
def panic_button(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    plan = panic.plan_for(member)
    if request.method == "POST":
        panic.trigger(member, "button")
        if _wants_json(request):
            return JsonResponse({"sent": True})
        return redirect("family_panic")
    trigger = panic.open_trigger(member)
    # What became of each call for help: being sent, sent, or could not be reached. The
    # page never says the contacts were alerted before a message went out.
    calls = (
        list(
            trigger.messages.filter(purpose=ContactMessage.Purpose.PANIC).select_related("contact")
        )
        if trigger
        else []
    )
    nobody = bool(calls) and all(m.status == ContactMessage.Status.DEAD for m in calls)
    committee = panic.committee_of(plan)
    return render(
        request,
        "family/panic.html",
        {
            "plan": plan,
            "confirmed": plan.contacts.confirmed().count(),
            "open_trigger": trigger,
            "calls": calls,
            "nobody_reached": nobody,
            "hotlines": hotlines.of([committee]) if committee and nobody else [],
            "cancel_form": CancelForm(),
        },
    )


@login_required
@require_POST
def cancel(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    form = CancelForm(request.POST)
    if form.is_valid() and panic.cancel_with_pin(member, form.cleaned_data["pin"].strip()):
        messages.success(request, _("Cancelled. Everyone alerted hears it was a mistake."))
    else:
        messages.error(request, _("That PIN is not right, or there is nothing to cancel."))
    return redirect("family_panic")


@login_required
def card(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    plan = panic.plan_for(member)
    committee = panic.committee_of(plan)
    return render(
        request,
        "family/card.html",
        {"plan": plan, "hotlines": hotlines.of([committee]) if committee else []},
    )


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """A contact agrees (a POST: link previews must not agree for them)."""
    contact = get_object_or_404(
        EmergencyContact.objects.select_related("plan__member"), token=token
    )
    if request.method == "POST":
        panic.confirm_contact(token)
        contact.refresh_from_db()
    return render(request, "family/confirm.html", {"contact": contact})
