"""Pages for passkeys, authenticator apps, the second login step and logging out everywhere."""

from __future__ import annotations

import segno
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tocsin.committees import access
from tocsin.lib import untrusted
from tocsin.members import security
from tocsin.members.models import SecondFactor


def _next(request: HttpRequest, default: str = "/me/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if not url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return default
    return target


def _json_body(request: HttpRequest) -> dict:
    try:
        body = untrusted.load_json(request.body or b"{}")
    except untrusted.NotJSON:
        return {}
    return body if isinstance(body, dict) else {}


@login_required
def security_page(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    pending = member.factors.filter(kind=SecondFactor.Kind.TOTP, confirmed=False).last()
    context = {
        "factors": member.factors.filter(confirmed=True),
        "needs_factor": security.needs_second_factor(member),
        "strong": security.is_strong(request),
        "pending": pending,
    }
    if pending is not None:
        secret = security.open_totp(pending.totp_secret or b"") or ""
        uri = security.totp_uri(secret, member.display_name)
        context["totp_secret"] = secret
        context["totp_qr"] = segno.make(uri, error="m").svg_inline(scale=4)
    return render(request, "members/security.html", context)


@login_required
@require_POST
def totp_start(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    member.factors.filter(kind=SecondFactor.Kind.TOTP, confirmed=False).delete()
    SecondFactor.objects.create(
        member=member,
        kind=SecondFactor.Kind.TOTP,
        name=_("Authenticator app"),
        totp_secret=security.seal_totp(security.new_totp_secret()),
    )
    return redirect("security")


@login_required
@require_POST
def totp_confirm(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    pending = member.factors.filter(kind=SecondFactor.Kind.TOTP, confirmed=False).last()
    secret = security.open_totp(pending.totp_secret or b"") if pending else None
    step = security.check_totp(secret, request.POST.get("code", "")) if secret else None
    if pending is None or step is None:
        messages.error(
            request, _("That code did not match. Check the time on your phone and try again.")
        )
        return redirect("security")
    SecondFactor.objects.filter(pk=pending.pk).update(confirmed=True, totp_last_step=step)
    security.mark_strong(request)
    messages.success(request, _("Authenticator app added."))
    return redirect("security")


@login_required
@require_POST
def remove_factor(request: HttpRequest, pk: int) -> HttpResponse:
    member = access.member_of(request)
    get_object_or_404(SecondFactor, pk=pk, member=member).delete()
    messages.success(request, _("Removed."))
    return redirect("security")


@login_required
@require_POST
def passkey_register_begin(request: HttpRequest) -> JsonResponse:
    member = access.member_of(request)
    return JsonResponse(security.passkey_register_begin(request, member))


@login_required
@require_POST
def passkey_register_complete(request: HttpRequest) -> JsonResponse:
    member = access.member_of(request)
    body = _json_body(request)
    try:
        security.passkey_register_complete(
            request, member, body.get("credential") or {}, str(body.get("name") or _("Passkey"))
        )
    except Exception:  # noqa: BLE001 - fido2 raises several types for a bad response
        return JsonResponse({"error": _("That passkey could not be added. Try again.")}, status=400)
    security.mark_strong(request)
    return JsonResponse({"ok": True})


@require_POST
def passkey_login_begin(request: HttpRequest) -> JsonResponse:
    member = getattr(request.user, "member", None) if request.user.is_authenticated else None
    return JsonResponse(security.passkey_login_begin(request, member))


@require_POST
def passkey_login_complete(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    try:
        member = security.passkey_login_complete(request, body.get("credential") or {})
    except Exception:  # noqa: BLE001 - any failure is the same answer
        return JsonResponse({"error": _("That passkey did not work here.")}, status=400)
    current = getattr(request.user, "member", None) if request.user.is_authenticated else None
    if current is not None and current.pk == member.pk:
        security.mark_strong(request)
    else:
        security.start_session(request, member, strong=True)
    return JsonResponse({"ok": True, "next": _next(request)})


@login_required
@require_http_methods(["GET", "POST"])
def login_verify(request: HttpRequest) -> HttpResponse:
    """The second step for dispatchers and organizers: a passkey or an authenticator code."""
    member = access.member_of(request)
    has_factor = member.factors.filter(confirmed=True).exists()
    if request.method == "POST":
        if security.verify_member_totp(member, request.POST.get("code", "")):
            security.mark_strong(request)
            return redirect(_next(request))
        messages.error(request, _("That code did not match."))
    return render(
        request,
        "members/login_verify.html",
        {
            "has_factor": has_factor,
            "next": _next(request),
            "has_totp": member.factors.filter(kind="totp", confirmed=True).exists(),
        },
    )


@login_required
@require_POST
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    security.end_all_sessions(member)
    logout(request)
    messages.success(request, _("You are logged out on every device."))
    return redirect("home")
