"""Organizer pages: create a committee, draw its area, invite, manage roles, vouching.

Responders and dispatchers have one page here too: personal invites that vouch for someone.
"""

from __future__ import annotations

import io
from typing import Any

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from tocsin import geo
from tocsin.committees import (
    access,
    approvals,
    hotlines,
    joining,
    partners,
    services,
    verification_views,
    vouching,
)
from tocsin.committees.models import Committee, Invite, Membership, Role, Share
from tocsin.committees.services import revoke
from tocsin.lib import phones
from tocsin.members import security
from tocsin.members.forms import clean_phone, phone_help


class CommitteeForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Committee.Kind.choices)


class AreaForm(forms.Form):
    lat = forms.FloatField(widget=forms.HiddenInput, required=False)
    lng = forms.FloatField(widget=forms.HiddenInput, required=False)
    radius_km = forms.FloatField(label=gettext_lazy("Radius (km)"), min_value=0.3, initial=2)

    def __init__(self, *args, committee: Committee, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.max_km = committee.max_radius_m() / 1000
        self.fields["radius_km"].widget.attrs["max"] = f"{self.max_km:g}"
        self.approved = committee.is_approved

    def clean_radius_km(self) -> float:
        km = self.cleaned_data["radius_km"]
        if km > self.max_km:
            if self.approved:
                message = _("The area can be at most %(km)s km across from its centre.")
            else:
                message = _(
                    "Until the operator approves the committee, its area can be at most "
                    "%(km)s km from its centre."
                )
            raise forms.ValidationError(message % {"km": f"{self.max_km:g}"})
        return km

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        lat, lng = data.get("lat"), data.get("lng")
        if lat is None or lng is None or not geo.valid_latlng(lat, lng):
            raise forms.ValidationError(gettext_lazy("Tap the map to pick the centre of the area."))
        return data


class HotlineForm(forms.Form):
    """The committee's hotline numbers, up to hotlines.MAX_NUMBERS, as people write them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for n in range(1, hotlines.MAX_NUMBERS + 1):
            self.fields[f"number_{n}"] = forms.CharField(
                label=_("Hotline number %(n)d") % {"n": n},
                required=False,
                max_length=32,
            )

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        for name in list(data):
            typed = (data.get(name) or "").strip()
            if typed:
                try:
                    data[name] = clean_phone(typed)
                except forms.ValidationError as e:
                    self.add_error(name, e)
        return data

    def numbers(self) -> list[str]:
        """Return the numbers given, in order, each once (E.164)."""
        found = [self.cleaned_data.get(f"number_{n}") for n in range(1, hotlines.MAX_NUMBERS + 1)]
        return list(dict.fromkeys(n for n in found if n))


def hotline_form(committee: Committee) -> HotlineForm:
    initial = {
        f"number_{n}": phones.display(number)
        for n, number in enumerate(committee.hotline_numbers, start=1)
    }
    return HotlineForm(initial=initial)


@access.staff_view
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    form = CommitteeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        was_staff = access.is_dispatcher(member)
        with transaction.atomic():
            committee = Committee.objects.create(
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"],
                slug=joining.unique_slug(form.cleaned_data["name"]),
            )
            Membership.objects.create(committee=committee, member=member, role=Role.ORGANIZER)
            if not was_staff:
                # Nobody else can grant the first organizer of a new committee a window;
                # staff already proved a factor to reach this page (staff_view).
                security.open_enrollment(member, granted_by=member)
        if committee.is_active:
            messages.success(request, _("Committee created. Now draw its area."))
        else:
            messages.success(
                request,
                _(
                    "Committee created. Draw its area and invite members now; it takes reports "
                    "and sends alerts once the operator approves it."
                ),
            )
        return redirect("committee", slug=committee.slug)
    return render(request, "committees/create.html", {"form": form})


def _invite_url(invite: Invite) -> str:
    return settings.SITE_URL + reverse("join", args=[invite.token])


@access.staff_view
def manage(request: HttpRequest, slug: str) -> HttpResponse:
    return _manage_page(request, slug)


def _manage_page(
    request: HttpRequest, slug: str, *, status: int = 200, **forms: object
) -> HttpResponse:
    """The committee page; ``forms`` are forms sent back with what was typed and why
    they were refused."""
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    invite = committee.invites.filter(revoked=False, personal=False).order_by("-created_at").first()
    if invite is None or not invite.usable():
        invite = Invite.objects.create(committee=committee, created_by=access.member_of(request))
    now = timezone.now()
    return render(
        request,
        "committees/manage.html",
        {
            "committee": committee,
            "memberships": committee.memberships.select_related("member").order_by(
                "member__display_name"
            ),
            "roles": Role.choices,
            "invite": invite,
            "invite_url": _invite_url(invite),
            "area_form": AreaForm(committee=committee),
            "cell_count": committee.area_cells.count(),
            "place_count": committee.places.count(),
            "map_center": settings.MAP_CENTER,
            "rules_form": verification_views.rules_form(committee),
            "shift_form": verification_views.ShiftForm(committee),
            "shifts": committee.shifts.filter(ends_at__gt=now).select_related(
                "member", "swapped_from"
            ),
            "now": now,
            "partnerships": partners.of(committee),
            "share_choices": Share.choices,
            "waiting": [
                a for a in approvals.waiting_for(mine.member) if a.committee_id == committee.pk
            ],
            "audit": approvals.audit(committee),
            "export_ready": services.export_ready(committee, mine.member),
            "threshold": committee.two_person_threshold(),
            "operator_threshold": settings.TWO_PERSON_THRESHOLD,
            "alerts_per_hour": settings.ALERTS_PER_HOUR,
            "hotline_form": hotline_form(committee),
            "phone_help": phone_help(),
            "join_waiting": committee.join_requests.waiting().count(),
            **forms,
        },
        status=status,
    )


@access.staff_view
@require_POST
def set_hotlines(request: HttpRequest, slug: str) -> HttpResponse:
    """Save the committee's hotline numbers (public: reporters see them)."""
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    form = HotlineForm(request.POST)
    if not form.is_valid():
        # Back with what was typed, and the reasons beside the form (nothing changed).
        return _manage_page(request, slug, status=400, hotline_form=form)
    committee.hotline_numbers = form.numbers()
    committee.save(update_fields=["hotline_numbers"])
    if committee.hotline_numbers:
        messages.success(request, _("Hotline numbers saved: reporters see them now."))
    else:
        messages.success(request, _("No hotline number: reporters see none for this committee."))
    return redirect("committee", slug=slug)


@access.staff_view
def area_geojson(request: HttpRequest, slug: str) -> JsonResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    return JsonResponse(geo.geojson_cells(committee.cells()))


@access.staff_view
@require_POST
def set_area(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    form = AreaForm(request.POST, committee=committee)
    if not form.is_valid():
        for e in form.non_field_errors():
            messages.error(request, str(e))
        for field_errors in form.errors.values():
            for e in field_errors:
                messages.error(request, str(e))
        return redirect("committee", slug=slug)
    d = form.cleaned_data
    cells = geo.cells_for_circle(
        d["lat"], d["lng"], d["radius_km"] * 1000, settings.AREA_RESOLUTION
    )
    with transaction.atomic():
        committee.set_area(cells)
    messages.success(
        request,
        ngettext("Area saved: %(n)d cell.", "Area saved: %(n)d cells.", len(cells))
        % {"n": len(cells)},
    )
    return redirect("committee", slug=slug)


@access.staff_view
@require_POST
def set_role(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    membership = get_object_or_404(Membership, pk=pk, committee=committee)
    role = request.POST.get("role", "")
    if role == "remove":
        if membership.pk == mine.pk:
            messages.error(request, _("You cannot remove yourself."))
        else:
            revoke(membership)
            messages.success(
                request,
                _("Removed from the committee. Their sessions and push subscriptions have ended."),
            )
        return redirect("committee", slug=slug)
    if role not in Role.values:
        messages.error(request, _("Unknown role."))
    elif membership.pk == mine.pk and role != Role.ORGANIZER:
        messages.error(request, _("Ask another organizer to change your own role."))
    elif role == membership.role:
        messages.info(request, _("That is already their role."))
    elif services.set_role(membership, role, by=mine.member) is not None:
        messages.warning(
            request,
            _(
                "A dispatcher or organizer role is granted once a second staff member "
                "approves it on the desk."
            ),
        )
    else:
        messages.success(request, _("Role updated."))
    return redirect("committee", slug=slug)


@access.staff_view
@require_POST
def new_invite(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    # Personal invites stay: each is someone vouching for one person.
    committee.invites.filter(personal=False).update(revoked=True)
    Invite.objects.create(committee=committee, created_by=access.member_of(request))
    messages.success(request, _("New invite link made; the old one no longer works."))
    return redirect("committee", slug=slug)


@access.staff_view
def invite_qr(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    invite = committee.invites.filter(revoked=False, personal=False).order_by("-created_at").first()
    if invite is None:
        return HttpResponse(status=404)
    # A standalone SVG file needs its namespace (svg_inline leaves it out: it is for
    # pasting into HTML), or the page's <img> draws nothing.
    svg = io.BytesIO()
    segno.make(_invite_url(invite), error="m").save(
        svg, kind="svg", scale=6, dark="#111", light="#fff", xmldecl=False
    )
    return HttpResponse(svg.getvalue(), content_type="image/svg+xml")


@access.staff_view
@require_http_methods(["GET", "POST"])
def vouch(request: HttpRequest, slug: str) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.RESPONDER)
    if request.method == "POST":
        if vouching.make_personal_invite(mine.member, committee) is None:
            messages.error(
                request,
                ngettext(
                    "You made %(n)d invite this week already. Try again in a few days.",
                    "You made %(n)d invites this week already. Try again in a few days.",
                    vouching.invites_per_week(),
                )
                % {"n": vouching.invites_per_week()},
            )
        else:
            messages.success(request, _("New invite made. Give it to one person you trust."))
        return redirect("committee_vouch", slug=slug)
    invites = vouching.personal_invites(mine.member, committee)
    return render(
        request,
        "committees/vouch.html",
        {
            "committee": committee,
            "invites": [(i, _invite_url(i)) for i in invites],
            "left": vouching.invites_left(mine.member, committee),
            "per_week": vouching.invites_per_week(),
        },
    )


@access.staff_view
def vouching_tree(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    return render(
        request,
        "committees/vouching.html",
        {
            "committee": committee,
            "roots": vouching.tree(committee),
            "events": committee.vouching_events.select_related("actor", "root")[:20],
        },
    )


@access.staff_view
@require_http_methods(["GET", "POST"])
def cut_branch(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, mine = access.committee_for(request, slug, Role.ORGANIZER)
    root = get_object_or_404(
        Membership.objects.select_related("member", "committee"), pk=pk, committee=committee
    )
    if request.method == "POST":
        include = request.POST.get("include_organizers") == "1"
        count = vouching.cut_branch(root, actor=mine.member, include_organizers=include)
        if count == 0:
            messages.error(
                request,
                _("Nobody was removed. To remove organizers, tick the box that includes them."),
            )
            return redirect("committee_cut_branch", slug=slug, pk=pk)
        messages.success(
            request,
            ngettext(
                "Removed %(n)d person. Their sessions and push subscriptions have ended.",
                "Removed %(n)d people. Their sessions and push subscriptions have ended.",
                count,
            )
            % {"n": count},
        )
        return redirect("committee_vouching", slug=slug)
    plain = vouching.branch(root, actor=mine.member, include_organizers=False)
    full = vouching.branch(root, actor=mine.member, include_organizers=True)
    plain_ids = {m.pk for m in plain}
    return render(
        request,
        "committees/cut_branch.html",
        {
            "committee": committee,
            "root": root,
            "plain": plain,
            "extra": [m for m in full if m.pk not in plain_ids],
            "is_self": root.member_id == mine.member_id,
        },
    )
