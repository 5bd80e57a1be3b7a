"""Pages for passkeys, authenticator apps, the second login step and logging out everywhere."""

from __future__ import annotations

from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tocsin.committees import access
from tocsin.lib import untrusted
from tocsin.lib.ratelimit import source_of
from tocsin.lib.redirects import local_path
from tocsin.members import attempts, security
from tocsin.members.models import Member, SecondFactor


def _next(request: HttpRequest, default: str = "/me/") -> str:
    return local_path(request.POST.get("next") or request.GET.get("next"), default=default)


def _closed(request: HttpRequest, member: Member) -> HttpResponse:
    """Answer a factor change this session may not make: staff with no factor and no
    window hear to ask an organizer; anyone else proves a factor first."""
    if security.needs_enrollment(member):
        return render(request, "members/enrollment_closed.html", _enrollment(member), status=403)
    messages.error(
        request, _("First confirm it is you with your passkey or your authenticator app.")
    )
    return redirect(f"{reverse('login_verify')}?{urlencode({'next': reverse('security')})}")


def _enrollment(member: Member) -> dict:
    return {"hours": settings.FACTOR_ENROLLMENT_HOURS, "member": member}


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
        "may_add": security.enrollment(request, member).allowed,
        "may_remove": security.may_remove_factor(request, member),
        "needs_enrollment": security.needs_enrollment(member),
        "window_open": security.enrollment_open(member),
        **_enrollment(member),
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
    if not security.enrollment(request, member).allowed:
        return _closed(request, member)
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
    how = security.enrollment(request, member)
    if not how.allowed:
        return _closed(request, member)
    account = attempts.member_account(member.pk)
    if not attempts.take("totp-setup", account, source_of(request)):
        messages.error(request, attempts.refusal())
        return redirect("security")
    pending = member.factors.filter(kind=SecondFactor.Kind.TOTP, confirmed=False).last()
    secret = security.open_totp(pending.totp_secret or b"") if pending else None
    step = security.check_totp(secret, request.POST.get("code", "")) if secret else None
    if pending is None or step is None:
        messages.error(
            request, _("That code did not match. Check the time on your phone and try again.")
        )
        return redirect("security")
    if not security.claim(member, how):
        return _closed(request, member)
    SecondFactor.objects.filter(pk=pending.pk).update(
        confirmed=True, totp_last_step=step, unproven=not how.counts
    )
    security.factor_added(request, member, pending, how)
    messages.success(request, _("Authenticator app added."))
    return redirect("security")


@login_required
@require_POST
def remove_factor(request: HttpRequest, pk: int) -> HttpResponse:
    member = access.member_of(request)
    factor = get_object_or_404(SecondFactor, pk=pk, member=member)
    if not security.may_remove_factor(request, member):
        return _closed(request, member)
    factor.delete()
    if factor.confirmed:
        security.factor_removed(member, factor)
    messages.success(request, _("Removed."))
    return redirect("security")


def _refused(request: HttpRequest, member: Member) -> JsonResponse:
    if security.needs_enrollment(member):
        error = _(
            "Your role needs a passkey or an authenticator app. Ask an organizer of your "
            "committee to open enrollment for you."
        )
    else:
        error = _("First confirm it is you with your passkey or your authenticator app.")
    return JsonResponse({"error": error}, status=403)


@login_required
@require_POST
def passkey_register_begin(request: HttpRequest) -> JsonResponse:
    member = access.member_of(request)
    if not security.enrollment(request, member).allowed:
        return _refused(request, member)
    return JsonResponse(security.passkey_register_begin(request, member))


@login_required
@require_POST
def passkey_register_complete(request: HttpRequest) -> JsonResponse:
    member = access.member_of(request)
    how = security.enrollment(request, member)
    if not how.allowed:
        return _refused(request, member)
    body = _json_body(request)
    try:
        factor = security.passkey_register_complete(
            request,
            member,
            body.get("credential") or {},
            str(body.get("name") or _("Passkey")),
            how=how,
        )
    except Exception:  # noqa: BLE001 - fido2 raises several types for a bad response
        return JsonResponse({"error": _("That passkey could not be added. Try again.")}, status=400)
    security.factor_added(request, member, factor, how)
    return JsonResponse({"ok": True})


@require_POST
def passkey_login_begin(request: HttpRequest) -> JsonResponse:
    member = getattr(request.user, "member", None) if request.user.is_authenticated else None
    return JsonResponse(security.passkey_login_begin(request, member))


@require_POST
def passkey_login_complete(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    try:
        factor = security.passkey_login_complete(request, body.get("credential") or {})
    except Exception:  # noqa: BLE001 - any failure is the same answer
        return JsonResponse({"error": _("That passkey did not work here.")}, status=400)
    member = factor.member
    current = getattr(request.user, "member", None) if request.user.is_authenticated else None
    if current is None or current.pk != member.pk:
        security.start_session(request, member)
    security.prove(request, member, factor)
    return JsonResponse({"ok": True, "next": _next(request)})


@login_required
@require_http_methods(["GET", "POST"])
def login_verify(request: HttpRequest) -> HttpResponse:
    """The second step for dispatchers and organizers: a passkey or an authenticator code."""
    member = access.member_of(request)
    if security.needs_enrollment(member):
        return render(request, "members/enrollment_closed.html", _enrollment(member))
    if request.method == "POST":
        account = attempts.member_account(member.pk)
        if not attempts.take("totp-login", account, source_of(request)):
            messages.error(request, attempts.refusal())
        else:
            factor = security.verify_member_totp(member, request.POST.get("code", ""))
            if factor is not None:
                security.prove(request, member, factor)
                return redirect(_next(request))
            messages.error(request, _("That code did not match."))
    confirmed = member.factors.filter(confirmed=True)
    return render(
        request,
        "members/login_verify.html",
        {
            "has_factor": confirmed.exists(),
            "next": _next(request),
            "has_totp": confirmed.filter(kind=SecondFactor.Kind.TOTP).exists(),
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
