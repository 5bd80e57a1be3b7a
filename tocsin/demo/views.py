"""Demo-only pages: log in as a demo persona, read a demo member's inbox."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from tocsin.demo.models import DemoMessage
from tocsin.lib.redirects import local_path
from tocsin.members.models import Member
from tocsin.members.security import start_session


def _require_demo() -> None:
    if not settings.DEMO:
        raise Http404


def personas(request: HttpRequest) -> HttpResponse:
    _require_demo()
    from tocsin.demo.data import persona_members

    return render(request, "demo/personas.html", {"personas": persona_members()})


@require_POST
def login_as(request: HttpRequest, pk: int) -> HttpResponse:
    _require_demo()
    member = get_object_or_404(Member, pk=pk)
    # Demo personas skip the second factor: there is nothing real to protect.
    start_session(request, member, strong=True)
    return redirect(local_path(request.POST.get("next"), default=reverse("me")))


def inbox(request: HttpRequest, pk: int) -> HttpResponse:
    _require_demo()
    member = get_object_or_404(Member, pk=pk)
    return render(
        request,
        "demo/inbox.html",
        {"member": member, "messages_list": DemoMessage.objects.filter(member=member)[:50]},
    )


def others(request: HttpRequest) -> HttpResponse:
    """Messages to people who are not demo members: emergency contacts, strangers who
    signed up for a mobilization, reporters answered by email."""
    _require_demo()
    return render(
        request,
        "demo/others.html",
        {"messages_list": DemoMessage.objects.filter(member__isnull=True)[:50]},
    )
