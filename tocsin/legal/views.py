"""The legal team's pages: its cases of a committee, one case (details, state, tasks,
timeline, export), the interpreter finder, and a member's languages.

Case pages answer only the legal role of that committee: organizers and dispatchers do
not read cases, and another committee's case is the same 404 as a missing one.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tocsin.committees import access, approvals
from tocsin.committees.models import Committee, Membership, Role
from tocsin.incidents.access import incident_for_dispatcher
from tocsin.incidents.models import Incident
from tocsin.legal import cases, interpreters, keys
from tocsin.legal.forms import (
    NO_KEY,
    CaseForm,
    EditCaseForm,
    FindInterpreterForm,
    LanguagesForm,
    StateForm,
    TaskForm,
)
from tocsin.legal.models import ACCOMPANIED, Case, InterpreterCall, Source, Task, TaskKind
from tocsin.members.models import Member
from tocsin.places.naming import Gazetteer


def _legal_committee(request: HttpRequest, slug: str) -> tuple[Committee, Member]:
    member = access.member_of(request)
    membership = (
        Membership.objects.select_related("committee")
        .filter(member=member, committee__slug=slug, role=Role.LEGAL)
        .first()
    )
    if membership is None:
        raise Http404
    return membership.committee, member


def _case(request: HttpRequest, slug: str, pk: int) -> tuple[Case, Member]:
    committee, member = _legal_committee(request, slug)
    case = Case.objects.filter(pk=pk, committee=committee).first()
    if case is None:
        raise Http404
    return case, member


def _task(request: HttpRequest, slug: str, pk: int, task_pk: int) -> tuple[Task, Member]:
    case, member = _case(request, slug, pk)
    task = Task.objects.filter(pk=task_pk, case=case).select_related("case__committee").first()
    if task is None:
        raise Http404
    return task, member


def _team(committee: Committee) -> list[Member]:
    return cases.legal_team(committee)


@access.staff_view
@require_http_methods(["GET"])
def case_list(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _member = _legal_committee(request, slug)
    return _list_page(request, committee, CaseForm())


def _list_page(
    request: HttpRequest, committee: Committee, form: CaseForm, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "legal/cases.html",
        {
            "committee": committee,
            "open_cases": Case.objects.filter(committee=committee)
            .active()
            .select_related("lawyer"),
            "closed_cases": Case.objects.filter(committee=committee, state="closed")[:20],
            "overdue": cases.overdue({committee.pk}),
            "lawyer": cases.on_call_lawyer(committee),
            "form": form,
        },
        status=status,
    )


@access.staff_view
@require_POST
def case_new(request: HttpRequest, slug: str) -> HttpResponse:
    committee, member = _legal_committee(request, slug)
    form = CaseForm(request.POST)
    if not form.is_valid():
        # Back with everything typed, and why beside the field (nothing was opened).
        return _list_page(request, committee, form, status=400)
    data = form.cleaned_data
    case = cases.open_case(
        committee, source=Source.CALL, details=data, by=member, consent=data["consent"]
    )
    messages.success(request, _("Case %(ref)s opened.") % {"ref": case.ref})
    return redirect("legal_case", slug, case.pk)


@access.staff_view
@require_http_methods(["GET"])
def case_page(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    case, member = _case(request, slug, pk)
    return _case_page(request, case, member)


def _case_page(
    request: HttpRequest,
    case: Case,
    member: Member,
    *,
    edit_form: EditCaseForm | None = None,
    status: int = 200,
) -> HttpResponse:
    try:
        facts: dict[str, str] | None = cases.details(case)
        task_rows = [(t, cases.task_detail(t)) for t in case.tasks.select_related("owner")]
    except keys.LegalKeyMissing:
        facts = None
        task_rows = [(t, "") for t in case.tasks.select_related("owner")]
    waiting = cases.waiting_export(case)
    saved = EditCaseForm(initial={**(facts or {}), "consent": case.consent, "keep": case.keep})
    return render(
        request,
        "legal/case.html",
        {
            "committee": case.committee,
            "case": case,
            "facts": facts,
            # What is stored, shown; and the form to edit it (back as typed if refused).
            "facts_form": saved,
            "edit_form": edit_form or saved,
            "state_form": StateForm(initial={"state": case.state}),
            "task_form": TaskForm(team=_team(case.committee)),
            "tasks": task_rows,
            "accompanied": ACCOMPANIED,
            "locator": TaskKind.LOCATOR,
            "locator_url": cases.LOCATOR_URL,
            "events": case.events.select_related("actor"),
            "waiting_export": waiting,
            "may_approve": waiting is not None and approvals.can_decide(waiting, member),
            "may_download": cases.approved_export(case, member) is not None,
            "interpreter_form": FindInterpreterForm(),
            "calls": case.interpreter_calls.select_related("interpreter"),
            # Which incident it came from, in words the legal team knows.
            "incident_where": Gazetteer.of(case.incident).exact(case.incident.cell).text
            if case.incident
            else "",
        },
        status=status,
    )


@access.staff_view
@require_POST
def case_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    case, member = _case(request, slug, pk)
    form = EditCaseForm(request.POST)
    if not form.is_valid():
        # Back with what was typed and why (it was dropped without a word).
        return _case_page(request, case, member, edit_form=form, status=400)
    data = form.cleaned_data
    cases.update_details(case, data, by=member, consent=data["consent"], keep=data["keep"])
    messages.success(request, _("Saved."))
    return redirect("legal_case", slug, pk)


@access.staff_view
@require_POST
def case_state(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    case, member = _case(request, slug, pk)
    form = StateForm(request.POST)
    if form.is_valid():
        cases.set_state(case, form.cleaned_data["state"], by=member)
    return redirect("legal_case", slug, pk)


@access.staff_view
@require_POST
def task_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    case, member = _case(request, slug, pk)
    team = _team(case.committee)
    form = TaskForm(request.POST, team=team)
    if form.is_valid():
        data = form.cleaned_data
        owner = next((m for m in team if m.pk == data["owner"]), None)
        cases.add_task(
            case, data["kind"], by=member, text=data["text"], due_at=data["due_at"], owner=owner
        )
    else:
        messages.error(request, _("Check the task and try again."))
    return redirect("legal_case", slug, pk)


@access.staff_view
@require_POST
def task_done(request: HttpRequest, slug: str, pk: int, task: int) -> HttpResponse:
    row, member = _task(request, slug, pk, task)
    found = request.POST.get("found", "1") == "1"
    again = cases.complete_task(row, by=member, found=found)
    if again is not None:
        messages.info(request, _("Not found yet: the locator check comes back in 4 hours."))
    return redirect("legal_case", slug, pk)


@access.staff_view
@require_POST
def task_mobilize(request: HttpRequest, slug: str, pk: int, task: int) -> HttpResponse:
    row, member = _task(request, slug, pk, task)
    where = request.POST.get("where", "").strip()
    try:
        cases.mobilize(row, by=member, where=where)
    except cases.CaseError:
        if where:
            messages.error(
                request, _("Only a court date or a check-in with a time can become one.")
            )
        else:
            messages.error(request, _("Say where members meet (a public place): nothing was made."))
    else:
        messages.success(request, _("Accompaniment mobilization made for the members."))
    return redirect("legal_case", slug, pk)


@access.staff_view
@require_POST
def export_ask(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    case, member = _case(request, slug, pk)
    cases.ask_export(case, by=member)
    messages.info(request, _("Asked: another member of the legal team must approve the export."))
    return redirect("legal_case", slug, pk)


@access.staff_view
@require_POST
def export_approve(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    case, member = _case(request, slug, pk)
    waiting = cases.waiting_export(case)
    if waiting is None or not approvals.can_decide(waiting, member):
        raise Http404
    with transaction.atomic():
        approvals.approve(waiting, by=member)
    messages.success(request, _("Export approved."))
    return redirect("legal_case", slug, pk)


@access.staff_view
@require_http_methods(["GET"])
def export_download(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    case, member = _case(request, slug, pk)
    if cases.approved_export(case, member) is None:
        raise Http404
    try:
        body = cases.export(case, by=member)
    except keys.LegalKeyMissing:
        return render(request, "legal/no_key.html", {"case": case}, status=503)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="case-{case.ref}.json"'
    return response


@login_required
@require_http_methods(["GET"])
def case_link(request: HttpRequest, token: str) -> HttpResponse:
    """The signed link in the lawyer's message: it opens the case for its own member,
    logged in, on the legal team of the case's committee; anyone else gets a 404."""
    found = cases.read_link(token)
    member = access.member_of(request)
    if found is None or found[1] != member.pk:
        raise Http404
    case = Case.objects.filter(pk=found[0]).select_related("committee").first()
    if case is None or not cases.is_legal(member, case.committee_id):
        raise Http404
    return redirect("legal_case", case.committee.slug, case.pk)


def _own_committee(incident: Incident, member: Member) -> Committee:
    """The committee the dispatcher acts for that owns ``incident`` (a partner's
    dispatcher opens no case for it: the partner's own desk does)."""
    owners = set(incident.committees.values_list("pk", flat=True))
    mine = sorted(owners & access.staff_committee_ids(member))
    if not mine:
        raise Http404
    return Committee.objects.get(pk=mine[0])


@access.staff_view
@require_POST
def incident_case(request: HttpRequest, pk: int) -> HttpResponse:
    """A dispatcher opens a case from an incident: someone was detained."""
    incident, member = incident_for_dispatcher(request, pk)
    committee = _own_committee(incident, member)
    if not keys.can_seal():
        # A form from a page opened before: nothing can be sealed, so nothing is stored.
        messages.error(request, NO_KEY)
        return redirect("incident", pk)
    form = CaseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give at least who it is."))
        return redirect("incident", pk)
    data = form.cleaned_data
    case = cases.open_from_incident(incident, committee, by=member, details=data)
    messages.success(request, _("Case %(ref)s opened for the legal team.") % {"ref": case.ref})
    return redirect("incident", pk)


# --- interpreters ----------------------------------------------------------------------------


def _interpreter_committee(request: HttpRequest, slug: str) -> tuple[Committee, Member]:
    """The desk (dispatchers and organizers) and the legal team find interpreters."""
    member = access.member_of(request)
    membership = (
        Membership.objects.select_related("committee")
        .filter(member=member, committee__slug=slug)
        .filter(Q(role__in=[Role.DISPATCHER, Role.ORGANIZER, Role.LEGAL]))
        .first()
    )
    if membership is None:
        raise Http404
    return membership.committee, member


@access.staff_view
@require_http_methods(["GET"])
def interpreter_find(request: HttpRequest, slug: str) -> HttpResponse:
    committee, member = _interpreter_committee(request, slug)
    form = FindInterpreterForm(request.GET or None)
    found: list[Member] = []
    roster: list[Member] = []
    language = ""
    if form.is_valid():
        language = form.cleaned_data["language"]
        found = interpreters.on_call(committee, language)
        roster = [m for m in interpreters.roster(committee, language) if m not in found]
    legal = cases.is_legal(member, committee.pk)
    return render(
        request,
        "legal/interpreters.html",
        {
            "committee": committee,
            "form": form,
            "language": language,
            "found": found,
            "roster": roster,
            "case": request.GET.get("case", ""),
            "incident": request.GET.get("incident", ""),
            # The legal team sees the calls for its cases too; the desk those for incidents.
            "calls": InterpreterCall.objects.filter(
                committee=committee, asked_at__gte=timezone.now() - timedelta(days=1)
            )
            .filter(Q() if legal else Q(case__isnull=True))
            .select_related("interpreter"),
        },
    )


@access.staff_view
@require_POST
def interpreter_send(request: HttpRequest, slug: str) -> HttpResponse:
    committee, member = _interpreter_committee(request, slug)
    form = FindInterpreterForm(request.POST)
    if not form.is_valid():
        raise Http404
    language = form.cleaned_data["language"]
    interpreter = next(
        (
            m
            for m in interpreters.roster(committee, language)
            if str(m.pk) == request.POST.get("interpreter")
        ),
        None,
    )
    if interpreter is None:
        raise Http404
    case = None
    if request.POST.get("case"):
        if not cases.is_legal(member, committee.pk):
            raise Http404
        case_pk = request.POST["case"]
        case = Case.objects.filter(
            pk=int(case_pk) if case_pk.isdigit() else 0, committee=committee
        ).first()
        if case is None:
            raise Http404
    incident = None
    if request.POST.get("incident"):
        incident = (
            Incident.objects.for_committees({committee.pk})
            .filter(pk=int(request.POST["incident"]) if request.POST["incident"].isdigit() else 0)
            .first()
        )
        if incident is None:
            raise Http404
    interpreters.send(committee, language, interpreter, by=member, case=case, incident=incident)
    messages.success(request, _("%(name)s was sent the call.") % {"name": interpreter.display_name})
    if case is not None:
        return redirect("legal_case", slug, case.pk)
    if incident is not None:
        return redirect("incident", incident.pk)
    return redirect("legal_interpreters", slug)


@access.staff_view
@require_POST
def interpreter_came(request: HttpRequest, slug: str, call: int) -> HttpResponse:
    committee, member = _interpreter_committee(request, slug)
    row = InterpreterCall.objects.filter(pk=call, committee=committee).first()
    if row is None or (row.case_id is not None and not cases.is_legal(member, committee.pk)):
        raise Http404
    interpreters.came(row, by=member)
    if row.case_id is not None:
        return redirect("legal_case", slug, row.case_id)
    if row.incident_id is not None:
        return redirect("incident", row.incident_id)
    return redirect("legal_interpreters", slug)


@login_required
@require_http_methods(["GET", "POST"])
def my_languages(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    if request.method == "POST":
        form = LanguagesForm(request.POST)
        if form.is_valid():
            interpreters.set_languages(
                member, form.cleaned_data["languages"], interprets=form.cleaned_data["interprets"]
            )
            messages.success(request, _("Saved."))
            return redirect("my_languages")
    else:
        rows = member.spoken_languages.all()
        form = LanguagesForm(
            initial={
                "languages": [r.language for r in rows],
                "interprets": any(r.interprets for r in rows),
            }
        )
    return render(request, "legal/languages.html", {"form": form})
