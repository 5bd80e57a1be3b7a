"""The organizing dashboard page: a committee's organizers only (404 for anyone else,
dispatchers of the same committee included: it counts the members and the vouching tree,
which are organizers' business)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tocsin.committees import access
from tocsin.committees.models import Role
from tocsin.mobilize import dashboard


@access.staff_view
@require_GET
def dashboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    committee, _mine = access.committee_for(request, slug, Role.ORGANIZER)
    return render(request, "mobilize/dashboard.html", dashboard.page(committee))
