"""The dispatcher's desk: the live queue and the incident page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.db.models import Case, IntegerField, Q, Value, When
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from tocsin import geo
from tocsin.alerts import outbox
from tocsin.alerts.models import Purpose
from tocsin.committees import access, approvals, partners
from tocsin.committees.models import Approval, Committee, Share
from tocsin.desk.tools import held_message
from tocsin.incidents import access as desk_access
from tocsin.incidents import lane, services, states, verify
from tocsin.incidents.models import UNVERIFIED_STATES, Incident, State, with_member_names
from tocsin.intake.models import Channel, Report
from tocsin.legal import cases as legal_cases
from tocsin.lib import live, screening, sse
from tocsin.members.models import Member
from tocsin.mobilize.services import headcount
from tocsin.places.naming import Gazetteer

QUEUE_SIZE = 100
# The parts of the incident page its live stream re-renders (templates/incidents/_<part>.html);
# the headcount is the escalation page's (tocsin.mobilize.ladder_views).
LIVE_PARTS = ("actions", "panel", "headcount")


def _queue_context(member) -> dict:  # type: ignore[no-untyped-def]
    committees = access.desk_committee_ids(member)
    reports = Report.objects.unassigned().for_committees(committees)
    waiting = reports.not_suspicious()
    # A member's report (it carries a source tag) or a call a dispatcher typed in comes
    # before anonymous ones, so a flood of anonymous reports never pushes it off the desk.
    first = Case(
        When(~Q(source_tag="") | Q(channel=Channel.HOTLINE), then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    incidents = Incident.objects.for_committees(committees)
    # Each card names its place from the desk committees' gazetteers, read once.
    gazetteer = Gazetteer(committees)
    suspicious = reports.suspicious()
    groups = lane.groups(suspicious)
    for g in groups:
        _placed(g.reports, gazetteer)
    return {
        "reports": _placed(
            waiting.order_by(first, "-received_at", "-pk").with_photos()[:QUEUE_SIZE], gazetteer
        ),
        "report_total": waiting.count(),
        # Web reports past their network's share or from a burst of new sources
        # (tocsin.intake.burst): a lane of their own, in groups of one network near a place.
        "burst_groups": groups,
        "burst_group_total": (
            lane.group_count(suspicious) if len(groups) >= lane.GROUPS_SHOWN else len(groups)
        ),
        # Suspicious reports from before the lane had groups, one by one.
        "suspicious": _placed(suspicious.filter(burst_group="").with_photos()[:100], gazetteer),
        "suspicious_count": suspicious.count(),
        "incidents": incidents.open().with_report_counts()[:100],
        "closed": incidents.exclude(state__in=["reported", "verifying", "confirmed"])[:10],
        "approvals": approvals.waiting_for(member),
        # Overdue legal tasks come back to the desk of their own committees (never a
        # partner's): which task, of which case, how late and whose; the details stay
        # sealed to the legal team.
        "legal_overdue": legal_cases.overdue(
            set(Committee.objects.active().filter(pk__in=access.staff_committee_ids(member)).ids())
        ),
        "member": member,
    }


def _placed(reports: Iterable[Report], gazetteer: Gazetteer) -> list[Report]:
    """Return the reports, each with ``where``: its place in words for the dispatcher."""
    found = list(reports)
    for r in found:
        r.where = gazetteer.exact(r.cell)  # type: ignore[attr-defined]
    return found


@access.staff_view
def desk(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    committees = access.dispatcher_committees(member)
    if not committees:
        return render(request, "incidents/not_dispatcher.html", status=403)
    return render(
        request, "incidents/desk.html", {"committees": committees, **_queue_context(member)}
    )


@access.staff_view
def desk_live(request: HttpRequest) -> HttpResponseBase:
    member = access.member_of(request)
    committees = access.dispatcher_committees(member)
    if not committees:
        return HttpResponse(status=403)
    language = request.LANGUAGE_CODE

    def render_queue() -> str:
        from django.utils import translation

        with translation.override(language):
            # Shared by this dispatcher's open desks: the forms carry a placeholder that
            # the page replaces with its own CSRF token.
            ctx = {**_queue_context(member), "csrf_token": sse.CSRF_PLACEHOLDER}
            return render_to_string("incidents/_queue.html", ctx)

    return sse.stream(
        request,
        [f"desk:{c.pk}" for c in committees],
        render_queue,
        audience=("desk", member.pk, language),
        access=_access(request, member),
    )


def _access(request: HttpRequest, member: Member) -> tuple[str, ...]:
    """The access channels that end a dispatcher's live streams: their member (a role
    taken away) and their session (logged out)."""
    tags = [live.access_channel("member", member.pk)]
    if request.session.session_key:
        tags.append(live.access_channel("session", request.session.session_key))
    return tuple(tags)


@access.staff_view
@require_POST
def open_report(request: HttpRequest, pk: int) -> HttpResponse:
    report, member = desk_access.report_for_dispatcher(request, pk)
    incident = services.open_incident(report, actor=member)
    return redirect("incident", pk=incident.pk)


@access.staff_view
@require_POST
def dismiss_report(request: HttpRequest, pk: int) -> HttpResponse:
    report, member = desk_access.report_for_dispatcher(request, pk)
    services.dismiss_report(report, actor=member)
    return redirect("desk")


@access.staff_view
@require_POST
def release_burst(request: HttpRequest, group: str) -> HttpResponse:
    """Move a group of the burst lane into the queue, where its reports may cluster."""
    reports, member = desk_access.burst_for_dispatcher(request, group)
    n = services.release_burst(reports, actor=member)
    messages.success(
        request,
        ngettext("%(n)d report moved to the queue.", "%(n)d reports moved to the queue.", n)
        % {"n": n},
    )
    return redirect("desk")


@access.staff_view
@require_POST
def dismiss_burst(request: HttpRequest, group: str) -> HttpResponse:
    reports, member = desk_access.burst_for_dispatcher(request, group)
    n = services.dismiss_burst(reports, actor=member)
    messages.success(
        request, ngettext("%(n)d report dismissed.", "%(n)d reports dismissed.", n) % {"n": n}
    )
    return redirect("desk")


_UNSET: Any = object()


def _incident_context(incident: Incident, member: Member, *, new_since: Any = _UNSET) -> dict:
    """``new_since``: reports after it are marked new (None: all of them); by default,
    those since a dispatcher last opened the incident."""
    holder_id = incident.holder()
    unverified = incident.state in UNVERIFIED_STATES
    acting = desk_access.acting_committee_ids(member, incident)
    alerted = set(
        incident.alerts.filter(purpose=Purpose.CONFIRMED).values_list("committee_id", flat=True)
    )
    waiting = [
        a
        for a in approvals.waiting_for(member)
        if a.kind == Approval.Kind.ALERT and a.object_id == incident.pk
    ]
    asked = {int(c) for a in waiting for c in a.options.get("targets", [])}
    partner_options = Committee.objects.filter(
        pk__in=partners.partners(acting, Share.ALERTS) - alerted - asked - acting
    ).order_by("name")
    owed = outbox.owed_follow_ups(incident) if not incident.is_open else {}
    progress = outbox.progress(incident)
    since = incident.desk_seen_at if new_since is _UNSET else new_since
    reports = list(incident.reports.with_photos().prefetch_related("messages"))
    for r in reports:
        r.is_new = since is None or r.received_at > since  # type: ignore[attr-defined]
    return {
        "incident": incident,
        "where": Gazetteer.of(incident).exact(incident.cell),
        "progress": progress,
        # The "records deleted" column shows only when someone's records are gone.
        "progress_gone": any(p["gone"] for p in progress),
        "headcount": headcount(incident),
        "transitions": states.choices(incident.state),
        "events": with_member_names(incident.events.select_related("actor")),
        "reports": reports,
        "holder": Member.objects.filter(pk=holder_id).first() if holder_id else None,
        "held_by_me": holder_id == member.pk,
        "held_by_other": holder_id is not None and holder_id != member.pk,
        "unverified": unverified,
        "candidates": (
            verify.suggest(incident, desk_access.verifier_committee_ids(member, incident))
            if unverified
            else []
        ),
        "verifications": incident.verifications.select_related("verifier"),
        "rules": [
            (c, verify.rules_for(c))
            for c in Committee.objects.filter(pk__in=acting).order_by("name")
        ],
        "report_channels": sorted(
            {r.get_channel_display() for r in incident.reports.all()}, key=str
        ),
        # Open incidents nearby on this desk that this one could be merged into.
        # An incident people heard about keeps its alerts: it is never merged away.
        "merge_refused": incident.is_open and incident.alerts.exists(),
        "merge_candidates": Incident.objects.open()
        .for_committees(access.desk_committee_ids(member))
        .filter(area_cell__in=geo.disk(incident.area_cell, 2))
        .exclude(pk=incident.pk)
        .order_by("-last_seen_at")[:20]
        if incident.is_open
        else [],
        # Two-person rule: alerts about this incident waiting for a second person.
        "approvals": waiting,
        "member": member,
        # Confirmed by another committee: this desk's committees decide for their members.
        "not_alerted": Committee.objects.filter(pk__in=acting - alerted - asked).order_by("name")
        if incident.state == State.CONFIRMED
        else [],
        "partner_options": partner_options if incident.is_open else [],
        # Closed by another committee: these members still wait for how it ended.
        "owed": [
            (c, owed[c.pk])
            for c in Committee.objects.filter(pk__in=acting & set(owed)).order_by("name")
        ],
    }


@access.staff_view
def incident(request: HttpRequest, pk: int) -> HttpResponse:
    obj, member = desk_access.incident_for_dispatcher(request, pk)
    lat, lng = geo.center(obj.cell)
    # Opening it clears its new reports on every desk; this page still marks them.
    before = services.mark_seen(obj)
    context = {
        **_incident_context(obj, member, new_since=before),
        "lat": lat,
        "lng": lng,
        "new_since": int(before.timestamp()) if before else 0,
    }
    return render(request, "incidents/incident.html", context)


def _since(request: HttpRequest) -> Any:
    """Return the moment the page marks reports as new after (?since=, from the page)."""
    try:
        seconds = int(request.GET.get("since", ""))
    except ValueError:
        return _UNSET
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds > 0 else None


@access.staff_view
def incident_live(request: HttpRequest, pk: int) -> HttpResponseBase:
    obj, member = desk_access.incident_for_dispatcher(request, pk)
    language = request.LANGUAGE_CODE
    since = _since(request)

    def render_parts() -> str:
        from django.utils import translation

        fresh = Incident.objects.get(pk=obj.pk)
        with translation.override(language):
            ctx = {
                **_incident_context(fresh, member, new_since=since),
                "csrf_token": sse.CSRF_PLACEHOLDER,
            }
            # The page's live parts (static/js/live.js): the state forms and the panel.
            return "\n".join(
                f'<div data-part="{part}">{render_to_string(f"incidents/_{part}.html", ctx)}</div>'
                for part in LIVE_PARTS
            )

    return sse.stream(
        request,
        [f"incident:{obj.pk}"],
        render_parts,
        audience=("incident", member.pk, language, since),
        access=_access(request, member),
    )


@access.staff_view
@require_POST
def change_state(request: HttpRequest, pk: int) -> HttpResponse:
    obj, member = desk_access.incident_for_dispatcher(request, pk)
    wanted = request.POST.get("state", "")
    if wanted not in states.choices(obj.state) and wanted in states.AUTOMATIC:
        messages.error(request, _("That change is not possible from the incident's current state."))
        return redirect("incident", pk=obj.pk)
    if wanted not in State.values:
        messages.error(request, _("Unknown state."))
        return redirect("incident", pk=obj.pk)
    summary = request.POST.get("summary")
    try:
        services.change_state(
            obj,
            wanted,
            actor=member,
            committees=desk_access.acting_committee_ids(member, obj),
            partner_ids=_chosen_partners(request, member, obj),
            summary=summary[:500] if summary else None,
            all_channels=request.POST.get("all_channels") == "1",
        )
    except services.SummaryHeld as held:
        # Nothing changed: the page comes back with the note as typed, to be edited.
        lat, lng = geo.center(obj.cell)
        context = {
            **_incident_context(obj, member),
            "lat": lat,
            "lng": lng,
            "held_summary": summary,
            "held_labels": screening.reason_labels(held.reasons),
        }
        return render(request, "incidents/incident.html", context, status=400)
    except services.HeldByOther as e:
        held_message(request, e)
    except services.OnlyForInformation:
        messages.error(
            request,
            _(
                "Only a partner network's report (desk only) backs this incident: send a "
                "verifier, or wait for a report of your own, before alerting members."
            ),
        )
    except states.TransitionError:
        messages.error(request, _("That change is not possible from the incident's current state."))
    else:
        messages.success(request, _("Incident is now: %(state)s") % {"state": State(wanted).label})
    return redirect("incident", pk=obj.pk)


def _chosen_partners(request: HttpRequest, member: Member, incident: Incident) -> set[int]:
    """Return the partner committees ticked on the form whose members the dispatcher's
    committees may alert (each such alert waits for a second person)."""
    chosen = {int(v) for v in request.POST.getlist("partners") if v.isdigit()}
    allowed = partners.partners(desk_access.acting_committee_ids(member, incident), Share.ALERTS)
    return chosen & allowed


@access.staff_view
@require_POST
def merge_incident(request: HttpRequest, pk: int) -> HttpResponse:
    """Merge this incident into another open incident the dispatcher can see."""
    source, member = desk_access.incident_for_dispatcher(request, pk)
    try:
        target_pk = int(request.POST.get("into", ""))
    except ValueError:
        messages.error(request, _("Choose the incident to merge into."))
        return redirect("incident", pk=source.pk)
    target, _member = desk_access.incident_for_dispatcher(request, target_pk)
    try:
        services.merge(source, target, actor=member)
    except services.HeldByOther as e:
        held_message(request, e)
        return redirect("incident", pk=source.pk)
    except services.MergeError:
        messages.error(
            request,
            _(
                "These incidents cannot be merged: both must be open, and members must not "
                "have been alerted about the one merged away."
            ),
        )
        return redirect("incident", pk=source.pk)
    messages.success(
        request, _("Incident #%(source)s merged into this one.") % {"source": source.pk}
    )
    return redirect("incident", pk=target.pk)


@access.staff_view
@require_POST
def split_incident(request: HttpRequest, pk: int) -> HttpResponse:
    """Move the chosen reports of this incident to a new incident."""
    incident, member = desk_access.incident_for_dispatcher(request, pk)
    ids = [int(v) for v in request.POST.getlist("reports") if v.isdigit()]
    try:
        new = services.split(incident, ids, actor=member)
    except services.HeldByOther as e:
        held_message(request, e)
        return redirect("incident", pk=incident.pk)
    except services.MergeError:
        messages.error(
            request,
            _("Choose the reports to move to a new incident; at least one must stay here."),
        )
        return redirect("incident", pk=incident.pk)
    messages.success(request, _("The reports now make incident #%(new)s.") % {"new": new.pk})
    return redirect("incident", pk=new.pk)
